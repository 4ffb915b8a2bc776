// The reference executor of Trace IR (tiers/ir/ir_exec.h): op semantics, loops and phis, side exits with their
// snapshot values, memory, the iteration limit, errors, and fold/CSE-on vs -off builds agreeing.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tiers/ir/ir.h"
#include "tiers/ir/ir_exec.h"

namespace fastpy::ir {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr uint64_t kSign = uint64_t(1) << 63;
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = bits_f64(0x7ff8000000000001);

// Bits of a double, as the executor's values hold them.
uint64_t B(double d) { return uint64_t(f64_bits(d)); }
// An int immediate in text form.
std::string I(int64_t v) { return std::to_string(v); }
// A double immediate in text form (%a, or nan:0x<bits>).
std::string F(double d) {
  char buf[64];
  if (std::isnan(d)) std::snprintf(buf, sizeof buf, "nan:0x%016" PRIx64, B(d));
  else std::snprintf(buf, sizeof buf, "%a", d);
  return buf;
}
// A pointer immediate in text form.
std::string P(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, uintptr_t(p));
  return buf;
}

// Parses text (which must parse) and runs it.
ExecResult run_text(const std::string& text, const ExecOptions& o = ExecOptions()) {
  Trace t;
  std::string e = ir_parse(text, &t);
  EXPECT_EQ(e, "") << text;
  return ir_execute(t, o);
}

// Expects a side exit at guard g, snapshot s, resume pc, with exactly these slot values.
void expect_exit(const ExecResult& r, IRRef g, int s, int pc, const std::vector<ExitSlot>& slots) {
  ASSERT_EQ(r.status, ExecStatus::exited) << exec_describe(r);
  EXPECT_EQ(r.guard, g) << exec_describe(r);
  EXPECT_EQ(r.snap, s);
  EXPECT_EQ(r.pc, pc);
  EXPECT_EQ(r.slots, slots) << exec_describe(r);
}

// Runs op on constant operands x (and y): "%0 = k x; %1 = k y; snap 0 pc=9 top=16 [3=%0 4=%1]; %2 = op %0, %1".
ExecResult run_op(IROp op, const std::string& x, const std::string& y = "") {
  const IROpInfo& info = ir_info(op);
  auto konst = [](IRKind k) { return k == IRK_i64 ? "kint" : k == IRK_f64 ? "kflt" : "kbool"; };
  std::string ta = kIRTypeNames[info.ka], text = "%0 " + ta + " = " + konst(info.ka) + " " + x + "\n";
  std::string snap = "snap 0 pc=9 top=16 [3=%0]\n", operands = " %0";
  if (info.nargs == 2) {
    text += "%1 " + std::string(kIRTypeNames[info.kb]) + " = " + konst(info.kb) + " " + y + "\n";
    snap = "snap 0 pc=9 top=16 [3=%0 4=%1]\n";
    operands += ", %1";
  }
  IRRef r = info.nargs;
  text += snap + "%" + I(r) + " " + kIRTypeNames[info.result] + " = " + info.name + operands;
  return run_text(text + (info.is_guard ? " @0\n" : "\n"));
}

// The value op gives on constant operands (the run must complete).
uint64_t value_of(IROp op, const std::string& x, const std::string& y = "") {
  ExecResult r = run_op(op, x, y);
  EXPECT_EQ(r.status, ExecStatus::completed) << ir_name(op) << " " << x << " " << y << ": " << exec_describe(r);
  return r.values.empty() ? 0xdeadbeef : r.values.back();
}

// sum = 0; for i in range(n): sum += i  -- exits through guard_true(lt) at %7 with [0=i 1=sum 2=n].
std::string counted_loop(int64_t n) {
  return "%0 i64 = kint 0\n"
         "%1 i64 = kint 1\n"
         "%2 i64 = kint " + I(n) + "\n"
         "%3 void = loop\n"
         "%4 i64 = phi %0, %9\n"
         "%5 i64 = phi %0, %8\n"
         "snap 0 pc=7 top=16 [0=%4 1=%5 2=%2]\n"
         "%6 bool = lt %4, %2\n"
         "%7 void = guard_true %6 @0\n"
         "%8 i64 = add_ov %5, %4 @0\n"
         "%9 i64 = add_ov %4, %1 @0\n";
}

// ---------------------------------------------------------------- loops and phis
TEST(IRExec, CountedLoopSumsAndExitsThroughTheLoopGuard) {
  ExecResult r = run_text(counted_loop(10));
  expect_exit(r, 7, 0, 7, {{0, 10}, {1, 45}, {2, 10}});
  EXPECT_EQ(r.iterations, 10u);
  EXPECT_EQ(r.values[5], 45u);
  expect_exit(run_text(counted_loop(0)), 7, 0, 7, {{0, 0}, {1, 0}, {2, 0}});
  expect_exit(run_text(counted_loop(1000)), 7, 0, 7, {{0, 1000}, {1, 499500}, {2, 1000}});
}

TEST(IRExec, PhisTakeTheirBackEdgeValuesAllAtOnce) {
  // x, y = y, x + y (Fibonacci) and p, q = q, p (a swap), k counts to 5.
  const std::string text =
      "%0 i64 = kint 0\n"
      "%1 i64 = kint 1\n"
      "%2 i64 = kint 2\n"
      "%3 i64 = kint 5\n"
      "%4 void = loop\n"
      "%5 i64 = phi %0, %13\n"
      "%6 i64 = phi %0, %7\n"
      "%7 i64 = phi %1, %12\n"
      "%8 i64 = phi %1, %9\n"
      "%9 i64 = phi %2, %8\n"
      "snap 0 pc=3 top=16 [0=%5 1=%6 2=%7 3=%8 4=%9]\n"
      "%10 bool = lt %5, %3\n"
      "%11 void = guard_true %10 @0\n"
      "%12 i64 = add_ov %6, %7 @0\n"
      "%13 i64 = add_ov %5, %1 @0\n";
  ExecResult r = run_text(text);
  expect_exit(r, 11, 0, 3, {{0, 5}, {1, 5}, {2, 8}, {3, 2}, {4, 1}});
  EXPECT_EQ(r.iterations, 5u);
}

TEST(IRExec, TraceWithoutLoopCompletes) {
  ExecResult r = run_text("%0 i64 = kint 2\n%1 i64 = kint 3\nsnap 0 pc=0 top=16 []\n%2 i64 = mul_ov %0, %1 @0\n");
  EXPECT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.values, (std::vector<uint64_t>{2, 3, 6}));
  EXPECT_EQ(r.iterations, 0u);
  EXPECT_EQ(run_text("").status, ExecStatus::completed);
}

// ---------------------------------------------------------------- the iteration limit
TEST(IRExec, IterationLimitStopsAnEndlessLoop) {
  EXPECT_EQ(ExecOptions().max_iterations, 10'000'000u);
  const std::string endless =
      "%0 i64 = kint 0\n%1 i64 = kint 1\n%2 void = loop\n%3 i64 = phi %0, %4\n"
      "snap 0 pc=0 top=16 []\n%4 i64 = add_ov %3, %1 @0\n";
  ExecOptions o;
  o.max_iterations = 1000;
  ExecResult r = run_text(endless, o);
  EXPECT_EQ(r.status, ExecStatus::iteration_limit) << exec_describe(r);
  EXPECT_EQ(r.iterations, 1000u);
  EXPECT_EQ(r.values[3], 1000u);  // the phi took its back-edge 1000 times
  EXPECT_EQ(run_text("%0 void = loop\n", o).status, ExecStatus::iteration_limit);  // an empty body too
  o.max_iterations = 0;
  EXPECT_EQ(run_text(endless, o).status, ExecStatus::iteration_limit);
}

TEST(IRExec, IterationLimitCountsBackEdgesExactly) {
  ExecOptions o;
  o.max_iterations = 10;  // the loop of n = 10 takes 10 back-edges, then its guard fails
  EXPECT_EQ(run_text(counted_loop(10), o).status, ExecStatus::exited);
  o.max_iterations = 9;
  ExecResult r = run_text(counted_loop(10), o);
  EXPECT_EQ(r.status, ExecStatus::iteration_limit) << exec_describe(r);
  EXPECT_EQ(r.iterations, 9u);
}

