// Trace IR (tiers/ir): the op table, fold, CSE, the text form and the verifier.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include "tiers/ir/ir.h"

namespace fastpy::ir {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// A builder over its own trace, with one snapshot and two opaque values (loads) to fold against.
struct Fixture {
  Trace t;
  IRBuilder b{&t};
  IRRef base, x, y, fx;
  Fixture() {
    base = b.kptr(reinterpret_cast<void*>(0x1000));
    b.snapshot(0, 16, {});
    x = b.emit(IR_load_i64, base, kNoRef, 0);
    y = b.emit(IR_load_i64, base, kNoRef, 8);
    fx = b.emit(IR_load_f64, base, kNoRef, 16);
  }
  // The op of instruction r.
  IROp op(IRRef r) const { return t.ins[r].op; }
  // True when r is the i64 constant v.
  bool is_kint(IRRef r, int64_t v) const { return op(r) == IR_kint && t.ins[r].imm == v; }
  // True when r is the bool constant v.
  bool is_kbool(IRRef r, bool v) const { return op(r) == IR_kbool && t.ins[r].imm == (v ? 1 : 0); }
  // The double held by kflt r (or NaN with a failed expectation).
  double flt(IRRef r) const {
    EXPECT_EQ(op(r), IR_kflt);
    return bits_f64(t.ins[r].imm);
  }
};

// Parses text that must parse, then verifies it.
std::string verify_text(const std::string& text) {
  Trace t;
  std::string e = ir_parse(text, &t);
  EXPECT_EQ(e, "") << text;
  return e.empty() ? ir_verify(t) : "parse failed: " + e;
}

// Parses text into *t; it must parse, verify and print back byte for byte (fatal where it does not parse or
// verify: use under ASSERT_NO_FATAL_FAILURE).
void expect_round_trip(const std::string& text, Trace* t) {
  ASSERT_EQ(ir_parse(text, t), "") << text;
  ASSERT_EQ(ir_verify(*t), "") << text;
  EXPECT_EQ(ir_print(*t), text);
}

// ---------------------------------------------------------------- the table
TEST(IRTable, NamesAreUniqueAndParseBack) {
  std::set<std::string> names;
  for (int i = 0; i < IR__count; i++) {
    std::string name = ir_name(IROp(i));
    EXPECT_TRUE(names.insert(name).second) << "duplicate op name " << name;
    IROp back = IR__count;
    EXPECT_TRUE(ir_op_from_name(name, &back)) << name;
    EXPECT_EQ(back, IROp(i)) << name;
    EXPECT_NE(std::string(ir_info(IROp(i)).doc), "") << name;
  }
  IROp dummy;
  EXPECT_FALSE(ir_op_from_name("frobnicate", &dummy));
  EXPECT_FALSE(ir_op_from_name("", &dummy));
}

TEST(IRTable, TypeNamesParseBackAndAnyIsNotAType) {
  for (int i = 0; i < IRT_any; i++) {
    IRType back = IRT_any;
    EXPECT_TRUE(ir_type_from_name(kIRTypeNames[i], &back));
    EXPECT_EQ(back, IRType(i));
  }
  IRType dummy;
  EXPECT_FALSE(ir_type_from_name("any", &dummy));
}

TEST(IRTable, ConstantsAndGuardsFollowTheColumns) {
  for (int i = 0; i < IR__count; i++) {
    const IROpInfo& info = ir_info(IROp(i));
    EXPECT_EQ(ir_is_const(IROp(i)), info.nargs == 0 && info.imm != IMM_none && info.effect == IRE_pure) << info.name;
    EXPECT_EQ(info.is_guard, info.effect == IRE_guard) << info.name;
  }
  EXPECT_TRUE(ir_info(IR_add_ov).is_guard);
  EXPECT_TRUE(ir_info(IR_unbox_f64).is_guard);
  EXPECT_FALSE(ir_info(IR_box_f64).is_guard);
  EXPECT_EQ(ir_info(IR_box_f64).effect, IRE_call);
}

// Every op, built with a valid shape from the table, prints and parses back to the same text.
TEST(IRTable, EveryOpRoundTripsThroughText) {
  Trace t;
  t.add_snapshot(0, 16, {});
  for (int i = 0; i < IR__count; i++) {
    const IROpInfo& info = ir_info(IROp(i));
    IRIns ins{IROp(i), info.result == IRT_any ? IRT_i64 : info.result};
    if (info.nargs > 0) ins.a = 0;
    if (info.nargs > 1) ins.b = 0;
    if (info.imm != IMM_none) ins.imm = info.imm == IMM_bool ? 1 : 24;
    if (info.is_guard) ins.snap = 0;
    t.append(ins);
  }
  std::string text = ir_print(t);
  Trace back;
  ASSERT_EQ(ir_parse(text, &back), "");
  EXPECT_EQ(ir_print(back), text);
  EXPECT_EQ(back.size(), IRRef(IR__count));
}

// ---------------------------------------------------------------- folding
TEST(IRFold, I64ArithmeticOfConstants) {
  Fixture f;
  IRRef before = f.t.size();
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_add_ov, f.b.kint(2), f.b.kint(3)), 5));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_sub_ov, f.b.kint(2), f.b.kint(3)), -1));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_mul_ov, f.b.kint(-4), f.b.kint(3)), -12));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_neg_ov, f.b.kint(7)), -7));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_add, f.b.kint(2), f.b.kint(3)), 5));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_add, f.b.kint(kMax), f.b.kint(1)), kMin));   // add wraps
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_and, f.b.kint(12), f.b.kint(10)), 8));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_or, f.b.kint(12), f.b.kint(10)), 14));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_xor, f.b.kint(12), f.b.kint(10)), 6));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_shl, f.b.kint(1), f.b.kint(62)), int64_t(1) << 62));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_sar, f.b.kint(-8), f.b.kint(1)), -4));
  for (IRRef r = before; r < f.t.size(); r++) EXPECT_EQ(f.op(r), IR_kint) << "%" << r;
}

TEST(IRFold, OverflowKeepsTheGuard) {
  Fixture f;
  IRRef max = f.b.kint(kMax), min = f.b.kint(kMin), one = f.b.kint(1), m1 = f.b.kint(-1);
  EXPECT_EQ(f.op(f.b.emit(IR_add_ov, max, one)), IR_add_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_sub_ov, min, one)), IR_sub_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_mul_ov, min, m1)), IR_mul_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_mul_ov, max, f.b.kint(2))), IR_mul_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_neg_ov, min)), IR_neg_ov);
  IRRef g = f.b.emit(IR_add_ov, max, one);  // CSE'd with the first, still the guard
  EXPECT_EQ(f.op(g), IR_add_ov);
  EXPECT_EQ(f.t.ins[g].snap, 0);
  EXPECT_EQ(ir_verify(f.t), "");
}

