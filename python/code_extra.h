// fastpy's data in code objects' co_extra slot (PEP 523), freed by CPython when the code object dies.
#pragma once
#include <Python.h>

#include "gc/code_data.h"

namespace fastpy {

bool code_extra_init();                         // once, at module init; false with a Python error set
CodeData* code_data_peek(PyCodeObject* co);     // nullptr when the code has no fastpy data (no error)
CodeData* code_data_get(PyCodeObject* co);      // creates it; nullptr with a Python error set on failure

}  // namespace fastpy