// ---------------------------------------------------------------- i64
TEST(IRExec, OverflowExitsAtTheGuardWithPreOverflowValues) {
  expect_exit(run_op(IR_add_ov, I(kMax), "1"), 2, 0, 9, {{3, uint64_t(kMax)}, {4, 1}});
  expect_exit(run_op(IR_add_ov, I(kMin), "-1"), 2, 0, 9, {{3, uint64_t(kMin)}, {4, uint64_t(-1)}});
  expect_exit(run_op(IR_sub_ov, I(kMin), "1"), 2, 0, 9, {{3, uint64_t(kMin)}, {4, 1}});
  expect_exit(run_op(IR_sub_ov, "0", I(kMin)), 2, 0, 9, {{3, 0}, {4, uint64_t(kMin)}});
  expect_exit(run_op(IR_mul_ov, I(kMin), "-1"), 2, 0, 9, {{3, uint64_t(kMin)}, {4, uint64_t(-1)}});
  expect_exit(run_op(IR_mul_ov, I(int64_t(1) << 32), I(int64_t(1) << 31)), 2, 0, 9,
              {{3, uint64_t(1) << 32}, {4, uint64_t(1) << 31}});
  expect_exit(run_op(IR_neg_ov, I(kMin)), 1, 0, 9, {{3, uint64_t(kMin)}});
  // right at the edge: no exit
  EXPECT_EQ(value_of(IR_add_ov, I(kMax), "-1"), uint64_t(kMax - 1));
  EXPECT_EQ(value_of(IR_add_ov, I(kMax - 1), "1"), uint64_t(kMax));
  EXPECT_EQ(value_of(IR_sub_ov, "-1", I(kMin)), uint64_t(kMax));
  EXPECT_EQ(value_of(IR_mul_ov, I(-(int64_t(1) << 32)), I(int64_t(1) << 31)), uint64_t(kMin));
  EXPECT_EQ(value_of(IR_mul_ov, "-7", "6"), uint64_t(-42));
  EXPECT_EQ(value_of(IR_neg_ov, I(kMin + 1)), uint64_t(kMax));
  EXPECT_EQ(value_of(IR_neg_ov, "5"), uint64_t(-5));
}

TEST(IRExec, OverflowInsideALoopKeepsTheLastGoodValue) {
  // x = 1; while True: x *= 3  -- 3**39 fits, 3**40 does not
  const std::string text =
      "%0 i64 = kint 1\n%1 i64 = kint 3\n%2 void = loop\n%3 i64 = phi %0, %4\n"
      "snap 0 pc=5 top=16 [0=%3]\n%4 i64 = mul_ov %3, %1 @0\n";
  int64_t p = 1;
  for (int k = 0; k < 39; k++) p *= 3;
  ExecResult r = run_text(text);
  expect_exit(r, 4, 0, 5, {{0, uint64_t(p)}});
  EXPECT_EQ(r.iterations, 39u);
  EXPECT_EQ(r.values[4], uint64_t(p));  // the failed mul_ov wrote nothing
  // x = 0; while True: x += 2**62  -- exits on the second add
  r = run_text("%0 i64 = kint 0\n%1 i64 = kint 4611686018427387904\n%2 void = loop\n%3 i64 = phi %0, %4\n"
               "snap 0 pc=5 top=16 [0=%3]\n%4 i64 = add_ov %3, %1 @0\n");
  expect_exit(r, 4, 0, 5, {{0, uint64_t(1) << 62}});
  EXPECT_EQ(r.iterations, 1u);
}

TEST(IRExec, ShiftsMaskTheCountBy63) {
  EXPECT_EQ(value_of(IR_shl, "1", "64"), 1u);
  EXPECT_EQ(value_of(IR_shl, "1", "65"), 2u);
  EXPECT_EQ(value_of(IR_shl, "1", "63"), kSign);
  EXPECT_EQ(value_of(IR_shl, "1", "-1"), kSign);  // -1 & 63 == 63
  EXPECT_EQ(value_of(IR_shl, "3", "127"), kSign);  // wraps: the high bit falls off
  EXPECT_EQ(value_of(IR_sar, "-8", "65"), uint64_t(-4));
  EXPECT_EQ(value_of(IR_sar, "-1", "63"), uint64_t(-1));
  EXPECT_EQ(value_of(IR_sar, I(kMin), "127"), uint64_t(-1));  // arithmetic, not logical
  EXPECT_EQ(value_of(IR_sar, "256", "64"), 256u);
  EXPECT_EQ(value_of(IR_sar, "256", "68"), 16u);
}

TEST(IRExec, BitwiseAndCompares) {
  EXPECT_EQ(value_of(IR_and, "12", "10"), 8u);
  EXPECT_EQ(value_of(IR_or, "12", "10"), 14u);
  EXPECT_EQ(value_of(IR_xor, "12", "-1"), uint64_t(~int64_t(12)));
  const struct { IROp op; const char *x, *y; bool want; } cases[] = {
      {IR_lt, "-1", "1", true},  {IR_lt, "1", "1", false}, {IR_le, "1", "1", true},  {IR_le, "2", "1", false},
      {IR_gt, "0", "-9223372036854775808", true},          {IR_gt, "1", "1", false}, {IR_ge, "1", "1", true},
      {IR_ge, "-2", "-1", false}, {IR_eq, "-5", "-5", true}, {IR_eq, "5", "-5", false}, {IR_ne, "5", "-5", true},
      {IR_ne, "7", "7", false},
      // ult: unsigned, so a negative a is above every b >= 0 (an index check 0 <= a < b in one compare)
      {IR_ult, "0", "1", true}, {IR_ult, "1", "1", false}, {IR_ult, "-1", "5", false},
      {IR_ult, "-9223372036854775808", "9223372036854775807", false}, {IR_ult, "5", "-1", true},
  };
  for (const auto& c : cases)
    EXPECT_EQ(value_of(c.op, c.x, c.y), c.want ? 1u : 0u) << ir_name(c.op) << " " << c.x << " " << c.y;
}

// ---------------------------------------------------------------- f64
TEST(IRExec, FloatArithmeticIsExactIEEEIncludingSignedZeroAndInf) {
  EXPECT_EQ(value_of(IR_fmul, F(0.0), F(-1.0)), kSign);  // -0.0
  EXPECT_EQ(value_of(IR_fadd, F(-0.0), F(0.0)), 0u);     // +0.0
  EXPECT_EQ(value_of(IR_fadd, F(-0.0), F(-0.0)), kSign);
  EXPECT_EQ(value_of(IR_fsub, F(0.0), F(0.0)), 0u);
  EXPECT_EQ(value_of(IR_fsub, F(-0.0), F(0.0)), kSign);
  EXPECT_EQ(value_of(IR_fdiv, F(1.0), F(-0.0)), B(-kInf));
  EXPECT_EQ(value_of(IR_fdiv, F(-1.0), F(kInf)), kSign);
  EXPECT_EQ(value_of(IR_fmul, F(1e308), F(10.0)), B(kInf));
  EXPECT_TRUE(std::isnan(bits_f64(int64_t(value_of(IR_fsub, F(kInf), F(kInf))))));
  EXPECT_TRUE(std::isnan(bits_f64(int64_t(value_of(IR_fdiv, F(0.0), F(0.0))))));
  EXPECT_TRUE(std::isnan(bits_f64(int64_t(value_of(IR_fmul, F(kNaN), F(2.0))))));
  volatile double a = 0.1, b = 0.2, c = 1.0, d = 3.0;  // the host's IEEE result, bit for bit
  EXPECT_EQ(value_of(IR_fadd, F(0.1), F(0.2)), B(a + b));
  EXPECT_EQ(value_of(IR_fdiv, F(1.0), F(3.0)), B(c / d));
  EXPECT_EQ(value_of(IR_fneg, F(0.0)), kSign);
  EXPECT_EQ(value_of(IR_fneg, F(-0.0)), 0u);
  EXPECT_EQ(value_of(IR_fneg, F(kNaN)), B(kNaN) ^ kSign);  // flips the sign bit, keeps the payload
  EXPECT_EQ(value_of(IR_fneg, F(kInf)), B(-kInf));
}

