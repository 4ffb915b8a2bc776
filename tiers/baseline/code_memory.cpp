#include "tiers/baseline/code_memory.h"

#include <asmjit/x86.h>

#include "tiers/baseline/jit_runtime_p.h"

namespace fastpy::baseline {

asmjit::JitRuntime& jit_runtime() {
  static asmjit::JitRuntime rt;   // lives for the process: compiled code may be running at exit
  return rt;
}

namespace {
size_t g_code_bytes = 0;

std::string describe(asmjit::Error e) { return asmjit::DebugUtils::errorAsString(e); }

}  // namespace

CheckedAddFn emit_checked_add(std::string* err) {
  using namespace asmjit;
  CodeHolder code;
  code.init(jit_runtime().environment());
  x86::Compiler cc(&code);
  FuncNode* fn = cc.addFunc(FuncSignatureT<int, int64_t, int64_t, int64_t*>(CallConvId::kHost));
  x86::Gp a = cc.newInt64("a"), b = cc.newInt64("b"), out = cc.newIntPtr("out");
  x86::Gp ret = cc.newInt32("ret");
  fn->setArg(0, a);
  fn->setArg(1, b);
  fn->setArg(2, out);
  Label overflow = cc.newLabel();
  cc.add(a, b);
  cc.jo(overflow);
  cc.mov(x86::qword_ptr(out), a);
  cc.xor_(ret, ret);
  cc.ret(ret);
  cc.bind(overflow);
  cc.mov(ret, 1);
  cc.ret(ret);
  cc.endFunc();
  Error e = cc.finalize();
  CheckedAddFn result = nullptr;
  if (e == kErrorOk) e = jit_runtime().add(&result, &code);
  if (e != kErrorOk) {
    *err = "asmjit: " + describe(e);
    return nullptr;
  }
  g_code_bytes += code.codeSize();
  return result;
}

size_t code_bytes() { return g_code_bytes; }
void add_code_bytes(int64_t n) { g_code_bytes = size_t(int64_t(g_code_bytes) + n); }

}  // namespace fastpy::baseline
