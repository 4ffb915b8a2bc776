// Optimizer passes (tiers/opt): IR text in, expected IR text out, for every pass; the pass switches and their
// parser; and a differential check that the reference executor gives the same result before and after opt_run.
#include <gtest/gtest.h>

#include <algorithm>
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
using ir::Trace;

// Parses in (which must parse), runs the passes listed in `passes` (which must succeed) and prints the result.
std::string opt_text(const std::string& in, const char* passes) {
  Trace t;
  EXPECT_EQ(ir::ir_parse(in, &t), "") << in;
  OptOptions o;
  EXPECT_EQ(opt_parse_passes(passes, &o), "");
  EXPECT_EQ(opt_run(t, o), "") << in;
  EXPECT_EQ(ir::ir_verify(t), "");
  return ir::ir_print(t);
}

// ---------------------------------------------------------------- dce
TEST(OptDce, DeadPureChainRemoved) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = kint 3\n"
      "%3 i64 = and %1, %2\n"
      "%4 i64 = xor %3, %2\n"
      "%5 void = store_i64 %0, %1, 8\n";
  EXPECT_EQ(opt_text(in, "dce"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "%2 void = store_i64 %0, %1, 8\n");
}

TEST(OptDce, DeadLoadRemoved) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 f64 = load_f64 %0, 16\n"
      "%3 ptr = load_ptr %0, 24\n"
      "%4 void = store_i64 %0, %1, 8\n";
  EXPECT_EQ(opt_text(in, "dce"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "%2 void = store_i64 %0, %1, 8\n");
}

TEST(OptDce, EffectsKept) {
  std::string in =  // an unused overflow-checked add (guard), box (call), store, guard: all stay
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "snap 0 pc=3 top=16 []\n"
      "%2 i64 = add_ov %1, %1 @0\n"
      "%3 obj = box_i64 %1\n"
      "%4 void = store_i64 %0, %1, 8\n"
      "%5 bool = lt %1, %1\n"
      "%6 void = guard_false %5 @0\n";
  EXPECT_EQ(opt_text(in, "dce"), in);
}

TEST(OptDce, SnapshotReferencedValueKept) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = kint 7\n"
      "%3 i64 = xor %1, %2\n"
      "%4 i64 = kint 99\n"
      "snap 0 pc=5 top=16 [0=%3]\n"
      "%5 bool = lt %1, %2\n"
      "%6 void = guard_true %5 @0\n";
  EXPECT_EQ(opt_text(in, "dce"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "%2 i64 = kint 7\n"
            "%3 i64 = xor %1, %2\n"
            "snap 0 pc=5 top=16 [0=%3]\n"
            "%4 bool = lt %1, %2\n"
            "%5 void = guard_true %4 @0\n");
}

TEST(OptDce, RenumberingKeepsSnapshotsPhisGuards) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = kint 111\n"
      "%2 i64 = load_i64 %0, 0\n"
      "%3 i64 = kint 1\n"
      "%4 i64 = load_i64 %0, 8\n"
      "%5 void = loop\n"
      "%6 i64 = phi %2, %11\n"
      "%7 i64 = kint 222\n"
      "snap 0 pc=4 top=16 [0=%6 1=%3]\n"
      "%8 bool = lt %6, %3\n"
      "%9 void = guard_false %8 @0\n"
      "%10 i64 = kint 333\n"
      "%11 i64 = sub_ov %6, %3 @0\n"
      "snap 1 pc=9 top=16 [0=%11]\n"
      "%12 void = store_i64 %0, %11, 16\n"
      "snap 2 pc=11 top=16 [0=%11 1=%6]\n";
  EXPECT_EQ(opt_text(in, "dce"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "%2 i64 = kint 1\n"
            "%3 void = loop\n"
            "%4 i64 = phi %1, %7\n"
            "snap 0 pc=4 top=16 [0=%4 1=%2]\n"
            "%5 bool = lt %4, %2\n"
            "%6 void = guard_false %5 @0\n"
            "%7 i64 = sub_ov %4, %2 @0\n"
            "snap 1 pc=9 top=16 [0=%7]\n"
            "%8 void = store_i64 %0, %7, 16\n"
            "snap 2 pc=11 top=16 [0=%7 1=%4]\n");
}

TEST(OptDce, PhiBackEdgeKeepsItsChainAlive) {
  std::string in =  // %5 and %4 are used only by the phi's back-edge (a forward reference)
      "%0 i64 = kint 0\n"
      "%1 i64 = kint 1\n"
      "%2 void = loop\n"
      "%3 i64 = phi %0, %5\n"
      "%4 i64 = xor %3, %1\n"
      "%5 i64 = and %4, %1\n"
      "%6 i64 = or %4, %1\n";
  EXPECT_EQ(opt_text(in, "dce"),
            "%0 i64 = kint 0\n"
            "%1 i64 = kint 1\n"
            "%2 void = loop\n"
            "%3 i64 = phi %0, %5\n"
            "%4 i64 = xor %3, %1\n"
            "%5 i64 = and %4, %1\n");
}