TEST(IRFold, I64Identities) {
  Fixture f;
  IRRef x = f.x, zero = f.b.kint(0), one = f.b.kint(1), m1 = f.b.kint(-1);
  IRRef before = f.t.size();
  EXPECT_EQ(f.b.emit(IR_add_ov, x, zero), x);
  EXPECT_EQ(f.b.emit(IR_add_ov, zero, x), x);
  EXPECT_EQ(f.b.emit(IR_add, x, zero), x);
  EXPECT_EQ(f.b.emit(IR_add, zero, x), x);
  EXPECT_EQ(f.b.emit(IR_sub_ov, x, zero), x);
  EXPECT_EQ(f.b.emit(IR_mul_ov, x, one), x);
  EXPECT_EQ(f.b.emit(IR_mul_ov, one, x), x);
  EXPECT_EQ(f.b.emit(IR_and, x, m1), x);
  EXPECT_EQ(f.b.emit(IR_or, x, zero), x);
  EXPECT_EQ(f.b.emit(IR_xor, zero, x), x);
  EXPECT_EQ(f.b.emit(IR_mul_ov, x, zero), zero);
  EXPECT_EQ(f.b.emit(IR_mul_ov, zero, x), zero);
  EXPECT_EQ(f.t.size(), before);  // nothing new emitted
  EXPECT_EQ(f.op(f.b.emit(IR_sub_ov, zero, x)), IR_sub_ov);  // 0 - x is not x
  EXPECT_EQ(f.op(f.b.emit(IR_mul_ov, x, m1)), IR_mul_ov);
}

TEST(IRFold, ComparesAndNotOfConstants) {
  Fixture f;
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_lt, f.b.kint(2), f.b.kint(3)), true));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_ge, f.b.kint(2), f.b.kint(3)), false));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_ne, f.b.kint(kMin), f.b.kint(kMax)), true));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_ult, f.b.kint(-1), f.b.kint(3)), false));   // unsigned: -1 is the largest
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_ult, f.b.kint(2), f.b.kint(-1)), true));
  EXPECT_EQ(f.op(f.b.emit(IR_ult, f.x, f.b.kint(3))), IR_ult);
  IRRef nan = f.b.kflt(std::nan("")), one = f.b.kflt(1.0);
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_feq, nan, nan), false));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_fne, nan, nan), true));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_fle, nan, one), false));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_feq, f.b.kflt(-0.0), f.b.kflt(0.0)), true));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_not, f.b.kbool(true)), false));
  EXPECT_EQ(f.op(f.b.emit(IR_lt, f.x, f.b.kint(3))), IR_lt);
}

TEST(IRFold, IdentityOfTheSameValueOrOfConstants) {
  Fixture f;
  IRRef o = f.b.emit(IR_load_obj, f.base, kNoRef, 24), p = f.b.emit(IR_load_obj, f.base, kNoRef, 32);
  IRRef a = f.b.kobj(reinterpret_cast<void*>(0x2000)), b = f.b.kobj(reinterpret_cast<void*>(0x3000));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_peq, o, o), true));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_pne, o, o), false));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_peq, a, b), false));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_pne, a, b), true));
  EXPECT_TRUE(f.is_kbool(f.b.emit(IR_peq, a, f.b.kptr(reinterpret_cast<void*>(0x2000))), true));
  EXPECT_EQ(f.op(f.b.emit(IR_peq, o, p)), IR_peq);
  EXPECT_EQ(f.op(f.b.emit(IR_pne, o, a)), IR_pne);
}

// A float compare of a converted int with zero is the int's own compare: i2f(x) is +-0.0 only for x == 0.
TEST(IRFold, ConvertedIntComparedWithZeroIsAnIntCompare) {
  Fixture f;
  IRRef c = f.b.emit(IR_i2f, f.x);
  for (double z : {0.0, -0.0}) {
    IRRef k = f.b.kflt(z);
    for (IROp op : {IR_feq, IR_fne}) {
      IROp want = op == IR_feq ? IR_eq : IR_ne;
      for (IRRef r : {f.b.emit(op, c, k), f.b.emit(op, k, c)}) {
        EXPECT_EQ(f.op(r), want);
        EXPECT_EQ(f.t.ins[r].a, f.x);
        EXPECT_TRUE(f.is_kint(f.t.ins[r].b, 0));
      }
    }
  }
  // Not for another constant, nor another compare: those stay float compares.
  EXPECT_EQ(f.op(f.b.emit(IR_fne, c, f.b.kflt(1.0))), IR_fne);
  EXPECT_EQ(f.op(f.b.emit(IR_flt, c, f.b.kflt(0.0))), IR_flt);
  EXPECT_EQ(ir_verify(f.t), "");
}

TEST(IRFold, F64OnlyWhenBothOperandsAreConstants) {
  Fixture f;
  EXPECT_EQ(f.flt(f.b.emit(IR_fadd, f.b.kflt(0.1), f.b.kflt(0.2))), 0.1 + 0.2);
  EXPECT_EQ(f.flt(f.b.emit(IR_fdiv, f.b.kflt(1.0), f.b.kflt(3.0))), 1.0 / 3.0);
  EXPECT_TRUE(std::signbit(f.flt(f.b.emit(IR_fadd, f.b.kflt(-0.0), f.b.kflt(-0.0)))));
  EXPECT_FALSE(std::signbit(f.flt(f.b.emit(IR_fadd, f.b.kflt(-0.0), f.b.kflt(0.0)))));
  EXPECT_TRUE(std::signbit(f.flt(f.b.emit(IR_fneg, f.b.kflt(0.0)))));
  EXPECT_EQ(f.flt(f.b.emit(IR_i2f, f.b.kint(3))), 3.0);
  // x*1.0, x+0.0, x-0.0, x/1.0 stay: -0.0 + 0.0 is +0.0, and NaN payloads must survive as computed.
  EXPECT_EQ(f.op(f.b.emit(IR_fmul, f.fx, f.b.kflt(1.0))), IR_fmul);
  EXPECT_EQ(f.op(f.b.emit(IR_fadd, f.fx, f.b.kflt(0.0))), IR_fadd);
  EXPECT_EQ(f.op(f.b.emit(IR_fadd, f.b.kflt(-0.0), f.fx)), IR_fadd);
  EXPECT_EQ(f.op(f.b.emit(IR_fsub, f.fx, f.b.kflt(0.0))), IR_fsub);
  EXPECT_EQ(f.op(f.b.emit(IR_fdiv, f.fx, f.b.kflt(1.0))), IR_fdiv);
  EXPECT_EQ(f.op(f.b.emit(IR_fmul, f.fx, f.b.kflt(0.0))), IR_fmul);
}

