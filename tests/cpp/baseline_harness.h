// The differential harness of the baseline tier's C++ tests (test_baseline_codegen.cpp: ops, guards,
// loops, runtime ops; test_baseline_exits.cpp: exits, the completion restore, links): a snippet runs in the
// reference executor and as machine code, and everything observable must match. Also the value helpers,
// the callee-saved register check and the fake CPython objects the runtime ops use.
#pragma once
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <asmjit/x86.h>

#include "tiers/baseline/codegen.h"
#include "tiers/ir/ir.h"
#include "tiers/ir/ir_exec.h"

namespace fastpy::bltest {

using namespace ir;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kI32Min = std::numeric_limits<int32_t>::min();
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

inline uint64_t B(double d) { return uint64_t(f64_bits(d)); }
inline double D(uint64_t b) { return bits_f64(int64_t(b)); }
inline std::string I(int64_t v) { return std::to_string(v); }
inline std::string P(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, uintptr_t(p));
  return buf;
}
// A double immediate from its bits (%a, or nan:0x<bits> keeping the payload and sign).
inline std::string Fb(uint64_t bits) {
  char buf[64];
  double d = D(bits);
  if (std::isnan(d)) std::snprintf(buf, sizeof buf, "nan:0x%016" PRIx64, bits);
  else std::snprintf(buf, sizeof buf, "%a", d);
  return buf;
}
inline std::string F(double d) { return Fb(B(d)); }
inline std::string H(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

// ---------------------------------------------------------------- callee-saved registers

// Calls a compiled trace the way C++ does, with a known value in each callee-saved register (rbx, rbp,
// r12-r15), and tells which of them came back changed (bit k: the k-th of those six). The System V ABI
// makes the trace keep them: a C++ caller's values live there (asmjit 1.9 once moved a value into one the
// prologue did not save: run_loop's `loop` came back null).
using SavedCheckFn = uint32_t (*)(baseline::TraceFn fn, const uint64_t* slots, uint64_t* out,
                                  const uint64_t* parent, int32_t* rc);

inline SavedCheckFn saved_check() {
  static asmjit::JitRuntime rt;
  static SavedCheckFn fn = [] {
    using namespace asmjit;
    CodeHolder code;
    code.init(rt.environment());
    x86::Assembler a(&code);
    const x86::Gp saved[] = {x86::rbx, x86::rbp, x86::r12, x86::r13, x86::r14, x86::r15};
    auto sentinel = [](int k) { return int64_t(0x5a5a000000000000ull | (uint64_t(k + 1) * 0x1111)); };
    for (const x86::Gp& r : saved) a.push(r);
    a.push(x86::r8);   // rc (7 pushes: the call below is 16-byte aligned)
    a.mov(x86::rax, x86::rdi);
    a.mov(x86::rdi, x86::rsi);
    a.mov(x86::rsi, x86::rdx);
    a.mov(x86::rdx, x86::rcx);
    for (int k = 0; k < 6; k++) a.mov(saved[k], sentinel(k));
    a.call(x86::rax);
    a.pop(x86::r8);
    a.mov(x86::dword_ptr(x86::r8), x86::eax);
    a.xor_(x86::ecx, x86::ecx);
    for (int k = 0; k < 6; k++) {
      Label same = a.newLabel();
      a.mov(x86::r9, sentinel(k));
      a.cmp(saved[k], x86::r9);
      a.je(same);
      a.or_(x86::ecx, 1 << k);
      a.bind(same);
    }
    a.mov(x86::eax, x86::ecx);
    for (int k = 5; k >= 0; k--) a.pop(saved[k]);
    a.ret();
    SavedCheckFn f = nullptr;
    if (rt.add(&f, &code) != kErrorOk) std::abort();
    return f;
  }();
  return fn;
}

// c.fn(slots, out, parent), checking that the callee-saved registers survive: *changed is their mask.
inline int32_t call_checked(const baseline::CompiledTrace& c, const uint64_t* slots, uint64_t* out,
                     const uint64_t* parent, uint32_t* changed) {
  int32_t rc = 0;
  *changed = saved_check()(c.fn, slots, out, parent, &rc);
  return rc;
}

// ---------------------------------------------------------------- the differential harness

// Everything a snippet runs with besides its text.
struct Env {
  std::vector<uint64_t> mem;                 // the buffer @MEM points at (each run gets a fresh copy)
  std::vector<uint64_t> slots;               // frame slots (shared, read-only)
  std::vector<uint64_t> parent;              // a side trace's parent exit values (pload_*)
  baseline::RuntimeFn runtime = nullptr;     // both the executor's hook and the compiled code's
  baseline::PyLayout layout;                 // compiled code only (inline fast paths)
  std::function<void()> reset;               // run before each of the two runs (fake objects' state)
  std::function<std::string()> observe;      // state after a run that must match (fake objects' state)
  bool test_recompile = false;               // CompileOptions::test_recompile (compile_trace's second attempt)
};

// Runs text (with @MEM replaced by the buffer's address) in the executor and as machine code. Returns "" when
// everything observable matches, else what differs.
inline std::string differential(const std::string& text_in, const Env& env) {
  std::vector<uint64_t> m1 = env.mem, m2 = env.mem;
  if (m1.empty()) m1.push_back(0), m2.push_back(0);
  auto with = [&](std::vector<uint64_t>& m) {
    std::string t = text_in;
    for (size_t at; (at = t.find("@MEM")) != std::string::npos;) t.replace(at, 4, P(m.data()));
    return t;
  };
  Trace t1, t2;
  std::string e = ir_parse(with(m1), &t1);
  if (!e.empty()) return "parse: " + e + "\n" + text_in;
  e = ir_parse(with(m2), &t2);
  if (!e.empty()) return "parse: " + e;
  e = ir_verify(t1);
  if (!e.empty()) return "verify: " + e + "\n" + text_in;

  ExecOptions o;
  o.slots = env.slots.empty() ? nullptr : env.slots.data();
  o.nslots = env.slots.size();
  o.parent = env.parent.empty() ? nullptr : env.parent.data();
  o.nparent = env.parent.size();
  if (env.runtime) o.runtime = env.runtime;
  o.max_iterations = 1'000'000;
  if (env.reset) env.reset();
  ExecResult want = ir_execute(t1, o);
  std::string seen1 = env.observe ? env.observe() : "";

  // Both instruction sets the code generator may choose: AVX's three-operand forms, SSE2's.
  std::string diff;
  for (bool avx : {true, false}) {
    if (!avx) m2 = env.mem.empty() ? std::vector<uint64_t>{0} : env.mem;   // (the same buffer: t2 points at it)
    baseline::CompileOptions co;
    co.runtime = env.runtime;
    co.layout = env.layout;
    co.avx = avx;
    co.test_recompile = env.test_recompile;
    baseline::CompiledTrace c;
    e = baseline::compile_trace(t2, co, &c);
    if (!e.empty()) return "compile_trace: " + e + "\n" + text_in;
    if (c.fn == nullptr) return "compile_trace returned no function";
    std::vector<uint64_t> out(c.out_words + 4, 0xdeadbeefcafef00dull);
    if (env.reset) env.reset();
    uint32_t changed = 0;
    int32_t g = call_checked(c, env.slots.empty() ? nullptr : env.slots.data(), out.data(),
                             env.parent.empty() ? nullptr : env.parent.data(), &changed);
    std::string seen2 = env.observe ? env.observe() : "";
    baseline::release_trace(&c);
    if (changed) diff += "callee-saved registers changed (mask " + I(changed) + ")\n";

    switch (want.status) {
      case ExecStatus::exited:
        if (g != want.guard) diff += "exit: executor at %" + I(want.guard) + ", compiled returned " + I(g) + "\n";
        break;
      case ExecStatus::completed:
        if (g != baseline::kCompleted) diff += "executor completed, compiled returned " + I(g) + "\n";
        break;
      case ExecStatus::error:
        // Only a failing runtime hook may make the executor stop with an error; anything else is a bad snippet.
        if (!env.runtime) return "executor error: " + want.error + "\n" + text_in;
        if (g != baseline::kError) diff += "executor error (" + want.error + "), compiled returned " + I(g) + "\n";
        break;
      case ExecStatus::iteration_limit:
        return "the executor hit the iteration limit (bad snippet)\n" + text_in;
    }
    if (diff.empty() && want.status != ExecStatus::error) {
      if (want.slots.size() > c.out_words) diff += "out_words " + I(c.out_words) + " < snapshot size\n";
      for (size_t k = 0; k < want.slots.size() && k < c.out_words; k++)
        if (out[k] != want.slots[k].value)
          diff += "snapshot entry " + I(int64_t(k)) + " (slot " + I(want.slots[k].slot) + "): executor " +
                  H(want.slots[k].value) + ", compiled " + H(out[k]) + "\n";
    }
    for (size_t k = 0; k < m1.size(); k++)
      if (m1[k] != m2[k]) diff += "mem[" + I(int64_t(k)) + "]: executor " + H(m1[k]) + ", compiled " + H(m2[k]) + "\n";
    if (seen1 != seen2) diff += "observed state: executor " + seen1 + ", compiled " + seen2 + "\n";
    if (!diff.empty())
      return diff + (avx ? "(AVX forms) " : "(SSE2 forms) ") + "(" + exec_describe(want) + ")\n" + text_in;
  }
  return diff;
}

inline std::string differential(const std::string& text, std::vector<uint64_t> mem) {
  Env env;
  env.mem = std::move(mem);
  return differential(text, env);
}

// Builds IR text with automatic instruction and snapshot numbering.
struct Text {
  std::string s;
  int n = 0, snaps = 0;
  // Appends "%n type = rhs" and returns n.
  int ins(const std::string& type, const std::string& rhs) {
    s += "%" + I(n) + " " + type + " = " + rhs + "\n";
    return n++;
  }
  // Appends a snapshot with entries {slot, ref} and returns its number.
  int snap(const std::vector<std::pair<int, int>>& entries, int pc = 5) {
    s += "snap " + I(snaps) + " pc=" + I(pc) + " top=64 [";
    for (size_t k = 0; k < entries.size(); k++)
      s += (k ? " " : "") + I(entries[k].first) + "=%" + I(entries[k].second);
    s += "]\n";
    return snaps++;
  }
  static std::string r(int k) { return "%" + I(k); }
};

// ---------------------------------------------------------------- runtime ops

// Fake CPython objects for the runtime ops: {refcnt, type, word 2, word 3}.
inline uint64_t g_float_type[4], g_long_type[4], g_other_type[4];
inline uint64_t g_true[4] = {100, 0, 1, 0}, g_false[4] = {100, 0, 0, 0};
inline int g_deallocs = 0;
inline void fake_dealloc(void* o) {
  g_deallocs++;
  static_cast<uint64_t*>(o)[0] = 999;   // visible to observe()
}

// A fake int object's value (word 2 its size, words 3.. its 30-bit digits, two of them at most); false when
// it has more digits.
inline bool fake_long_value(const uint64_t* o, uint64_t* out) {
  int64_t size = int64_t(o[2]);
  uint32_t d[2];
  std::memcpy(d, &o[3], 8);
  if (size == 0) *out = 0;
  else if (size == 1 || size == -1) *out = uint64_t(size * int64_t(d[0]));
  else if (size == 2 || size == -2) *out = uint64_t((size / 2) * int64_t(uint64_t(d[0]) | uint64_t(d[1] & 0x3fffffff) << 30));
  else return false;
  return true;
}

// PyLayout::unbox_long for the fake ints (the compiled code checked the type). It overwrites every register
// a System V callee may, as a real one might: the thunk in between must give them back.
inline bool fake_unbox_long(void* o, int64_t* out) {
  asm volatile("mov $0x5a5a5a5a, %%ecx\n\tmov $0x5a5a5a5a, %%edx\n\tmov $0x5a5a5a5a, %%r8d\n\t"
               "mov $0x5a5a5a5a, %%r9d\n\tmov $0x5a5a5a5a, %%r10d\n\tmov $0x5a5a5a5a, %%r11d"
               ::: "rcx", "rdx", "r8", "r9", "r10", "r11");
  uint64_t v;
  if (!fake_long_value(static_cast<const uint64_t*>(o), &v)) return false;
  *out = int64_t(v);
  return true;
}

// The runtime hook both sides use (RuntimeFn and ir_exec's RuntimeHook have the same contract): exact floats
// and ints of the fake types, True/False, box_* as a deterministic function of the value, inc/decref on word 0.
inline bool fake_runtime(const IRIns& i, uint64_t a, uint64_t b, uint64_t* out) {
  (void)b;
  const uint64_t* o = reinterpret_cast<const uint64_t*>(uintptr_t(a));
  switch (i.op) {
    case IR_sload_f64: case IR_unbox_f64:
      if (!o || o[1] != uint64_t(uintptr_t(g_float_type))) return false;
      *out = o[2];
      return true;
    case IR_sload_i64: case IR_unbox_i64:
      if (!o || o[1] != uint64_t(uintptr_t(g_long_type))) return false;
      return fake_long_value(o, out);
    case IR_sload_bool:
      if (a == uint64_t(uintptr_t(g_true))) *out = 1;
      else if (a == uint64_t(uintptr_t(g_false))) *out = 0;
      else return false;
      return true;
    case IR_box_f64:
      if (std::isnan(D(a))) return false;   // a failing box: kError / ExecStatus::error
      *out = a ^ 0x00f0f0f0f0f0f0f0ull;
      return true;
    case IR_box_i64: *out = a * 3 + 1; return true;
    case IR_incref: const_cast<uint64_t*>(o)[0]++; return true;
    case IR_decref:
      if (--const_cast<uint64_t*>(o)[0] == 0) fake_dealloc(const_cast<uint64_t*>(o));
      return true;
    default: return false;
  }
}
}  // namespace fastpy::bltest
