// Loop peeling (tiers/opt/peel.cpp): IR text in, expected peeled IR out; the cases peel must leave alone; the
// guard and dce rules for the recorder's ops; and an executor differential: the recorded iteration run again
// and again (each completion writes its completion snapshot into the frame) against the peeled trace run once.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "tiers/ir/ir.h"
#include "tiers/ir/ir_exec.h"
#include "tiers/opt/opt.h"

namespace fastpy::opt {
namespace {

using ir::ExecOptions;
using ir::ExecResult;
using ir::ExecStatus;
using ir::IRRef;
using ir::kNoRef;
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

// The body of a peeled trace (everything after `loop`).
std::string body_of(const std::string& text) { return text.substr(text.find("= loop\n")); }

// An object-field store (a range iterator's index, say) keeps only the loads it may change in the loop:
// the same field of an object that may be the same one. Another field of it, and the same field of an
// object of another guarded type, are loaded once, before `loop`.
TEST(OptPeel, FieldStoreHoistsLoadsItCannotChange) {
  auto trace = [](const char* other_type) {
    return std::string(
               "snap 0 pc=8 top=4 []\n"
               "%0 obj = sload_obj 2\n"
               "%1 obj = sload_obj 3\n"
               "%2 void = guard_type %0, 0x100 @0\n"
               "%3 void = guard_type %1, ") + other_type + " @0\n"
           "%4 i64 = load_i64 %0, 16\n"
           "%5 i64 = load_i64 %0, 24\n"
           "%6 i64 = load_i64 %1, 16\n"
           "%7 i64 = add_ov %4, %5 @0\n"
           "%8 i64 = add_ov %7, %6 @0\n"
           "%9 void = store_i64 %0, %8, 16\n"
           "snap 1 pc=8 top=4 []\n";
  };
  std::string other = body_of(peel_text(trace("0x200")));
  // Written only by the store after it: from the second iteration on it reads what that store wrote, %8,
  // carried by a phi (store-to-load forwarding across `loop`).
  EXPECT_EQ(other.find("load_i64 %0, 16"), std::string::npos) << other;
  EXPECT_NE(other.find("phi %8, "), std::string::npos) << other;
  EXPECT_NE(other.find("store_i64 %0, "), std::string::npos) << other;    // the store stays
  EXPECT_EQ(other.find("load_i64 %0, 24"), std::string::npos) << other;   // another field: hoisted
  EXPECT_EQ(other.find("load_i64 %1, 16"), std::string::npos) << other;   // another type: hoisted
  std::string same = body_of(peel_text(trace("0x100")));
  EXPECT_NE(same.find("load_i64 %1, 16"), std::string::npos) << same;     // may be the same object
  EXPECT_EQ(same.find("load_i64 %0, 16"), std::string::npos) << same;     // forwarded as above
  EXPECT_EQ(same.find("load_i64 %0, 24"), std::string::npos) << same;
}

// Forwarding needs the store to be the only write of the address and to come after the load: a second store
// of the field, a store before the load, or a call that may write anything keeps the load in the body.
TEST(OptPeel, FieldLoadsNotForwardedPastOtherWrites) {
  // head: the iterator; advance: its index loaded, advanced and stored back (what forwarding looks for).
  const std::string head =
      "snap 0 pc=8 top=4 []\n"
      "%0 obj = sload_obj 2\n"
      "%1 void = guard_type %0, 0x100 @0\n";
  const std::string advance =
      "%2 i64 = load_i64 %0, 16\n"
      "%3 i64 = kint 1\n"
      "%4 i64 = add_ov %2, %3 @0\n"
      "%5 void = store_i64 %0, %4, 16\n";
  const std::string twice = head + advance +
      "%6 i64 = add_ov %4, %3 @0\n"
      "%7 void = store_i64 %0, %6, 16\n"
      "snap 1 pc=8 top=4 []\n";
  const std::string before = head +
      "%2 i64 = sload_i64 0 @0\n"
      "%3 void = store_i64 %0, %2, 16\n"
      "%4 i64 = load_i64 %0, 16\n"
      "%5 i64 = add_ov %4, %2 @0\n"
      "snap 1 pc=8 top=4 [0=%5]\n";
  const std::string call = head + advance +
      "%6 obj = sload_obj 3\n"
      "%7 bool = setattr %6, %6, 0x10\n"
      "snap 1 pc=8 top=4 []\n";
  for (const std::string& in : {twice, before, call})
    EXPECT_NE(body_of(peel_text(in)).find("load_i64 %0, 16"), std::string::npos) << peel_text(in);
  // ... and with nothing else written, the same iteration is forwarded (the cases above are the exceptions).
  EXPECT_EQ(body_of(peel_text(head + advance + "snap 1 pc=8 top=4 []\n")).find("load_i64 %0, 16"), std::string::npos);
}

// A list append writes the list's size and items fields and its buffer: loads of those stay in the body,
// a dict version load (another object's field at offset 24... of a dict type) is hoisted.
TEST(OptPeel, ListAppendKeepsListLoadsAndBufferLoads) {
  std::string in =
      "snap 0 pc=8 top=4 []\n"
      "%0 obj = sload_obj 2\n"
      "%1 obj = sload_obj 3\n"
      "%2 void = guard_type %0, 0x100 @0\n"
      "%3 void = guard_type %1, 0x300 @0\n"
      "%4 i64 = load_i64 %0, 16\n"
      "%5 ptr = load_ptr %0, 24\n"
      "%6 obj = load_obj %5, 0\n"
      "%7 i64 = load_i64 %1, 24\n"
      "%8 bool = list_append %0, %6\n"
      "%9 void = guard_true %8 @0\n"
      "snap 1 pc=8 top=4 []\n";
  std::string body = body_of(peel_text(in));
  EXPECT_NE(body.find("load_i64 %0, 16"), std::string::npos) << body;
  EXPECT_NE(body.find("load_ptr %0, 24"), std::string::npos) << body;
  EXPECT_NE(body.find("load_obj"), std::string::npos) << body;
  EXPECT_EQ(body.find("load_i64 %1, 24"), std::string::npos) << body;
}

// A numpy element loop: the array's dimension, loaded through its load_cptr (memory no trace writes), is
// invariant although the loop stores into the array's data; through a load_ptr it is loaded again in the
// body; and an op that may write anything (setattr) keeps it there too.
TEST(OptPeel, ReadOnlyMemoryLoadsHoistedPastBufferStores) {
  auto trace = [](const char* dims_op, const char* extra) {
    return std::string(
               "snap 0 pc=8 top=4 []\n"
               "%0 obj = sload_obj 2\n"
               "%1 void = guard_type %0, 0x100 @0\n"
               "%2 i64 = sload_i64 0 @0\n"
               "%3 ptr = ") + dims_op + " %0, 32\n"
           "%4 i64 = load_i64 %3, 0\n"
           "%5 bool = ult %2, %4\n"
           "%6 void = guard_true %5 @0\n"
           "%7 ptr = load_ptr %0, 16\n"
           "%8 ptr = padd %7, %2, 8\n"
           "%9 f64 = load_f64 %8, 0\n"
           "%10 f64 = kflt 0x1p+1\n"
           "%11 f64 = fmul %9, %10\n"
           "%12 void = store_f64 %8, %11, 0\n"
           "%13 i64 = kint 1\n"
           "%14 i64 = add_ov %2, %13 @0\n" + extra +
           "snap 1 pc=8 top=4 [0=%14]\n";
  };
  std::string ro = body_of(peel_text(trace("load_cptr", "")));
  EXPECT_EQ(ro.find("load_i64"), std::string::npos) << ro;
  EXPECT_EQ(ro.find("load_cptr"), std::string::npos) << ro;
  EXPECT_NE(ro.find("load_f64"), std::string::npos) << ro;   // the data: loaded each iteration
  std::string rw = body_of(peel_text(trace("load_ptr", "")));
  EXPECT_NE(rw.find("load_i64 %3, 0"), std::string::npos) << rw;
  std::string call = body_of(peel_text(trace("load_cptr", "%15 obj = sload_obj 3\n%16 bool = setattr %15, %15, 0x10\n")));
  EXPECT_NE(call.find("load_cptr %0, 32"), std::string::npos) << call;
  EXPECT_NE(call.find("load_i64"), std::string::npos) << call;
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

// Object identity in body snapshots (SnapEntry::same): slots a=0 (a = a + 1.0), b=1 (b = a after it), c=2
// (c = k), k=3 (invariant), p=4 (p = a before it changes). In the body, p's link to the frame's a (the
// iteration's start) becomes one to E's entry for a where the snapshot leaves a alone, and goes where a
// changed before it; c keeps its link to the frame's k (invariant); b keeps its link to a.
TEST(OptPeel, BodySnapshotsCarryObjectIdentity) {
  const std::string out = peel_text(
      "snap 0 pc=10 top=5 []\n"
      "%0 f64 = sload_f64 0 @0\n"
      "%1 f64 = sload_f64 3 @0\n"
      "snap 1 pc=12 top=5 [2=%1@f3 4=%0@f0]\n"
      "%2 bool = flt %0, %1\n"
      "%3 void = guard_true %2 @1\n"
      "%4 f64 = kflt 0x1p+0\n"
      "%5 f64 = fadd %0, %4\n"
      "snap 2 pc=14 top=5 [0=%5 1=%5@0 2=%1@f3 4=%0@f0]\n"
      "%6 bool = fle %5, %1\n"
      "%7 void = guard_true %6 @2\n"
      "snap 3 pc=10 top=5 [0=%5 1=%5@0 2=%1@f3 4=%0@f0]\n");
  EXPECT_NE(out.find("snap 1 pc=12 top=5 [2=%1@f3 4=%0@f0]"), std::string::npos) << out;   // the pre-roll's
  EXPECT_NE(out.find("snap 3 pc=12 top=5 [0=%9 1=%9@0 2=%1@f3 4=%9@0]"), std::string::npos) << out;
  EXPECT_NE(out.find("snap 4 pc=14 top=5 [0=%12 1=%12@0 2=%1@f3 4=%9]"), std::string::npos) << out;
  Trace t;
  ASSERT_EQ(ir::ir_parse(out, &t), "");
  EXPECT_EQ(ir::ir_verify(t), "") << out;
}

// A number restored from the object it was loaded from (the recorder's origins, an object entry the trace
// unboxed): E's is the previous iteration's object, which a release earlier in the iteration (the store into
// lst[1] lets its old item go) may have freed: body snapshots after that release restore the number instead;
// before it the object; after the load, the body's own object. Slots: b=0, lst=1.
TEST(OptPeel, BodySnapshotsRestoreLoadedObjectsOnlyBeforeAnyRelease) {
  const std::string out = peel_text(
      "snap 0 pc=10 top=3 []\n"
      "%0 obj = sload_obj 1\n"
      "%1 ptr = load_ptr %0, 24\n"
      "%2 obj = load_obj %1, 8\n"
      "%3 f64 = unbox_f64 %2 @0\n"
      "%4 f64 = kflt 0x1p+0\n"
      "%5 f64 = fadd %3, %4\n"
      "%6 obj = box_f64 %5\n"
      "%7 void = store_ptr %1, %6, 8\n"
      "%8 void = decref %2\n"
      "snap 1 pc=20 top=3 []\n"
      "%9 obj = load_obj %1, 0\n"
      "%10 f64 = unbox_f64 %9 @1\n"
      "snap 2 pc=24 top=3 [0=%9]\n"
      "%11 bool = flt %10, %4\n"
      "%12 void = guard_true %11 @2\n"
      "snap 3 pc=10 top=3 [0=%9]\n");
  Trace t;
  ASSERT_EQ(ir::ir_parse(out, &t), "") << out;
  ASSERT_EQ(ir::ir_verify(t), "") << out;
  int seen = 0;
  for (const ir::Snapshot& sn : t.snaps) {
    IRRef loop = 0;
    while (loop < t.size() && t.ins[size_t(loop)].op != ir::IR_loop) loop++;
    if (sn.at <= loop) continue;   // the pre-roll's, unchanged
    ASSERT_EQ(sn.entries.size(), 1u) << out;
    const ir::IRType ty = t.ins[size_t(sn.entries[0].ref)].type;
    if (sn.pc == 10) { EXPECT_EQ(ty, ir::IRT_obj) << out; }   // before the release: the last iteration's object
    if (sn.pc == 20) { EXPECT_EQ(ty, ir::IRT_f64) << out; }   // after the release: the number
    if (sn.pc == 24) { EXPECT_EQ(ty, ir::IRT_obj) << out; }   // after its own load: the object
    seen++;
  }
  EXPECT_EQ(seen, 3) << out;
}

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
  // (after forward, which rewrites the recorded iteration in place: peel then copies the result)
  EXPECT_EQ(OptPass(0), OPT_forward);
  EXPECT_EQ(OptPass(1), OPT_peel);
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

// guard_nonnull depends on its operand alone: the guards pass drops the body's copy on a loop-invariant
// object.
TEST(OptGuards, NonnullOfAnInvariantObjectOnceBeforeTheLoop) {
  std::string in =
      "snap 0 pc=8 top=3 []\n"
      "%0 obj = sload_obj 2\n"
      "%1 void = guard_nonnull %0 @0\n"
      "%2 i64 = sload_i64 0 @0\n"
      "%3 i64 = kint 1\n"
      "%4 i64 = add_ov %2, %3 @0\n"
      "%5 void = store_i64 %0, %4, 24\n"   // a store: peel alone keeps every guard in the body
      "snap 1 pc=8 top=3 [0=%4]\n";
  EXPECT_NE(body_of(peel_text(in)).find("guard_nonnull"), std::string::npos);
  std::string peeled = peel_text(in, "peel,guards");
  EXPECT_EQ(body_of(peeled).find("guard_nonnull"), std::string::npos) << peeled;
  EXPECT_NE(peeled.find("guard_nonnull %0"), std::string::npos) << peeled;
}

// A range check hoisted out of the loop (`start + 1 >= 0` for `a[i + 1]`, i from range(start, ...)): the
// store keeps peel from folding the body's copies, the guards pass redirects the body's add_ov to the
// pre-roll's, and with it the compare of it and the guard of the compare: the body checks nothing.
TEST(OptGuards, PureInstructionsOfRedirectedGuardsGoToo) {
  std::string in =
      "snap 0 pc=8 top=3 []\n"
      "%0 obj = sload_obj 2\n"
      "%1 void = guard_type %0, 0x100 @0\n"
      "%2 i64 = load_i64 %0, 24\n"
      "%3 i64 = load_i64 %0, 16\n"
      "%4 i64 = kint 1\n"
      "%5 i64 = add_ov %2, %4 @0\n"
      "%6 i64 = kint 0\n"
      "%7 bool = ge %5, %6\n"
      "%8 void = guard_true %7 @0\n"
      "%9 i64 = add %3, %4\n"
      "%10 void = store_i64 %0, %9, 16\n"
      "snap 1 pc=8 top=3 []\n";
  std::string peeled = body_of(peel_text(in));
  EXPECT_NE(peeled.find("ge "), std::string::npos) << peeled;
  EXPECT_NE(peeled.find("guard_true"), std::string::npos) << peeled;
  std::string both = peel_text(in, "peel,guards");
  std::string body = body_of(both);
  EXPECT_EQ(body.find("add_ov"), std::string::npos) << both;
  EXPECT_EQ(body.find("ge "), std::string::npos) << both;
  EXPECT_EQ(body.find("guard_true"), std::string::npos) << both;
  EXPECT_NE(body.find("add %"), std::string::npos) << both;   // the index's own add is the body's
  // A compare of a phi (the index itself) stays.
  std::string var = in;
  var.replace(var.find("%7 bool = ge %5, %6"), 19, "%7 bool = ge %3, %6");
  EXPECT_NE(body_of(peel_text(var, "peel,guards")).find("guard_true"), std::string::npos) << peel_text(var, "peel,guards");
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


// ---------------------------------------------------------------- differential: iterations vs the peeled loop
// A pointer immediate in text form.
std::string P(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, uintptr_t(p));
  return buf;
}

// text with every "BUF" replaced by p's address.
std::string with_buf(std::string text, const void* p) {
  for (size_t at; (at = text.find("BUF")) != std::string::npos;) text.replace(at, 3, P(p));
  return text;
}

// The fake runtime: frame slots hold raw values already (an int's i64, a float's bits); sload_bool accepts only
// 0 and 1, so a non-bool there is a type-guard exit.
bool fake_runtime(const ir::IRIns& i, uint64_t a, uint64_t, uint64_t* out) {
  if (i.op == ir::IR_sload_i64 || i.op == ir::IR_sload_f64 || (i.op == ir::IR_sload_bool && a <= 1)) {
    *out = a;
    return true;
  }
  return false;
}

// Where a run left the frame: the exit's pc and stack top, the frame below that top, and how many iterations
// completed (a peeled trace: back-edges taken, plus the pre-roll when the exit is past `loop`).
struct FrameOutcome {
  int32_t pc = -1;
  int32_t top = -1;
  std::vector<uint64_t> frame;
  uint64_t completed = 0;
  // "pc=P after N" for test expectations.
  std::string describe() const { return "pc=" + std::to_string(pc) + " after " + std::to_string(completed); }
};

// Runs t once on frame; *r gets the result.
ExecResult run_once(const Trace& t, const std::vector<uint64_t>& frame) {
  ExecOptions o;
  o.max_iterations = 100000;
  o.runtime = fake_runtime;
  o.slots = frame.data();
  o.nslots = frame.size();
  return ir::ir_execute(t, o);
}

// Writes r's snapshot entries into the frame (what the runtime does on an exit or a completion).
void restore(const ExecResult& r, std::vector<uint64_t>* frame) {
  for (const ir::ExitSlot& s : r.slots) (*frame)[size_t(s.slot)] = s.value;
}

// Fills *out from an exit of t that left *frame.
void finish(const Trace& t, const ExecResult& r, std::vector<uint64_t> frame, FrameOutcome* out) {
  out->pc = r.pc;
  out->top = t.snaps[size_t(r.snap)].top;
  frame.resize(size_t(out->top));
  out->frame = frame;
}

// The recorded iteration run until a guard exits, the frame updated by every completion.
FrameOutcome run_iterations(const Trace& t, std::vector<uint64_t> frame) {
  FrameOutcome out;
  for (;;) {
    ExecResult r = run_once(t, frame);
    restore(r, &frame);
    if (r.status == ExecStatus::exited) { finish(t, r, frame, &out); return out; }
    EXPECT_EQ(r.status, ExecStatus::completed) << ir::exec_describe(r);
    EXPECT_EQ(r.snap, int32_t(t.snaps.size()) - 1) << "completion must report its snapshot";
    if (r.status != ExecStatus::completed || ++out.completed > 100000) return out;
  }
}

// The peeled trace run once.
FrameOutcome run_peeled(const Trace& t, std::vector<uint64_t> frame) {
  FrameOutcome out;
  ExecResult r = run_once(t, frame);
  EXPECT_EQ(r.status, ExecStatus::exited) << ir::exec_describe(r);
  if (r.status != ExecStatus::exited) return out;
  restore(r, &frame);
  finish(t, r, frame, &out);
  IRRef loop = kNoRef;
  for (IRRef i = 0; i < t.size(); i++)
    if (t.ins[size_t(i)].op == ir::IR_loop) loop = i;
  out.completed = loop != kNoRef && r.guard > loop ? r.iterations + 1 : 0;
  return out;
}

// Runs the recorded iteration `text` (BUF: buf's address) again and again, and peeled (peel alone and the whole
// pipeline) once, from each frame; all must leave the same frame and pc. buf (if given) is reset to buf_init
// before each run and must end the same. Returns the recorded runs' outcomes.
std::vector<std::string> expect_peel_same(const std::string& text, const std::vector<std::vector<uint64_t>>& frames,
                                          std::vector<uint64_t>* buf = nullptr,
                                          const std::vector<uint64_t>& buf_init = {}) {
  std::vector<std::string> seen;
  Trace rec;
  EXPECT_EQ(ir::ir_parse(with_buf(text, buf ? buf->data() : nullptr), &rec), "");
  Trace peeled = rec, full = rec;
  OptOptions only;
  EXPECT_EQ(opt_parse_passes("peel", &only), "");
  bool changed = false;
  EXPECT_EQ(opt_run(peeled, only, &changed), "");
  EXPECT_TRUE(changed);
  EXPECT_EQ(opt_run(full), "");
  for (const std::vector<uint64_t>& frame : frames) {
    std::vector<uint64_t> mem[3];
    FrameOutcome got[3];
    const Trace* traces[3] = {&rec, &peeled, &full};
    for (int k = 0; k < 3; k++) {
      if (buf) *buf = buf_init;
      got[k] = k == 0 ? run_iterations(rec, frame) : run_peeled(*traces[k], frame);
      if (buf) mem[k] = *buf;
    }
    seen.push_back(got[0].describe());
    for (int k = 1; k < 3; k++) {
      SCOPED_TRACE(k == 1 ? "peel alone" : "all passes");
      EXPECT_EQ(got[0].pc, got[k].pc) << got[0].describe() << " vs " << got[k].describe();
      EXPECT_EQ(got[0].top, got[k].top);
      EXPECT_EQ(got[0].frame, got[k].frame) << got[0].describe();
      EXPECT_EQ(got[0].completed, got[k].completed);
      EXPECT_EQ(mem[0], mem[k]);
    }
  }
  return seen;
}

// A float's bits, as a frame slot holds them here.
uint64_t F(double d) { return uint64_t(ir::f64_bits(d)); }
// An int, as a frame slot holds it here.
uint64_t I(int64_t v) { return uint64_t(v); }

TEST(OptPeelDifferential, CountedFloatLoop) {
  EXPECT_EQ(expect_peel_same(kFloatSum, {{I(0), F(0.5), I(10)}, {I(5), F(1.0), I(5)}, {I(-3), F(-0.0), I(1)}}),
            (std::vector<std::string>{"pc=10 after 10", "pc=10 after 0", "pc=10 after 4"}));
}

TEST(OptPeelDifferential, Swap) {
  EXPECT_EQ(expect_peel_same(kSwap, {{I(0), I(3), F(1.5), F(2.5), F(0)}, {I(0), I(4), F(1.5), F(-2.5), F(9)},
                                     {I(0), I(0), F(1.5), F(2.5), F(7)}}),
            (std::vector<std::string>{"pc=4 after 3", "pc=4 after 4", "pc=4 after 0"}));
}

TEST(OptPeelDifferential, InvariantComputationAndGuard) {
  EXPECT_EQ(expect_peel_same(kInvariant, {{I(0), I(6), F(1.25), F(0.0)}, {I(-3), I(0), F(1.0), F(1.0)}}),
            (std::vector<std::string>{"pc=6 after 6", "pc=6 after 0"}));
}

TEST(OptPeelDifferential, CarriedCse) {
  EXPECT_EQ(expect_peel_same(kCarriedCse, {{I(0), I(0), I(7)},
                                           {I(std::numeric_limits<int64_t>::max() - 5), I(0),
                                            I(std::numeric_limits<int64_t>::max())}}),
            (std::vector<std::string>{"pc=4 after 7", "pc=4 after 4"}));  // the second overflows j = i + 1
}

TEST(OptPeelDifferential, MidIterationExitSeesCarriedSlots) {
  // s += i; exit when s > limit, with the new s but i not yet incremented; slots i=0 s=1 limit=2
  std::string text =
      "snap 0 pc=10 top=4 []\n"
      "%0 i64 = sload_i64 0 @0\n"
      "%1 f64 = sload_f64 1 @0\n"
      "%2 f64 = sload_f64 2 @0\n"
      "%3 f64 = i2f %0\n"
      "%4 f64 = fadd %1, %3\n"
      "snap 1 pc=14 top=4 [1=%4]\n"
      "%5 bool = fle %4, %2\n"
      "%6 void = guard_true %5 @1\n"
      "%7 i64 = kint 1\n"
      "%8 i64 = add_ov %0, %7 @1\n"
      "snap 2 pc=10 top=4 [0=%8 1=%4]\n";
  EXPECT_EQ(expect_peel_same(text, {{I(0), F(0), F(100), I(0)}, {I(3), F(0), F(1), I(0)}}),
            (std::vector<std::string>{"pc=14 after 14", "pc=14 after 0"}));
}

TEST(OptPeelDifferential, RotationThroughInvariantAndBoolToggle) {
  // c, b, a = b, a, k; f = not f; i += 1 while i < n; slots i=0 n=1 a=2 b=3 c=4 k=5 f=6; a non-bool f exits
  std::string text =
      "snap 0 pc=3 top=7 []\n"
      "%0 i64 = sload_i64 0 @0\n"
      "%1 i64 = sload_i64 1 @0\n"
      "%2 bool = lt %0, %1\n"
      "%3 void = guard_true %2 @0\n"
      "%4 f64 = sload_f64 2 @0\n"
      "%5 f64 = sload_f64 3 @0\n"
      "%6 f64 = sload_f64 5 @0\n"
      "%7 bool = sload_bool 6 @0\n"
      "%8 bool = not %7\n"
      "%9 i64 = kint 1\n"
      "%10 i64 = add_ov %0, %9 @0\n"
      "snap 1 pc=3 top=7 [0=%10 2=%6 3=%4 4=%5 6=%8]\n";
  EXPECT_EQ(expect_peel_same(text, {{I(0), I(5), F(1), F(2), F(3), F(9), 1},
                                    {I(0), I(1), F(1), F(2), F(3), F(9), 0},
                                    {I(0), I(2), F(1), F(2), F(3), F(9), 0},
                                    {I(0), I(5), F(1), F(2), F(3), F(9), 7}}),
            (std::vector<std::string>{"pc=3 after 5", "pc=3 after 1", "pc=3 after 2", "pc=3 after 0"}));
}

TEST(OptPeelDifferential, ForwardedIteratorIndex) {
  // A range iterator in buf (ob_refcnt, ob_type, index, len): s += index; index += 1 while index < len.
  // Slots: s=0, the iterator=2. The body carries the index in a phi; memory must end the same.
  std::vector<uint64_t> buf(4, 0);
  std::string text =
      "snap 0 pc=8 top=3 []\n"
      "%0 obj = sload_obj 2\n"
      "%1 void = guard_type %0, 0x100 @0\n"
      "%2 i64 = load_i64 %0, 16\n"
      "%3 i64 = load_i64 %0, 24\n"
      "%4 bool = lt %2, %3\n"
      "%5 void = guard_true %4 @0\n"
      "%6 i64 = kint 1\n"
      "%7 i64 = add_ov %2, %6 @0\n"
      "%8 void = store_i64 %0, %7, 16\n"
      "%9 i64 = sload_i64 0 @0\n"
      "%10 i64 = add_ov %9, %2 @0\n"
      "snap 1 pc=8 top=3 [0=%10]\n";
  EXPECT_EQ(body_of(peel_text(text)).find("load_i64 %0, 16"), std::string::npos) << peel_text(text);
  const uint64_t it = uint64_t(uintptr_t(buf.data()));
  EXPECT_EQ(expect_peel_same(text, {{I(0), 0, it}, {I(5), 0, it}}, &buf, {1, 0x100, I(2), I(9)}),
            (std::vector<std::string>{"pc=8 after 7", "pc=8 after 7"}));
  EXPECT_EQ(buf[2], I(9));
  EXPECT_EQ(expect_peel_same(text, {{I(0), 0, it}}, &buf, {1, 0x100, I(9), I(9)}),   // already at its end
            (std::vector<std::string>{"pc=8 after 0"}));
}

TEST(OptPeelDifferential, StoresAndPoll) {
  // buf[0] += float(buf[1] + i); buf[3] = i; i += 1 while i < n, polling the 32-bit word buf[2]; slots i=0 n=1
  std::vector<uint64_t> buf(4, 0);
  std::string text =
      "%0 ptr = kptr BUF\n"
      "snap 0 pc=8 top=2 []\n"
      "%1 i64 = sload_i64 0 @0\n"
      "%2 i64 = sload_i64 1 @0\n"
      "%3 bool = lt %1, %2\n"
      "%4 void = guard_true %3 @0\n"
      "%5 f64 = load_f64 %0, 0\n"
      "%6 i64 = load_i64 %0, 8\n"
      "%7 i64 = add_ov %6, %1 @0\n"
      "%8 f64 = i2f %7\n"
      "%9 f64 = fadd %5, %8\n"
      "%10 void = store_f64 %0, %9, 0\n"
      "%11 void = store_i64 %0, %1, 24\n"
      "%12 i64 = kint 1\n"
      "%13 i64 = add_ov %1, %12 @0\n"
      "%14 void = poll " + P(&buf[2]) + " @0\n"
      "snap 1 pc=8 top=2 [0=%13]\n";
  EXPECT_EQ(expect_peel_same(text, {{I(0), I(6)}, {I(2), I(1)}}, &buf, {F(0.5), I(10), 0, 0}),
            (std::vector<std::string>{"pc=8 after 6", "pc=8 after 0"}));
  EXPECT_EQ(expect_peel_same(text, {{I(0), I(6)}}, &buf, {F(0.5), I(10), 1, 0}),  // the eval breaker fires
            (std::vector<std::string>{"pc=8 after 0"}));
}

}  // namespace
}  // namespace fastpy::opt