TEST(IRFold, GuardOnTrueVanishesGuardOnFalseStays) {
  Fixture f;
  IRRef before = f.t.size();
  IRRef yes = f.b.kbool(true), no = f.b.kbool(false);
  EXPECT_EQ(f.b.emit(IR_guard_true, yes), kNoRef);
  EXPECT_EQ(f.b.emit(IR_guard_false, no), kNoRef);
  EXPECT_EQ(f.b.emit(IR_guard_eqi, f.b.kint(4), f.b.kint(4)), kNoRef);
  EXPECT_EQ(f.t.size(), before + 3);  // the three constants only
  IRRef g = f.b.emit(IR_guard_true, no);  // always exits: legal, kept
  ASSERT_NE(g, kNoRef);
  EXPECT_EQ(f.op(g), IR_guard_true);
  EXPECT_EQ(f.t.ins[g].snap, 0);
  EXPECT_EQ(f.op(f.b.emit(IR_guard_eqi, f.b.kint(4), f.b.kint(5))), IR_guard_eqi);
  EXPECT_EQ(ir_verify(f.t), "");
}

TEST(IRFold, UnboxOfBoxIsTheValue) {
  Fixture f;
  IRRef boxed = f.b.emit(IR_box_f64, f.fx);
  EXPECT_EQ(f.b.emit(IR_unbox_f64, boxed), f.fx);
}

TEST(IRFold, PythonNumericOpsOfConstants) {
  Fixture f;
  IRRef before = f.t.size();
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_floordiv_ov, f.b.kint(-7), f.b.kint(2)), -4));  // floor, not C's -3
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_mod_ov, f.b.kint(-7), f.b.kint(2)), 1));        // sign of b, not C's -1
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_mod_ov, f.b.kint(7), f.b.kint(-2)), -1));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_floordiv_ov, f.b.kint(kMin + 1), f.b.kint(-1)), kMax));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_abs_ov, f.b.kint(-5)), 5));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_imin, f.b.kint(kMax), f.b.kint(kMin)), kMin));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_imax, f.b.kint(-1), f.b.kint(0)), 0));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_f2i, f.b.kflt(-2.9)), -2));
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_f2i, f.b.kflt(-0x1p63)), kMin));
  EXPECT_EQ(f.flt(f.b.emit(IR_ffloordiv, f.b.kflt(1.0), f.b.kflt(0.1))), 9.0);  // floor(1.0 / 0.1) is 10.0
  EXPECT_EQ(f.flt(f.b.emit(IR_fmod, f.b.kflt(-7.0), f.b.kflt(2.0))), 1.0);
  EXPECT_TRUE(std::signbit(f.flt(f.b.emit(IR_fmod, f.b.kflt(0.0), f.b.kflt(-1.0)))));       // -0.0, like b
  EXPECT_TRUE(std::signbit(f.flt(f.b.emit(IR_ffloordiv, f.b.kflt(-0.0), f.b.kflt(1.0)))));  // -0.0
  EXPECT_FALSE(std::signbit(f.flt(f.b.emit(IR_fabs, f.b.kflt(-0.0)))));
  EXPECT_TRUE(std::isnan(f.flt(f.b.emit(IR_fmin, f.b.kflt(NAN), f.b.kflt(1.0)))));  // Python's min keeps a
  EXPECT_EQ(f.flt(f.b.emit(IR_fmax, f.b.kflt(1.0), f.b.kflt(NAN))), 1.0);
  EXPECT_TRUE(std::signbit(f.flt(f.b.emit(IR_fmax, f.b.kflt(-0.0), f.b.kflt(0.0)))));
  IRRef p = f.b.emit(IR_padd, f.base, f.b.kint(3), 8);  // base is kptr 0x1000
  EXPECT_EQ(f.op(p), IR_kptr);
  EXPECT_EQ(f.t.ins[p].imm, 0x1018);
  IRRef q = f.b.emit(IR_padd, f.b.kobj(reinterpret_cast<void*>(0x2000)), f.b.kint(-2), 24);
  EXPECT_EQ(f.op(q), IR_kptr);
  EXPECT_EQ(f.t.ins[q].imm, 0x2000 - 48);
  for (IRRef r = before; r < f.t.size(); r++) EXPECT_TRUE(ir_is_const(f.op(r))) << "%" << r << " " << ir_name(f.op(r));
  EXPECT_EQ(ir_verify(f.t), "");
}

TEST(IRFold, PythonNumericGuardsThatWouldExitStay) {
  Fixture f;
  IRRef zero = f.b.kint(0), min = f.b.kint(kMin), m1 = f.b.kint(-1), seven = f.b.kint(7);
  EXPECT_EQ(f.op(f.b.emit(IR_floordiv_ov, seven, zero)), IR_floordiv_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_mod_ov, seven, zero)), IR_mod_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_floordiv_ov, min, m1)), IR_floordiv_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_mod_ov, min, m1)), IR_mod_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_abs_ov, min)), IR_abs_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_f2i, f.b.kflt(0x1p63))), IR_f2i);
  EXPECT_EQ(f.op(f.b.emit(IR_f2i, f.b.kflt(NAN))), IR_f2i);
  EXPECT_EQ(f.op(f.b.emit(IR_f2i, f.b.kflt(-INFINITY))), IR_f2i);
  // float // and % by zero raise in Python: never folded (the recorder's guard on b exits first)
  EXPECT_EQ(f.op(f.b.emit(IR_ffloordiv, f.b.kflt(1.0), f.b.kflt(0.0))), IR_ffloordiv);
  EXPECT_EQ(f.op(f.b.emit(IR_fmod, f.b.kflt(1.0), f.b.kflt(-0.0))), IR_fmod);
  // a C call is never folded; neither is anything with an unknown operand
  EXPECT_EQ(f.op(f.b.emit(IR_callf1, f.b.kflt(4.0), kNoRef, 0x1234)), IR_callf1);
  EXPECT_EQ(f.op(f.b.emit(IR_padd, f.base, f.x, 8)), IR_padd);
  EXPECT_EQ(f.op(f.b.emit(IR_floordiv_ov, f.x, f.b.kint(1))), IR_floordiv_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_imin, f.x, f.y)), IR_imin);
  EXPECT_EQ(f.op(f.b.emit(IR_fabs, f.fx)), IR_fabs);
  IRRef obj = f.b.kobj(reinterpret_cast<void*>(0x3000));
  EXPECT_EQ(f.op(f.b.emit(IR_guard_type, obj, kNoRef, 0x4000)), IR_guard_type);
  IRRef p1 = f.b.emit(IR_poll, kNoRef, kNoRef, 0x5000), p2 = f.b.emit(IR_poll, kNoRef, kNoRef, 0x5000);
  EXPECT_EQ(f.op(p1), IR_poll);
  EXPECT_NE(p1, p2);  // never CSE'd: the word changes under the trace
  EXPECT_EQ(ir_verify(f.t), "");
}