// ---------------------------------------------------------------- guards
TEST(OptGuards, DuplicateGuardsRemoved) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = load_i64 %0, 8\n"
      "snap 0 pc=1 top=16 []\n"
      "%3 void = guard_eqi %1, %2 @0\n"
      "%4 bool = le %1, %2\n"
      "%5 void = guard_true %4 @0\n"
      "snap 1 pc=2 top=16 [0=%1]\n"
      "%6 void = guard_eqi %2, %1 @1\n"
      "%7 void = guard_true %4 @1\n"
      "%8 i64 = add_ov %1, %2 @1\n"
      "%9 i64 = add_ov %2, %1 @1\n"
      "%10 void = store_i64 %0, %9, 16\n";
  EXPECT_EQ(opt_text(in, "guards"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "%2 i64 = load_i64 %0, 8\n"
            "snap 0 pc=1 top=16 []\n"
            "%3 void = guard_eqi %1, %2 @0\n"
            "%4 bool = le %1, %2\n"
            "%5 void = guard_true %4 @0\n"
            "snap 1 pc=2 top=16 [0=%1]\n"
            "%6 i64 = add_ov %1, %2 @1\n"
            "%7 void = store_i64 %0, %6, 16\n");
}

TEST(OptGuards, IndexCheckImpliedByALargerConstantIndex) {
  // c[6] then c[3], c[9]: 6 < n implies 3 < n, not 9 < n; against another length nothing is implied
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = load_i64 %0, 8\n"
      "%3 i64 = kint 6\n"
      "%4 i64 = kint 3\n"
      "%5 i64 = kint 9\n"
      "snap 0 pc=1 top=16 []\n"
      "%6 bool = lt %3, %1\n"
      "%7 void = guard_true %6 @0\n"
      "%8 bool = lt %4, %1\n"
      "%9 void = guard_true %8 @0\n"
      "%10 bool = lt %5, %1\n"
      "%11 void = guard_true %10 @0\n"
      "%12 bool = lt %4, %2\n"
      "%13 void = guard_true %12 @0\n"
      "%14 bool = lt %1, %3\n"
      "%15 void = guard_true %14 @0\n";
  EXPECT_EQ(opt_text(in, "guards,dce"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "%2 i64 = load_i64 %0, 8\n"
            "%3 i64 = kint 6\n"
            "%4 i64 = kint 3\n"
            "%5 i64 = kint 9\n"
            "snap 0 pc=1 top=16 []\n"
            "%6 bool = lt %3, %1\n"
            "%7 void = guard_true %6 @0\n"
            "%8 bool = lt %5, %1\n"
            "%9 void = guard_true %8 @0\n"
            "%10 bool = lt %4, %2\n"
            "%11 void = guard_true %10 @0\n"
            "%12 bool = lt %1, %3\n"
            "%13 void = guard_true %12 @0\n");
}

TEST(OptGuards, IndexCheckAcrossLoopOnlyForAnInvariantLength) {
  // before loop: 6 < %1 (invariant) and 6 < %2; in the body: 3 < %1 goes, 3 < phi stays
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = load_i64 %0, 8\n"
      "%3 i64 = kint 6\n"
      "%4 i64 = kint 3\n"
      "snap 0 pc=1 top=16 []\n"
      "%5 bool = lt %3, %1\n"
      "%6 void = guard_true %5 @0\n"
      "%7 bool = lt %3, %2\n"
      "%8 void = guard_true %7 @0\n"
      "%9 void = loop\n"
      "%10 i64 = phi %2, %14\n"
      "snap 1 pc=1 top=16 []\n"
      "%11 bool = lt %4, %1\n"
      "%12 void = guard_true %11 @1\n"
      "%13 bool = lt %4, %10\n"
      "%14 i64 = load_i64 %0, 16\n"
      "%15 void = guard_true %13 @1\n";
  EXPECT_EQ(opt_text(in, "guards"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "%2 i64 = load_i64 %0, 8\n"
            "%3 i64 = kint 6\n"
            "%4 i64 = kint 3\n"
            "snap 0 pc=1 top=16 []\n"
            "%5 bool = lt %3, %1\n"
            "%6 void = guard_true %5 @0\n"
            "%7 bool = lt %3, %2\n"
            "%8 void = guard_true %7 @0\n"
            "%9 void = loop\n"
            "%10 i64 = phi %2, %13\n"
            "snap 1 pc=1 top=16 []\n"
            "%11 bool = lt %4, %1\n"
            "%12 bool = lt %4, %10\n"
            "%13 i64 = load_i64 %0, 16\n"
            "%14 void = guard_true %12 @1\n");
}

TEST(OptGuards, NonCommutativeOrDifferentOperandsKept) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = load_i64 %0, 8\n"
      "snap 0 pc=1 top=16 []\n"
      "%3 i64 = sub_ov %1, %2 @0\n"
      "%4 i64 = sub_ov %2, %1 @0\n"
      "%5 obj = kobj 0x10\n"
      "%6 obj = kobj 0x20\n"
      "%7 void = guard_eqp %5, %6 @0\n"
      "%8 void = guard_eqp %5, %5 @0\n";
  EXPECT_EQ(opt_text(in, "guards"), in);
}

TEST(OptGuards, AcrossLoopInvariantRemovedPhiKept) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = load_i64 %0, 8\n"
      "%3 i64 = kint 0\n"
      "snap 0 pc=1 top=16 []\n"
      "%4 void = guard_eqi %1, %3 @0\n"
      "%5 void = guard_eqi %2, %3 @0\n"
      "%6 void = loop\n"
      "%7 i64 = phi %2, %11\n"
      "snap 1 pc=2 top=16 [0=%7]\n"
      "%8 void = guard_eqi %1, %3 @1\n"   // invariant: implied by %4
      "%9 void = guard_eqi %7, %3 @1\n"   // the phi: %5 checked only its first value
      "%10 void = guard_eqi %3, %7 @1\n"  // implied by %9 in the same iteration
      "%11 i64 = add_ov %7, %1 @1\n";
  EXPECT_EQ(opt_text(in, "guards"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "%2 i64 = load_i64 %0, 8\n"
            "%3 i64 = kint 0\n"
            "snap 0 pc=1 top=16 []\n"
            "%4 void = guard_eqi %1, %3 @0\n"
            "%5 void = guard_eqi %2, %3 @0\n"
            "%6 void = loop\n"
            "%7 i64 = phi %2, %9\n"
            "snap 1 pc=2 top=16 [0=%7]\n"
            "%8 void = guard_eqi %7, %3 @1\n"
            "%9 i64 = add_ov %7, %1 @1\n");
}

TEST(OptGuards, TrueAfterFalseKept) {
  std::string in =
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = kint 0\n"
      "%3 bool = lt %1, %2\n"
      "snap 0 pc=1 top=16 []\n"
      "%4 void = guard_false %3 @0\n"
      "%5 void = guard_true %3 @0\n";
  EXPECT_EQ(opt_text(in, "guards"), in);
}

TEST(OptGuards, RedirectedValueFeedsLaterGuards) {
  std::string in =  // %4 becomes %3, so %6 is then identical to %5
      "%0 ptr = kptr 0x1000\n"
      "%1 i64 = load_i64 %0, 0\n"
      "snap 0 pc=1 top=16 []\n"
      "%2 i64 = kint 1\n"
      "%3 i64 = add_ov %1, %2 @0\n"
      "%4 i64 = add_ov %2, %1 @0\n"
      "%5 i64 = mul_ov %3, %3 @0\n"
      "%6 i64 = mul_ov %4, %3 @0\n"
      "%7 void = store_i64 %0, %6, 8\n";
  EXPECT_EQ(opt_text(in, "guards"),
            "%0 ptr = kptr 0x1000\n"
            "%1 i64 = load_i64 %0, 0\n"
            "snap 0 pc=1 top=16 []\n"
            "%2 i64 = kint 1\n"
            "%3 i64 = add_ov %1, %2 @0\n"
            "%4 i64 = mul_ov %3, %3 @0\n"
            "%5 void = store_i64 %0, %4, 8\n");
}

// ---------------------------------------------------------------- forward
// An item loaded from a list, unboxed, and boxed again for a store with nothing in between that could release
// or change it: the store takes the object itself (incref), and the unbox goes (no snapshot holds it).
const char* kMove =
    "%0 obj = sload_obj 0\n"
    "snap 0 pc=3 top=4 []\n"
    "%1 ptr = load_ptr %0, 24\n"
    "%2 obj = load_obj %1, 0\n"
    "%3 i64 = unbox_i64 %2 @0\n"
    "%4 obj = load_obj %1, 8\n"
    "%5 f64 = unbox_f64 %4 @0\n"
    "snap 1 pc=5 top=6 [5=%5]\n"
    "%6 void = guard_type %4, 0x10 @1\n"
    "%7 obj = box_i64 %3\n"
    "%8 void = store_ptr %1, %7, 8\n"
    "%9 void = decref %4\n"
    "snap 2 pc=7 top=5 [4=%5]\n"
    "%10 obj = box_f64 %5\n"
    "%11 void = store_ptr %1, %10, 0\n"
    "%12 void = decref %2\n";

TEST(OptForward, MovedItemIsTheObject) {
  // %3 moves (the unbox goes); %5 is boxed after decref %9, which releases the very item %4 it came from (the
  // swap's second half): the trace keeps that reference instead, hands it to the frame at an exit in between
  // (snapshot 2 names %4, owned) and the store consumes it; snapshot 1 keeps the number (before the decref)
  EXPECT_EQ(opt_text(kMove, "forward"),
            "%0 obj = sload_obj 0\n"
            "snap 0 pc=3 top=4 []\n"
            "%1 ptr = load_ptr %0, 24\n"
            "%2 obj = load_obj %1, 0\n"
            "%3 obj = load_obj %1, 8\n"
            "%4 f64 = unbox_f64 %3 @0\n"
            "snap 1 pc=5 top=6 [5=%4]\n"
            "%5 void = guard_type %3, 0x10 @1\n"
            "%6 void = incref %2\n"
            "%7 void = store_ptr %1, %2, 8\n"
            "snap 2 pc=7 top=5 [4=%3:own]\n"
            "%8 void = store_ptr %1, %3, 0\n"
            "%9 void = decref %2\n");
}

// kMove's second half with one thing changed each: the take-over is refused and the box stays.
TEST(OptForward, NoTakeOverWhereAnExitCouldLoseTheReference) {
  auto second_half_kept = [](const std::string& in) {
    Trace t;
    ASSERT_EQ(ir::ir_parse(in, &t), "");
    opt_forward(t);
    const std::string out = ir::ir_print(t);
    EXPECT_NE(out.find("box_f64"), std::string::npos) << out;
    EXPECT_EQ(out.find(":own"), std::string::npos) << out;
  };
  const std::string head =
      "%0 obj = sload_obj 0\n"
      "snap 0 pc=3 top=4 []\n"
      "%1 ptr = load_ptr %0, 24\n"
      "%2 obj = load_obj %1, 8\n"
      "%3 f64 = unbox_f64 %2 @0\n"
      "snap 1 pc=5 top=6 [5=%3]\n"
      "%4 void = decref %2\n";
  {  // (the control: as below, nothing changed, it is taken over)
    Trace t;
    ASSERT_EQ(ir::ir_parse(head + "snap 2 pc=7 top=5 [4=%3]\n%5 void = guard_nonnull %0 @2\n"
                                  "%6 obj = box_f64 %3\n%7 void = store_ptr %1, %6, 0\n", &t), "");
    EXPECT_TRUE(opt_forward(t));
    EXPECT_EQ(ir::ir_print(t), head.substr(0, head.find("%4 void = decref")) +
                                   "snap 2 pc=7 top=5 [4=%2:own]\n%4 void = guard_nonnull %0 @2\n"
                                   "%5 void = store_ptr %1, %2, 0\n");
  }
  // an exit in between through a snapshot taken before the decref (it would not hand the reference over)
  second_half_kept(head + "%5 void = guard_nonnull %0 @1\n%6 obj = box_f64 %3\n%7 void = store_ptr %1, %6, 0\n");
  // the value twice in the snapshot in between (one reference, two slots)
  second_half_kept(head + "snap 2 pc=7 top=6 [4=%3 5=%3]\n%5 void = guard_nonnull %0 @2\n"
                          "%6 obj = box_f64 %3\n%7 void = store_ptr %1, %6, 0\n");
  // a call in between (a barrier: the reference held across it)
  second_half_kept(head + "%5 bool = list_append %0, %0\n%6 obj = box_f64 %3\n%7 void = store_ptr %1, %6, 0\n");
  // the snapshot in between is used again by a guard after the store (the reference consumed there)
  second_half_kept(head + "snap 2 pc=7 top=5 [4=%3]\n%5 void = guard_nonnull %0 @2\n"
                          "%6 obj = box_f64 %3\n%7 void = store_ptr %1, %6, 0\n%8 void = guard_nonnull %0 @2\n");
  // the box is not (only) a store's value
  second_half_kept(head + "%5 obj = box_f64 %3\n%6 void = store_ptr %5, %0, 0\n");
}

TEST(OptForward, ASnapshotKeepsTheUnbox) {
  // the box moves the object, but the completion snapshot holds the value (here the only one, which a guard
  // also exits to before the store): the unbox stays for it (peel finds the number of the object there by
  // the unbox; named as the object, the restore would give the frame one that may be gone by then)
  std::string in =
      "%0 obj = sload_obj 0\n"
      "snap 0 pc=3 top=4 []\n"
      "%1 ptr = load_ptr %0, 24\n"
      "%2 obj = load_obj %1, 0\n"
      "%3 i64 = unbox_i64 %2 @0\n"
      "snap 1 pc=5 top=5 [4=%3]\n"
      "%4 void = guard_nonnull %0 @1\n"
      "%5 obj = box_i64 %3\n"
      "%6 void = store_ptr %1, %5, 8\n"
      "%7 void = decref %2\n";
  EXPECT_EQ(opt_text(in, "forward"),
            "%0 obj = sload_obj 0\n"
            "snap 0 pc=3 top=4 []\n"
            "%1 ptr = load_ptr %0, 24\n"
            "%2 obj = load_obj %1, 0\n"
            "%3 i64 = unbox_i64 %2 @0\n"
            "snap 1 pc=5 top=5 [4=%3]\n"
            "%4 void = guard_nonnull %0 @1\n"
            "%5 void = incref %2\n"
            "%6 void = store_ptr %1, %2, 8\n"
            "%7 void = decref %2\n");
}

// A snapshot before the store holds only the number of an item the trace moves (the stack of a swap): it
// names the object instead (`:i64`, the number's object: the restore gives the frame the item itself, a side
// trace unboxes it again) and the unbox goes. Not where a guard exits through that snapshot after a barrier
// (the object may be gone), nor where the completion snapshot names the object as it is.
TEST(OptForward, SnapshotsNameTheMovedObjectAsTheNumber) {
  const std::string head =
      "%0 obj = sload_obj 0\n"
      "snap 0 pc=3 top=4 []\n"
      "%1 ptr = load_ptr %0, 24\n"
      "%2 obj = load_obj %1, 0\n"
      "%3 i64 = unbox_i64 %2 @0\n"
      "snap 1 pc=5 top=6 [4=%3 5=%3@4]\n"
      "%4 void = guard_nonnull %0 @1\n"
      "%5 obj = box_i64 %3\n"
      "%6 void = store_ptr %1, %5, 8\n"
      "%7 void = decref %2\n";
  EXPECT_EQ(opt_text(head + "snap 2 pc=7 top=4 []\n%8 void = guard_nonnull %0 @2\n", "forward"),
            "%0 obj = sload_obj 0\n"
            "snap 0 pc=3 top=4 []\n"
            "%1 ptr = load_ptr %0, 24\n"
            "%2 obj = load_obj %1, 0\n"
            "snap 1 pc=5 top=6 [4=%2:i64 5=%2:i64]\n"
            "%3 void = guard_nonnull %0 @1\n"
            "%4 void = incref %2\n"
            "%5 void = store_ptr %1, %2, 8\n"
            "%6 void = decref %2\n"
            "snap 2 pc=7 top=4 []\n"
            "%7 void = guard_nonnull %0 @2\n");
  auto kept = [](const std::string& in) {
    const std::string out = opt_text(in, "forward");
    EXPECT_NE(out.find("unbox_i64"), std::string::npos) << out;
    EXPECT_EQ(out.find(":i64"), std::string::npos) << out;
  };
  kept(head + "snap 2 pc=7 top=4 []\n%8 void = guard_nonnull %0 @1\n");   // snapshot 1 after the decref
  kept(head + "snap 2 pc=7 top=5 [4=%2]\n%8 void = guard_nonnull %0 @2\n");   // the object as it is, at the end
}

TEST(OptForward, PhiBackEdgeTakesTheObject) {
  // a box that a phi carries to the next iteration (its back-edge refers forward): the phi takes the object
  std::string in =
      "%0 obj = sload_obj 0\n"
      "%1 ptr = load_ptr %0, 24\n"
      "%2 void = loop\n"
      "%3 obj = phi %0, %6\n"
      "snap 0 pc=3 top=4 [0=%3]\n"
      "%4 obj = load_obj %1, 0\n"
      "%5 i64 = unbox_i64 %4 @0\n"
      "%6 obj = box_i64 %5\n";
  EXPECT_EQ(opt_text(in, "forward"),
            "%0 obj = sload_obj 0\n"
            "%1 ptr = load_ptr %0, 24\n"
            "%2 void = loop\n"
            "%3 obj = phi %0, %4\n"
            "snap 0 pc=3 top=4 [0=%3]\n"
            "%4 obj = load_obj %1, 0\n"
            "%5 void = incref %4\n");
}

TEST(OptForward, NotAcrossACallOrFromTheFrame) {
  // store_fitem (it may change the loaded float in place) between unbox and box; an unbox of a frame slot's
  // object (not a container's)
  std::string in =
      "%0 obj = sload_obj 0\n"
      "snap 0 pc=3 top=4 []\n"
      "%1 ptr = load_ptr %0, 24\n"
      "%2 obj = load_obj %1, 0\n"
      "%3 f64 = unbox_f64 %2 @0\n"
      "%4 f64 = kflt 0x1.8p+0\n"
      "%5 bool = store_fitem %1, %4\n"
      "%6 void = guard_true %5 @0\n"
      "%7 obj = box_f64 %3\n"
      "%8 void = store_ptr %1, %7, 8\n"
      "%9 obj = sload_obj 1\n"
      "%10 i64 = unbox_i64 %9 @0\n"
      "%11 obj = box_i64 %10\n"
      "%12 void = store_ptr %1, %11, 16\n";
  Trace t;
  ASSERT_EQ(ir::ir_parse(in, &t), "");
  EXPECT_FALSE(opt_forward(t));
  EXPECT_EQ(ir::ir_print(t), in);
}

// ---------------------------------------------------------------- switches and the driver
const char* kDeadAndDuplicate =
    "%0 ptr = kptr 0x1000\n"
    "%1 i64 = load_i64 %0, 0\n"
    "%2 i64 = kint 3\n"
    "%3 i64 = xor %1, %2\n"
    "snap 0 pc=1 top=16 []\n"
    "%4 void = guard_eqi %1, %2 @0\n"
    "%5 void = guard_eqi %1, %2 @0\n";

TEST(OptDriver, PassSwitchedOffLeavesInputAsIs) {
  EXPECT_EQ(opt_text(kDeadAndDuplicate, ""), kDeadAndDuplicate);
  EXPECT_EQ(opt_text(kDeadAndDuplicate, "dce"),
            "%0 ptr = kptr 0x1000\n%1 i64 = load_i64 %0, 0\n%2 i64 = kint 3\nsnap 0 pc=1 top=16 []\n"
            "%3 void = guard_eqi %1, %2 @0\n%4 void = guard_eqi %1, %2 @0\n");
  EXPECT_EQ(opt_text(kDeadAndDuplicate, "guards"),
            "%0 ptr = kptr 0x1000\n%1 i64 = load_i64 %0, 0\n%2 i64 = kint 3\n%3 i64 = xor %1, %2\nsnap 0 pc=1 top=16 []\n"
            "%4 void = guard_eqi %1, %2 @0\n");
  OptOptions o;
  o.set(OPT_guards, false);
  o.set(OPT_dce, false);
  Trace t;
  ASSERT_EQ(ir::ir_parse(kDeadAndDuplicate, &t), "");
  bool changed = true;
  EXPECT_EQ(opt_run(t, o, &changed), "");
  EXPECT_FALSE(changed);
  EXPECT_EQ(ir::ir_print(t), kDeadAndDuplicate);
}

TEST(OptDriver, AllPassesByDefault) {
  Trace t;
  ASSERT_EQ(ir::ir_parse(kDeadAndDuplicate, &t), "");
  bool changed = false;
  EXPECT_EQ(opt_run(t, OptOptions(), &changed), "");
  EXPECT_TRUE(changed);
  EXPECT_EQ(ir::ir_print(t),
            "%0 ptr = kptr 0x1000\n%1 i64 = load_i64 %0, 0\n%2 i64 = kint 3\nsnap 0 pc=1 top=16 []\n"
            "%3 void = guard_eqi %1, %2 @0\n");
  EXPECT_EQ(opt_run(t, OptOptions(), &changed), "");
  EXPECT_FALSE(changed);  // a fixed point
}

TEST(OptDriver, ParsePassList) {
  OptOptions o = OptOptions::none();
  EXPECT_EQ(opt_parse_passes(" dce , guards ", &o), "");
  EXPECT_TRUE(o.on(OPT_dce) && o.on(OPT_guards));
  EXPECT_EQ(opt_parse_passes("dce", &o), "");
  EXPECT_TRUE(o.on(OPT_dce));
  EXPECT_FALSE(o.on(OPT_guards));
  EXPECT_EQ(opt_parse_passes("", &o), "");
  EXPECT_EQ(o.bits, 0u);
  for (int p = 0; p < OPT__count; p++) {
    OptPass q;
    EXPECT_TRUE(opt_pass_from_name(opt_pass_name(OptPass(p)), &q));
    EXPECT_EQ(q, OptPass(p));
  }
}

TEST(OptDriver, UnknownPassIsAnError) {
  OptOptions o;
  o.bits = 1;
  EXPECT_EQ(opt_parse_passes("dce,fold", &o), "unknown pass 'fold' (passes: forward, peel, guards, dce)");
  EXPECT_EQ(o.bits, 1u);  // unchanged on error
  EXPECT_EQ(opt_parse_passes("dce,,guards", &o), "unknown pass '' (passes: forward, peel, guards, dce)");
  EXPECT_EQ(opt_parse_passes("DCE", &o), "unknown pass 'DCE' (passes: forward, peel, guards, dce)");
}

TEST(OptDriver, InvalidInputRefused) {
  Trace t;
  ASSERT_EQ(ir::ir_parse("%0 i64 = kint 1\n%1 i64 = xor %0, %2\n%2 i64 = kint 2\n", &t), "");
  std::string before = ir::ir_print(t);
  std::string e = opt_run(t);
  EXPECT_EQ(e.rfind("invalid input trace: ", 0), 0u) << e;
  EXPECT_EQ(ir::ir_print(t), before);
}

TEST(OptCompact, RedirectsUsesAndSnapshotEntries) {
  Trace t;
  ASSERT_EQ(ir::ir_parse("%0 i64 = kint 1\n%1 i64 = kint 1\nsnap 0 pc=0 top=16 [0=%1]\n%2 i64 = xor %1, %0\n", &t), "");
  EXPECT_TRUE(opt_compact(t, {0, 0, 2}));
  EXPECT_EQ(ir::ir_print(t), "%0 i64 = kint 1\nsnap 0 pc=0 top=16 [0=%0]\n%1 i64 = xor %0, %0\n");
  EXPECT_FALSE(opt_compact(t, {0, 1}));  // nothing dropped
}

// ---------------------------------------------------------------- differential: executor before == after
// A pointer immediate in text form.
std::string P(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, uintptr_t(p));
  return buf;
}

