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
//          without `loop` reached its end; out holds the completion snapshot, the trace's last), kRestored
//          (the same end, with that snapshot written into the frame by the machine code itself: see
//          CompileOptions::frame_nlocals), kError (a non-guard op that calls into Python failed; a
//          Python error may be set), or kRefused (a trace with entry checks, LinkOptions: they failed and
//          nothing ran)
//          nothing ran); kLoopBack only from a side trace called by another trace (LinkOptions::loop_back)
//   With LinkOptions, an exit whose guard's link cell is set calls the side trace there instead of returning
//   (fn(slots, other buffer, out)), and returns what that returns; which trace's result it is, and where its
//   exit values are, the last one run writes into LinkOptions::exit_cell at its entry.
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
#include <vector>

#include "tiers/ir/ir.h"

namespace fastpy::baseline {

using TraceFn = int32_t (*)(const uint64_t* slots, uint64_t* out, const uint64_t* parent);
constexpr int32_t kCompleted = -1;   // a trace without loop reached its end
constexpr int32_t kError = -2;       // a non-guard runtime op failed
constexpr int32_t kRestored = -3;    // a trace without loop reached its end and restored the frame itself
constexpr int32_t kRefused = -4;     // a trace's entry checks (LinkOptions) failed: nothing ran
// A side trace (LinkOptions::loop_back) restored the frame at its own loop's header, and nothing of its chain
// needs the C++ walk: the loop's trace whose link called the chain runs again from its start (LinkOptions::
// loop_trace). Any other caller takes it as kRestored.
constexpr int32_t kLoopBack = -5;
// A link passes a side trace the buffer its parent did not write: the parent's own `parent` values, or for
// a loop's trace (LinkOptions::side false), out + kLinkWords. Links are only made between traces whose
// out_words are at most kLinkWords (the caller of a loop's trace gives it 2 * kLinkWords words).
constexpr uint32_t kLinkWords = 64;

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
  // An exact int of more than one digit as an int64 into *out; false when it does not fit (the unbox's
  // exit). The unbox's slow path calls it through a register-saving thunk; null: the runtime hook.
  bool (*unbox_long)(void* o, int64_t* out) = nullptr;
  // The frame, for the completion restore (CompileOptions::frame_nlocals): byte offsets from `slots`
  // (the frame's localsplus) of the frame's stacktop (an int) and prev_instr (a code unit pointer).
  int32_t frame_stacktop = 0;
  int32_t frame_prev_instr = 0;
  const void* small_ints = nullptr;   // CPython's cached int objects, from -5 (an i64 there is its object:
                                      // the completion restore, and box_i64 inline)
  int32_t small_int_size = 0;         // bytes between two of them
  int32_t small_int_count = 0;        // how many (-5 .. count-6)
  const bool* resume_pending = nullptr;   // true: inlined frames wait (the restore routine must run)
  uint64_t* stat_restores = nullptr;      // counters the completion restore adds to (trace_restores,
  uint64_t* stat_in_place = nullptr;      // restore_in_place, restore_compiled)
  uint64_t* stat_compiled = nullptr;
  // LinkOptions' entry checks: byte offsets from `slots` of the frame's f_globals and f_builtins, and of a
  // dict's ma_version_tag.
  int32_t frame_globals = 0;
  int32_t frame_builtins = 0;
  int32_t dict_version = 0;
  // range_iter: range_iter_fn(start, stop, step) is called directly (null: the runtime hook). With
  // range_spares too, a step-1 range_iter takes a spare range iterator inline, as that function would: when
  // *range_nspare > 0 and *tracemalloc_tracing is 0, the iterator range_spares[--*range_nspare] gets
  // refcount 1 and its four C longs at range_fields (index, start, step, len), and *stat_range_reused += 1.
  void* (*range_iter_fn)(int64_t start, int64_t stop, int64_t step) = nullptr;
  // Called directly instead of through the runtime hook (null: the hook), with the hook's results: list_slice
  // (a new list or null), seq_iter (a new iterator or null), list_append (1 appended, 0 not; no error left).
  void* (*list_slice_fn)(void* list, int64_t lo, int64_t hi) = nullptr;
  void* (*seq_iter_fn)(void* seq) = nullptr;
  int64_t (*list_append_fn)(void* list, void* item) = nullptr;
  void* const* range_spares = nullptr;
  int32_t* range_nspare = nullptr;
  const int* tracemalloc_tracing = nullptr;
  int32_t range_fields[4] = {0, 0, 0, 0};
  uint64_t* stat_range_reused = nullptr;
};

