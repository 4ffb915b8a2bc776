// The trace recorder (DESIGN.md sections 3-4): when a loop header gets hot it follows the fastpy interpreter
// through one iteration of the loop, instruction by instruction, BEFORE each instruction runs, and emits
// type-specialized Trace IR with guards on what it observed. The iteration becomes a trace, the optimizer
// turns it into a loop, and a tier attaches it to the loop (today: the IR reference executor, with
// FASTPY_TIERS=interp,ir). Anything it cannot follow aborts with a reason from abort_reasons.def; a loop that
// aborts FASTPY_MAX_ABORTS times is blacklisted.
#pragma once
#include <Python.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "interp/loops.h"
#include "tiers/ir/ir.h"

struct _PyInterpreterFrame;

namespace fastpy {

// Every reason of abort_reasons.def, as Abort::<name>.
enum class Abort : uint8_t {
#define FASTPY_ABORT(name, doc) name,
#include "interp/abort_reasons.def"
#undef FASTPY_ABORT
  count_
};
constexpr int kNumAborts = static_cast<int>(Abort::count_);
const char* abort_name(Abort a);
const char* abort_doc(Abort a);
// Recordings aborted, by reason.
const uint64_t* abort_counts();
void abort_counts_reset();

struct Recorder;
// The recording in progress (one at a time: the GIL serializes), or nullptr.
extern Recorder* g_recorder;

// Once, at module init (after the parameters are loaded): probes the private layouts the recorder reads and
// installs the hot-loop handler. False with a Python error set.
bool recorder_init();

// ---- called by the interpreter (interp/eval.cpp) while g_recorder is set
// Before each instruction of any interpreted frame; records it when f is the recorded frame. `start` is the
// first code unit of the instruction (its EXTENDED_ARGs), `here` the instruction, sp the stack pointer,
// loops f's loop table (a side trace ends at the header of another loop that has a trace: linked to it).
void rec_instruction(_PyInterpreterFrame* f, _Py_CODEUNIT* start, _Py_CODEUNIT* here, int op, int oparg,
                     PyObject** sp, const LoopTable* loops);
// At a back-edge of frame f jumping to `target` (the loop `jumps_to`, or nullptr; `loops` f's loop table):
// closes the recording (a trace) when it is the recorded loop's header; a side trace goes on into an
// enclosing loop's next iteration, or ends there when that loop has a trace (linked to it) unless the way
// from there leads straight back to its own loop (then it goes on, and rec_records(f) stays true: the
// interpreter must not enter that loop's trace); anything else aborts (an inner loop).
void rec_back_edge(_PyInterpreterFrame* f, _Py_CODEUNIT* target, LoopSlot* jumps_to, const LoopTable* loops);
// True while a recording follows frame f itself (not a callee of it).
bool rec_records(const _PyInterpreterFrame* f);
// Frame f stops being run by the interpreter here (an exception, a handover): aborts a recording of f.
void rec_frame_leaves(_PyInterpreterFrame* f, Abort why);
// True when the recording follows a call into code `co` (the hook must run that frame in the interpreter).
bool rec_expects_callee(PyCodeObject* co);

// ---- what a loop's trace holds (for fastpy.explain and the golden tests)
struct TraceInfo {
  const ir::Trace* recorded;    // as recorded
  const ir::Trace* optimized;   // as it runs
  const uint64_t* exits;        // per instruction of `optimized`: side exits its guard took
  uint64_t runs;                // entries
  const char* tier;             // "baseline" (machine code) or "ir" (the reference executor)
  size_t code_bytes;            // machine code (0 for the IR tier)
  std::vector<std::pair<ir::IRRef, uint64_t>> side;   // side traces: (guard they continue, runs)
};
// The trace attached to a loop, or false.
bool loop_trace_info(const LoopSlot* loop, TraceInfo* out);
// One comment for instruction r of t when printed (a slot's variable name, what a constant is); "" if none.
std::string trace_note(PyCodeObject* co, const ir::Trace& t, ir::IRRef r);

}  // namespace fastpy