TEST(IRExec, FloatComparesAreFalseOnNaNExceptFne) {
  const IROp ops[] = {IR_flt, IR_fle, IR_fgt, IR_fge, IR_feq, IR_fne};
  for (IROp op : ops) {
    bool want = op == IR_fne;
    EXPECT_EQ(value_of(op, F(kNaN), F(1.0)), want ? 1u : 0u) << ir_name(op);
    EXPECT_EQ(value_of(op, F(1.0), F(kNaN)), want ? 1u : 0u) << ir_name(op);
    EXPECT_EQ(value_of(op, F(kNaN), F(kNaN)), want ? 1u : 0u) << ir_name(op);
  }
  // -0.0 == 0.0; -inf < inf; ordinary ordering
  const bool zero[] = {false, true, false, true, true, false};  // -0.0 vs 0.0: lt le gt ge eq ne
  const bool inf[] = {true, true, false, false, false, true};   // -inf vs inf
  const bool less[] = {true, true, false, false, false, true};  // 1.5 vs 2.5
  for (int k = 0; k < 6; k++) {
    EXPECT_EQ(value_of(ops[k], F(-0.0), F(0.0)), zero[k] ? 1u : 0u) << ir_name(ops[k]);
    EXPECT_EQ(value_of(ops[k], F(-kInf), F(kInf)), inf[k] ? 1u : 0u) << ir_name(ops[k]);
    EXPECT_EQ(value_of(ops[k], F(1.5), F(2.5)), less[k] ? 1u : 0u) << ir_name(ops[k]);
  }
}

TEST(IRExec, IntToFloatRoundsToNearestAndNotNegates) {
  EXPECT_EQ(value_of(IR_i2f, "-3"), B(-3.0));
  EXPECT_EQ(value_of(IR_i2f, "9007199254740993"), B(9007199254740992.0));  // 2**53 + 1: tie, to even
  EXPECT_EQ(value_of(IR_i2f, "9007199254740995"), B(9007199254740996.0));  // 2**53 + 3: tie, to even
  EXPECT_EQ(value_of(IR_i2f, I(kMax)), B(9223372036854775808.0));
  EXPECT_EQ(value_of(IR_i2f, I(kMin)), B(-9223372036854775808.0));
  EXPECT_EQ(value_of(IR_not, "true"), 0u);
  EXPECT_EQ(value_of(IR_not, "false"), 1u);
}

// ---------------------------------------------------------------- guards
// Constants, a passing guard_eqi on snapshot 0, then `guard` on snapshot 1 as %9.
std::string guard_trace(const std::string& guard) {
  return "%0 i64 = kint 3\n%1 i64 = kint 4\n%2 obj = kobj 0x1000\n%3 ptr = kptr 0x1000\n"
         "%4 obj = kobj 0x2000\n%5 bool = kbool true\n%6 bool = kbool false\n"
         "snap 0 pc=1 top=16 [0=%0]\n%7 void = guard_eqi %0, %0 @0\n"
         "snap 1 pc=2 top=16 [0=%0 1=%1 2=%2 5=%6]\n%8 void = guard_true %5 @1\n" +
         guard + " @1\n";
}

TEST(IRExec, GuardsExitExactlyWhenTheirCheckFails) {
  const std::vector<ExitSlot> slots = {{0, 3}, {1, 4}, {2, 0x1000}, {5, 0}};
  const char* fail[] = {"%9 void = guard_eqi %0, %1", "%9 void = guard_eqp %2, %4",
                        "%9 void = guard_true %6", "%9 void = guard_false %5"};
  for (const char* g : fail) {
    SCOPED_TRACE(g);
    expect_exit(run_text(guard_trace(g)), 9, 1, 2, slots);
  }
  const char* pass[] = {"%9 void = guard_eqi %1, %1", "%9 void = guard_eqp %2, %3",
                        "%9 void = guard_eqp %4, %4", "%9 void = guard_true %5", "%9 void = guard_false %6"};
  for (const char* g : pass) {
    ExecResult r = run_text(guard_trace(g));
    EXPECT_EQ(r.status, ExecStatus::completed) << g << ": " << exec_describe(r);
  }
}

// ---------------------------------------------------------------- memory
// Records laid out as an array, walked through next (the IR has no pointer arithmetic).
struct Node {
  Node* next;
  double x;    // read with load_f64 at 8
  double y;    // written with store_f64 at 16: the running sum of x * x
  int64_t i;   // written with store_i64 at 24: the index
};

// frame: [0] n, [1] head, [3] last node visited (store_ptr). Exits at %11 with [0=i 1=sum].
std::string walk_trace(const uint64_t* frame) {
  return "%0 ptr = kptr " + P(frame) + "\n"
         "%1 i64 = load_i64 %0, 0\n"
         "%2 ptr = load_ptr %0, 8\n"
         "%3 i64 = kint 0\n"
         "%4 i64 = kint 1\n"
         "%5 f64 = kflt 0x0p+0\n"
         "%6 void = loop\n"
         "%7 i64 = phi %3, %16\n"
         "%8 ptr = phi %2, %17\n"
         "%9 f64 = phi %5, %14\n"
         "snap 0 pc=30 top=16 [0=%7 1=%9]\n"
         "%10 bool = lt %7, %1\n"
         "%11 void = guard_true %10 @0\n"
         "%12 f64 = load_f64 %8, 8\n"
         "%13 f64 = fmul %12, %12\n"
         "%14 f64 = fadd %9, %13\n"
         "%15 void = store_f64 %8, %14, 16\n"
         "%16 i64 = add_ov %7, %4 @0\n"
         "%17 ptr = load_ptr %8, 0\n"
         "%18 void = store_i64 %8, %7, 24\n"
         "%19 void = store_ptr %0, %8, 24\n";
}

TEST(IRExec, LoopReadsAndWritesDoublesThroughMemory) {
  const double xs[5] = {1.5, -2.0, 0.25, 3.0, 1e10};
  for (int n : {5, 3}) {
    SCOPED_TRACE(n);
    Node nodes[5];
    for (int k = 0; k < 5; k++) nodes[k] = Node{k < 4 ? &nodes[k + 1] : nullptr, xs[k], -1.0, -1};
    uint64_t frame[4] = {uint64_t(n), uint64_t(uintptr_t(&nodes[0])), 77, 0};
    ExecResult r = run_text(walk_trace(frame));
    double sum = 0;
    for (int k = 0; k < n; k++) {
      sum += xs[k] * xs[k];
      EXPECT_EQ(B(nodes[k].y), B(sum)) << k;
      EXPECT_EQ(nodes[k].i, k);
    }
    for (int k = n; k < 5; k++) EXPECT_EQ(nodes[k].y, -1.0) << k;  // untouched past n
    for (int k = 0; k < 5; k++) EXPECT_EQ(B(nodes[k].x), B(xs[k]));
    expect_exit(r, 11, 0, 30, {{0, uint64_t(n)}, {1, B(sum)}});
    EXPECT_EQ(frame[3], uint64_t(uintptr_t(&nodes[n - 1])));
    EXPECT_EQ(frame[2], 77u);
  }
}

TEST(IRExec, NullBasePointerIsAnError) {
  ExecResult r = run_text("%0 ptr = kptr 0x0\n%1 i64 = load_i64 %0, 8\n");
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "%1: load_i64: null base pointer");
}

// ---------------------------------------------------------------- boxing and errors
const char* kBoxing =
    "%0 i64 = kint 7\n"
    "snap 0 pc=4 top=16 [0=%0]\n"
    "%1 obj = box_i64 %0\n"
    "%2 i64 = unbox_i64 %1 @0\n"
    "%3 f64 = kflt 0x1p+0\n"
    "%4 obj = box_f64 %3\n"
    "%5 f64 = unbox_f64 %4 @0\n";