// What one run did, without instruction numbers (they change).
struct Outcome {
  ExecResult r;
  std::vector<uint64_t> mem;
};

// Runs t on mem (reset to init first).
Outcome run_on(const Trace& t, std::vector<uint64_t>* mem, const std::vector<uint64_t>& init,
               const ExecOptions& o) {
  std::copy(init.begin(), init.end(), mem->begin());
  Outcome out{ir::ir_execute(t, o), *mem};
  return out;
}

// Runs text (holding BUF for the buffer's address) before and after opt_run for each input; both must agree.
// With self_at_0, an input whose slot 0 is 0 gets the buffer's own address there. *seen: each unoptimized run.
void expect_same(const std::string& text_with_buf, const std::vector<std::vector<uint64_t>>& inputs,
                 std::vector<std::string>* seen, const ExecOptions& o = ExecOptions(), bool self_at_0 = false) {
  std::vector<uint64_t> mem(8, 0);
  std::string text = text_with_buf;
  for (size_t at; (at = text.find("BUF")) != std::string::npos;) text.replace(at, 3, P(mem.data()));
  Trace before, after;
  ASSERT_EQ(ir::ir_parse(text, &before), "");
  after = before;
  bool changed = false;
  ASSERT_EQ(opt_run(after, OptOptions(), &changed), "");
  EXPECT_TRUE(changed) << text;
  for (std::vector<uint64_t> init : inputs) {
    init.resize(mem.size(), 0);
    if (self_at_0 && init[0] == 0) init[0] = uint64_t(uintptr_t(mem.data()));
    Outcome x = run_on(before, &mem, init, o), y = run_on(after, &mem, init, o);
    seen->push_back(exec_describe(x.r));
    EXPECT_EQ(x.r.status, y.r.status) << exec_describe(x.r) << " vs " << exec_describe(y.r);
    EXPECT_EQ(x.r.snap, y.r.snap);
    EXPECT_EQ(x.r.pc, y.r.pc);
    EXPECT_EQ(x.r.slots, y.r.slots) << exec_describe(x.r) << " vs " << exec_describe(y.r);
    EXPECT_EQ(x.r.iterations, y.r.iterations);
    EXPECT_EQ(x.mem, y.mem);
  }
}

