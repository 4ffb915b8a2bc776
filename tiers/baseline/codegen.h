// The baseline tier's code generator: optimized Trace IR -> x86-64 through asmjit's Compiler (its register
// allocator), in microseconds. Pure C++17 and asmjit: no Python headers. What it needs of CPython (object
// layouts for the inline fast paths, the ops that call into Python) comes in through CompileOptions.
//
// The compiled function:   int32_t fn(const uint64_t* slots, uint64_t* out, const uint64_t* parent)
//   slots  the frame's localsplus (what sload_* read: raw words, PyObject* for objects)
//   parent a side trace's start values: its parent's `out` at the exit it continues from (what pload_* read;
//          unused by a trace without pload)
//   out    room for the largest snapshot (CompiledTrace::out_words): at an exit, out[e] is the 64-bit value
//          (IR representation, as ir_exec's ExitSlot::value) of entry e of the exit's snapshot
//   returns the failing guard's instruction (>= 0: its snapshot is ins[guard].snap), kCompleted (a trace
//          without `loop` reached its end; out holds the completion snapshot, the trace's last), or kError
//          (a non-guard op that calls into Python failed; a Python error may be set)
//
// Values live unboxed in registers (i64/bool/obj/ptr in general registers, f64 in xmm). Guards are
// compare-and-branch to exit stubs placed after the loop: one stub per guard (it names the guard) and one
// block per snapshot that stores the snapshot's values into `out` and returns. The trace's `poll` guards
// test the eval breaker at every back-edge. Semantics are ir_exec.cpp's, bit for bit (the differential
// tests compare).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tiers/ir/ir.h"

namespace fastpy::baseline {

using TraceFn = int32_t (*)(const uint64_t* slots, uint64_t* out, const uint64_t* parent);
constexpr int32_t kCompleted = -1;   // a trace without loop reached its end
constexpr int32_t kError = -2;       // a non-guard runtime op failed

// The ops that need Python, called from compiled code with ir_exec.h's RuntimeHook contract: i is the
// instruction (alive as long as the trace), a/b its operands' 64-bit values (for sload_*: a is the slot word).
using RuntimeFn = bool (*)(const ir::IRIns& i, uint64_t a, uint64_t b, uint64_t* out);

// CPython layouts the inline fast paths use (all null/zero: every such op calls `runtime`).
struct PyLayout {
  const void* float_type = nullptr;   // &PyFloat_Type (exact float: sload_f64/unbox_f64 read ob_fval inline)
  int32_t float_value = 0;            // offsetof(PyFloatObject, ob_fval)
  const void* long_type = nullptr;    // &PyLong_Type (exact int of at most one digit: inline unbox)
  int32_t long_size = 0;              // offset of ob_size
  int32_t long_digit = 0;             // offset of ob_digit[0] (32-bit digits)
  const void* true_obj = nullptr;     // Py_True (sload_bool inline)
  const void* false_obj = nullptr;    // Py_False
  void (*dealloc)(void*) = nullptr;   // _Py_Dealloc (decref inline; the last reference calls it)
  void* (*box_f64)(double) = nullptr;     // PyFloat_FromDouble (box_f64 calls it directly; null: an error)
  void* (*box_i64)(long long) = nullptr;  // PyLong_FromLongLong (box_i64 alike)
};

struct CompileOptions {
  RuntimeFn runtime = nullptr;   // required when the trace has ops that need Python
  PyLayout layout;
  bool asm_text = false;         // fill CompiledTrace::asm_text (the machine code with the IR it came from)
};

struct CompiledTrace {
  TraceFn fn = nullptr;
  size_t code_size = 0;          // bytes of machine code
  uint32_t out_words = 0;        // size of the `out` buffer fn needs (the largest snapshot, at least 1)
  uint64_t compile_ns = 0;       // time spent in compile_trace
  std::string asm_text;          // with CompileOptions::asm_text
};

// Compiles t (verified, optimized; it must outlive the code, which keeps pointers to its instructions).
// Returns "" and fills *out, or what went wrong (an op this backend does not lower, an asmjit error).
std::string compile_trace(const ir::Trace& t, const CompileOptions& opts, CompiledTrace* out);
// Releases the code of a compiled trace (no thread may be inside it).
void release_trace(CompiledTrace* c);

// Traces compiled and not released.
size_t traces_live();

}  // namespace fastpy::baseline
