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
#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>

namespace fastpy::py {

using Frame = _PyInterpreterFrame;
using EvalFrameFunc = _PyFrameEvalFunction;

inline PyCodeObject* frame_code(Frame* f) { return f->f_code; }

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

}  // namespace fastpy::py
