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

TEST(IRExec, BitwiseAndSignedCompares) {
  EXPECT_EQ(value_of(IR_and, "12", "10"), 8u);
  EXPECT_EQ(value_of(IR_or, "12", "10"), 14u);
  EXPECT_EQ(value_of(IR_xor, "12", "-1"), uint64_t(~int64_t(12)));
  const struct { IROp op; const char *x, *y; bool want; } cases[] = {
      {IR_lt, "-1", "1", true},  {IR_lt, "1", "1", false}, {IR_le, "1", "1", true},  {IR_le, "2", "1", false},
      {IR_gt, "0", "-9223372036854775808", true},          {IR_gt, "1", "1", false}, {IR_ge, "1", "1", true},
      {IR_ge, "-2", "-1", false}, {IR_eq, "-5", "-5", true}, {IR_eq, "5", "-5", false}, {IR_ne, "5", "-5", true},
      {IR_ne, "7", "7", false},
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
  EXPECT_EQ(r.error, "%1: box_i64: needs ExecOptions::boxing (no Python in the executor)");
}

TEST(IRExec, BoxingGoesThroughTheHookAndUnboxCanExit) {
  std::vector<IROp> calls;
  ExecOptions o;
  o.boxing = [&](IROp op, uint64_t a, uint64_t* out) {  // ints box as a*16+1; unbox_f64 always refuses
    calls.push_back(op);
    if (op == IR_box_i64) *out = a * 16 + 1;
    if (op == IR_box_f64) *out = 0x5000;
    if (op == IR_unbox_i64) *out = a >> 4;
    return op != IR_unbox_f64;
  };
  ExecResult r = run_text(kBoxing, o);
  expect_exit(r, 5, 0, 4, {{0, 7}});
  EXPECT_EQ(r.values[1], 113u);
  EXPECT_EQ(r.values[2], 7u);
  EXPECT_EQ(calls, (std::vector<IROp>{IR_box_i64, IR_unbox_i64, IR_box_f64, IR_unbox_f64}));
  o.boxing = [](IROp, uint64_t, uint64_t*) { return false; };  // a box that fails is an error, not an exit
  r = run_text(kBoxing, o);
  EXPECT_EQ(r.status, ExecStatus::error);
  EXPECT_EQ(r.error, "%1: box_i64: the boxing hook failed");
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

}  // namespace
}  // namespace fastpy::ir