// ---------------------------------------------------------------- CSE
TEST(IRCse, IdenticalPureInstructionIsReused) {
  Fixture f;
  EXPECT_EQ(f.b.kint(42), f.b.kint(42));
  EXPECT_EQ(f.b.kflt(1.5), f.b.kflt(1.5));
  EXPECT_NE(f.b.kflt(0.0), f.b.kflt(-0.0));  // compared by bits
  IRRef a = f.b.emit(IR_and, f.x, f.y);
  IRRef before = f.t.size();
  EXPECT_EQ(f.b.emit(IR_and, f.x, f.y), a);
  EXPECT_NE(f.b.emit(IR_and, f.y, f.x), a);  // operands differ: not reordered
  IRRef s = f.b.emit(IR_add_ov, f.x, f.y);
  EXPECT_EQ(f.b.emit(IR_add_ov, f.x, f.y), s);
  EXPECT_EQ(f.t.size(), before + 2);
}

TEST(IRCse, StoresAreBarriersForLoadsAndNeverCSEd) {
  Fixture f;
  IRRef l1 = f.b.emit(IR_load_i64, f.base, kNoRef, 32);
  EXPECT_EQ(f.b.emit(IR_load_i64, f.base, kNoRef, 32), l1);
  EXPECT_NE(f.b.emit(IR_load_i64, f.base, kNoRef, 40), l1);  // other offset
  IRRef s1 = f.b.emit(IR_store_i64, f.base, f.x, 32);
  IRRef s2 = f.b.emit(IR_store_i64, f.base, f.x, 32);
  EXPECT_NE(s1, s2);
  IRRef l2 = f.b.emit(IR_load_i64, f.base, kNoRef, 32);
  EXPECT_NE(l2, l1);
  EXPECT_EQ(f.op(l2), IR_load_i64);
  IRRef and1 = f.b.emit(IR_and, f.x, f.y);
  f.b.emit(IR_store_i64, f.base, f.x, 0);
  EXPECT_EQ(f.b.emit(IR_and, f.x, f.y), and1);  // pure ops cross stores
  IRRef box1 = f.b.emit(IR_box_f64, f.fx);
  EXPECT_NE(f.b.emit(IR_box_f64, f.fx), box1);  // calls are never CSE'd
  EXPECT_NE(f.b.emit(IR_load_i64, f.base, kNoRef, 32), l2);  // ... and are barriers
}

TEST(IRCse, ItemStoresLeaveObjectFieldsAlone) {
  // A list's size and item pointer (its own fields) stay CSE'd across what writes only items, float values
  // and refcounts; items, unboxes and anything across other stores or calls are loaded again.
  Fixture f;
  IRRef lst = f.b.emit(IR_load_obj, f.base, kNoRef, 40);
  IRRef n = f.b.emit(IR_load_i64, lst, kNoRef, 16);
  IRRef items = f.b.emit(IR_load_ptr, lst, kNoRef, 24);
  IRRef slot = f.b.emit(IR_padd, items, f.x, 8);
  IRRef item = f.b.emit(IR_load_obj, slot, kNoRef, 0);
  IRRef v = f.b.emit(IR_unbox_f64, item);
  f.b.emit(IR_store_fitem, slot, f.fx);
  f.b.emit(IR_decref, item);
  f.b.emit(IR_store_ptr, slot, item, 0);
  f.b.emit(IR_incref, item);
  f.b.emit(IR_box_i64, f.x);
  EXPECT_EQ(f.b.emit(IR_load_i64, lst, kNoRef, 16), n);
  EXPECT_EQ(f.b.emit(IR_load_ptr, lst, kNoRef, 24), items);
  EXPECT_NE(f.b.emit(IR_load_obj, slot, kNoRef, 0), item);   // the slot was written
  EXPECT_NE(f.b.emit(IR_unbox_f64, item), v);                // the float may have changed in place
  EXPECT_NE(f.b.emit(IR_load_i64, lst, kNoRef, 0), kNoRef);
  IRRef rc = f.b.emit(IR_load_i64, lst, kNoRef, 0);
  f.b.emit(IR_decref, item);
  EXPECT_NE(f.b.emit(IR_load_i64, lst, kNoRef, 0), rc);      // a refcount is not a field they leave alone
  f.b.emit(IR_store_ptr, items, item, 0);                    // a store not through an array slot's padd
  EXPECT_NE(f.b.emit(IR_load_i64, lst, kNoRef, 16), n);
  IRRef n2 = f.b.emit(IR_load_i64, lst, kNoRef, 16);
  f.b.emit(IR_list_append, lst, item);                       // a call: everything
  EXPECT_NE(f.b.emit(IR_load_i64, lst, kNoRef, 16), n2);
  IRRef n3 = f.b.emit(IR_load_i64, lst, kNoRef, 16);
  f.b.emit(IR_store_i64, lst, f.x, 32);                      // a field of the object itself
  EXPECT_NE(f.b.emit(IR_load_i64, lst, kNoRef, 16), n3);
}

TEST(IRCse, ReadOnlyMemoryLoadsCrossStoresAndCalls) {
  // A numpy array's dimension, loaded through its load_cptr: the same value after a data store and a call
  // (memory no trace writes). The same load through a load_ptr is loaded again.
  Fixture f;
  IRRef arr = f.b.emit(IR_load_obj, f.base, kNoRef, 40);
  IRRef dims = f.b.emit(IR_load_cptr, arr, kNoRef, 32);
  IRRef n = f.b.emit(IR_load_i64, dims, kNoRef, 8);
  IRRef data = f.b.emit(IR_load_ptr, arr, kNoRef, 16);
  IRRef other = f.b.emit(IR_load_ptr, arr, kNoRef, 40);
  IRRef m = f.b.emit(IR_load_i64, other, kNoRef, 8);
  f.b.emit(IR_store_f64, f.b.emit(IR_padd, data, f.x, 8), f.fx, 0);
  f.b.emit(IR_box_f64, f.fx);
  EXPECT_EQ(f.b.emit(IR_load_i64, dims, kNoRef, 8), n);
  EXPECT_NE(f.b.emit(IR_load_i64, dims, kNoRef, 0), n);      // another word
  EXPECT_NE(f.b.emit(IR_load_i64, other, kNoRef, 8), m);     // an ordinary buffer
  // The pointer is an object field, loaded again after a store that is not items_only; through the new
  // pointer, a new load.
  IRRef dims2 = f.b.emit(IR_load_cptr, arr, kNoRef, 32);
  EXPECT_NE(dims2, dims);
  EXPECT_NE(f.b.emit(IR_load_i64, dims2, kNoRef, 8), n);
}