TEST(IRExec, BoxingWithoutAHookIsAnError) {
  ExecResult r = run_text(kBoxing);
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "%1: box_i64: needs ExecOptions::runtime (no Python in the executor)");
}

TEST(IRExec, BoxingGoesThroughTheHookAndUnboxCanExit) {
  std::vector<IROp> calls;
  ExecOptions o;
  o.runtime = [&](const IRIns& i, uint64_t a, uint64_t b, uint64_t* out) {  // ints box as a*16+1
    calls.push_back(i.op);                                                  // unbox_f64 always refuses
    EXPECT_EQ(b, 0u);
    if (i.op == IR_box_i64) *out = a * 16 + 1;
    if (i.op == IR_box_f64) *out = 0x5000;
    if (i.op == IR_unbox_i64) *out = a >> 4;
    return i.op != IR_unbox_f64;
  };
  ExecResult r = run_text(kBoxing, o);
  expect_exit(r, 5, 0, 4, {{0, 7}});
  EXPECT_EQ(r.values[1], 113u);
  EXPECT_EQ(r.values[2], 7u);
  EXPECT_EQ(calls, (std::vector<IROp>{IR_box_i64, IR_unbox_i64, IR_box_f64, IR_unbox_f64}));
  o.runtime = [](const IRIns&, uint64_t, uint64_t, uint64_t*) { return false; };  // a failed box: error, no exit
  r = run_text(kBoxing, o);
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "%1: box_i64: the runtime hook failed");
}

TEST(IRExec, InvalidTraceIsRejectedWithTheVerifierMessage) {
  ExecResult r = run_text("%0 i64 = kint 1\n%1 i64 = add_ov %0, %0\n");  // a guard without a snapshot
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "invalid trace: %1: add_ov: snapshot -1 does not exist");
  EXPECT_TRUE(r.values.empty());
  r = run_text("%0 i64 = kint 1\n%1 f64 = fadd %0, %0\n");
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "invalid trace: %1: fadd: operand a has type i64");
  Trace t;  // an op out of range never reaches the switch
  t.append(IRIns{IROp(IR__count), IRT_i64});
  EXPECT_EQ(ir_execute(t).error.rfind("invalid trace: %0: bad op", 0), 0u);
}

// ---------------------------------------------------------------- fold/CSE on vs off
// Inputs and outputs of the differential trace: frame slots.
struct Frame {
  int64_t n, i;
  double s;
  int64_t acc, bits, spare;
};

// A loop full of foldable constants, identities and common subexpressions, over frame memory:
// while i < n: acc *= 5; s += i2f(i*1+0 << 64) * (0.5 * 2.0); bits ^= i & -1; i += 1.
// overflow_now adds a guard that always fails (neg_ov of kint INT64_MIN) before the loop.
void build_diff(IRBuilder& b, Frame* f, bool overflow_now) {
  IRRef base = b.kptr(f);
  b.snapshot(0, 16, {});
  IRRef n = b.emit(IR_load_i64, base, kNoRef, 0), i0 = b.emit(IR_load_i64, base, kNoRef, 8);
  IRRef s0 = b.emit(IR_load_f64, base, kNoRef, 16), acc0 = b.emit(IR_load_i64, base, kNoRef, 24);
  IRRef bits0 = b.emit(IR_load_i64, base, kNoRef, 32);
  IRRef five = b.emit(IR_add_ov, b.kint(2), b.kint(3));
  if (overflow_now) b.emit(IR_neg_ov, b.kint(kMin));
  b.emit(IR_loop);
  IRRef i = b.emit(IR_phi, i0), s = b.emit(IR_phi, s0), acc = b.emit(IR_phi, acc0), bits = b.emit(IR_phi, bits0);
  b.snapshot(12, 16, {{0, i}, {1, s}, {2, acc}, {3, bits}});
  b.emit(IR_guard_true, b.emit(IR_not, b.emit(IR_not, b.emit(IR_lt, i, n))));
  b.emit(IR_guard_true, b.kbool(true));
  b.emit(IR_guard_eqi, five, b.kint(5));
  b.emit(IR_guard_false, b.emit(IR_lt, b.kint(3), b.kint(2)));
  IRRef acc1 = b.emit(IR_mul_ov, acc, five);
  IRRef u = b.emit(IR_shl, b.emit(IR_add_ov, b.emit(IR_mul_ov, i, b.kint(1)), b.kint(0)), b.kint(64));
  IRRef one = b.emit(IR_fmul, b.kflt(0.5), b.kflt(2.0));
  IRRef s1 = b.emit(IR_fadd, s, b.emit(IR_fmul, b.emit(IR_i2f, u), one));
  IRRef s2 = b.emit(IR_fadd, s, b.emit(IR_fmul, b.emit(IR_i2f, u), one));  // the same again: CSE
  IRRef bits1 = b.emit(IR_xor, bits, b.emit(IR_and, i, b.kint(-1)));
  b.snapshot(20, 16, {{0, i}, {1, s2}, {2, acc1}, {3, bits1}});
  IRRef i1 = b.emit(IR_add_ov, i, b.kint(1));
  b.emit(IR_store_i64, base, i1, 8);
  b.emit(IR_store_f64, base, s1, 16);
  b.emit(IR_store_i64, base, acc1, 24);
  b.emit(IR_store_i64, base, bits1, 32);
  b.set_backedge(i, i1);
  b.set_backedge(s, s2);
  b.set_backedge(acc, acc1);
  b.set_backedge(bits, bits1);
}

TEST(IRExec, FoldedAndUnfoldedBuildsAgree) {
  const Frame inputs[] = {
      {10, 0, 0.0, 1, 0, 9},   {40, 0, 1.5, 1, 0, 9},  // the second overflows acc (5**28) inside the loop
      {0, 0, -0.0, 3, 7, 9},   {5, 3, -0.0, -7, 1, 9},
      {kMax, kMax - 2, 0.25, 1, 0, 9},  {3, 0, 0.0, kMin, 0, 9},
  };
  const uint64_t iterations[] = {10, 27, 0, 2, 2, 0};  // without overflow_now (with it: 0)
  for (size_t c = 0; c < sizeof inputs / sizeof inputs[0]; c++) {
    const Frame& in = inputs[c];
    for (bool overflow_now : {false, true}) {
      SCOPED_TRACE("n=" + I(in.n) + " i=" + I(in.i) + " acc=" + I(in.acc) + " overflow_now=" + I(overflow_now));
      Frame f, want_f{};
      ExecResult want;
      size_t unfolded_size = 0;
      for (int mode = 0; mode < 4; mode++) {
        Trace t;
        IRBuilder b(&t);
        b.fold = mode & 1;
        b.cse = mode & 2;
        build_diff(b, &f, overflow_now);
        ASSERT_EQ(ir_verify(t), "") << ir_print(t);
        f = in;
        ExecResult r = ir_execute(t);
        ASSERT_NE(r.status, ExecStatus::error) << r.error;
        if (mode == 0) { want = r; want_f = f; unfolded_size = size_t(t.size()); continue; }
        EXPECT_LT(size_t(t.size()), unfolded_size) << "mode " << mode;  // the switches did something
        EXPECT_EQ(exec_status_name(r.status), exec_status_name(want.status)) << "mode " << mode;
        EXPECT_EQ(r.snap, want.snap) << "mode " << mode;
        EXPECT_EQ(r.pc, want.pc) << "mode " << mode;
        EXPECT_EQ(r.slots, want.slots) << "mode " << mode << ": " << exec_describe(r);
        EXPECT_EQ(r.iterations, want.iterations) << "mode " << mode;
        EXPECT_EQ(std::memcmp(&f, &want_f, sizeof f), 0) << "mode " << mode;
      }
      EXPECT_EQ(want.status, ExecStatus::exited) << exec_describe(want);
      EXPECT_EQ(want.iterations, overflow_now ? 0u : iterations[c]);
    }
  }
}


