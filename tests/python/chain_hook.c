/* A second PEP 523 hook for tests: counts the frames it evaluates, to check that fastpy chains to an
   eval function installed before its own and restores it when it leaves. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_interp.h>

static long long g_frames = 0;
static _PyFrameEvalFunction g_prev = NULL;

static PyObject* counting_eval(PyThreadState* ts, struct _PyInterpreterFrame* f, int throwflag) {
  g_frames++;
  return g_prev ? g_prev(ts, f, throwflag) : _PyEval_EvalFrameDefault(ts, f, throwflag);
}

static PyObject* install(PyObject* self, PyObject* unused) {
  PyInterpreterState* interp = PyInterpreterState_Get();
  _PyFrameEvalFunction cur = _PyInterpreterState_GetEvalFrameFunc(interp);
  g_prev = cur == _PyEval_EvalFrameDefault ? NULL : cur;
  _PyInterpreterState_SetEvalFrameFunc(interp, counting_eval);
  Py_RETURN_NONE;
}

static PyObject* uninstall(PyObject* self, PyObject* unused) {
  _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), g_prev ? g_prev : _PyEval_EvalFrameDefault);
  Py_RETURN_NONE;
}

static PyObject* installed(PyObject* self, PyObject* unused) {
  return PyBool_FromLong(_PyInterpreterState_GetEvalFrameFunc(PyInterpreterState_Get()) == counting_eval);
}

static PyObject* is_default(PyObject* self, PyObject* unused) {
  return PyBool_FromLong(_PyInterpreterState_GetEvalFrameFunc(PyInterpreterState_Get()) == _PyEval_EvalFrameDefault);
}

static PyObject* frames(PyObject* self, PyObject* unused) { return PyLong_FromLongLong(g_frames); }

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, NULL},     {"uninstall", uninstall, METH_NOARGS, NULL},
    {"installed", installed, METH_NOARGS, NULL}, {"is_default", is_default, METH_NOARGS, NULL},
    {"frames", frames, METH_NOARGS, NULL},       {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_chain_hook", NULL, -1, methods};

PyMODINIT_FUNC PyInit__chain_hook(void) { return PyModule_Create(&module); }
