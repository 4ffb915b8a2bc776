#include "python/code_extra.h"

#include "python/cpython311/internals.h"
#include "python/hook.h"

namespace fastpy {
namespace {

Py_ssize_t g_index = -1;

void free_code_data(void* p) {
  if (p && (static_cast<CodeData*>(p)->flags & kCodeJit)) hook_jit_code_removed();
  code_data_free(p);
}

}  // namespace

bool code_extra_init() {
  g_index = _PyEval_RequestCodeExtraIndex(free_code_data);
  if (g_index < 0) {
    PyErr_SetString(PyExc_RuntimeError, "fastpy: no free co_extra slot (255 already taken by other tools)");
    return false;
  }
  return true;
}

CodeData* code_data_peek(PyCodeObject* co) {
  if (!co->co_extra) return nullptr;   // fast path: most code objects have no extra data at all
  void* p = nullptr;
  if (_PyCode_GetExtra(reinterpret_cast<PyObject*>(co), g_index, &p) < 0) {
    PyErr_Clear();
    return nullptr;
  }
  return static_cast<CodeData*>(p);
}

CodeData* code_data_get(PyCodeObject* co) {
  if (CodeData* cd = code_data_peek(co)) return cd;
  CodeData* cd = code_data_new();
  if (_PyCode_SetExtra(reinterpret_cast<PyObject*>(co), g_index, cd) < 0) {
    code_data_free(cd);
    return nullptr;
  }
  return cd;
}

}  // namespace fastpy
