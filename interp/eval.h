// The fastpy interpreter: runs CPython 3.11 bytecode over the _PyInterpreterFrame the hook received,
// exactly as CPython's evaluator would, counting loop back-edges and entering compiled loops.
#pragma once
#include <Python.h>

namespace fastpy {

struct CodeData;

// Runs a fresh (never started) frame to completion, or hands it over to CPython's evaluator at an
// instruction it does not handle. Same contract as an eval-frame function: returns a new reference, or
// nullptr with an exception set; the caller (_PyEval_Vector) clears the frame.
PyObject* interp_run(PyThreadState* ts, struct _PyInterpreterFrame* f, CodeData* cd);

// Before the first interp_run of a code object: finds its loops and sets up the interpreter's per-code
// caches in `cd` (once; later calls return at once).
void interp_prepare(PyCodeObject* co, CodeData* cd);

// Switches instruction dispatch to the recorder's step (a loop is being recorded) or back.
void interp_set_record_dispatch(bool on);

// Once, at module init: interned names and the like. False with a Python error set.
bool interp_init();

// Handovers to CPython's evaluator, by base opcode (the instruction the frame was handed over at).
const unsigned long long* interp_handovers_by_opcode();   // 256 entries
void interp_handovers_reset();

}  // namespace fastpy