TEST(IRCse, SwitchesOffDisableFoldAndCse) {
  Fixture f;
  f.b.fold = false;
  f.b.cse = false;
  IRRef two = f.b.kint(2);
  EXPECT_NE(f.b.kint(2), two);
  EXPECT_EQ(f.op(f.b.emit(IR_add_ov, two, f.b.kint(3))), IR_add_ov);
  EXPECT_EQ(f.op(f.b.emit(IR_add_ov, f.x, f.b.kint(0))), IR_add_ov);
  EXPECT_NE(f.b.emit(IR_guard_true, f.b.kbool(true)), kNoRef);
  EXPECT_EQ(f.op(f.b.emit(IR_fadd, f.b.kflt(1), f.b.kflt(2))), IR_fadd);
  IRRef a = f.b.emit(IR_and, f.x, f.y);
  EXPECT_NE(f.b.emit(IR_and, f.x, f.y), a);
  f.b.cse = true;  // fold off alone: CSE finds an earlier copy, nothing folded
  IRRef n = f.t.size(), c = f.b.emit(IR_and, f.x, f.y);
  EXPECT_LT(c, n);
  EXPECT_EQ(f.op(c), IR_and);
  EXPECT_EQ(f.op(f.b.emit(IR_mul_ov, f.x, f.b.kint(1))), IR_mul_ov);
  f.b.fold = true;
  f.b.cse = false;  // CSE off alone: folding still works
  EXPECT_TRUE(f.is_kint(f.b.emit(IR_add_ov, f.b.kint(2), f.b.kint(3)), 5));
  EXPECT_EQ(ir_verify(f.t), "");
}

// ---------------------------------------------------------------- text form
// for i in range(i, n): s += i * 0.5 ; slots 0=n 1=i 2=s, unboxed in frame memory at base.
Trace build_loop() {
  Trace t;
  IRBuilder b(&t);
  IRRef base = b.kptr(reinterpret_cast<void*>(0x7ffd12345000));
  b.snapshot(10, 16, {});
  IRRef n = b.emit(IR_load_i64, base, kNoRef, 0);
  IRRef i0 = b.emit(IR_load_i64, base, kNoRef, 8);
  IRRef s0 = b.emit(IR_load_f64, base, kNoRef, 16);
  IRRef half = b.kflt(0.5), one = b.kint(1), nz = b.kflt(-0.0);
  IRRef nan = b.kflt(bits_f64(0x7ff8000000000001)), inf = b.kflt(INFINITY), ninf = b.kflt(-INFINITY);
  b.emit(IR_loop);
  IRRef i = b.emit(IR_phi, i0), s = b.emit(IR_phi, s0);
  b.snapshot(12, 16, {{1, i}, {2, s}, {3, nz}, {4, nan}, {5, inf}, {6, ninf}});
  b.emit(IR_guard_true, b.emit(IR_lt, i, n));
  IRRef s1 = b.emit(IR_fadd, s, b.emit(IR_fmul, b.emit(IR_i2f, i), half));
  IRRef s2 = b.emit(IR_fadd, s1, nz);  // never folded, though IEEE makes x + -0.0 == x
  b.snapshot(20, 16, {{1, i}, {2, s2}});
  IRRef i1 = b.emit(IR_add_ov, i, one);
  b.emit(IR_store_i64, base, i1, 8);
  b.emit(IR_store_f64, base, s2, 16);
  b.set_backedge(i, i1);
  b.set_backedge(s, s2);
  return t;
}

// build_loop() as text: the golden form of a loop trace (hex floats, -0.0, a NaN payload, +-inf, phis).
const char* kLoopText =
    "%0 ptr = kptr 0x7ffd12345000\n"
    "snap 0 pc=10 top=16 []\n"
    "%1 i64 = load_i64 %0, 0\n"
    "%2 i64 = load_i64 %0, 8\n"
    "%3 f64 = load_f64 %0, 16\n"
    "%4 f64 = kflt 0x1p-1\n"
    "%5 i64 = kint 1\n"
    "%6 f64 = kflt -0x0p+0\n"
    "%7 f64 = kflt nan:0x7ff8000000000001\n"
    "%8 f64 = kflt inf\n"
    "%9 f64 = kflt -inf\n"
    "%10 void = loop\n"
    "%11 i64 = phi %2, %19\n"
    "%12 f64 = phi %3, %18\n"
    "snap 1 pc=12 top=16 [1=%11 2=%12 3=%6 4=%7 5=%8 6=%9]\n"
    "%13 bool = lt %11, %1\n"
    "%14 void = guard_true %13 @1\n"
    "%15 f64 = i2f %11\n"
    "%16 f64 = fmul %15, %4\n"
    "%17 f64 = fadd %12, %16\n"
    "%18 f64 = fadd %17, %6\n"
    "snap 2 pc=20 top=16 [1=%11 2=%18]\n"
    "%19 i64 = add_ov %11, %5 @2\n"
    "%20 void = store_i64 %0, %19, 8\n"
    "%21 void = store_f64 %0, %18, 16\n";

TEST(IRText, LoopTraceRoundTripsByteForByte) {
  Trace t = build_loop();
  ASSERT_EQ(ir_verify(t), "");
  std::string text = ir_print(t);
  Trace back;
  ASSERT_EQ(ir_parse(text, &back), "") << text;
  EXPECT_EQ(ir_print(back), text);
  EXPECT_EQ(ir_verify(back), "");
  ASSERT_EQ(back.size(), t.size());
  for (IRRef r = 0; r < t.size(); r++) {  // every field, immediates bit for bit (NaN payload included)
    EXPECT_EQ(back.ins[r].op, t.ins[r].op);
    EXPECT_EQ(back.ins[r].type, t.ins[r].type);
    EXPECT_EQ(back.ins[r].a, t.ins[r].a);
    EXPECT_EQ(back.ins[r].b, t.ins[r].b);
    EXPECT_EQ(back.ins[r].imm, t.ins[r].imm);
    EXPECT_EQ(back.ins[r].snap, t.ins[r].snap);
  }
  ASSERT_EQ(back.snaps.size(), t.snaps.size());
  for (size_t s = 0; s < t.snaps.size(); s++) EXPECT_EQ(back.snaps[s].at, t.snaps[s].at);
  EXPECT_EQ(text, kLoopText);  // the golden text
}

TEST(IRText, HandWrittenTextPrintsIdentically) {
  const std::string text =
      "snap 0 pc=4 top=16 []\n"
      "%0 obj = kobj 0x7f00dead0010\n"
      "%1 f64 = unbox_f64 %0 @0\n"
      "%2 bool = kbool false\n"
      "%3 i64 = kint -9223372036854775808\n"
      "snap 1 pc=6 top=16 [0=%1 3=%3]\n"
      "%4 void = guard_true %2 @1\n"
      "%5 void = guard_eqp %0, %0 @1\n"
      "%6 obj = box_f64 %1\n";
  Trace t;
  ASSERT_EQ(ir_parse(text, &t), "");
  EXPECT_EQ(ir_print(t), text);
  EXPECT_EQ(ir_verify(t), "");
  EXPECT_EQ(t.ins[3].imm, kMin);
  Trace u;  // comments and blank lines are skipped
  ASSERT_EQ(ir_parse("# a comment\n\n" + text, &u), "");
  EXPECT_EQ(ir_print(u), text);
}

