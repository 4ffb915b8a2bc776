#include "tiers/baseline/code_memory.h"

#include <asmjit/x86.h>

#include <iterator>
#include <mutex>
#include <utility>
#include <vector>

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

// A thunk per target: saves the general registers a System V call may clobber but rax (the result), calls
// target with the stack aligned, restores them. Made once per target, kept for the process.
const void* gp_saving_thunk(const void* target) {
  using namespace asmjit;
  static std::mutex lock;
  static std::vector<std::pair<const void*, const void*>> made;
  std::lock_guard<std::mutex> hold(lock);
  for (const auto& m : made)
    if (m.first == target) return m.second;
  static const x86::Gp kSaved[] = {x86::rcx, x86::rdx, x86::rsi, x86::rdi, x86::r8, x86::r9, x86::r10, x86::r11};
  CodeHolder code;
  code.init(jit_runtime().environment());
  x86::Assembler a(&code);
  for (const x86::Gp& r : kSaved) a.push(r);
  a.sub(x86::rsp, 8);   // entered with rsp = 8 (mod 16); eight pushes keep it so; the call needs 0
  a.mov(x86::rax, Imm(reinterpret_cast<uint64_t>(target)));
  a.call(x86::rax);
  a.add(x86::rsp, 8);
  for (size_t k = std::size(kSaved); k-- > 0;) a.pop(kSaved[k]);
  a.ret();
  void* fn = nullptr;
  if (jit_runtime().add(&fn, &code) != kErrorOk) return nullptr;
  g_code_bytes += code.codeSize();
  made.emplace_back(target, fn);
  return fn;
}

size_t code_bytes() { return g_code_bytes; }
void add_code_bytes(int64_t n) { g_code_bytes = size_t(int64_t(g_code_bytes) + n); }

}  // namespace fastpy::baseline