TEST(OptDifferential, CountedLoopWithRedundantGuards) {
  std::string text =
      "%0 ptr = kptr BUF\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = kint 0\n"
      "%3 i64 = kint 1\n"
      "%4 i64 = load_i64 %0, 8\n"
      "%5 i64 = xor %4, %3\n"
      "snap 0 pc=0 top=16 [0=%1]\n"
      "%6 bool = ge %1, %2\n"
      "%7 void = guard_true %6 @0\n"
      "%8 void = loop\n"
      "%9 i64 = phi %2, %17\n"
      "%10 i64 = phi %2, %16\n"
      "snap 1 pc=3 top=16 [0=%9 1=%10]\n"
      "%11 void = guard_true %6 @1\n"
      "%12 bool = lt %9, %1\n"
      "%13 void = guard_true %12 @1\n"
      "%14 void = guard_true %12 @1\n"
      "%15 i64 = add_ov %9, %3 @1\n"
      "%16 i64 = add_ov %10, %9 @1\n"
      "%17 i64 = add_ov %3, %9 @1\n"
      "snap 2 pc=7 top=16 [0=%17 1=%16]\n"
      "%18 void = store_i64 %0, %17, 16\n"
      "%19 void = store_i64 %0, %16, 24\n";
  std::vector<std::string> seen;
  ExecOptions o;
  o.max_iterations = 1000;
  expect_same(text, {{10}, {0}, {uint64_t(-1)}, {uint64_t(std::numeric_limits<int64_t>::max())}}, &seen, o);
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "exited at %13 snap 1 pc=3 [0=10 1=45] after 10 iterations",
                      "exited at %13 snap 1 pc=3 [0=0 1=0] after 0 iterations",
                      "exited at %7 snap 0 pc=0 [0=-1] after 0 iterations",
                      "iteration_limit after 1000 iterations"}));
}

