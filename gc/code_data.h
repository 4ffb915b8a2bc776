// fastpy's per-code-object data, stored in the code object's co_extra slot (python/code_extra.cpp) and
// freed by CPython's callback when the code object dies.
#pragma once
#include <cstdint>

namespace fastpy {

enum CodeFlag : uint32_t {
  kCodeJit = 1u << 0,    // @fastpy.jit: run by fastpy even outside whole-program mode
  kCodeNoJit = 1u << 1,  // @fastpy.nojit: always CPython's evaluator
  kCodeLifted = 1u << 2, // loop-free code whose frames run with the hook lifted (python/hook.cpp)
};

struct LoopTable;   // interp/loops.h; plain jit_malloc memory

// The fastpy interpreter's LOAD_GLOBAL cache, one per name in co_names: the value (borrowed) found while
// the globals and builtins dicts had these version tags (never 0, so a zeroed slot is empty).
struct GlobalSlot {
  uint64_t globals_version;
  uint64_t builtins_version;
  void* value;
};

struct CodeData {
  uint32_t flags = 0;
  uint32_t quiet = 0;   // frames of this loop-free code in a row that returned without fastpy running any code
  uint32_t lifted_runs = 0;   // frames run with the hook lifted (every 64th is run with it, to look again)
  bool scanned = false;          // loops below is valid
  LoopTable* loops = nullptr;    // the code's loops; nullptr when it has none
  GlobalSlot* globals_cache = nullptr;   // co_names entries, zeroed; nullptr when not allocated
};

// Frees a LoopTable and what its loops own (compiled traces); set by interp/ (gc/ sits below it). When
// unset, the table is plain memory.
extern void (*g_loops_free)(LoopTable*);

CodeData* code_data_new();
void code_data_free(void* data);   // signature of CPython's freefunc

}  // namespace fastpy