// ---------------------------------------------------------------- Python's numeric operators and builtins
TEST(IRExec, IntFloorDivisionAndModuloFollowPython) {
  // Python: -7 // 2 == -4, 7 // -2 == -4, -7 % 2 == 1, 7 % -2 == -1 (C truncates: -3 and -1, -3 and 1)
  const struct { int64_t a, b, q, m; } cases[] = {
      {7, 2, 3, 1},   {-7, 2, -4, 1},  {7, -2, -4, -1}, {-7, -2, 3, -1}, {6, 3, 2, 0},   {-6, 3, -2, 0},
      {0, -5, 0, 0},  {1, kMax, 0, 1}, {-1, kMax, -1, kMax - 1},           {kMin, 1, kMin, 0},
      {kMin, -3, 3074457345618258602, -2},  {kMax, -1, -kMax, 0},   {kMin, kMax, -2, kMax - 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(I(c.a) + " // " + I(c.b));
    EXPECT_EQ(value_of(IR_floordiv_ov, I(c.a), I(c.b)), uint64_t(c.q));
    EXPECT_EQ(value_of(IR_mod_ov, I(c.a), I(c.b)), uint64_t(c.m));
  }
  for (IROp op : {IR_floordiv_ov, IR_mod_ov}) {  // the exits: a zero divisor, and INT64_MIN / -1
    SCOPED_TRACE(ir_name(op));
    expect_exit(run_op(op, "5", "0"), 2, 0, 9, {{3, 5}, {4, 0}});
    expect_exit(run_op(op, "0", "0"), 2, 0, 9, {{3, 0}, {4, 0}});
    expect_exit(run_op(op, I(kMin), "-1"), 2, 0, 9, {{3, uint64_t(kMin)}, {4, uint64_t(-1)}});
  }
  EXPECT_EQ(value_of(IR_floordiv_ov, I(kMin + 1), "-1"), uint64_t(kMax));  // right at the edge: no exit
}

TEST(IRExec, AbsMinMaxOnInts) {
  EXPECT_EQ(value_of(IR_abs_ov, "-5"), 5u);
  EXPECT_EQ(value_of(IR_abs_ov, "5"), 5u);
  EXPECT_EQ(value_of(IR_abs_ov, I(kMin + 1)), uint64_t(kMax));
  expect_exit(run_op(IR_abs_ov, I(kMin)), 1, 0, 9, {{3, uint64_t(kMin)}});
  EXPECT_EQ(value_of(IR_imin, "-3", "2"), uint64_t(-3));
  EXPECT_EQ(value_of(IR_imin, "2", "-3"), uint64_t(-3));
  EXPECT_EQ(value_of(IR_imin, I(kMin), I(kMax)), uint64_t(kMin));
  EXPECT_EQ(value_of(IR_imax, "-3", "2"), 2u);
  EXPECT_EQ(value_of(IR_imax, I(kMax), I(kMin)), uint64_t(kMax));  // signed, not unsigned
  EXPECT_EQ(value_of(IR_imax, "-1", "0"), 0u);
}

// Python 3.11's a // b and a % b on floats (the values CPython prints), as bits.
struct FloatDivCase { double a, b, q, m; };
const FloatDivCase kFloatDiv[] = {
    {-7.0, 2.0, -4.0, 1.0},   {7.0, -2.0, -4.0, -1.0},  {7.0, 2.0, 3.0, 1.0},     {-7.0, -2.0, 3.0, -1.0},
    {0.0, -1.0, -0.0, -0.0},  {-0.0, 1.0, -0.0, 0.0},   {-0.0, -1.0, 0.0, -0.0},  {0.0, 1.0, 0.0, 0.0},
    {1.0, kInf, 0.0, 1.0},    {-1.0, kInf, -1.0, kInf}, {1.0, -kInf, -1.0, -kInf}, {-1.0, -kInf, 0.0, -1.0},
    {1.0, 0.1, 9.0, 0x1.9999999999996p-4},   // floor(1.0 / 0.1) would be 10.0
    {0.3, 0.1, 2.0, 0x1.9999999999998p-4},   {-1e308, 1e-308, -kInf, 0x0.4acd4a8c612c2p-1022},
    {5e-324, -1.0, -1.0, -1.0}, {-5e-324, 1.0, -1.0, 1.0}, {-0.5, 1.0, -1.0, 0.5},
    {0.3, 0.01, 29.0, 0x1.47ae147ae1471p-7},    // (a - mod) / b is 28.999999999999996: snapped up
    {0.7, -0.1, -7.0, -0x1.8p-54},              // -7.000000000000001, floored to -8.0 without the snap
    {4.4, 0.7, 6.0, 0x1.99999999999b0p-3},
};

TEST(IRExec, FloatFloorDivisionAndModuloFollowCPython) {
  for (const FloatDivCase& c : kFloatDiv) {
    SCOPED_TRACE(F(c.a) + " // " + F(c.b));
    EXPECT_EQ(value_of(IR_ffloordiv, F(c.a), F(c.b)), B(c.q)) << F(bits_f64(int64_t(value_of(IR_ffloordiv, F(c.a), F(c.b)))));
    EXPECT_EQ(value_of(IR_fmod, F(c.a), F(c.b)), B(c.m)) << F(bits_f64(int64_t(value_of(IR_fmod, F(c.a), F(c.b)))));
  }
  for (IROp op : {IR_ffloordiv, IR_fmod}) {  // inf // 1.0 and inf % 1.0 are nan in Python
    EXPECT_TRUE(std::isnan(bits_f64(int64_t(value_of(op, F(kInf), F(1.0)))))) << ir_name(op);
    EXPECT_TRUE(std::isnan(bits_f64(int64_t(value_of(op, F(kNaN), F(1.0)))))) << ir_name(op);
    EXPECT_TRUE(std::isnan(bits_f64(int64_t(value_of(op, F(1.0), F(kNaN)))))) << ir_name(op);
  }
}

TEST(IRExec, FloatSqrtIsCorrectlyRounded) {
  EXPECT_EQ(value_of(IR_fsqrt, F(4.0)), B(2.0));
  EXPECT_EQ(value_of(IR_fsqrt, F(2.0)), B(0x1.6a09e667f3bcdp+0));   // the double nearest sqrt(2)
  EXPECT_EQ(value_of(IR_fsqrt, F(-0.0)), B(-0.0));                   // the sign of a zero stays
  EXPECT_EQ(value_of(IR_fsqrt, F(kInf)), B(kInf));
  EXPECT_EQ(value_of(IR_fsqrt, F(0x1p-1074)), B(0x1p-537));
  // glibc's pow(x, 0.5) rounds this one the other way; math.sqrt is C's sqrt, correctly rounded
  EXPECT_EQ(value_of(IR_fsqrt, F(0x1.5928e6e8447d4p+361)), B(0x1.a46207660e35fp+180));
}

TEST(IRExec, FloatAbsMinMaxArePythonsNotCs) {
  EXPECT_EQ(value_of(IR_fabs, F(-0.0)), 0u);
  EXPECT_EQ(value_of(IR_fabs, F(-kInf)), B(kInf));
  EXPECT_EQ(value_of(IR_fabs, F(-2.5)), B(2.5));
  EXPECT_EQ(value_of(IR_fabs, F(bits_f64(int64_t(B(kNaN) | kSign)))), B(kNaN));  // clears a NaN's sign too
  // min(nan, 1.0) is nan and min(1.0, nan) is 1.0 in Python (C's fmin gives 1.0 for both)
  EXPECT_EQ(value_of(IR_fmin, F(kNaN), F(1.0)), B(kNaN));
  EXPECT_EQ(value_of(IR_fmin, F(1.0), F(kNaN)), B(1.0));
  EXPECT_EQ(value_of(IR_fmax, F(kNaN), F(1.0)), B(kNaN));
  EXPECT_EQ(value_of(IR_fmax, F(1.0), F(kNaN)), B(1.0));
  // equal operands: the first one, so the sign of a zero depends on the order
  EXPECT_EQ(value_of(IR_fmin, F(-0.0), F(0.0)), kSign);
  EXPECT_EQ(value_of(IR_fmin, F(0.0), F(-0.0)), 0u);
  EXPECT_EQ(value_of(IR_fmax, F(-0.0), F(0.0)), kSign);
  EXPECT_EQ(value_of(IR_fmax, F(0.0), F(-0.0)), 0u);
  EXPECT_EQ(value_of(IR_fmin, F(-kInf), F(2.0)), B(-kInf));
  EXPECT_EQ(value_of(IR_fmax, F(-kInf), F(2.0)), B(2.0));
}

TEST(IRExec, FloatToIntTruncatesAndExitsOutOfRange) {
  EXPECT_EQ(value_of(IR_f2i, F(2.9)), 2u);
  EXPECT_EQ(value_of(IR_f2i, F(-2.9)), uint64_t(-2));
  EXPECT_EQ(value_of(IR_f2i, F(-0.0)), 0u);
  EXPECT_EQ(value_of(IR_f2i, F(-0x1p63)), uint64_t(kMin));  // -2**63 fits
  EXPECT_EQ(value_of(IR_f2i, F(std::nextafter(0x1p63, 0.0))), uint64_t(0x7ffffffffffffc00));
  for (double bad : {0x1p63, std::nextafter(-0x1p63, -kInf), kInf, -kInf, kNaN, 1e300}) {
    SCOPED_TRACE(F(bad));
    expect_exit(run_op(IR_f2i, F(bad)), 1, 0, 9, {{3, B(bad)}});
  }
}

// A C double(double) for callf1 (the IR holds its address).
double sqrt_fn(double x) { return std::sqrt(x); }
double exp_fn(double x) { return std::exp(x); }
double log_fn(double x) { return std::log(x); }

// "%0 = kflt x; snap; %1 = callf1 %0, f" run.
ExecResult run_callf1(double (*f)(double), double x) {
  return run_text("%0 f64 = kflt " + F(x) + "\nsnap 0 pc=9 top=16 [3=%0]\n%1 f64 = callf1 %0, " +
                  P(reinterpret_cast<const void*>(f)) + " @0\n");
}

TEST(IRExec, Callf1CallsAndExitsOnCPythonsMathErrors) {
  ExecResult r = run_callf1(sqrt_fn, 2.25);
  ASSERT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.values[1], B(1.5));
  EXPECT_EQ(run_callf1(exp_fn, 1.0).values[1], B(std::exp(1.0)));
  // NaN from a non-NaN argument (domain), inf from a finite one (overflow, singularity): exits
  expect_exit(run_callf1(sqrt_fn, -1.0), 1, 0, 9, {{3, B(-1.0)}});
  expect_exit(run_callf1(exp_fn, 1000.0), 1, 0, 9, {{3, B(1000.0)}});
  expect_exit(run_callf1(log_fn, 0.0), 1, 0, 9, {{3, B(0.0)}});
  expect_exit(run_callf1(sqrt_fn, -kInf), 1, 0, 9, {{3, B(-kInf)}});
  // NaN in, NaN out; inf in, inf out; underflow to 0: no error
  EXPECT_EQ(run_callf1(sqrt_fn, kNaN).status, ExecStatus::completed);
  EXPECT_EQ(run_callf1(exp_fn, kInf).status, ExecStatus::completed);
  EXPECT_EQ(run_callf1(exp_fn, -1000.0).values[1], 0u);
  ExecResult n = run_text("%0 f64 = kflt 0x1p+0\nsnap 0 pc=9 top=16 []\n%1 f64 = callf1 %0, 0x0 @0\n");
  EXPECT_EQ(n.error, "%1: callf1: null function");
}