TEST(IRText, NotesPrintAsCommentsAndParseAway) {
  Trace t = build_loop();
  const std::string plain = ir_print(t);
  EXPECT_EQ(ir_print(t, nullptr), plain);
  EXPECT_EQ(ir_print(t, [](IRRef) { return std::string(); }), plain);  // empty notes add nothing
  std::string noted = ir_print(t, [](IRRef r) {
    return r == 1 ? std::string("n") : r == 14 ? std::string("loop test\nsecond line") : std::string();
  });
  EXPECT_NE(noted.find("%1 i64 = load_i64 %0, 0  # n\n"), std::string::npos) << noted;
  EXPECT_NE(noted.find("%14 void = guard_true %13 @1  # loop test second line\n"), std::string::npos) << noted;
  EXPECT_EQ(noted.size(), plain.size() + 5 + 25);  // nothing else changed
  Trace back;
  ASSERT_EQ(ir_parse(noted, &back), "") << noted;
  EXPECT_EQ(ir_print(back), plain);  // notes are dropped by the parser
  // hand-written comments after instructions and snapshots, with a '#' inside the comment too
  Trace u;
  ASSERT_EQ(ir_parse("%0 i64 = kint 5 # five\nsnap 0 pc=1 top=2 [1=%0]\t# after a tab #2\n"
                     "%1 i64 = neg_ov %0 @0   #\n%2 f64 = kflt nan:0x7ff8000000000001 # nan\n", &u), "");
  EXPECT_EQ(ir_print(u), "%0 i64 = kint 5\nsnap 0 pc=1 top=2 [1=%0]\n%1 i64 = neg_ov %0 @0\n"
                         "%2 f64 = kflt nan:0x7ff8000000000001\n");
  Trace v;  // a '#' glued to a token is not a comment
  EXPECT_EQ(ir_parse("%0 i64 = kint 5#x\n", &v).rfind("line 1: bad immediate '5#x'", 0), 0u);
}

TEST(IRText, ParseErrorsCarryTheLineNumber) {
  const std::string ok = "snap 0 pc=0 top=16 []\n%0 i64 = kint 1\n";
  const std::pair<const char*, const char*> cases[] = {
      {"%1 i64 = frob %0\n", "line 3: unknown op 'frob'"},
      {"%1 int = neg_ov %0 @0\n", "line 3: unknown type 'int'"},
      {"%2 i64 = neg_ov %0 @0\n", "line 3: expected %1"},
      {"%1 i64 = add_ov %0 %0 @0\n", "line 3: expected ',' before operand 2"},
      {"%1 i64 = kint 12abc\n", "line 3: bad immediate '12abc'"},
      {"%1 i64 = kint 99999999999999999999\n", "line 3: bad immediate"},
      {"%1 f64 = kflt 0x1p+0 junk\n", "line 3: unexpected text"},
      {"snap 2 pc=0 top=16 []\n", "line 3: expected snap 1"},
      {"snap 1 pc=0 top=16 [0=%0\n", "line 3: expected <slot>=%<ref> or ']'"},
      {"\n\nfoo\n", "line 5: expected '%<n>' or 'snap'"},
      {"%1 i64 = neg_ov %0 @x\n", "line 3: expected a snapshot number"},
  };
  for (const auto& [bad, want] : cases) {
    Trace t;
    std::string e = ir_parse(ok + bad, &t);
    EXPECT_EQ(e.rfind(want, 0), 0u) << "got '" << e << "' for " << bad;
  }
}

// ---------------------------------------------------------------- verifier
// A small valid loop; each broken variant below differs from it in one place.
const char* kValid =
    "%0 i64 = kint 0\n"
    "%1 i64 = kint 1\n"
    "%2 void = loop\n"
    "%3 i64 = phi %0, %5\n"
    "snap 0 pc=8 top=16 [1=%3]\n"
    "%4 bool = lt %3, %1\n"
    "%5 i64 = add_ov %3, %1 @0\n"
    "%6 void = guard_true %4 @0\n";

// kValid with its line `from` replaced by `to`.
std::string variant(const std::string& from, const std::string& to) {
  std::string s = kValid;
  size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return p == std::string::npos ? s : s.replace(p, from.size(), to);
}

// Expects the verifier to accept kValid and to reject the variant with a message containing want.
void expect_rejects(const std::string& from, const std::string& to, const std::string& want) {
  std::string e = verify_text(variant(from, to));
  EXPECT_NE(e.find(want), std::string::npos) << "got '" << e << "', want '" << want << "'";
}

TEST(IRVerify, AcceptsTheValidLoopAndTheBuiltOne) {
  EXPECT_EQ(verify_text(kValid), "");
  EXPECT_EQ(ir_verify(build_loop()), "");
}

TEST(IRVerify, RejectsOperandOfTheWrongType) {
  expect_rejects("%1 i64 = kint 1", "%1 f64 = kflt 0x1p+0", "%4: lt: operand b has type f64");
}

TEST(IRVerify, RejectsWrongResultType) {
  expect_rejects("%4 bool = lt", "%4 i64 = lt", "%4: lt: wrong result type i64");
}

TEST(IRVerify, RejectsUseBeforeDefinition) {
  expect_rejects("%4 bool = lt %3, %1", "%4 bool = lt %3, %5", "%4: lt: operand b %5 used before defined");
  expect_rejects("%4 bool = lt %3, %1", "%4 bool = lt %3, %9", "%4: lt: operand b %9 does not exist");
}

TEST(IRVerify, RejectsGuardWithoutAValidSnapshot) {
  expect_rejects("%6 void = guard_true %4 @0", "%6 void = guard_true %4 @1",
                 "%6: guard_true: snapshot 1 does not exist");
  expect_rejects("%6 void = guard_true %4 @0", "%6 void = guard_true %4", "snapshot -1 does not exist");
}

TEST(IRVerify, RejectsGuardUsingASnapshotTakenLater) {
  Trace t;
  ASSERT_EQ(ir_parse(std::string(kValid) + "snap 1 pc=9 top=16 [1=%5]\n", &t), "");
  EXPECT_EQ(ir_verify(t), "");
  t.ins[6].snap = 1;  // snap 1 is taken after %6
  EXPECT_EQ(ir_verify(t), "%6: guard_true: snapshot 1 taken after the guard");
}

TEST(IRVerify, RejectsSnapshotOnANonGuard) {
  expect_rejects("%4 bool = lt %3, %1", "%4 bool = lt %3, %1 @0", "%4: lt: snapshot on a non-guard");
}