TEST(OptDifferential, StraightLineOverflowAndFloat) {
  std::string text =
      "%0 ptr = kptr BUF\n"
      "%1 i64 = load_i64 %0, 0\n"
      "%2 i64 = load_i64 %0, 8\n"
      "%3 f64 = load_f64 %0, 16\n"
      "%4 f64 = fmul %3, %3\n"
      "snap 0 pc=2 top=16 [0=%1 1=%2]\n"
      "%5 i64 = mul_ov %1, %2 @0\n"
      "%6 i64 = mul_ov %2, %1 @0\n"
      "%7 f64 = i2f %6\n"
      "%8 f64 = fadd %7, %3\n"
      "snap 1 pc=4 top=16 [0=%6 2=%8]\n"
      "%9 bool = fgt %8, %3\n"
      "%10 void = guard_true %9 @1\n"
      "%11 void = guard_true %9 @1\n"
      "%12 void = store_f64 %0, %8, 24\n"
      "%13 void = guard_false %9 @1\n";
  uint64_t f = uint64_t(ir::f64_bits(1.5));
  std::vector<std::string> seen;
  expect_same(text, {{3, 4, f}, {uint64_t(-3), 4, f}, {uint64_t(std::numeric_limits<int64_t>::max()), 2, f}},
              &seen);
  std::string k = std::to_string(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "exited at %13 snap 1 pc=4 [0=12 2=" + std::to_string(ir::f64_bits(13.5)) + "] after 0 iterations",
                      "exited at %10 snap 1 pc=4 [0=-12 2=" + std::to_string(ir::f64_bits(-10.5)) + "] after 0 iterations",
                      "exited at %5 snap 0 pc=2 [0=" + k + " 1=2] after 0 iterations"}));
}