// ---------------------------------------------------------------- type guards, polls, element addresses
// What guard_type reads: ob_refcnt, then ob_type.
struct FakeObject {
  uint64_t refcnt;
  uint64_t type;
};

TEST(IRExec, GuardTypeComparesTheWordAtOffset8) {
  FakeObject obj{0x1111, 0x7000};
  auto trace = [&](uint64_t type) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, type);
    return "%0 obj = kobj " + P(&obj) + "\nsnap 0 pc=5 top=16 [2=%0]\n%1 void = guard_type %0, " + buf + " @0\n";
  };
  ExecResult r = run_text(trace(0x7000));
  EXPECT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  expect_exit(run_text(trace(0x1111)), 1, 0, 5, {{2, uint64_t(uintptr_t(&obj))}});  // not the refcount word
  expect_exit(run_text(trace(0x7008)), 1, 0, 5, {{2, uint64_t(uintptr_t(&obj))}});
  obj.type = 0x1111;  // read when executed, not when parsed
  EXPECT_EQ(run_text(trace(0x1111)).status, ExecStatus::completed);
  EXPECT_EQ(run_text("%0 obj = kobj 0x0\nsnap 0 pc=5 top=16 []\n%1 void = guard_type %0, 0x10 @0\n").error,
            "%1: guard_type: null object");
}

TEST(IRExec, PollExitsWhenTheEvalBreakerWordIsSet) {
  int32_t breaker[2] = {0, 7};  // the word after it must not be read
  const std::string text = "%0 i64 = kint 4\nsnap 0 pc=3 top=16 [1=%0]\n%1 void = poll " + P(&breaker[0]) +
                           " @0\n%2 i64 = add_ov %0, %0 @0\n";
  ExecResult r = run_text(text);
  ASSERT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.values[2], 8u);
  breaker[0] = 1;
  expect_exit(run_text(text), 1, 0, 3, {{1, 4}});
  breaker[0] = int32_t(0x80000000u);  // any non-zero value, a negative one too
  expect_exit(run_text(text), 1, 0, 3, {{1, 4}});
}

TEST(IRExec, PaddAndLoadObjAddressElements) {
  uint64_t items[4] = {0xa0, 0xa1, 0xa2, 0xa3};
  struct { uint64_t head, size; uint64_t* items; } list = {1, 4, items};
  // items = list->items (load_ptr 16); x = items[2] (padd by 8, load_obj 0); y = (items+3)[-1]
  const std::string text =
      "%0 ptr = kptr " + P(&list) + "\n%1 ptr = load_ptr %0, 16\n%2 i64 = kint 2\n%3 ptr = padd %1, %2, 8\n"
      "%4 obj = load_obj %3, 0\n%5 i64 = kint 3\n%6 ptr = padd %1, %5, 8\n%7 obj = load_obj %6, -8\n"
      "%8 i64 = kint -1\n%9 ptr = padd %1, %8, 24\n%10 obj = load_obj %0, 8\n";
  ExecResult r = run_text(text);
  ASSERT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.values[3], uint64_t(uintptr_t(&items[2])));
  EXPECT_EQ(r.values[4], 0xa2u);
  EXPECT_EQ(r.values[7], 0xa2u);
  EXPECT_EQ(r.values[9], uint64_t(uintptr_t(items)) - 24);  // a negative index scales too
  EXPECT_EQ(r.values[10], 4u);
}

// ---------------------------------------------------------------- frame slots and the runtime hook
// A fake runtime: small ints are objects 0x1000 + 16*v, floats the object 0x2000 + bits index, bools
// 0x3000 (False) and 0x3001 (True); anything else is refused. Counts increfs per object, appends per list.
struct FakeRuntime {
  std::vector<std::string> calls;
  std::vector<uint64_t> appended;
  int64_t refs = 0;
  bool append_fails = false;
  // The hook for ExecOptions::runtime.
  RuntimeHook hook() {
    return [this](const IRIns& i, uint64_t a, uint64_t b, uint64_t* out) {
      calls.push_back(std::string(ir_name(i.op)) + " " + std::to_string(a));
      switch (i.op) {
        case IR_sload_i64: case IR_unbox_i64:
          if (a < 0x1000 || a >= 0x2000 || (a & 15) != 0) return false;
          *out = (a - 0x1000) / 16;
          return true;
        case IR_sload_f64:
          if (a != 0x2000) return false;
          *out = B(2.5);
          return true;
        case IR_sload_bool:
          if (a != 0x3000 && a != 0x3001) return false;
          *out = a - 0x3000;
          return true;
        case IR_incref: refs++; *out = 99; return true;
        case IR_decref: refs--; *out = 99; return true;
        case IR_list_append:
          if (a != 0x4000) return false;  // not a list: a broken trace, an error
          if (!append_fails) appended.push_back(b);
          *out = append_fails ? 0 : 1;
          return true;
        default: return false;
      }
    };
  }
};

