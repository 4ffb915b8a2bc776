// The _fastpy_llvm extension module: what fastpy does with LLVM (ORC, NVPTX), apart from _fastpy so that
// `import fastpy` does not load libLLVM (about 18 ms of dynamic loading and relocation per process, more than
// the rest of fastpy's start-up). Imported on first use only.
#include <Python.h>

#include <memory>
#include <string>

#include "tiers/gpu/ptx.h"
#include "tiers/llvm/orc_jit.h"

namespace fastpy {
namespace {

PyObject* runtime_error(const std::string& what) {
  PyErr_SetString(PyExc_RuntimeError, what.c_str());
  return nullptr;
}

// LLVM ORC: compile IR text at -O2, call `symbol` as i64(i64); returns (result, optimized IR).
PyObject* py_probe_llvm(PyObject*, PyObject* args) {
  const char *ir, *symbol;
  long long arg;
  if (!PyArg_ParseTuple(args, "ssL", &ir, &symbol, &arg)) return nullptr;
  std::string err;
  static std::unique_ptr<llvmtier::OrcJit> jit = llvmtier::OrcJit::create(&err);
  if (!jit) return runtime_error(err.empty() ? "LLVM: JIT creation failed earlier" : err);
  void* addr = jit->compile(ir, symbol, &err);
  if (!addr) return runtime_error(err);
  long long r = reinterpret_cast<int64_t (*)(int64_t)>(addr)(arg);
  return Py_BuildValue("(Ls)", r, jit->last_optimized_ir().c_str());
}

// LLVM NVPTX: the sample kernel's PTX.
PyObject* py_probe_ptx(PyObject*, PyObject* args) {
  const char* sm = "sm_90";
  if (!PyArg_ParseTuple(args, "|s", &sm)) return nullptr;
  std::string err;
  std::string ptx = gpu::emit_ptx(gpu::kSaxpyKernelIR, sm, &err);
  if (ptx.empty()) return runtime_error("NVPTX: " + err);
  return PyUnicode_FromString(ptx.c_str());
}

PyMethodDef kMethods[] = {
    {"probe_llvm", py_probe_llvm, METH_VARARGS, "Compile LLVM IR at -O2 with ORC and call it."},
    {"probe_ptx", py_probe_ptx, METH_VARARGS, "PTX for a sample kernel from LLVM's NVPTX backend."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_fastpy_llvm", "fastpy's LLVM tiers (loaded on first use).", -1,
                       kMethods};

}  // namespace
}  // namespace fastpy

PyMODINIT_FUNC PyInit__fastpy_llvm() { return PyModule_Create(&fastpy::kModule); }
