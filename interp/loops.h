// Per-loop state of a code object: back-edge counters, the recorder's entry point and the slot where
// compiled code for a loop is attached. Built once per code object (loops_build) and owned by its CodeData.
#pragma once
#include <Python.h>

#include <cstdint>

namespace fastpy {

enum class LoopState : uint8_t {
  kCounting,     // interpreted; back-edges counted toward FASTPY_HOT_LOOP
  kRecording,    // the recorder is following the interpreter through this loop
  kCompiled,     // `entry` is set: the interpreter enters it at the loop header
  kBlacklisted,  // never recorded again (aborted too often, or no tier can take it)
};

struct LoopSlot;

// Compiled code attached to a loop. Called at the loop header with the frame's locals and value stack
// written back (prev_instr and stacktop exact). It runs until a guard fails or the loop exits, restores the
// frame through the one restore routine, and returns the index (in code units) of the instruction the
// interpreter continues at, or -1 with an exception set and prev_instr at the faulting instruction.
using TraceEntry = int (*)(PyThreadState* ts, struct _PyInterpreterFrame* f, LoopSlot* loop);

struct LoopSlot {
  int32_t jump;          // index of the backward jump that closes the loop
  int32_t header;        // index of the loop header (the jump's target)
  int32_t last_jump;     // the last backward jump to the same header (the loop body ends there)
  // Every backward jump to one header (an if/else arm or `continue` each get their own in 3.11) shares
  // the state of the first one, its owner: one counter, one recording, one trace per loop.
  LoopSlot* owner;
  uint32_t count = 0;    // back-edges taken while kCounting
  LoopState state = LoopState::kCounting;
  uint8_t aborts = 0;          // recordings of this loop that aborted (FASTPY_MAX_ABORTS: blacklisted)
  uint8_t abort_reason = 0;    // the last one's reason (interp/abort_reasons.def)
  uint8_t exit_aborts = 0;     // recordings the loop's own end cut short (every 16th counts in `aborts`)
  TraceEntry entry = nullptr;  // set by a tier when state == kCompiled
  void* trace = nullptr;       // the tier's data for `entry`
  void (*trace_free)(void*) = nullptr;   // releases `trace` when the code object dies
};

struct LoopTable {
  int32_t n;
  LoopSlot slots[1];   // n of them, sorted by `jump`
};

// Scans the live bytecode for backward jumps. nullptr when the code has no loop.
LoopTable* loops_build(PyCodeObject* co);
void loops_free(LoopTable* t);
// The loop closed by the backward jump at `jump_index` (its owner slot); never nullptr for a jump that
// loops_build saw (the bytecode of a code object never changes its jumps).
inline LoopSlot* loops_find(LoopTable* t, int jump_index) {   // binary search: inlined at back-edges
  int lo = 0, hi = t->n - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (t->slots[mid].jump < jump_index) lo = mid + 1;
    else hi = mid;
  }
  return t->slots[lo].owner;
}

// True when a loop of t other than `outer`, inside outer's body, has compiled code attached.
inline bool encloses_compiled(const LoopTable* t, const LoopSlot* outer) {
  for (int i = 0; i < t->n; i++) {
    const LoopSlot& l = t->slots[i];
    if (&l != outer && l.state == LoopState::kCompiled && l.header >= outer->header && l.jump <= outer->last_jump)
      return true;
  }
  return false;
}

// The recorder's entry point, called by the interpreter at a loop header whose counter passed
// FASTPY_HOT_LOOP, with the frame exact (prev_instr at the header's predecessor, stacktop set).
// It may start recording (state -> kRecording), attach compiled code, or blacklist the loop. Until the
// trace-recording tier installs one, the default marks the loop kBlacklisted with reason "no recorder".
using HotLoopHandler = void (*)(PyThreadState* ts, struct _PyInterpreterFrame* f, LoopSlot* loop);
void set_hot_loop_handler(HotLoopHandler h);   // nullptr restores the default
HotLoopHandler hot_loop_handler();

}  // namespace fastpy