TEST(IRExec, SloadsReadTheFrameAndUnboxThroughTheHook) {
  const uint64_t frame[5] = {0x1000 + 16 * 42, 0x2000, 0x3001, 0x5555, 0x1000 + 16 * 3};
  const std::string text =
      "snap 0 pc=2 top=5 []\n"
      "%0 obj = sload_obj 3\n"
      "%1 i64 = sload_i64 0 @0\n"
      "%2 f64 = sload_f64 1 @0\n"
      "%3 bool = sload_bool 2 @0\n"
      "snap 1 pc=4 top=5 [0=%1 3=%0]\n"
      "%4 i64 = sload_i64 4 @1\n"
      "%5 i64 = sload_i64 3 @1\n";
  FakeRuntime rt;
  ExecOptions o;
  o.runtime = rt.hook();
  o.slots = frame;
  o.nslots = 5;
  ExecResult r = run_text(text, o);
  expect_exit(r, 5, 1, 4, {{0, 42}, {3, 0x5555}});  // slot 3 holds no int: the guard exits
  EXPECT_EQ(r.values[0], 0x5555u);
  EXPECT_EQ(r.values[1], 42u);
  EXPECT_EQ(r.values[2], B(2.5));
  EXPECT_EQ(r.values[3], 1u);
  EXPECT_EQ(r.values[4], 3u);
  EXPECT_EQ(rt.calls, (std::vector<std::string>{"sload_i64 4768", "sload_f64 8192", "sload_bool 12289",
                                                "sload_i64 4144", "sload_i64 21845"}));  // sload_obj: no hook
  o.nslots = 4;  // slot 4 is out of range now
  r = run_text(text, o);
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "%4: sload_i64: slot 4 out of range (ExecOptions::nslots is 4)");
  o.nslots = 3;
  EXPECT_EQ(run_text(text, o).error, "%0: sload_obj: slot 3 out of range (ExecOptions::nslots is 3)");
  o.nslots = 5;
  o.runtime = nullptr;  // sload_obj needs no hook; the unboxing sloads do
  EXPECT_EQ(run_text(text, o).error, "%1: sload_i64: needs ExecOptions::runtime (no Python in the executor)");
  EXPECT_EQ(run_text("%0 obj = sload_obj 0\n").error,  // no slots at all
            "%0: sload_obj: slot 0 out of range (ExecOptions::nslots is 0)");
}

TEST(IRExec, RefcountsAndListAppendGoThroughTheHook) {
  const std::string text =
      "%0 obj = kobj 0x4000\n"
      "%1 obj = kobj 0x1020\n"
      "%2 void = incref %1\n"
      "%3 bool = list_append %0, %1\n"
      "snap 0 pc=6 top=16 [0=%1]\n"
      "%4 void = guard_true %3 @0\n"
      "%5 void = decref %1\n"
      "%6 void = incref %1\n";
  FakeRuntime rt;
  ExecOptions o;
  o.runtime = rt.hook();
  ExecResult r = run_text(text, o);
  ASSERT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.values[3], 1u);
  EXPECT_EQ(r.values[2], 0u);  // void: the hook's *out is ignored
  EXPECT_EQ(r.values[5], 0u);
  EXPECT_EQ(rt.refs, 1);
  EXPECT_EQ(rt.appended, (std::vector<uint64_t>{0x1020}));
  EXPECT_EQ(rt.calls, (std::vector<std::string>{"incref 4128", "list_append 16384", "decref 4128", "incref 4128"}));
  rt.append_fails = true;  // PyList_Append failed: the value is false and the guard on it exits
  r = run_text(text, o);
  expect_exit(r, 4, 0, 6, {{0, 0x1020}});
  EXPECT_EQ(r.values[3], 0u);
  EXPECT_EQ(rt.refs, 2);  // one more incref, no decref
  // A hook that fails on a non-guard is an error, never an exit
  std::string bad = text;
  bad.replace(bad.find("kobj 0x4000"), 11, "kobj 0x4008");
  r = run_text(bad, o);
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "%3: list_append: the runtime hook failed");
  o.runtime = [](const IRIns& i, uint64_t, uint64_t, uint64_t* out) {
    *out = 1;
    return i.op != IR_decref;
  };
  EXPECT_EQ(run_text(text, o).error, "%5: decref: the runtime hook failed");
  o.runtime = nullptr;
  EXPECT_EQ(run_text(text, o).error, "%2: incref: needs ExecOptions::runtime (no Python in the executor)");
}

TEST(IRExec, AttributeOpsGoThroughTheHook) {
  // An instance 0x5000 of a type whose version tag is `version`, with attribute `name` 0x6000 holding `attr`
  // (0: no such attribute).
  struct Attrs {
    std::vector<std::string> calls;
    uint64_t version = 7, attr = 0x1020, setattr_out = 1;
    std::vector<uint64_t> stored;
  } st;
  ExecOptions o;
  o.runtime = [&st](const IRIns& i, uint64_t a, uint64_t b, uint64_t* out) {
    st.calls.push_back(std::string(ir_name(i.op)) + " " + std::to_string(a) + " " + std::to_string(b) + " " +
                       std::to_string(i.imm));
    switch (i.op) {
      case IR_guard_tpversion: return a == 0x5000 && uint64_t(i.imm) == st.version;
      case IR_getattr:
        if (a != 0x5000 || b != 0x6000) return false;
        *out = st.attr;
        return true;
      case IR_setattr:
        if (a != 0x5000 || uint64_t(i.imm) != 0x6000) return false;
        if (st.setattr_out == 1) st.stored.push_back(b);
        *out = st.setattr_out;
        return true;
      case IR_decref: return true;
      default: return false;
    }
  };
  const std::string text =
      "%0 obj = kobj 0x5000\n"
      "%1 obj = kobj 0x6000\n"
      "snap 0 pc=3 top=16 [0=%0]\n"
      "%2 void = guard_tpversion %0, 7 @0\n"
      "%3 obj = getattr %0, %1\n"
      "%4 void = guard_nonnull %3 @0\n"
      "%5 void = decref %3\n"
      "%6 obj = kobj 0x1030\n"
      "%7 bool = setattr %0, %6, 0x6000\n"
      "%8 void = guard_true %7 @0\n";
  ExecResult r = run_text(text, o);
  ASSERT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.values[2], 0u);        // void
  EXPECT_EQ(r.values[3], 0x1020u);   // the attribute
  EXPECT_EQ(r.values[7], 1u);
  EXPECT_EQ(st.stored, (std::vector<uint64_t>{0x1030}));
  EXPECT_EQ(st.calls, (std::vector<std::string>{"guard_tpversion 20480 0 7", "getattr 20480 24576 0",
                                                "decref 4128 0 0", "setattr 20480 4144 24576"}));
  st.version = 8;  // the type changed: the version guard exits before anything ran
  st.calls.clear();
  r = run_text(text, o);
  expect_exit(r, 2, 0, 3, {{0, 0x5000}});
  EXPECT_EQ(st.calls.size(), 1u);
  st.version = 7;
  st.attr = 0;  // no such attribute: getattr gives null, guard_nonnull exits, nothing to release
  st.calls.clear();
  r = run_text(text, o);
  expect_exit(r, 4, 0, 3, {{0, 0x5000}});
  EXPECT_EQ(r.values[3], 0u);
  EXPECT_EQ(st.calls.size(), 2u);
  st.attr = 0x1020;
  st.setattr_out = 0;  // the set failed (error cleared): false, and the guard on it exits
  r = run_text(text, o);
  expect_exit(r, 8, 0, 3, {{0, 0x5000}});
  EXPECT_EQ(r.values[7], 0u);
  st.setattr_out = 2;  // a bool result other than 0/1 is a broken hook
  r = run_text(text, o);
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "%7: setattr: the runtime hook returned 2");
  std::string bad = text;  // a hook that fails on getattr or setattr (not guards) is an error, never an exit
  bad.replace(bad.find("kobj 0x6000"), 11, "kobj 0x6008");
  EXPECT_EQ(run_text(bad, o).error, "%3: getattr: the runtime hook failed");
  o.runtime = nullptr;
  EXPECT_EQ(run_text(text, o).error, "%2: guard_tpversion: needs ExecOptions::runtime (no Python in the executor)");
}