TEST(OptDifferential, PointerGuardsAndIterationLimit) {
  std::string text =  // slot 0 holds a pointer that must be BUF itself; %9 doubles until it overflows
      "%0 ptr = kptr BUF\n"
      "%1 ptr = load_ptr %0, 0\n"
      "%2 i64 = kint 1\n"
      "%3 obj = kobj 0x10\n"
      "snap 0 pc=0 top=16 []\n"
      "%4 void = guard_eqp %1, %0 @0\n"
      "%5 void = loop\n"
      "%6 i64 = phi %2, %11\n"
      "snap 1 pc=5 top=16 [0=%6]\n"
      "%7 ptr = load_ptr %0, 0\n"
      "%8 void = guard_eqp %0, %1 @1\n"
      "%9 void = guard_eqp %7, %0 @1\n"
      "%10 void = guard_eqp %7, %0 @1\n"
      "%11 i64 = add_ov %6, %6 @1\n"
      "%12 void = store_i64 %0, %11, 8\n"
      "%13 i64 = load_i64 %0, 8\n";
  ExecOptions o;
  o.max_iterations = 100;
  std::vector<std::string> seen;
  expect_same(text, {{0}, {12345}}, &seen, o, /*self_at_0=*/true);
  o.max_iterations = 10;
  expect_same(text, {{0}}, &seen, o, /*self_at_0=*/true);
  EXPECT_EQ(seen, (std::vector<std::string>{"exited at %11 snap 1 pc=5 [0=4611686018427387904] after 62 iterations",
                                            "exited at %4 snap 0 pc=0 [] after 0 iterations",
                                            "iteration_limit after 10 iterations"}));
}

}  // namespace
}  // namespace fastpy::opt