// Side traces linked in machine code (docs/architecture.md, "Links in machine code"). All optional.
struct LinkOptions {
  // Per instruction of the trace: the TraceFn of the side trace its guard's exit continues in, read at each
  // exit (null: the exit returns the guard as without links). Stays valid as long as the code.
  void* const* cells = nullptr;
  // Written at entry, after the entry checks: exit_cell[0] = id, exit_cell[1] = out.
  uint64_t* exit_cell = nullptr;
  uint64_t id = 0;
  // A side trace (called with `parent`): its links give their side traces that buffer. Else (a loop's
  // trace, called without) out + kLinkWords, so that `parent` need not stay in a register through the loop.
  bool side = false;
  // Entry checks of a side trace (entered through a link, with no C++ in between): for k with ns[k], the
  // frame's namespace k (0: globals, 1: builtins) is ns[k] and its version is *expect[k]; else kRefused.
  const void* ns[2] = {nullptr, nullptr};
  const uint64_t* expect[2] = {nullptr, nullptr};
  // Objects given a reference at entry, after the checks (the caller releases them once per run).
  void* const* hold = nullptr;
  size_t nhold = 0;
  // The bookkeeping a C++ caller would do, done by the machine code itself so that a chain of links needs
  // no walk afterwards (all optional). At entry, after the checks: each non-null entry_counts[k] += 1.
  uint64_t* entry_counts[2] = {nullptr, nullptr};
  // When an exit takes its link: exits[guard] += 1, *streak = 0, *last_exit = -1, each link_counts[k] += 1.
  uint64_t* exits = nullptr;
  int64_t* streak = nullptr;
  int32_t* last_exit = nullptr;
  uint64_t* link_counts[2] = {nullptr, nullptr};
  // Loops that close in machine code. A side trace with loop_back, whose end is its loop's header, returns
  // kLoopBack instead of kRestored when its completion restore succeeded, after *streak = 0. A loop's trace
  // with loop_trace, when a link it took returns kLoopBack: while *loop_trace is still id (the trace is its
  // loop's) and *trace_frees is what it was at the trace's start (no trace was released since: the tree is
  // whole), adds 1 to each run_counts[k] and starts again from its beginning (the frame holds the header's
  // state); otherwise it returns kRestored, for the C++ caller to do the same after its checks.
  bool loop_back = false;
  void* const* loop_trace = nullptr;
  const uint64_t* trace_frees = nullptr;
  uint64_t* run_counts[3] = {nullptr, nullptr, nullptr};
};

struct CompileOptions {
  RuntimeFn runtime = nullptr;   // required when the trace has ops that need Python
  PyLayout layout;
  bool asm_text = false;         // fill CompiledTrace::asm_text (the machine code with the IR it came from)
  bool avx = true;               // f64 ops in AVX's three-operand forms where the CPU has AVX (false: SSE2
                                 // forms only; the differential tests run both)
  // The completion restore: when frame_nlocals >= 0 (the co_nlocalsplus of the trace's code) and the trace
  // has no loop and ends with its completion snapshot (a side trace), the machine code writes that
  // snapshot into the frame itself, as the restore routine would (runtime/restore.cpp: the same passes),
  // and returns kRestored: floats and one-digit ints into the frame's own objects when only the frame
  // holds them, CPython's cached small ints, bools, objects. Where an entry allows none of that (a number
  // the frame does not hold alone, an inlined frame, a numpy scalar) it returns kCompleted, as without.
  int32_t frame_nlocals = -1;
  const void* frame_code = nullptr;   // the code's first code unit (prev_instr = frame_code + pc - 1)
  // The frame's stack top (its `stacktop`: nlocalsplus + the value stack's depth) whenever the trace runs,
  // as at its tree's loop header (-1: not known, read by the restore). The completion restore checks it once
  // (a mismatch returns kCompleted, as a failed check does) and then knows which stack slots the frame held
  // and which to drop, with no loop.
  int32_t frame_entry_top = -1;
  // Tests only: compile twice as if the first allocation had used a callee-saved register its prologue did
  // not save (compile_trace's retry, CompiledTrace::recompiled), which asmjit seldom does.
  bool test_recompile = false;
  LinkOptions link;
};

struct CompiledTrace {
  TraceFn fn = nullptr;
  size_t code_size = 0;          // bytes of machine code
  uint32_t out_words = 0;        // size of the `out` buffer fn needs (the largest snapshot, at least 1)
  uint64_t compile_ns = 0;       // time spent in compile_trace
  bool recompiled = false;       // compiled twice, the second time saving every callee-saved register
  std::string asm_text;          // with CompileOptions::asm_text
};

// Compiles t (verified, optimized; it must outlive the code, which keeps pointers to its instructions).
// Returns "" and fills *out, or what went wrong (an op this backend does not lower, an asmjit error).
std::string compile_trace(const ir::Trace& t, const CompileOptions& opts, CompiledTrace* out);
// Releases the code of a compiled trace (no thread may be inside it).
void release_trace(CompiledTrace* c);

// Traces compiled and not released.
size_t traces_live();
// Compiles done twice because asmjit's allocator used a callee-saved register its prologue did not save
// (compile_trace: the second time with every one saved; CompiledTrace::recompiled).
size_t save_all_retries();

// The compile time of each trace this process compiled, in order (the first kCompileTimesKept): the
// compile latency of real programs (bench/compile_latency.py reads it through _fastpy.baseline_info()).
constexpr size_t kCompileTimesKept = 1 << 16;
const std::vector<uint64_t>& compile_times_ns();

// True when `x ** 0.5` (fpow by the constant 0.5) takes sqrt where that is libm's pow(x, 0.5) bit for bit:
// the CPU has FMA and this process's pow agreed with the test on every sample checked once (codegen.cpp).
bool pow_half_uses_sqrt();

}  // namespace fastpy::baseline
