// Loop peeling (tiers/opt/peel.cpp): IR text in, expected peeled IR out; the cases peel must leave alone; the
// guard and dce rules for the recorder's ops.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tiers/ir/ir.h"
#include "tiers/opt/opt.h"

namespace fastpy::opt {
namespace {

using ir::Trace;

// Parses in (which must parse and verify), runs the passes listed in `passes` and prints the result; *changed
// (if given): some pass changed the trace.
std::string peel_text(const std::string& in, const char* passes = "peel", bool* changed = nullptr) {
  Trace t;
  EXPECT_EQ(ir::ir_parse(in, &t), "") << in;
  EXPECT_EQ(ir::ir_verify(t), "") << in;
  OptOptions o;
  EXPECT_EQ(opt_parse_passes(passes, &o), "");
  bool ch = false;
  EXPECT_EQ(opt_run(t, o, &ch), "") << in;
  if (changed) *changed = ch;
  return ir::ir_print(t);
}

// ---------------------------------------------------------------- peeled IR text
// for i in range-like: s += float(i); slots i=0, s=1, n=2 (the recorder's example)
const char* kFloatSum =
    "snap 0 pc=10 top=3 []\n"
    "%0 i64 = sload_i64 0 @0\n"
    "%1 f64 = sload_f64 1 @0\n"
    "%2 i64 = sload_i64 2 @0\n"
    "%3 bool = lt %0, %2\n"
    "%4 void = guard_true %3 @0\n"
    "%5 i64 = kint 1\n"
    "%6 i64 = add_ov %0, %5 @0\n"
    "%7 f64 = i2f %0\n"
    "%8 f64 = fadd %1, %7\n"
    "snap 1 pc=10 top=3 [0=%6 1=%8]\n";

TEST(OptPeel, CountedFloatLoop) {
  // n's load and type guard stay before `loop`; i and s get phis; the body guard exits with both.
  EXPECT_EQ(peel_text(kFloatSum),
            "snap 0 pc=10 top=3 []\n"
            "%0 i64 = sload_i64 0 @0\n"
            "%1 f64 = sload_f64 1 @0\n"
            "%2 i64 = sload_i64 2 @0\n"
            "%3 bool = lt %0, %2\n"
            "%4 void = guard_true %3 @0\n"
            "%5 i64 = kint 1\n"
            "%6 i64 = add_ov %0, %5 @0\n"
            "%7 f64 = i2f %0\n"
            "%8 f64 = fadd %1, %7\n"
            "%9 void = loop\n"
            "%10 i64 = phi %6, %14\n"
            "%11 f64 = phi %8, %16\n"
            "%12 bool = lt %10, %2\n"
            "snap 1 pc=10 top=3 [0=%10 1=%11]\n"
            "%13 void = guard_true %12 @1\n"
            "%14 i64 = add_ov %10, %5 @1\n"
            "%15 f64 = i2f %10\n"
            "%16 f64 = fadd %11, %15\n");
}

// while i < n: c = a - b; a, b = b, a; i += 1; slots i=0 n=1 a=2 b=3 c=4
const char* kSwap =
    "snap 0 pc=4 top=5 []\n"
    "%0 i64 = sload_i64 0 @0\n"
    "%1 i64 = sload_i64 1 @0\n"
    "%2 bool = lt %0, %1\n"
    "%3 void = guard_true %2 @0\n"
    "%4 f64 = sload_f64 2 @0\n"
    "%5 f64 = sload_f64 3 @0\n"
    "%6 f64 = fsub %4, %5\n"
    "%7 i64 = kint 1\n"
    "%8 i64 = add_ov %0, %7 @0\n"
    "snap 1 pc=4 top=5 [0=%8 2=%5 3=%4 4=%6]\n";

TEST(OptPeel, SwapNeedsPhiToPhiBackEdges) {
  // a's phi (%11, first b) takes b's phi (%10) on the back-edge and vice versa: the all-at-once update swaps.
  EXPECT_EQ(peel_text(kSwap),
            "snap 0 pc=4 top=5 []\n"
            "%0 i64 = sload_i64 0 @0\n"
            "%1 i64 = sload_i64 1 @0\n"
            "%2 bool = lt %0, %1\n"
            "%3 void = guard_true %2 @0\n"
            "%4 f64 = sload_f64 2 @0\n"
            "%5 f64 = sload_f64 3 @0\n"
            "%6 f64 = fsub %4, %5\n"
            "%7 i64 = kint 1\n"
            "%8 i64 = add_ov %0, %7 @0\n"
            "%9 void = loop\n"
            "%10 f64 = phi %4, %11\n"
            "%11 f64 = phi %5, %10\n"
            "%12 f64 = phi %6, %16\n"
            "%13 i64 = phi %8, %17\n"
            "%14 bool = lt %13, %1\n"
            "snap 1 pc=4 top=5 [0=%13 2=%11 3=%10 4=%12]\n"
            "%15 void = guard_true %14 @1\n"
            "%16 f64 = fsub %11, %10\n"
            "%17 i64 = add_ov %13, %7 @1\n");
}

// while i < n: s += k * 2.0 (with an invariant guard 0 < n); slots i=0 n=1 k=2 s=3
const char* kInvariant =
    "snap 0 pc=6 top=4 []\n"
    "%0 i64 = sload_i64 0 @0\n"
    "%1 i64 = sload_i64 1 @0\n"
    "%2 bool = lt %0, %1\n"
    "%3 void = guard_true %2 @0\n"
    "%4 f64 = sload_f64 2 @0\n"
    "%5 f64 = kflt 0x1p+1\n"
    "%6 f64 = fmul %4, %5\n"
    "%7 f64 = sload_f64 3 @0\n"
    "%8 f64 = fadd %7, %6\n"
    "%9 i64 = kint 0\n"
    "%10 bool = lt %9, %1\n"
    "%11 void = guard_true %10 @0\n"
    "%12 i64 = kint 1\n"
    "%13 i64 = add_ov %0, %12 @0\n"
    "snap 1 pc=6 top=4 [0=%13 3=%8]\n";

TEST(OptPeel, InvariantComputationOnceBeforeLoop) {
  // k * 2.0 (%6) and the guard on 0 < n (%11) appear once, before `loop`; the body uses %6.
  EXPECT_EQ(peel_text(kInvariant, "peel,guards,dce"),
            "snap 0 pc=6 top=4 []\n"
            "%0 i64 = sload_i64 0 @0\n"
            "%1 i64 = sload_i64 1 @0\n"
            "%2 bool = lt %0, %1\n"
            "%3 void = guard_true %2 @0\n"
            "%4 f64 = sload_f64 2 @0\n"
            "%5 f64 = kflt 0x1p+1\n"
            "%6 f64 = fmul %4, %5\n"
            "%7 f64 = sload_f64 3 @0\n"
            "%8 f64 = fadd %7, %6\n"
            "%9 i64 = kint 0\n"
            "%10 bool = lt %9, %1\n"
            "%11 void = guard_true %10 @0\n"
            "%12 i64 = kint 1\n"
            "%13 i64 = add_ov %0, %12 @0\n"
            "%14 void = loop\n"
            "%15 f64 = phi %8, %19\n"
            "%16 i64 = phi %13, %20\n"
            "%17 bool = lt %16, %1\n"
            "snap 1 pc=6 top=4 [0=%16 3=%15]\n"
            "%18 void = guard_true %17 @1\n"
            "%19 f64 = fadd %15, %6\n"
            "%20 i64 = add_ov %16, %12 @1\n");
}

TEST(OptPeel, StoreKeepsLoadsInBodyPollAlwaysThere) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "snap 0 pc=8 top=3 []\n"
      "%1 i64 = sload_i64 0 @0\n"
      "%2 i64 = sload_i64 1 @0\n"
      "%3 bool = lt %1, %2\n"
      "%4 void = guard_true %3 @0\n"
      "%5 void = poll 0x2000 @0\n"
      "%6 f64 = load_f64 %0, 8\n"
      "%7 i64 = load_i64 %0, 16\n"
      "%8 f64 = i2f %7\n"
      "%9 f64 = fadd %6, %8\n"
      "%10 void = store_f64 %0, %9, 8\n"
      "%11 i64 = kint 1\n"
      "%12 i64 = add_ov %1, %11 @0\n"
      "snap 1 pc=8 top=3 [0=%12]\n";
  EXPECT_EQ(peel_text(in),
            "%0 ptr = kptr 0x1000\n"
            "snap 0 pc=8 top=3 []\n"
            "%1 i64 = sload_i64 0 @0\n"
            "%2 i64 = sload_i64 1 @0\n"
            "%3 bool = lt %1, %2\n"
            "%4 void = guard_true %3 @0\n"
            "%5 void = poll 0x2000 @0\n"
            "%6 f64 = load_f64 %0, 8\n"
            "%7 i64 = load_i64 %0, 16\n"
            "%8 f64 = i2f %7\n"
            "%9 f64 = fadd %6, %8\n"
            "%10 void = store_f64 %0, %9, 8\n"
            "%11 i64 = kint 1\n"
            "%12 i64 = add_ov %1, %11 @0\n"
            "%13 void = loop\n"
            "%14 i64 = phi %12, %23\n"
            "%15 bool = lt %14, %2\n"
            "snap 1 pc=8 top=3 [0=%14]\n"
            "%16 void = guard_true %15 @1\n"
            "%17 void = poll 0x2000 @1\n"
            "%18 f64 = load_f64 %0, 8\n"
            "%19 i64 = load_i64 %0, 16\n"
            "%20 f64 = i2f %19\n"
            "%21 f64 = fadd %18, %20\n"
            "%22 void = store_f64 %0, %21, 8\n"
            "%23 i64 = add_ov %14, %11 @1\n");
}

TEST(OptPeel, NoStoreHoistsLoadsAndTypeGuardsButNotPoll) {
  std::string in =  // slot 1 holds an object whose type is checked and whose field is read
      "snap 0 pc=8 top=3 []\n"
      "%0 i64 = sload_i64 0 @0\n"
      "%1 obj = sload_obj 1\n"
      "%2 void = guard_type %1, 0x5000 @0\n"
      "%3 i64 = load_i64 %1, 16\n"
      "%4 bool = lt %0, %3\n"
      "%5 void = guard_true %4 @0\n"
      "%6 void = poll 0x2000 @0\n"
      "%7 i64 = kint 1\n"
      "%8 i64 = add_ov %0, %7 @0\n"
      "snap 1 pc=8 top=3 [0=%8]\n";
  EXPECT_EQ(peel_text(in),
            "snap 0 pc=8 top=3 []\n"
            "%0 i64 = sload_i64 0 @0\n"
            "%1 obj = sload_obj 1\n"
            "%2 void = guard_type %1, 0x5000 @0\n"
            "%3 i64 = load_i64 %1, 16\n"
            "%4 bool = lt %0, %3\n"
            "%5 void = guard_true %4 @0\n"
            "%6 void = poll 0x2000 @0\n"
            "%7 i64 = kint 1\n"
            "%8 i64 = add_ov %0, %7 @0\n"
            "%9 void = loop\n"
            "%10 i64 = phi %8, %14\n"
            "%11 bool = lt %10, %3\n"
            "snap 1 pc=8 top=3 [0=%10]\n"
            "%12 void = guard_true %11 @1\n"
            "%13 void = poll 0x2000 @1\n"
            "%14 i64 = add_ov %10, %7 @1\n");
}

TEST(OptPeel, BodySnapshotsMergeTheCompletionSnapshot) {
  // snap 1 overrides slot 1 and has top 2 (slot 2 is not part of it); snap 2 is used only by a guard that
  // folds away in the body, so it gets no body copy; snaps 3 and 4 share their copies between two guards.
  // Every body copy lists the slots the iteration changes (slot 0 = i, 1, 2) at their carried values.
  std::string in =
      "snap 0 pc=0 top=3 []\n"
      "%0 i64 = sload_i64 0 @0\n"
      "%1 i64 = sload_i64 2 @0\n"
      "%2 i64 = kint 100\n"
      "%3 bool = lt %0, %2\n"
      "snap 1 pc=3 top=2 [1=%0]\n"
      "%4 void = guard_true %3 @1\n"
      "%5 bool = kbool true\n"
      "snap 2 pc=5 top=3 []\n"
      "%6 void = guard_true %5 @2\n"
      "%7 i64 = kint 1\n"
      "snap 3 pc=6 top=3 []\n"
      "%8 i64 = add_ov %0, %7 @3\n"
      "%9 i64 = add_ov %1, %0 @3\n"
      "snap 4 pc=7 top=3 [1=%9]\n"
      "%10 i64 = mul_ov %9, %9 @4\n"
      "%11 i64 = sub_ov %10, %8 @4\n"
      "snap 5 pc=3 top=3 [0=%8 1=%11 2=%9]\n";
  EXPECT_EQ(peel_text(in),
            "snap 0 pc=0 top=3 []\n"
            "%0 i64 = sload_i64 0 @0\n"
            "%1 i64 = sload_i64 2 @0\n"
            "%2 i64 = kint 100\n"
            "%3 bool = lt %0, %2\n"
            "snap 1 pc=3 top=2 [1=%0]\n"
            "%4 void = guard_true %3 @1\n"
            "%5 bool = kbool true\n"
            "snap 2 pc=5 top=3 []\n"
            "%6 void = guard_true %5 @2\n"
            "%7 i64 = kint 1\n"
            "snap 3 pc=6 top=3 []\n"
            "%8 i64 = add_ov %0, %7 @3\n"
            "%9 i64 = add_ov %1, %0 @3\n"
            "snap 4 pc=7 top=3 [1=%9]\n"
            "%10 i64 = mul_ov %9, %9 @4\n"
            "%11 i64 = sub_ov %10, %8 @4\n"
            "%12 void = loop\n"
            "%13 i64 = phi %8, %18\n"
            "%14 i64 = phi %9, %19\n"
            "%15 i64 = phi %11, %21\n"
            "%16 bool = lt %13, %2\n"
            "snap 5 pc=3 top=2 [0=%13 1=%13]\n"
            "%17 void = guard_true %16 @5\n"
            "snap 6 pc=6 top=3 [0=%13 1=%15 2=%14]\n"
            "%18 i64 = add_ov %13, %7 @6\n"
            "%19 i64 = add_ov %14, %13 @6\n"
            "snap 7 pc=7 top=3 [0=%13 1=%19 2=%14]\n"
            "%20 i64 = mul_ov %19, %19 @7\n"
            "%21 i64 = sub_ov %20, %18 @7\n");
}

// while i < n: i += 1; j = i + 1; slots i=0 j=1 n=2
const char* kCarriedCse =
    "snap 0 pc=4 top=3 []\n"
    "%0 i64 = sload_i64 0 @0\n"
    "%1 i64 = sload_i64 2 @0\n"
    "%2 bool = lt %0, %1\n"
    "%3 void = guard_true %2 @0\n"
    "%4 i64 = kint 1\n"
    "%5 i64 = add_ov %0, %4 @0\n"
    "%6 i64 = add_ov %5, %4 @0\n"
    "snap 1 pc=4 top=3 [0=%5 1=%6]\n";

TEST(OptPeel, BodyCopyCsesToCarriedPreRollValue) {
  // The body's i + 1 is the pre-roll's (i + 1) + 1 of the previous iteration (%6): it gets a phi, and the
  // back-edge of i's phi is that phi; the overflow check ran there on the same value.
  EXPECT_EQ(peel_text(kCarriedCse),
            "snap 0 pc=4 top=3 []\n"
            "%0 i64 = sload_i64 0 @0\n"
            "%1 i64 = sload_i64 2 @0\n"
            "%2 bool = lt %0, %1\n"
            "%3 void = guard_true %2 @0\n"
            "%4 i64 = kint 1\n"
            "%5 i64 = add_ov %0, %4 @0\n"
            "%6 i64 = add_ov %5, %4 @0\n"
            "%7 void = loop\n"
            "%8 i64 = phi %5, %9\n"
            "%9 i64 = phi %6, %12\n"
            "%10 bool = lt %8, %1\n"
            "snap 1 pc=4 top=3 [0=%8 1=%9]\n"
            "%11 void = guard_true %10 @1\n"
            "%12 i64 = add_ov %9, %4 @1\n");
}

TEST(OptPeel, TypeUnstableLeftAlone) {
  std::string in =  // slot 0 is loaded as an int, but the iteration leaves a float there
      "snap 0 pc=2 top=2 []\n"
      "%0 i64 = sload_i64 0 @0\n"
      "%1 f64 = i2f %0\n"
      "%2 f64 = kflt 0x1p-1\n"
      "%3 f64 = fadd %1, %2\n"
      "snap 1 pc=2 top=2 [0=%3]\n";
  bool changed = true;
  EXPECT_EQ(peel_text(in, "peel", &changed), in);
  EXPECT_FALSE(changed);
  std::string obj =  // an object slot left with a raw int
      "snap 0 pc=2 top=2 []\n"
      "%0 obj = sload_obj 1\n"
      "%1 i64 = unbox_i64 %0 @0\n"
      "snap 1 pc=2 top=2 [1=%1]\n";
  EXPECT_EQ(peel_text(obj, "peel", &changed), obj);
  EXPECT_FALSE(changed);
}

TEST(OptPeel, NotARecordedIterationLeftAlone) {
  bool changed = true;
  std::string looped =  // already a loop
      "%0 i64 = kint 0\n"
      "%1 i64 = kint 1\n"
      "%2 void = loop\n"
      "%3 i64 = phi %0, %5\n"
      "snap 0 pc=1 top=1 [0=%3]\n"
      "%4 bool = lt %3, %1\n"
      "%5 i64 = add_ov %3, %1 @0\n"
      "snap 1 pc=1 top=1 [0=%5]\n";
  EXPECT_EQ(peel_text(looped, "peel", &changed), looped);
  EXPECT_FALSE(changed);
  std::string no_end_snap =  // the last snapshot is not at the end
      "snap 0 pc=1 top=1 []\n"
      "%0 i64 = sload_i64 0 @0\n"
      "snap 1 pc=1 top=1 [0=%0]\n"
      "%1 i64 = kint 1\n";
  EXPECT_EQ(peel_text(no_end_snap, "peel", &changed), no_end_snap);
  EXPECT_FALSE(changed);
  std::string guard_uses_end =  // a guard exits to the last snapshot (possible only in hand-written IR)
      "%0 bool = kbool false\n"
      "snap 0 pc=1 top=1 []\n"
      "%1 void = guard_true %0 @0\n";
  EXPECT_EQ(peel_text(guard_uses_end, "peel", &changed), guard_uses_end);
  EXPECT_FALSE(changed);
  EXPECT_EQ(peel_text("", "peel", &changed), "");
  EXPECT_FALSE(changed);
}

TEST(OptPeel, IsFirstInThePipeline) {
  EXPECT_EQ(OptPass(0), OPT_peel);
  EXPECT_STREQ(opt_pass_name(OPT_peel), "peel");
}

// ---------------------------------------------------------------- guards and dce on the recorder's ops
TEST(OptGuards, RecorderGuardsRemovedByOperandsAndImmediate) {
  std::string in =
      "snap 0 pc=1 top=4 []\n"
      "%0 obj = sload_obj 0\n"
      "%1 void = guard_type %0, 0x5000 @0\n"
      "%2 void = guard_type %0, 0x6000 @0\n"  // another type: kept (it always exits)
      "%3 void = guard_type %0, 0x5000 @0\n"
      "%4 i64 = sload_i64 1 @0\n"
      "%5 i64 = sload_i64 1 @0\n"             // frame loads: kept
      "%6 i64 = abs_ov %4 @0\n"
      "%7 i64 = abs_ov %4 @0\n"
      "%8 i64 = floordiv_ov %4, %6 @0\n"
      "%9 i64 = floordiv_ov %4, %7 @0\n"
      "%10 i64 = mod_ov %4, %6 @0\n"
      "%11 i64 = mod_ov %6, %4 @0\n"          // not commutative: kept
      "%12 f64 = sload_f64 2 @0\n"
      "%13 i64 = f2i %12 @0\n"
      "%14 i64 = f2i %12 @0\n"
      "%15 f64 = callf1 %12, 0x7000 @0\n"
      "%16 f64 = callf1 %12, 0x7000 @0\n"
      "%17 f64 = callf1 %12, 0x7008 @0\n"     // another function: kept
      "%18 void = poll 0x2000 @0\n"
      "%19 void = poll 0x2000 @0\n"           // the eval breaker can fire between the two
      "snap 1 pc=9 top=4 [0=%9 1=%10 2=%17 3=%16]\n"
      "%20 i64 = add_ov %14, %11 @1\n"
      "%21 i64 = add_ov %5, %20 @1\n";
  EXPECT_EQ(peel_text(in, "guards"),
            "snap 0 pc=1 top=4 []\n"
            "%0 obj = sload_obj 0\n"
            "%1 void = guard_type %0, 0x5000 @0\n"
            "%2 void = guard_type %0, 0x6000 @0\n"
            "%3 i64 = sload_i64 1 @0\n"
            "%4 i64 = sload_i64 1 @0\n"
            "%5 i64 = abs_ov %3 @0\n"
            "%6 i64 = floordiv_ov %3, %5 @0\n"
            "%7 i64 = mod_ov %3, %5 @0\n"
            "%8 i64 = mod_ov %5, %3 @0\n"
            "%9 f64 = sload_f64 2 @0\n"
            "%10 i64 = f2i %9 @0\n"
            "%11 f64 = callf1 %9, 0x7000 @0\n"
            "%12 f64 = callf1 %9, 0x7008 @0\n"
            "%13 void = poll 0x2000 @0\n"
            "%14 void = poll 0x2000 @0\n"
            "snap 1 pc=9 top=4 [0=%6 1=%7 2=%12 3=%11]\n"
            "%15 i64 = add_ov %10, %8 @1\n"
            "%16 i64 = add_ov %4, %15 @1\n");
}

TEST(OptDce, RecorderEffectsKeptUnusedFrameObjectLoadDropped) {
  std::string in =
      "snap 0 pc=1 top=4 []\n"
      "%0 obj = sload_obj 0\n"
      "%1 obj = sload_obj 1\n"                // unused: dropped (a plain load)
      "%2 i64 = sload_i64 2 @0\n"             // unused, but a type guard: kept
      "%3 f64 = sload_f64 3 @0\n"
      "%4 bool = sload_bool 3 @0\n"
      "%5 void = poll 0x2000 @0\n"
      "%6 void = incref %0\n"
      "%7 void = decref %0\n"
      "%8 bool = list_append %0, %0\n"         // its result unused: still appended
      "%9 void = guard_type %0, 0x5000 @0\n"
      "%10 i64 = f2i %3 @0\n";
  EXPECT_EQ(peel_text(in, "dce"),
            "snap 0 pc=1 top=4 []\n"
            "%0 obj = sload_obj 0\n"
            "%1 i64 = sload_i64 2 @0\n"
            "%2 f64 = sload_f64 3 @0\n"
            "%3 bool = sload_bool 3 @0\n"
            "%4 void = poll 0x2000 @0\n"
            "%5 void = incref %0\n"
            "%6 void = decref %0\n"
            "%7 bool = list_append %0, %0\n"
            "%8 void = guard_type %0, 0x5000 @0\n"
            "%9 i64 = f2i %2 @0\n");
}


}  // namespace
}  // namespace fastpy::opt
