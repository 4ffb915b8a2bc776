// The baseline tier's machine code against the reference executor (tiers/ir/ir_exec.h), op by op on edge
// values and on loops: same exit guard (or completion), same snapshot values, same memory afterwards.
// Operands come both as constants (the code generator's immediate paths) and loaded from memory (registers).
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tiers/baseline/codegen.h"
#include "tiers/ir/ir.h"
#include "tiers/ir/ir_exec.h"

namespace fastpy {
namespace {

using namespace ir;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string P(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, uintptr_t(p));
  return buf;
}
std::string F(double d) {
  char buf[64];
  if (std::isnan(d)) std::snprintf(buf, sizeof buf, "nan:0x%016" PRIx64, uint64_t(f64_bits(d)));
  else std::snprintf(buf, sizeof buf, "%a", d);
  return buf;
}
uint64_t B(double d) { return uint64_t(f64_bits(d)); }

// Runs text in the executor and as machine code, each on its own copy of mem (the buffer the trace's kptr
// constants point at: its address is patched in as @MEM), and compares everything observable.
void differential(const std::string& text_in, const std::vector<uint64_t>& mem0, const std::string& what) {
  std::vector<uint64_t> m1 = mem0, m2 = mem0;
  auto with = [&](std::vector<uint64_t>& m) {
    std::string t = text_in;
    for (size_t at; (at = t.find("@MEM")) != std::string::npos;) t.replace(at, 4, P(m.data()));
    return t;
  };
  Trace t1, t2;
  ASSERT_EQ(ir_parse(with(m1), &t1), "") << with(m1);
  ASSERT_EQ(ir_parse(with(m2), &t2), "") << with(m2);
  ASSERT_EQ(ir_verify(t1), "") << with(m1);
  ExecOptions o;
  ExecResult want = ir_execute(t1, o);
  ASSERT_NE(want.status, ExecStatus::error) << what << ": " << want.error;
  baseline::CompiledTrace c;
  ASSERT_EQ(baseline::compile_trace(t2, baseline::CompileOptions(), &c), "") << what;
  std::vector<uint64_t> out(c.out_words + 1, 0xdeadbeefu);
  int32_t g = c.fn(nullptr, out.data());
  baseline::release_trace(&c);
  if (want.status == ExecStatus::exited) {
    EXPECT_EQ(g, want.guard) << what << ": " << exec_describe(want);
  } else {
    EXPECT_EQ(g, baseline::kCompleted) << what << ": " << exec_describe(want);
  }
  for (size_t e = 0; e < want.slots.size(); e++)
    EXPECT_EQ(out[e], want.slots[e].value) << what << ": snapshot entry " << e << " (" << exec_describe(want) << ")";
  EXPECT_EQ(m1, m2) << what << ": memory differs";
}

std::string konst(IRKind k, uint64_t v) {
  if (k == IRK_f64) return "kflt " + F(bits_f64(int64_t(v)));
  if (k == IRK_bool) return "kbool " + std::to_string(v);
  return "kint " + std::to_string(int64_t(v));
}

// op on (x, y): the result stored to mem[2] (or, for a guard, its snapshot holds both operands), once with
// constant operands and once with operands loaded from mem[0], mem[1].
void op_case(IROp op, uint64_t x, uint64_t y) {
  const IROpInfo& info = ir_info(op);
  for (bool loaded : {false, true}) {
    std::string s = "%0 ptr = kptr @MEM\n";
    auto operand = [&](int k, IRKind kind) {
      std::string ty = kIRTypeNames[kind];
      if (loaded && kind != IRK_bool) s += "%" + std::to_string(k) + " " + ty + " = load_" + ty + " %0, " + std::to_string(8 * (k - 1)) + "\n";
      else s += "%" + std::to_string(k) + " " + ty + " = " + konst(kind, k == 1 ? x : y) + "\n";
    };
    operand(1, info.ka);
    if (info.nargs == 2) operand(2, info.kb);
    else s += "%2 i64 = kint 0\n";
    s += "snap 0 pc=3 top=9 [1=%1 2=%2]\n";
    std::string args = info.nargs == 2 ? " %1, %2" : " %1";
    std::string imm = op == IR_callf1 ? ", " + P(reinterpret_cast<void*>(static_cast<double (*)(double)>(&std::sqrt))) : "";
    s += "%3 " + std::string(kIRTypeNames[info.result]) + " = " + info.name + args + imm + (info.is_guard ? " @0" : "") + "\n";
    if (info.result == IRT_f64) s += "%4 void = store_f64 %0, %3, 16\n";
    else if (info.result != IRT_void && info.result != IRT_bool) s += "%4 void = store_i64 %0, %3, 16\n";
    else if (info.result == IRT_bool) s += "%4 i64 = b2i %3\n%5 void = store_i64 %0, %4, 16\n";
    differential(s, {x, y, 0}, std::string(info.name) + (loaded ? " loaded " : " const ") + std::to_string(x) + ", " + std::to_string(y));
  }
}

const std::vector<int64_t> kInts = {0, 1, -1, 2, -2, 3, -7, 7, 63, 64, 65, 1000, -1000, int64_t(1) << 32,
                                     kMax, kMax - 1, kMin, kMin + 1, kMax / 2, kMin / 2};
const std::vector<double> kFlts = {0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e300, -1e300, 1e-310, kInf, -kInf,
                                   kNaN, 0x1p63, -0x1p63, 0x1.fffffffffffffp62, 7.25, -7.25};

TEST(BaselineDiff, IntegerOps) {
  for (IROp op : {IR_add_ov, IR_sub_ov, IR_mul_ov, IR_neg_ov, IR_abs_ov, IR_and, IR_or, IR_xor, IR_shl,
                  IR_sar, IR_lt, IR_le, IR_gt, IR_ge, IR_eq, IR_ne, IR_floordiv_ov, IR_mod_ov, IR_imin,
                  IR_imax, IR_i2f, IR_guard_eqi})
    for (int64_t x : kInts)
      for (int64_t y : kInts) op_case(op, uint64_t(x), uint64_t(y));
}

TEST(BaselineDiff, FloatOps) {
  for (IROp op : {IR_fadd, IR_fsub, IR_fmul, IR_fdiv, IR_fneg, IR_fabs, IR_flt, IR_fle, IR_fgt, IR_fge, IR_feq,
                  IR_fne, IR_fmin, IR_fmax, IR_ffloordiv, IR_fmod, IR_f2i, IR_callf1})
    for (double x : kFlts)
      for (double y : kFlts) {
        if ((op == IR_ffloordiv || op == IR_fmod) && y == 0.0) continue;   // the recorder guards b != 0
        op_case(op, B(x), B(y));
      }
}

// A compare fused into the guard right after it, both directions, NaN included.
TEST(BaselineDiff, FusedCompareGuards) {
  for (const char* cmp : {"flt", "fle", "fgt", "fge", "feq", "fne", "lt", "le", "gt", "ge", "eq", "ne"})
    for (const char* g : {"guard_true", "guard_false"})
      for (double x : {0.0, -0.0, 1.0, kNaN, -kInf})
        for (double y : {0.0, 1.0, kNaN, kInf}) {
          bool f = cmp[0] == 'f';
          std::string ty = f ? "f64" : "i64";
          uint64_t a = f ? B(x) : uint64_t(int64_t(x == x && std::isfinite(x) ? x : -5));
          uint64_t b = f ? B(y) : uint64_t(int64_t(y == y && std::isfinite(y) ? y : 9));
          std::string s = "%0 ptr = kptr @MEM\n%1 " + ty + " = load_" + ty + " %0, 0\n%2 " + ty + " = load_" + ty +
                          " %0, 8\nsnap 0 pc=1 top=9 [1=%1 2=%2]\n%3 bool = " + cmp + " %1, %2\n%4 void = " + g +
                          " %3 @0\n%5 i64 = kint 1\n%6 void = store_i64 %0, %5, 16\n";
          differential(s, {a, b, 0}, std::string(cmp) + " " + g);
        }
}

TEST(BaselineDiff, MemoryOpsAndAddresses) {
  for (int64_t scale : {1, 8, 24})
    for (int64_t idx : {0, 1, 2}) {
      std::string s = "%0 ptr = kptr @MEM\n%1 i64 = kint " + std::to_string(idx) + "\n%2 ptr = padd %0, %1, " +
                      std::to_string(scale) + "\n%3 i64 = load_i64 %2, 8\n%4 void = store_i64 %0, %3, 0\n"
                      "%5 i64 = load_i32 %0, 12\n%6 void = store_i64 %0, %5, 72\n%7 f64 = load_f32 %0, 16\n"
                      "%8 void = store_f64 %0, %7, 80\n%9 void = store_f32 %0, %7, 28\n%10 void = store_i32 %0, %5, 36\n"
                      "%11 ptr = load_ptr %0, 40\n%12 void = store_ptr %0, %11, 48\n";
      float fl = -1.5f;
      uint32_t fb;
      std::memcpy(&fb, &fl, 4);
      differential(s, {7, uint64_t(-3) << 32 | 5, fb, 9, 0x1234, 0, 0, 0, 0, 0, 0, 0}, "memory " + std::to_string(scale));
    }
}

TEST(BaselineDiff, TypeNonNullPollGuards) {
  static uint64_t fake_obj[4] = {1, 0x5000, 0, 0};
  static int32_t breaker = 0;
  for (uint64_t type : {0x5000u, 0x6000u})
    for (int32_t flag : {0, 1}) {
      breaker = flag;
      std::string s = "%0 obj = kobj " + P(fake_obj) + "\nsnap 0 pc=1 top=9 [1=%0]\n%1 void = guard_nonnull %0 @0\n"
                      "%2 void = guard_type %0, " + P(reinterpret_cast<void*>(type)) + " @0\n%3 void = poll " +
                      P(&breaker) + " @0\n%4 ptr = kptr 0x0\n%5 void = guard_nonnull %4 @0\n";
      differential(s, {0}, "guards type " + std::to_string(type) + " poll " + std::to_string(flag));
    }
  breaker = 0;
}

// sum = 0; for i in range(n): sum += i, with a swap of two phis each iteration; exits at i == n.
TEST(BaselineDiff, LoopsWithPhis) {
  for (int64_t n : {0, 1, 2, 10, 1000}) {
    std::string s = "%0 ptr = kptr @MEM\n%1 i64 = load_i64 %0, 0\n%2 i64 = kint 0\n%3 i64 = kint 1\n"
        "%4 f64 = kflt 0x1p+0\n%5 f64 = kflt 0x1p+1\n%6 void = loop\n%7 i64 = phi %2, %14\n"
        "%8 i64 = phi %2, %13\n%9 f64 = phi %4, %10\n%10 f64 = phi %5, %9\n"
        "snap 0 pc=7 top=16 [0=%7 1=%8 2=%9 3=%10]\n%11 bool = lt %7, %1\n%12 void = guard_true %11 @0\n"
        "%13 i64 = add_ov %8, %7 @0\n%14 i64 = add_ov %7, %3 @0\n";
    differential(s, {uint64_t(n)}, "loop " + std::to_string(n));
  }
}

// A trace without loop completes: the completion snapshot's values come back.
TEST(BaselineDiff, CompletionSnapshot) {
  std::string s = "%0 ptr = kptr @MEM\n%1 i64 = load_i64 %0, 0\n%2 f64 = load_f64 %0, 8\n%3 i64 = kint 5\n"
                  "%4 i64 = or %1, %3\n%5 f64 = fneg %2\nsnap 0 pc=4 top=9 [1=%4 2=%5 3=%3]\n";
  differential(s, {40, B(-0.0)}, "completion");
}

TEST(BaselineDiff, RuntimeOpsNeedARuntime) {
  Trace t;
  ASSERT_EQ(ir_parse("%0 f64 = kflt 0x1p+0\n%1 obj = box_f64 %0\n", &t), "");
  baseline::CompiledTrace c;
  EXPECT_NE(baseline::compile_trace(t, baseline::CompileOptions(), &c), "");
  EXPECT_EQ(c.fn, nullptr);
}

}  // namespace
}  // namespace fastpy