TEST(IRVerify, RejectsSnapshotEntriesThatAreNotValuesDefinedBefore) {
  expect_rejects("[1=%3]", "[1=%4]", "snap 0: slot 1: instruction defined after the snapshot");
  expect_rejects("[1=%3]", "[1=%30]", "snap 0: slot 1: no such instruction");
  expect_rejects("[1=%3]", "[1=%2]", "snap 0: slot 1: instruction has no value");
  expect_rejects("[1=%3]", "[1=%3 1=%0]", "snap 0: slot 1: slots not increasing");
}

TEST(IRVerify, RejectsASecondLoop) {
  expect_rejects("%2 void = loop\n%3 i64 = phi %0, %5\n", "%2 void = loop\n%3 void = loop\n",
                 "%3: loop: second loop");
}

TEST(IRVerify, RejectsPhiNotRightAfterLoop) {
  std::string text = variant("%2 void = loop\n%3 i64 = phi %0, %5\n", "%2 i64 = phi %0, %5\n%3 void = loop\n");
  EXPECT_NE(verify_text(text).find("%2: phi: phi not right after loop"), std::string::npos) << verify_text(text);
}

TEST(IRVerify, RejectsMissingAndUnexpectedOperands) {
  expect_rejects("%3 i64 = phi %0, %5", "%3 i64 = phi %0, _", "%3: phi: missing operand b");
  Trace t;
  ASSERT_EQ(ir_parse(kValid, &t), "");
  t.ins[4].b = kNoRef;  // lt with one operand
  EXPECT_EQ(ir_verify(t), "%4: lt: missing operand b");
  t.ins[4].b = 1;
  t.ins[6].b = 1;  // guard_true with two
  EXPECT_EQ(ir_verify(t), "%6: guard_true: unexpected operand b");
  t.ins[6].b = kNoRef;
  t.ins[2].imm = 5;  // loop has no immediate
  EXPECT_EQ(ir_verify(t), "%2: loop: unexpected immediate");
}

TEST(IRVerify, RejectsBadSnapshotPositionsAndPcs) {
  Trace t;
  ASSERT_EQ(ir_parse(std::string(kValid) + "snap 1 pc=9 top=16 []\n", &t), "");
  ASSERT_EQ(ir_verify(t), "");
  t.snaps[1].pc = -1;
  EXPECT_EQ(ir_verify(t), "snap 1: negative pc");
  t.snaps[1].pc = 9;
  t.snaps[1].at = t.size() + 1;
  EXPECT_EQ(ir_verify(t), "snap 1: position out of range");
  t.snaps[1].at = 3;  // before snap 0 (taken at 4)
  EXPECT_EQ(ir_verify(t), "snap 1: taken before the previous snapshot");
}

TEST(IRVerify, RejectsBoolImmediateOtherThanZeroOrOne) {
  Trace t;
  ASSERT_EQ(ir_parse("%0 bool = kbool true\n", &t), "");
  ASSERT_EQ(ir_verify(t), "");
  t.ins[0].imm = 2;
  EXPECT_EQ(ir_verify(t), "%0: kbool: bool immediate not 0/1");
}

TEST(IRVerify, PhiBackEdgeMayReferForwardOthersMayNot) {
  EXPECT_EQ(verify_text(kValid), "");  // %3 = phi %0, %5 refers forward
  expect_rejects("%3 i64 = phi %0, %5", "%3 i64 = phi %5, %5", "%3: phi: operand a %5 used before defined");
  expect_rejects("%3 i64 = phi %0, %5", "%3 i64 = phi %0, %4", "%3: phi: operand b has type bool");
}

}  // namespace
}  // namespace fastpy::ir

namespace fastpy::ir {

// ---------------------------------------------------------------- snapshots of inlined calls
namespace {
// A trace whose second snapshot is inside an inlined call: the trace's frame (top 6) resumes at its CALL,
// the callee's slots are 20.. (top 4) and it resumes at pc 5.
const char* kInlinedText =
    "snap 0 pc=3 top=6 []\n"
    "%0 i64 = sload_i64 1 @0\n"
    "%1 i64 = kint 2\n"
    "%2 i64 = mul_ov %0, %1 @0\n"
    "snap 1 pc=8 top=6 [5=%0 21=%2 22=%2] inline=[20:5:4:0x7f00dead0100]\n"
    "%3 i64 = add_ov %2, %1 @1\n";
}  // namespace

TEST(IRSnapInline, RoundTripsAndKeepsEveryField) {
  Trace t;
  ASSERT_NO_FATAL_FAILURE(expect_round_trip(kInlinedText, &t));
  ASSERT_EQ(t.snaps[1].inlined.size(), 1u);
  const SnapFrame& fr = t.snaps[1].inlined[0];
  EXPECT_EQ(fr.base, 20);
  EXPECT_EQ(fr.pc, 5);
  EXPECT_EQ(fr.top, 4);
  EXPECT_EQ(fr.code, int64_t(0x7f00dead0100));
  EXPECT_TRUE(t.snaps[0].inlined.empty());
}

TEST(IRSnapInline, VerifierChecksSlotsAgainstEachFrame) {
  auto verify = [](const std::string& snap_line) {
    std::string text = kInlinedText;
    size_t at = text.find("snap 1");
    text.replace(at, text.find('\n', at) - at, snap_line);
    Trace t;
    std::string err = ir_parse(text, &t);
    return err.empty() ? ir_verify(t) : "parse: " + err;
  };
  EXPECT_EQ(verify("snap 1 pc=8 top=6 [5=%0 23=%2] inline=[20:5:4:0x10]"), "");
  // a slot between the trace's frame and the callee's, and one past the callee's top
  EXPECT_NE(verify("snap 1 pc=8 top=6 [7=%0] inline=[20:5:4:0x10]"), "");
  EXPECT_NE(verify("snap 1 pc=8 top=6 [24=%0] inline=[20:5:4:0x10]"), "");
  // a callee overlapping its caller's slots, a null code, a negative pc
  EXPECT_NE(verify("snap 1 pc=8 top=6 [] inline=[5:5:4:0x10]"), "");
  EXPECT_NE(verify("snap 1 pc=8 top=6 [] inline=[20:5:4:0x0]"), "");
  EXPECT_NE(verify("snap 1 pc=8 top=6 [] inline=[20:-1:4:0x10]"), "");
  // two levels: the second must start at or above the first one's top
  EXPECT_EQ(verify("snap 1 pc=8 top=6 [25=%0] inline=[20:5:4:0x10 24:2:3:0x20]"), "");
  EXPECT_NE(verify("snap 1 pc=8 top=6 [] inline=[20:5:4:0x10 22:2:3:0x20]"), "");
  EXPECT_NE(verify("snap 1 pc=8 top=6 [] inline=[20:5]"), "");
}

}  // namespace fastpy::ir

