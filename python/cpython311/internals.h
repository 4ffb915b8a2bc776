// The ONE place fastpy reaches into CPython internals. Verified against CPython 3.11 (Debian 12's 3.11.2).
// Everything outside python/ uses the small inline interface below, never pycore_* directly.
#pragma once

#define Py_BUILD_CORE 1
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "fastpy: CPython internals are verified only for CPython 3.11; port python/cpython311/ first"
#endif

// The internal headers use C11 <stdatomic.h> when HAVE_STD_ATOMIC is set, which C++ cannot include; without
// it they fall back to the __atomic builtins with the same layout.
#undef HAVE_STD_ATOMIC
// Where <Python.h> came first (without Py_BUILD_CORE) it defined public-API aliases the internal headers
// redefine; drop them so the include order does not matter.
#undef _PyObject_LookupSpecial
#undef _PyGC_FINALIZED
#include <internal/pycore_ceval.h>
#include <internal/pycore_code.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_long.h>
#include <internal/pycore_object.h>
#include <internal/pycore_pymem.h>
#include <internal/pycore_pystate.h>

// python/cpython311/opcode_tables.c: CPython's own tables, which the interpreter does not export.
extern "C" const uint8_t fastpy_opcode_deopt[256];   // specialized opcode -> base opcode
extern "C" const uint8_t fastpy_opcode_caches[256];  // base opcode -> inline CACHE code units

namespace fastpy::py {

using Frame = _PyInterpreterFrame;
using EvalFrameFunc = _PyFrameEvalFunction;

inline PyCodeObject* frame_code(Frame* f) { return f->f_code; }

// Nonzero while tracemalloc traces allocations (_Py_NewReference then tells it of each new object).
inline const int* tracemalloc_tracing() { return &_Py_tracemalloc_config.tracing; }

// The int CPython itself returns for v, a new reference: its cached object for -5..256 (PyLong_FromLongLong
// without the call), else a new int.
inline PyObject* int_from_i64(long long v) {
  if (v >= -_PY_NSMALLNEGINTS && v < _PY_NSMALLPOSINTS)
    return Py_NewRef(reinterpret_cast<PyObject*>(&_PyLong_SMALL_INTS[_PY_NSMALLNEGINTS + v]));
  return PyLong_FromLongLong(v);
}

// Generator, coroutine and async-generator frames are owned by their generator object.
inline bool frame_is_generator(Frame* f) {
  return f->owner == FRAME_OWNED_BY_GENERATOR ||
         (f->f_code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)) != 0;
}

// sys.settrace / sys.setprofile active on this thread.
inline bool tracing_active(PyThreadState* ts) { return ts->cframe->use_tracing != 0; }

inline PyObject* eval_default(PyThreadState* ts, Frame* f, int throwflag) {
  return _PyEval_EvalFrameDefault(ts, f, throwflag);
}

inline EvalFrameFunc get_eval_frame(PyInterpreterState* interp) {
  return _PyInterpreterState_GetEvalFrameFunc(interp);
}
inline void set_eval_frame(PyInterpreterState* interp, EvalFrameFunc fn) {
  _PyInterpreterState_SetEvalFrameFunc(interp, fn);
}

// ---- used by interp/ (the fastpy interpreter runs CPython 3.11 bytecode over these frames) ----
using CodeUnit = _Py_CODEUNIT;
inline CodeUnit* code_units(PyCodeObject* co) { return _PyCode_CODE(co); }
inline int code_size(PyCodeObject* co) { return static_cast<int>(Py_SIZE(co)); }   // in code units
inline int opcode_of(CodeUnit w) { return fastpy_opcode_deopt[_Py_OPCODE(w)]; }
inline int oparg_of(CodeUnit w) { return _Py_OPARG(w); }
inline int cache_units(int base_op) { return fastpy_opcode_caches[base_op]; }

// Make `f` the thread's current frame (what sys._getframe, tracebacks and debuggers walk) and undo it.
// CPython's evaluator links a frame the same way when it starts one, so unlink before handing over.
inline void link_frame(PyThreadState* ts, Frame* f) {
  f->previous = ts->cframe->current_frame;
  ts->cframe->current_frame = f;
}
inline void unlink_frame(PyThreadState* ts, Frame* f) { ts->cframe->current_frame = f->previous; }

// Signals, pending calls, GIL drop requests, async exceptions: polled at every back-edge.
// Where compiled code finds the running thread's state (the word CPython's _PyThreadState_GET reads), and
// the offset of its recursion budget in it: an inlined call makes no frame but must fail where CPython's
// call would.
inline const void* tstate_current_address() { return &_PyRuntime.gilstate.tstate_current._value; }
constexpr int kRecursionRemainingOffset = static_cast<int>(offsetof(PyThreadState, recursion_remaining));

// The 32-bit eval-breaker word compiled code polls (IR `poll`): non-zero while anything is pending.
inline const void* eval_breaker_address(PyThreadState* ts) { return &ts->interp->ceval.eval_breaker._value; }
inline bool eval_breaker_set(PyThreadState* ts) {
  return __atomic_load_n(&ts->interp->ceval.eval_breaker._value, __ATOMIC_RELAXED) != 0;
}
inline bool gil_drop_requested(PyThreadState* ts) {
  return __atomic_load_n(&ts->interp->ceval.gil_drop_request._value, __ATOMIC_RELAXED) != 0;
}

// True when every key of exact dict d is a str (its keys table is of a unicode kind): looking up a str then
// compares strs only and runs no Python code (another key's __eq__ could).
inline bool dict_str_keys_only(PyObject* d) {
  return DK_IS_UNICODE(reinterpret_cast<PyDictObject*>(d)->ma_keys);
}

// The recursion limit, counted exactly as CPython's evaluator does for each Python frame it starts.
inline bool enter_recursive_frame(PyThreadState* ts) {
  // On failure _Py_CheckRecursiveCall has already given the count back and set RecursionError.
  return !(ts->recursion_remaining-- <= 0 && _Py_CheckRecursiveCall(ts, ""));
}
inline void leave_recursive_frame(PyThreadState* ts) { ts->recursion_remaining++; }

}  // namespace fastpy::py