// ---------------------------------------------------------------- completion snapshot, verify switch
TEST(IRExec, CompletionReportsTheSnapshotTakenAtTheEnd) {
  // one recorded iteration: i += 1; the snapshot at the end is the loop header's state for the next one
  const std::string body =
      "%0 i64 = kint 41\n%1 i64 = kint 1\nsnap 0 pc=2 top=4 [0=%0]\n%2 i64 = add_ov %0, %1 @0\n"
      "%3 f64 = kflt 0x1p+1\n";
  ExecResult r = run_text(body + "snap 1 pc=8 top=4 [0=%2 2=%3 3=%1]\n");
  ASSERT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.guard, kNoRef);
  EXPECT_EQ(r.snap, 1);
  EXPECT_EQ(r.pc, 8);
  EXPECT_EQ(r.slots, (std::vector<ExitSlot>{{0, 42}, {2, B(2.0)}, {3, 1}}));
  EXPECT_EQ(exec_describe(r), "completed snap 1 pc=8 [0=42 2=" + std::to_string(f64_bits(2.0)) + " 3=1] after 0 iterations");
  // the last snapshot taken before the end: plain completion, nothing reported
  r = run_text(body);
  ASSERT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.snap, -1);
  EXPECT_EQ(r.pc, -1);
  EXPECT_TRUE(r.slots.empty());
  EXPECT_EQ(exec_describe(r), "completed after 0 iterations");
  // an empty snapshot at the end still reports its pc
  r = run_text("snap 0 pc=3 top=0 []\n");
  EXPECT_EQ(r.snap, 0);
  EXPECT_EQ(r.pc, 3);
  // a guard that exits reports its own snapshot, not the one at the end
  expect_exit(run_text(body + "%4 bool = kbool true\n%5 void = guard_false %4 @0\nsnap 1 pc=8 top=4 [0=%2]\n"), 5, 0,
              2, {{0, 41}});
}

TEST(IRExec, VerifyFalseSkipsTheVerifier) {
  Trace t;
  ASSERT_EQ(ir_parse("%0 f64 = kint 7\n", &t), "");  // wrong result type: runs fine, does not verify
  ExecResult r = ir_execute(t);
  EXPECT_EQ(r.error, "invalid trace: %0: kint: wrong result type f64");
  ExecOptions o;
  o.verify = false;
  r = ir_execute(t, o);
  EXPECT_EQ(r.status, ExecStatus::completed) << exec_describe(r);
  EXPECT_EQ(r.values, (std::vector<uint64_t>{7}));
}

// ---------------------------------------------------------------- fold agrees with the executor
// One op on constant operands a (and b): built with fold on, and with fold and CSE off, then executed.
struct FoldCase {
  IROp op;
  uint64_t a, b;  // 64-bit values of the operands
  int64_t imm;
};

// A constant of kind k holding v.
IRRef konst_of(IRBuilder& b, IRKind k, uint64_t v) {
  switch (k) {
    case IRK_i64: return b.kint(int64_t(v));
    case IRK_f64: return b.kflt(bits_f64(int64_t(v)));
    default: return b.kptr(reinterpret_cast<const void*>(uintptr_t(v)));
  }
}

// Emits c's op on constants into a fresh trace; returns the op's ref (a constant when folded).
IRRef build_fold_case(Trace* t, const FoldCase& c, bool fold) {
  IRBuilder b(t);
  b.fold = fold;
  b.cse = fold;
  const IROpInfo& info = ir_info(c.op);
  IRRef x = konst_of(b, info.ka, c.a), y = info.nargs > 1 ? konst_of(b, info.kb, c.b) : kNoRef;
  b.snapshot(1, 16, {});
  return b.emit(c.op, x, y, c.imm);
}

TEST(IRExec, FoldAgreesWithTheExecutorOnEdgeValues) {
  const int64_t ints[] = {0, 1, -1, 2, -2, 3, -7, 7, 1000003, kMax, kMin, kMin + 1, kMax - 1};
  const double flts[] = {0.0,  -0.0, 1.0,   -1.0, 0.5,      -2.5,    7.0,       -7.0,    0.1,    1e308, -1e308,
                         5e-324, kInf, -kInf, kNaN, -kNaN, 0x1p63, -0x1p63, std::nextafter(0x1p63, 0.0), 1e19, -3.75};
  std::vector<FoldCase> cases;
  for (int64_t x : ints) {
    cases.push_back({IR_abs_ov, uint64_t(x), 0, 0});
    for (int64_t y : ints)
      for (IROp op : {IR_floordiv_ov, IR_mod_ov, IR_imin, IR_imax}) cases.push_back({op, uint64_t(x), uint64_t(y), 0});
    for (int64_t scale : {int64_t(0), int64_t(8), int64_t(-16), kMax})
      cases.push_back({IR_padd, 0x10000, uint64_t(x), scale});
  }
  for (double x : flts) {
    cases.push_back({IR_fabs, B(x), 0, 0});
    cases.push_back({IR_f2i, B(x), 0, 0});
    for (double y : flts)
      for (IROp op : {IR_fmin, IR_fmax, IR_ffloordiv, IR_fmod}) cases.push_back({op, B(x), B(y), 0});
  }
  int folded = 0, kept = 0;
  for (const FoldCase& c : cases) {
    SCOPED_TRACE(std::string(ir_name(c.op)) + " " + I(int64_t(c.a)) + " " + I(int64_t(c.b)) + " imm " + I(c.imm));
    Trace plain, fold;
    IRRef r = build_fold_case(&plain, c, false);
    ExecResult want = ir_execute(plain);
    ASSERT_NE(want.status, ExecStatus::error) << want.error;
    IRRef f = build_fold_case(&fold, c, true);
    ASSERT_NE(f, kNoRef);
    if (ir_is_const(fold.ins[f].op)) {  // folded: the executor computes the same bits and does not exit
      folded++;
      ASSERT_EQ(want.status, ExecStatus::completed) << exec_describe(want);
      EXPECT_EQ(uint64_t(fold.ins[f].imm), want.values[r]);
      EXPECT_EQ(fold.ins[f].type, plain.ins[r].type);
    } else {  // kept: only a guard that exits here, or a float // or % by zero (Python raises)
      kept++;
      EXPECT_EQ(fold.ins[f].op, c.op);
      bool zero_divisor = (c.op == IR_ffloordiv || c.op == IR_fmod) && bits_f64(int64_t(c.b)) == 0.0;
      if (!zero_divisor) {
        EXPECT_EQ(want.status, ExecStatus::exited) << exec_describe(want);
      }
    }
    if (c.op == IR_floordiv_ov && want.status == ExecStatus::completed) {  // q*b + m == a, m like b, |m| < |b|
      int64_t q = int64_t(want.values[r]);
      Trace mt;
      IRRef m_ref = build_fold_case(&mt, FoldCase{IR_mod_ov, c.a, c.b, 0}, false);
      int64_t m = int64_t(ir_execute(mt).values[m_ref]), a = int64_t(c.a), b = int64_t(c.b);
      EXPECT_EQ(__int128(q) * b + m, __int128(a));
      EXPECT_TRUE(m == 0 || (m < 0) == (b < 0)) << m;
      EXPECT_LT(m < 0 ? -__int128(m) : __int128(m), b < 0 ? -__int128(b) : __int128(b));
    }
  }
  EXPECT_GT(folded, 1000);  // both sides of the table saw real work
  EXPECT_GT(kept, 50);
}

}  // namespace
}  // namespace fastpy::ir