namespace fastpy::ir {

// An iterator the trace made (range_iter) is an owned snapshot entry: it prints and parses as `:own`, and
// only objects may be owned (a number is boxed anew at every restore).
TEST(IRSnapOwn, RoundTripsAndOnlyObjectsAreOwned) {
  const std::string text =
      "snap 0 pc=4 top=3 []\n"
      "%0 i64 = kint 0\n"
      "%1 i64 = sload_i64 1 @0\n"
      "%2 obj = range_iter %0, %1, 2\n"
      "%3 void = guard_nonnull %2 @0\n"
      "snap 1 pc=7 top=3 [2=%2:own]\n"
      "%4 i64 = load_i64 %2, 16\n"
      "%5 bool = lt %4, %1\n"
      "%6 void = guard_true %5 @1\n";
  Trace t;
  ASSERT_NO_FATAL_FAILURE(expect_round_trip(text, &t));
  ASSERT_EQ(t.snaps[1].entries.size(), 1u);
  EXPECT_EQ(t.snaps[1].entries[0].box, SNAP_own);
  std::string bad = text;
  bad.replace(bad.find("[2=%2:own]"), 10, "[2=%1:own]");
  Trace u;
  ASSERT_EQ(ir_parse(bad, &u), "");
  EXPECT_NE(ir_verify(u).find("only objects are owned"), std::string::npos) << ir_verify(u);
}

// A number's object (SnapEntry::num): `:i64` / `:f64` print and parse back; only a borrowed object may stand
// for a number (not a number itself, not an owned object).
TEST(IRSnapNum, RoundTripsAndOnlyBorrowedObjectsStandForANumber) {
  const std::string text =
      "%0 obj = sload_obj 0\n"
      "snap 0 pc=3 top=4 []\n"
      "%1 ptr = load_ptr %0, 24\n"
      "%2 obj = load_obj %1, 0\n"
      "%3 obj = load_obj %1, 8\n"
      "snap 1 pc=5 top=6 [4=%2:i64 5=%3:f64]\n"
      "%4 void = guard_nonnull %0 @1\n";
  Trace t;
  ASSERT_NO_FATAL_FAILURE(expect_round_trip(text, &t));
  ASSERT_EQ(t.snaps[1].entries.size(), 2u);
  EXPECT_EQ(t.snaps[1].entries[0].num, NUM_i64);
  EXPECT_EQ(t.snaps[1].entries[1].num, NUM_f64);
  EXPECT_EQ(t.snaps[1].entries[0].box, SNAP_py);
  for (const char* wrong : {"[4=%1:i64 5=%3:f64]", "[4=%2:own:i64 5=%3:f64]"}) {
    std::string bad = text;
    bad.replace(bad.find("[4=%2:i64 5=%3:f64]"), 19, wrong);
    Trace u;
    ASSERT_EQ(ir_parse(bad, &u), "") << bad;
    EXPECT_NE(ir_verify(u).find("only borrowed objects stand for a number"), std::string::npos) << bad << ir_verify(u);
  }
}

// Object identity (SnapEntry::same): `@k` (the object slot k's entry gets) and `@fk` (the frame's object of
// slot k) print and parse back; the verifier takes only normal links (numbers; to an entry of the same value
// and box that links nowhere itself, or to a slot of the frame below the top); snap_normalize_same follows
// chains to their end and drops what cannot hold.
TEST(IRSnapSame, RoundTripsVerifiesAndNormalizes) {
  const std::string text =
      "snap 0 pc=4 top=6 []\n"
      "%0 f64 = sload_f64 0 @0\n"
      "%1 f64 = kflt 0x1p+0\n"
      "%2 f64 = fadd %0, %1\n"
      "%3 obj = sload_obj 5\n"
      "snap 1 pc=7 top=6 [1=%2 2=%2@1 3=%0@f0 4=%3]\n"
      "%4 void = guard_nonnull %3 @1\n";
  Trace t;
  ASSERT_NO_FATAL_FAILURE(expect_round_trip(text, &t));
  const Snapshot& sn = t.snaps[1];
  EXPECT_EQ(sn.entries[1].same, 1);
  EXPECT_FALSE(sn.entries[1].same_frame);
  EXPECT_EQ(sn.entries[2].same, 0);
  EXPECT_TRUE(sn.entries[2].same_frame);
  EXPECT_EQ(sn.entries[0].same, -1);
  const std::pair<const char*, const char*> bad[] = {
      {"2=%2@1 3=%0@f0", "2=%0@1 3=%0@f0"},   // another value
      {"2=%2@1 3=%0@f0", "2=%2@3 3=%0@f0"},   // slot 3's: another value, and it links on
      {"2=%2@1 3=%0@f0", "2=%2@2 3=%0@f0"},   // itself
      {"2=%2@1 3=%0@f0", "2=%2@0 3=%0@f0"},   // no entry for slot 0
      {"2=%2@1 3=%0@f0", "2=%2@1 3=%0@f6"},   // the frame's slot at the top
      {"[1=%2 2=%2@1", "[1=%2@2 2=%2@1"},     // links on
      {"4=%3]", "4=%3@f5]"},                  // an object
  };
  for (const auto& [from, to] : bad) {
    std::string b = text;
    b.replace(b.find(from), std::string(from).size(), to);
    Trace u;
    ASSERT_EQ(ir_parse(b, &u), "") << b;
    EXPECT_NE(ir_verify(u), "") << b;
    for (Snapshot& s : u.snaps) snap_normalize_same(u, &s);
    EXPECT_EQ(ir_verify(u), "") << b;   // whatever it was, normal now
  }
  // A chain to its end: slot 2 links to 1, which links to the frame's slot 0.
  Trace c;
  ASSERT_EQ(ir_parse("snap 0 pc=1 top=4 []\n%0 f64 = sload_f64 0 @0\nsnap 1 pc=2 top=4 [1=%0@f0 2=%0@1 3=%0@2]\n"
                     "", &c), "");
  snap_normalize_same(c, &c.snaps[1]);
  for (int e = 0; e < 3; e++) {
    EXPECT_EQ(c.snaps[1].entries[size_t(e)].same, 0) << e;
    EXPECT_TRUE(c.snaps[1].entries[size_t(e)].same_frame) << e;
  }
  // A loop of links is broken: one of the two gets an object of its own, the other shares it.
  Trace l;
  ASSERT_EQ(ir_parse("snap 0 pc=1 top=4 []\n%0 f64 = sload_f64 0 @0\nsnap 1 pc=2 top=4 [1=%0@2 2=%0@1]\n", &l), "");
  snap_normalize_same(l, &l.snaps[1]);
  EXPECT_EQ((l.snaps[1].entries[0].same < 0) + (l.snaps[1].entries[1].same < 0), 1) << ir_print(l);
  EXPECT_EQ(ir_verify(l), "") << ir_print(l);
}

}  // namespace fastpy::ir
