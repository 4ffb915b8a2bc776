// Trace IR -> x86-64 (see codegen.h). One lowering per op, in the order of ir_ops.def's groups; the register
// allocation is asmjit's (x86::Compiler): every IR value is one virtual register. The generator's state is
// declared in codegen_p.h; what leaves a trace (exit values, the completion restore, entry checks, links and
// loop-backs) is in codegen_exits.cpp.
#include "tiers/baseline/codegen.h"

#include <asmjit/x86.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <mutex>
#include <sstream>

#include "tiers/baseline/code_memory.h"
#include "tiers/baseline/codegen_p.h"
#include "tiers/baseline/jit_runtime_p.h"
#include "tiers/ir/ir_arith.h"

namespace fastpy::baseline {
namespace {

using namespace asmjit;
using ir::IRIns;
using ir::IRRef;
using ir::kNoRef;

// ---- C helpers for the ops whose arithmetic is best left to ir_arith.h (called from compiled code)
double h_ffloordiv(double a, double b) { return ir::py_ffloordiv(a, b); }
double h_fmod(double a, double b) { return ir::py_fmod(a, b); }
// fpow's fast path: CPython's float_pow for a finite positive base and a finite exponent is libm's pow
// itself, unless pow reports a range error (errno) or overflows; false: the runtime decides (every other
// case, its errors and complex results included).
bool h_fpow(double a, double b, double* out) {
  if (!(a > 0.0) || !std::isfinite(a) || !std::isfinite(b)) return false;
  errno = 0;
  double r = std::pow(a, b);
  if (errno != 0 || std::isinf(r)) return false;
  *out = r;
  return true;
}
// `x ** 0.5` (fpow with the constant exponent 0.5) as sqrt where that is bit for bit what pow(x, 0.5)
// gives. sqrt is correctly rounded; libm's pow is not always (glibc's since 2.28 and musl's: at most 0.54
// ULP from the exact value, documented in their e_pow.c), so the two differ only where the exact root lies
// within 0.04 ULP of the midpoint between two doubles (measured on this machine's glibc: every one of the
// ~0.08 % of random doubles where they differ lies within 0.009 ULP of it). So: r = sqrt(x) for x in
// [2**-1000, 2**1000] (no subnormal, no overflow; NaN, zero, negatives, infinities go to pow), unless r is a
// power of two (the spacing changes there), or the exact root is 0.45 ULP or more from r, read from the
// residual x - r*r, which FMA computes exactly: |x - r*r| / (2r) is |exact - r|. Those go to pow.
// sqrt_half_candidate mirrors the machine code's test; sqrt_half_agrees() checks the claim once against
// this process's own pow (random doubles and the cases next to midpoints), and the fast path is only used
// where it holds and the CPU has FMA.
constexpr double kSqrtHalfLo = 0x1p-1000, kSqrtHalfHi = 0x1p1000;
constexpr double kSqrtHalfTol = 0.9 * 0x1p-52;   // 2 * 0.45 ULP, in units of r * 2**exponent(r)
bool sqrt_half_candidate(double x, double* out) {
  if (!(x >= kSqrtHalfLo) || !(x <= kSqrtHalfHi)) return false;
  double r = std::sqrt(x);
  uint64_t rb;
  std::memcpy(&rb, &r, 8);
  if ((rb & 0x000FFFFFFFFFFFFFull) == 0) return false;
  uint64_t eb = rb & 0x7FF0000000000000ull;
  double e;
  std::memcpy(&e, &eb, 8);
  double lim = r * e * kSqrtHalfTol;
  if (!(std::fabs(std::fma(-r, r, x)) < lim)) return false;
  *out = r;
  return true;
}
bool sqrt_half_agrees() {
  static const bool ok = [] {
    if (!CpuInfo::host().features().x86().hasFMA()) return false;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    volatile double half = 0.5;
    for (int i = 0; i < 4000; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      // random doubles, and doubles whose root lies 0.4 to 0.5 ULP from a double (next to a midpoint)
      uint64_t b = (s & 0x7FFFFFFFFFFFFFFFull);
      double x;
      std::memcpy(&x, &b, 8);
      if (i & 1) {
        double m = 1.0 + double(s >> 12) * 0x1p-52, t = 0.8 + double(s & 0xFFFF) * (0.2 / 65536);
        x = std::ldexp(std::fma(m, m, m * 0x1p-52 * t), 2 * (int(s >> 40 & 0x1FF) - 256));
      }
      double r, p = std::pow(x, half);
      if (sqrt_half_candidate(x, &r) && std::memcmp(&r, &p, 8) != 0) return false;
    }
    return true;
  }();
  return ok;
}
}  // namespace

bool pow_half_uses_sqrt() { return sqrt_half_agrees(); }

namespace {
// callf1: *out = f(x); false when CPython's math_1 would raise.
bool h_callf1(const void* f, double x, double* out) {
  double r = reinterpret_cast<double (*)(double)>(f)(x);
  *out = r;
  return ir::math1_ok(x, r);
}

}  // namespace

namespace gen {

// ---------------------------------------------------------------- values
x86::Gp Gen::gp(IRRef r) {
  if (is_k(r)) {
    const IRIns& i = ins(r);
    x86::Gp g = new_i64();
    if (i.imm == 0) cc_.xor_(g.r32(), g.r32());
    else cc_.mov(g, Imm(i.imm));
    return g;
  }
  return v_[size_t(r)].as<x86::Gp>();
}

x86::Xmm Gen::xmm(IRRef r) {
  if (is_k(r)) {
    if (in_body_ && hoisted_[size_t(r)].isValid()) return hoisted_[size_t(r)].as<x86::Xmm>();
    x86::Xmm x = new_f64();
    double d = ir::bits_f64(ins(r).imm);
    if (ins(r).imm == 0) cc_.xorps(x, x);
    else cc_.movsd(x, cc_.newDoubleConst(ConstPoolScope::kLocal, d));
    return x;
  }
  return v_[size_t(r)].as<x86::Xmm>();
}

x86::Gp Gen::bits(IRRef r) {
  if (r == kNoRef) return imm64(0);
  if (ins(r).type != ir::IRT_f64 || is_k(r)) return gp(r);
  x86::Gp g = new_i64();   // through memory: see fneg for why not movq
  cc_.movsd(tmp_, xmm(r));
  cc_.mov(g, tmp_);
  return g;
}

Operand Gen::gp_or_imm(IRRef r) {
  if (is_k(r) && ins(r).imm == int64_t(int32_t(ins(r).imm))) return Imm(ins(r).imm);
  return gp(r);
}

x86::Mem Gen::mem(IRRef base, int64_t off, uint32_t size) {
  if (fused_addr_[size_t(base)]) {   // [a + b*scale + off] (plan_fused_addresses checked that it encodes)
    const IRIns& p = ins(base);
    if (is_k(p.b)) return x86::ptr(gp(p.a), int32_t(ins(p.b).imm * p.imm + off), size);
    uint32_t shift = p.imm == 1 ? 0 : p.imm == 2 ? 1 : p.imm == 4 ? 2 : 3;
    return x86::ptr(gp(p.a), gp(p.b), shift, int32_t(off), size);
  }
  // A constant address that fits a sign-extended 32-bit displacement: absolute (no register; python3's
  // non-PIE data and heap, where namespace dicts and the trace's own words live).
  if (is_k(base) && fits32(uint64_t(ins(base).imm) + uint64_t(off)) && off == int64_t(int32_t(off)))
    return x86::ptr_abs(uint64_t(ins(base).imm) + uint64_t(off), size);
  // (a constant base the loop body's accesses share: its register, lower_loop)
  x86::Gp b = in_body_ && hoisted_[size_t(base)].isValid() ? hoisted_[size_t(base)].as<x86::Gp>() : gp(base);
  if (off != int64_t(int32_t(off))) {
    x86::Gp s = new_ptr();
    cc_.mov(s, Imm(off));
    cc_.add(s, b);
    return x86::ptr(s, 0, size);
  }
  return x86::ptr(b, int32_t(off), size);
}

// ---------------------------------------------------------------- control
Label Gen::exit_of(IRRef g) {
  Label& l = exits_[size_t(g)];
  if (!l.isValid()) l = cc_.newLabel();
  return l;
}

// The general-register compares: i64 (lt le gt ge eq ne, then ult), and identity (peq, pne: eq and ne of
// addresses). Their position in lt..ne, ult (6), or -1.
int icmp_index(ir::IROp op) {
  if (op >= ir::IR_lt && op <= ir::IR_ne) return op - ir::IR_lt;
  if (op == ir::IR_ult) return 6;
  if (op == ir::IR_peq) return ir::IR_eq - ir::IR_lt;
  if (op == ir::IR_pne) return ir::IR_ne - ir::IR_lt;
  return -1;
}

bool Gen::fusable(IRRef c) const {
  ir::IROp op = ins(c).op;
  bool cmp = icmp_index(op) >= 0 || (op >= ir::IR_flt && op <= ir::IR_fne);
  if (!cmp || c + 1 >= t_.size()) return false;
  const IRIns& g = ins(c + 1);
  if ((g.op != ir::IR_guard_true && g.op != ir::IR_guard_false) || g.a != c) return false;
  if (uses_[size_t(c)] == 1) return true;
  // Also when its other uses are entries of the guard's own snapshot, which no other guard exits to: at that
  // exit the compare's value is known (the guard failed), so the snapshot stores the constant. (The bool a
  // compare-and-branch leaves on the stack, which the recorder's fused jump snapshot holds.)
  if (g.snap < 0 || snap_guards_[size_t(g.snap)] != 1) return false;
  int in_snap = 0;
  for (const ir::SnapEntry& e : t_.snaps[size_t(g.snap)].entries) in_snap += e.ref == c;
  return uses_[size_t(c)] == 1 + in_snap;
}

// Emits the compare and returns the condition code that holds when it is true (i64 or ordered f64 compares).
void Gen::cond_jump(IRRef c, bool when, Label l) {
  const IRIns& i = ins(c);
  x86::CondCode cond;
  if (int k = icmp_index(i.op); k >= 0) {
    static const x86::CondCode kCond[] = {x86::CondCode::kL, x86::CondCode::kLE, x86::CondCode::kG,
                                          x86::CondCode::kGE, x86::CondCode::kE, x86::CondCode::kNE,
                                          x86::CondCode::kB};
    // (A constant on the left, as a list index against its size: compared the other way round.)
    static const x86::CondCode kSwapped[] = {x86::CondCode::kG, x86::CondCode::kGE, x86::CondCode::kL,
                                             x86::CondCode::kLE, x86::CondCode::kE, x86::CondCode::kNE,
                                             x86::CondCode::kA};
    Operand a = gp_or_imm(i.a);
    if (a.isImm() && !is_k(i.b)) {
      cc_.cmp(gp(i.b), a.as<Imm>());
      cond = kSwapped[k];
    } else {
      Operand b = gp_or_imm(i.b);
      if (b.isImm()) cc_.cmp(gp(i.a), b.as<Imm>());
      else cc_.cmp(gp(i.a), b.as<x86::Gp>());
      cond = kCond[k];
    }
  } else if (i.op == ir::IR_feq || i.op == ir::IR_fne) {
    // Equal: ZF set and PF clear (unordered sets both). Jump when equal: past the je when unordered.
    cc_.ucomisd(xmm(i.a), xmm(i.b));
    if (when == (i.op == ir::IR_feq)) {
      Label skip = cc_.newLabel();
      cc_.jp(skip);
      cc_.je(l);
      cc_.bind(skip);
    } else {
      cc_.jp(l);
      cc_.jne(l);
    }
    return;
  } else {
    // a < b <=> b > a (seta after ucomisd b, a): unordered sets CF, so every NaN compare is false.
    bool swap = i.op == ir::IR_flt || i.op == ir::IR_fle;
    x86::Xmm a = xmm(i.a), b = xmm(i.b);
    if (swap) cc_.ucomisd(b, a);
    else cc_.ucomisd(a, b);
    cond = (i.op == ir::IR_flt || i.op == ir::IR_fgt) ? x86::CondCode::kA : x86::CondCode::kAE;
  }
  cc_.j(when ? cond : x86::negateCond(cond), l);
}

void Gen::set_bool(IRRef r) {
  const IRIns& i = ins(r);
  x86::Gp d = def_gp(r);
  if (i.op == ir::IR_feq || i.op == ir::IR_fne) {
    x86::Xmm a = xmm(i.a), b = xmm(i.b);
    x86::Gp t = new_i64();
    cc_.xor_(d.r32(), d.r32());
    cc_.xor_(t.r32(), t.r32());
    cc_.ucomisd(a, b);
    if (i.op == ir::IR_feq) {   // ZF and not PF (ordered)
      cc_.sete(d.r8());
      cc_.setnp(t.r8());
      cc_.and_(d, t);
    } else {
      cc_.setne(d.r8());
      cc_.setp(t.r8());
      cc_.or_(d, t);
    }
    return;
  }
  Label yes = cc_.newLabel(), done = cc_.newLabel();
  cond_jump(r, true, yes);
  cc_.xor_(d.r32(), d.r32());
  cc_.jmp(done);
  cc_.bind(yes);
  cc_.mov(d.r32(), 1);
  cc_.bind(done);
}

bool Gen::call_runtime(IRRef r, x86::Gp a, x86::Gp b, Label on_false) {
  if (!o_.runtime) return false;
  // Every argument is computed before the invoke node: instructions emitted after it run after the call.
  x86::Gp ip = imm64(reinterpret_cast<uint64_t>(&t_.ins[size_t(r)]));
  x86::Gp op = new_ptr();
  cc_.lea(op, tmp_);
  x86::Gp ok = new_i32();
  InvokeNode* inv;
  cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.runtime)),
             FuncSignatureT<bool, const void*, uint64_t, uint64_t, uint64_t*>(CallConvId::kHost));
  inv->setArg(0, ip);
  inv->setArg(1, a);
  inv->setArg(2, b);
  inv->setArg(3, op);
  inv->setRet(0, ok);
  cc_.test(ok.r8(), ok.r8());
  cc_.jz(on_false);
  return true;
}

void Gen::load_runtime_result(IRRef r) {
  ir::IRType ty = ins(r).type;
  if (ty == ir::IRT_void) return;
  if (ty == ir::IRT_f64) cc_.movsd(def_xmm(r), tmp_);
  else cc_.mov(def_gp(r), tmp_);
}

x86::Gp Gen::slot_word(IRRef r) {
  x86::Gp w = new_ptr();
  cc_.mov(w, x86::qword_ptr(slots_, int32_t(8 * ins(r).imm)));
  return w;
}

// ---------------------------------------------------------------- lowering
bool Gen::lower_i64(IRRef r) {
  const IRIns& i = ins(r);
  switch (i.op) {
    case ir::IR_add: {   // no flags needed: one lea (three operands, no copy) unless b is a wide constant
      x86::Gp d = def_gp(r), a = gp(i.a);
      Operand b = gp_or_imm(i.b);
      if (b.isImm()) cc_.lea(d, x86::ptr(a, int32_t(b.as<Imm>().value())));
      else cc_.lea(d, x86::ptr(a, b.as<x86::Gp>()));
      return true;
    }
    case ir::IR_add_ov: case ir::IR_sub_ov: case ir::IR_mul_ov: case ir::IR_and: case ir::IR_or:
    case ir::IR_xor: {
      x86::Gp d = def_gp(r);
      cc_.mov(d, gp(i.a));
      Operand b = gp_or_imm(i.b);
      bool im = b.isImm();
      x86::Gp bg = im ? x86::Gp() : b.as<x86::Gp>();
      Imm bi = im ? b.as<Imm>() : Imm(0);
      switch (i.op) {
        case ir::IR_add_ov: im ? cc_.add(d, bi) : cc_.add(d, bg); break;
        case ir::IR_sub_ov: im ? cc_.sub(d, bi) : cc_.sub(d, bg); break;
        case ir::IR_mul_ov: im ? cc_.imul(d, bi) : cc_.imul(d, bg); break;
        case ir::IR_and: im ? cc_.and_(d, bi) : cc_.and_(d, bg); break;
        case ir::IR_or: im ? cc_.or_(d, bi) : cc_.or_(d, bg); break;
        default: im ? cc_.xor_(d, bi) : cc_.xor_(d, bg); break;
      }
      if (ir::ir_info(i.op).is_guard) cc_.jo(exit_of(r));
      return true;
    }
    case ir::IR_neg_ov: {
      x86::Gp d = def_gp(r);
      cc_.mov(d, gp(i.a));
      cc_.neg(d);
      cc_.jo(exit_of(r));
      return true;
    }
    case ir::IR_abs_ov: {   // -a overflows only for INT64_MIN; a negative -a means a was positive
      x86::Gp d = def_gp(r), a = gp(i.a);
      cc_.mov(d, a);
      cc_.neg(d);
      cc_.jo(exit_of(r));
      cc_.cmovs(d, a);
      return true;
    }
    case ir::IR_shl: case ir::IR_sar: {
      x86::Gp d = def_gp(r), c = new_i64();
      cc_.mov(d, gp(i.a));
      cc_.mov(c, gp(i.b));   // x86 masks the count by 63 itself
      if (i.op == ir::IR_shl) cc_.shl(d, c.r8());
      else cc_.sar(d, c.r8());
      return true;
    }
    case ir::IR_imin: case ir::IR_imax: {   // b < a ? b : a  /  b > a ? b : a
      x86::Gp d = def_gp(r), b = gp(i.b);
      cc_.mov(d, gp(i.a));
      cc_.cmp(b, d);
      if (i.op == ir::IR_imin) cc_.cmovl(d, b);
      else cc_.cmovg(d, b);
      return true;
    }
    case ir::IR_floordiv_ov: case ir::IR_mod_ov: {
      // A constant power of two: floor division is an arithmetic shift, the remainder (with the divisor's
      // sign, positive) the low bits; neither can fail.
      int64_t k = is_k(i.b) ? ins(i.b).imm : 0;
      if (k > 0 && (k & (k - 1)) == 0) {
        x86::Gp d = def_gp(r);
        cc_.mov(d, gp(i.a));
        if (i.op == ir::IR_floordiv_ov) {
          if (k > 1) cc_.sar(d, __builtin_ctzll(uint64_t(k)));
        } else if (k - 1 == int64_t(int32_t(k - 1))) {
          cc_.and_(d, Imm(k - 1));
        } else {
          cc_.and_(d, imm64(uint64_t(k - 1)));
        }
        return true;
      }
      x86::Gp b = gp(i.b), q = new_i64(), rem = new_i64();
      Label ok = cc_.newLabel(), done = cc_.newLabel();
      if (!is_k(i.b) || k == 0 || k == -1) {   // (a constant other than 0 and -1 needs neither check)
        cc_.test(b, b);
        cc_.jz(exit_of(r));
        cc_.cmp(b, -1);
        cc_.jne(ok);
        x86::Gp mn = imm64(uint64_t(1) << 63);
        cc_.cmp(gp(i.a), mn);
        cc_.je(exit_of(r));
      }
      cc_.bind(ok);
      cc_.mov(q, gp(i.a));
      cc_.cqo(rem, q);
      cc_.idiv(rem, q, b);
      x86::Gp s = new_i64();   // inexact with the remainder's sign unlike b's: adjust
      cc_.test(rem, rem);
      cc_.jz(done);
      cc_.mov(s, rem);
      cc_.xor_(s, b);
      cc_.jns(done);
      if (i.op == ir::IR_floordiv_ov) cc_.sub(q, 1);
      else cc_.add(rem, b);
      cc_.bind(done);
      v_[size_t(r)] = i.op == ir::IR_floordiv_ov ? q : rem;
      return true;
    }
    case ir::IR_not: {
      x86::Gp d = def_gp(r);
      cc_.mov(d, gp(i.a));
      cc_.xor_(d, 1);
      return true;
    }
    case ir::IR_b2i: {
      x86::Gp d = def_gp(r);
      cc_.mov(d, gp(i.a));
      return true;
    }
    case ir::IR_i2f: {
      x86::Xmm d = def_xmm(r);
      cc_.xorps(d, d);
      cc_.cvtsi2sd(d, gp(i.a));
      return true;
    }
    case ir::IR_f2i: {   // exits unless -2**63 <= a < 2**63 (NaN: unordered sets CF and PF)
      x86::Xmm a = xmm(i.a);
      x86::Xmm lo = new_f64(), hi = new_f64();
      cc_.movsd(lo, cc_.newDoubleConst(ConstPoolScope::kLocal, -0x1p63));
      cc_.movsd(hi, cc_.newDoubleConst(ConstPoolScope::kLocal, 0x1p63));
      cc_.ucomisd(a, lo);
      cc_.jb(exit_of(r));      // a < -2**63 or NaN
      cc_.ucomisd(a, hi);
      cc_.jae(exit_of(r));
      cc_.cvttsd2si(def_gp(r), a);
      return true;
    }
    default:
      if (icmp_index(i.op) >= 0 || (i.op >= ir::IR_flt && i.op <= ir::IR_fne)) {
        if (!fusable(r)) set_bool(r);
        return true;
      }
      return false;
  }
}

// The f64 ops one instruction computes: AVX's three-operand form (d = a op b, no copy), and SSE2's
// two-operand one (d = a first, with fcopy).
struct FloatOp {
  ir::IROp op;
  x86::Inst::Id vex, sse;
};
constexpr FloatOp kFloatOps[] = {
    {ir::IR_fadd, x86::Inst::kIdVaddsd, x86::Inst::kIdAddsd}, {ir::IR_fsub, x86::Inst::kIdVsubsd, x86::Inst::kIdSubsd},
    {ir::IR_fmul, x86::Inst::kIdVmulsd, x86::Inst::kIdMulsd}, {ir::IR_fdiv, x86::Inst::kIdVdivsd, x86::Inst::kIdDivsd},
    {ir::IR_fmin, x86::Inst::kIdVminsd, x86::Inst::kIdMinsd}, {ir::IR_fmax, x86::Inst::kIdVmaxsd, x86::Inst::kIdMaxsd},
    {ir::IR_fneg, x86::Inst::kIdVxorpd, x86::Inst::kIdXorpd}, {ir::IR_fabs, x86::Inst::kIdVandpd, x86::Inst::kIdAndpd},
};

void Gen::fop(ir::IROp op, x86::Xmm d, x86::Xmm a, const Operand& b) {
  for (const FloatOp& f : kFloatOps) {
    if (f.op != op) continue;
    if (avx()) {
      cc_.emit(f.vex, d, a, b);
    } else {
      fcopy(d, a);
      cc_.emit(f.sse, d, b);
    }
    return;
  }
}

bool Gen::lower_f64(IRRef r) {
  const IRIns& i = ins(r);
  switch (i.op) {
    case ir::IR_fadd: case ir::IR_fsub: case ir::IR_fmul: case ir::IR_fdiv: {
      x86::Xmm d = def_xmm(r), b = xmm(i.b), a = xmm(i.a);
      fop(i.op, d, a, b);
      return true;
    }
    case ir::IR_fneg: case ir::IR_fabs: {   // the sign bit, NaN included (xorpd/andpd with a mask)
      // Not movq to a general register and back: asmjit 1.9 rewrites a spilled xmm operand of movq r64, xmm
      // into a memory operand, which encodes a store instead.
      static const uint64_t kMask[2][2] = {{uint64_t(1) << 63, 0}, {~(uint64_t(1) << 63), ~uint64_t(0)}};
      x86::Xmm d = def_xmm(r), a = xmm(i.a);
      fop(i.op, d, a, cc_.newConst(ConstPoolScope::kLocal, kMask[i.op == ir::IR_fabs], 16));
      return true;
    }
    case ir::IR_fsqrt: {
      x86::Xmm a = xmm(i.a), d = def_xmm(r);
      if (avx()) cc_.vsqrtsd(d, a, a);   // (sqrtsd merges into d's upper half: a dependency on d)
      else cc_.sqrtsd(d, a);
      return true;
    }
    case ir::IR_fmin: case ir::IR_fmax: {   // minsd d=b, s=a: b < a ? b : a, a when unordered (Python's min)
      x86::Xmm d = def_xmm(r), a = xmm(i.a), b = xmm(i.b);
      fop(i.op, d, b, a);
      return true;
    }
    case ir::IR_ffloordiv: case ir::IR_fmod: {
      double (*fn)(double, double) = i.op == ir::IR_fmod ? &h_fmod : &h_ffloordiv;
      x86::Xmm a = xmm(i.a), b = xmm(i.b), d = def_xmm(r);
      InvokeNode* inv;
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(fn)), FuncSignatureT<double, double, double>(CallConvId::kHost));
      inv->setArg(0, a);
      inv->setArg(1, b);
      inv->setRet(0, d);
      return true;
    }
    case ir::IR_fpow: {   // h_fpow inline, CPython's power through the runtime where it declines
      if (!o_.runtime) return false;
      x86::Xmm a = xmm(i.a), d = def_xmm(r);
      Label done = cc_.newLabel();
      // The calls: h_fpow, and the runtime where it declines (out of line after a sqrt fast path).
      auto calls = [this, r, a, d, done] {
        const IRIns& i = ins(r);
        x86::Xmm b = xmm(i.b);
        x86::Gp p = new_ptr(), ok = new_i32();
        Label slow = cc_.newLabel();
        cc_.lea(p, tmp_);
        InvokeNode* inv;
        cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(&h_fpow)),
                   FuncSignatureT<bool, double, double, double*>(CallConvId::kHost));
        inv->setArg(0, a);
        inv->setArg(1, b);
        inv->setArg(2, p);
        inv->setRet(0, ok);
        cc_.test(ok.r8(), ok.r8());
        cc_.jz(slow);
        cc_.movsd(d, tmp_);
        cc_.jmp(done);
        cc_.bind(slow);
        x86::Gp ba = bits(i.a), bb = bits(i.b);
        call_runtime(r, ba, bb, exit_of(r));
        cc_.movsd(d, tmp_);
        cc_.jmp(done);
      };
      if (is_k(i.b) && ins(i.b).imm == ir::f64_bits(0.5) && sqrt_half_agrees()) {
        // x ** 0.5: sqrt where it is pow's own result (sqrt_half_candidate, the same test), else pow
        // (All in xmm registers: r's exponent by a mask, no round trip through a general register.)
        Label call = cc_.newLabel();
        x86::Xmm res = new_f64(), e = new_f64();
        static const uint64_t kExp[2] = {0x7FF0000000000000ull, 0x7FF0000000000000ull};
        static const uint64_t kAbs[2] = {0x7FFFFFFFFFFFFFFFull, 0x7FFFFFFFFFFFFFFFull};
        cc_.ucomisd(a, cc_.newDoubleConst(ConstPoolScope::kLocal, kSqrtHalfLo));
        cc_.jb(call);   // below, or NaN
        cc_.ucomisd(a, cc_.newDoubleConst(ConstPoolScope::kLocal, kSqrtHalfHi));
        cc_.ja(call);
        if (avx()) cc_.vsqrtsd(d, a, a);   // (see fsqrt)
        else cc_.sqrtsd(d, a);
        cc_.movapd(e, d);
        cc_.andpd(e, cc_.newConst(ConstPoolScope::kLocal, kExp, 16));   // 2**exponent(r), as a double
        cc_.ucomisd(d, e);
        cc_.je(call);   // r is that power of two (no mantissa bits)
        cc_.mulsd(e, d);
        cc_.mulsd(e, cc_.newDoubleConst(ConstPoolScope::kLocal, kSqrtHalfTol));
        fcopy(res, a);
        cc_.vfnmadd231sd(res, d, d);   // res = x - r*r, exactly
        cc_.andpd(res, cc_.newConst(ConstPoolScope::kLocal, kAbs, 16));
        cc_.ucomisd(res, e);
        cc_.jae(call);   // |x - r*r| < lim: r is pow's result; else pow decides
        cc_.bind(done);
        cold_.push_back([this, call, calls] {
          cc_.bind(call);
          calls();
        });
        return true;
      }
      calls();
      cc_.bind(done);
      return true;
    }
    case ir::IR_callf1: {
      x86::Gp f = imm64(uint64_t(i.imm)), p = new_ptr(), ok = new_i32();
      x86::Xmm x = xmm(i.a);
      cc_.lea(p, tmp_);
      InvokeNode* inv;
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(&h_callf1)),
                 FuncSignatureT<bool, const void*, double, double*>(CallConvId::kHost));
      inv->setArg(0, f);
      inv->setArg(1, x);
      inv->setArg(2, p);
      inv->setRet(0, ok);
      cc_.test(ok.r8(), ok.r8());
      cc_.jz(exit_of(r));
      cc_.movsd(def_xmm(r), tmp_);
      return true;
    }
    default:
      return false;
  }
}

bool Gen::lower_guard(IRRef r) {
  const IRIns& i = ins(r);
  switch (i.op) {
    case ir::IR_guard_true: case ir::IR_guard_false: {
      bool want = i.op == ir::IR_guard_true;
      if (fusable(i.a) && i.a == r - 1) {
        cond_jump(i.a, !want, exit_of(r));
      } else if (is_k(i.a)) {
        if ((ins(i.a).imm != 0) != want) cc_.jmp(exit_of(r));
      } else {
        x86::Gp a = gp(i.a);
        cc_.test(a, a);
        if (want) cc_.jz(exit_of(r));
        else cc_.jnz(exit_of(r));
      }
      return true;
    }
    case ir::IR_guard_eqi: case ir::IR_guard_eqp: {
      Operand b = gp_or_imm(i.b);
      if (b.isImm()) cc_.cmp(gp(i.a), b.as<Imm>());
      else cc_.cmp(gp(i.a), b.as<x86::Gp>());
      cc_.jne(exit_of(r));
      return true;
    }
    case ir::IR_guard_nonnull: {
      x86::Gp a = gp(i.a);
      cc_.test(a, a);
      cc_.jz(exit_of(r));
      return true;
    }
    case ir::IR_guard_type: {
      // (Already checked: an unbox or a guard of the same object before it, in the same straight line.)
      const void* want = reinterpret_cast<const void*>(i.imm);
      if (i.a >= 0 && known_type_[size_t(i.a)] == want) return true;
      if (i.a >= 0 && immutable_type(want)) known_type_[size_t(i.a)] = want;
      x86::Gp t = new_ptr();
      cc_.mov(t, x86::qword_ptr(gp(i.a), 8));
      cc_.emit(x86::Inst::kIdCmp, t, cmp_k(uint64_t(i.imm)));
      cc_.jne(exit_of(r));
      return true;
    }
    case ir::IR_poll: {
      uint64_t at = uint64_t(i.imm);   // (in the low 2 GiB, as python3's own data: absolute, no register)
      cc_.cmp(mem_at(reinterpret_cast<const void*>(at), 4), 0);
      cc_.jne(exit_of(r));
      return true;
    }
    default:
      return false;
  }
}

bool Gen::lower_memory(IRRef r) {
  const IRIns& i = ins(r);
  switch (i.op) {
    case ir::IR_padd: {
      if (fused_addr_[size_t(r)]) return true;   // (its uses compute it: mem)
      x86::Gp d = def_gp(r), a = gp(i.a);
      int64_t s = i.imm, off = 0;
      if (is_k(i.b) && !__builtin_mul_overflow(ins(i.b).imm, s, &off) && off == int64_t(int32_t(off))) {
        cc_.lea(d, x86::ptr(a, int32_t(off)));   // a constant index: a displacement
        return true;
      }
      x86::Gp b = gp(i.b);
      if (s == 1 || s == 2 || s == 4 || s == 8) {
        cc_.lea(d, x86::ptr(a, b, s == 1 ? 0 : s == 2 ? 1 : s == 4 ? 2 : 3));
      } else {
        cc_.mov(d, b);
        if (s == int64_t(int32_t(s))) cc_.imul(d, Imm(s));
        else cc_.imul(d, imm64(uint64_t(s)));
        cc_.add(d, a);
      }
      return true;
    }
    case ir::IR_load_obj: case ir::IR_load_i64: case ir::IR_load_ptr: case ir::IR_load_cptr:
      cc_.mov(def_gp(r), mem(i.a, i.imm, 8));
      return true;
    case ir::IR_load_f64:
      cc_.movsd(def_xmm(r), mem(i.a, i.imm, 8));
      return true;
    case ir::IR_load_i32:
      cc_.movsxd(def_gp(r), mem(i.a, i.imm, 4));
      return true;
    case ir::IR_load_f32: {
      x86::Xmm d = def_xmm(r);
      cc_.xorps(d, d);   // (cvtss2sd merges into d's upper half)
      cc_.cvtss2sd(d, mem(i.a, i.imm, 4));
      return true;
    }
    case ir::IR_store_i64: case ir::IR_store_ptr: {
      x86::Mem m = mem(i.a, i.imm, 8);
      Operand b = gp_or_imm(i.b);
      if (b.isImm()) cc_.mov(m, b.as<Imm>());
      else cc_.mov(m, b.as<x86::Gp>());
      return true;
    }
    case ir::IR_store_f64:
      cc_.movsd(mem(i.a, i.imm, 8), xmm(i.b));
      return true;
    case ir::IR_store_f32: {
      x86::Xmm s = new_f32();
      cc_.cvtsd2ss(s, xmm(i.b));
      cc_.movss(mem(i.a, i.imm, 4), s);
      return true;
    }
    case ir::IR_store_i32:
      cc_.mov(mem(i.a, i.imm, 4), gp(i.b).r32());
      return true;
    case ir::IR_sload_obj:
      cc_.mov(def_gp(r), x86::qword_ptr(slots_, int32_t(8 * i.imm)));
      return true;
    default:
      return false;
  }
}

// Unboxing guards with an inline fast path for CPython's exact float, one-digit int and bool; anything else
// (a multi-digit int) asks the runtime, which has the whole rule.
bool Gen::lower_unbox(IRRef r) {
  const IRIns& i = ins(r);
  const PyLayout& L = o_.layout;
  bool sload = i.op == ir::IR_sload_f64 || i.op == ir::IR_sload_i64 || i.op == ir::IR_sload_bool;
  x86::Gp o = sload ? slot_word(r) : gp(i.a);
  if (i.op == ir::IR_sload_f64 || i.op == ir::IR_unbox_f64) {
    if (!L.float_type) return false;
    if (sload || known_type_[size_t(i.a)] != L.float_type) {
      if (sload) {   // (a frame slot may be null -- an unbound local; unbox's operand never is: ir_ops.def)
        cc_.test(o, o);
        cc_.jz(exit_of(r));
      }
      cc_.emit(x86::Inst::kIdCmp, x86::qword_ptr(o, 8), cmp_k(uint64_t(L.float_type)));
      cc_.jne(exit_of(r));
      if (!sload) known_type_[size_t(i.a)] = L.float_type;
    }
    cc_.movsd(def_xmm(r), x86::qword_ptr(o, L.float_value));
    return true;
  }
  if (i.op == ir::IR_sload_bool) {
    if (!L.true_obj) return false;
    x86::Gp d = def_gp(r);
    Label done = cc_.newLabel();
    cc_.xor_(d.r32(), d.r32());
    cc_.emit(x86::Inst::kIdCmp, o, cmp_k(uint64_t(L.true_obj)));
    cc_.sete(d.r8());
    cc_.je(done);
    cc_.emit(x86::Inst::kIdCmp, o, cmp_k(uint64_t(L.false_obj)));
    cc_.jne(exit_of(r));
    cc_.bind(done);
    return true;
  }
  if (!L.long_type || !o_.runtime) return false;
  // One digit or none (ob_size -1, 0, 1): digit * ob_size, without a branch on the sign -- CPython 3.11's own
  // medium_value(), which reads ob_digit[0] of a zero too (_PyLong_New allocates at least one digit for
  // that). More digits: the runtime, out of line.
  x86::Gp d = def_gp(r), sz = new_i64(), t = new_i64();
  Label done = cc_.newLabel(), slow = cc_.newLabel();
  // A small int, -5 .. 256 (CPython's cached objects: what arithmetic, the restore and box_i64 give for
  // them), is its address: (o - small_ints) / 32 - 5, no load; anything else, null included (far outside the
  // array), goes on to the checks. (A non-PIE python3: the array's address fits a 32-bit immediate.)
  const uint64_t smalls = uint64_t(L.small_ints);
  if (smalls && int64_t(smalls) == int64_t(int32_t(smalls)) && L.small_int_size == 32 && L.small_int_count > 0) {
    Label generic = cc_.newLabel();
    x86::Gp k = new_i64();
    cc_.lea(k, x86::ptr(o, -int32_t(smalls)));
    cc_.cmp(k, int64_t(L.small_int_count) * 32);
    cc_.jae(generic);
    cc_.sar(k, 5);
    cc_.lea(d, x86::ptr(k, -5));
    cc_.jmp(done);
    cc_.bind(generic);
  }
  if (sload || known_type_[size_t(i.a)] != L.long_type) {
    if (sload) {
      cc_.test(o, o);
      cc_.jz(exit_of(r));
    }
    cc_.emit(x86::Inst::kIdCmp, x86::qword_ptr(o, 8), cmp_k(uint64_t(L.long_type)));
    cc_.jne(exit_of(r));
    if (!sload) known_type_[size_t(i.a)] = L.long_type;
  }
  cc_.mov(sz, x86::qword_ptr(o, L.long_size));
  cc_.lea(t, x86::ptr(sz, 1));
  cc_.cmp(t, 2);
  cc_.ja(slow);
  cc_.mov(d.r32(), x86::dword_ptr(o, L.long_digit));   // zero-extends
  cc_.imul(d, sz);
  cc_.bind(done);
  cold_.push_back([this, r, o, d, slow, done] {
    cc_.bind(slow);
    x86::Gp arg = new_ptr();   // (a copy: o itself need not live in the call's argument register)
    cc_.mov(arg, o);
    const void* thunk = o_.layout.unbox_long ? gp_saving_thunk(reinterpret_cast<const void*>(o_.layout.unbox_long))
                                             : nullptr;
    if (thunk) {   // every general register but rax survives the thunk: nothing to save around the call
      x86::Gp p = new_ptr(), ok = new_i32();
      cc_.lea(p, tmp_);
      InvokeNode* inv;
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(thunk)), FuncSignatureT<bool, void*, int64_t*>(CallConvId::kHost));
      inv->detail()._callConv.setPreservedRegs(RegGroup::kGp,
                                               Support::lsbMask<RegMask>(16) & ~Support::bitMask(x86::Gp::kIdAx));
      inv->setArg(0, arg);
      inv->setArg(1, p);
      inv->setRet(0, ok);
      cc_.test(ok.r8(), ok.r8());
      cc_.jz(exit_of(r));
    } else {
      call_runtime(r, arg, imm64(0), exit_of(r));
    }
    cc_.mov(d, tmp_);
    cc_.jmp(done);
  });
  return true;
}

// range_iter: a spare range iterator filled in inline where new_range_iter would hand one out (step 1, a spare
// there, tracemalloc off, a length that fits), else new_range_iter called directly (out of line). A null
// result (a long range, no memory) is for the guard_nonnull after it.
bool Gen::lower_range_iter(IRRef r) {
  const IRIns& i = ins(r);
  const PyLayout& L = o_.layout;
  x86::Gp a = gp(i.a), b = gp(i.b), d = def_gp(r);
  Label slow = cc_.newLabel(), done = cc_.newLabel();
  if (i.imm == 1 && L.range_spares && L.range_nspare && L.tracemalloc_tracing) {
    x86::Gp len = new_i64(), n = new_i64(), p = new_ptr(), zero = new_i64();
    cc_.mov(len, b);
    cc_.sub(len, a);   // stop - start; an overflow is a length beyond the C long range (or an empty range)
    cc_.jo(slow);
    cc_.xor_(zero.r32(), zero.r32());
    cc_.test(len, len);
    cc_.cmovl(len, zero);   // start >= stop: empty
    cc_.cmp(mem_at(L.tracemalloc_tracing, 4), 0);
    cc_.jne(slow);   // _Py_NewReference must tell tracemalloc
    x86::Mem nspare = mem_at(L.range_nspare, 4);
    cc_.movsxd(n, nspare);
    cc_.sub(n, 1);
    cc_.jl(slow);   // no spare
    cc_.mov(nspare, n.r32());
    cc_.mov(p, imm64(uint64_t(L.range_spares)));
    cc_.mov(d, x86::qword_ptr(p, n, 3));
    cc_.mov(x86::qword_ptr(d), 1);   // ob_refcnt
    cc_.mov(x86::qword_ptr(d, L.range_fields[0]), 0);
    cc_.mov(x86::qword_ptr(d, L.range_fields[1]), a);
    cc_.mov(x86::qword_ptr(d, L.range_fields[2]), 1);
    cc_.mov(x86::qword_ptr(d, L.range_fields[3]), len);
    if (L.stat_range_reused) cc_.add(mem_at(L.stat_range_reused), 1);
  } else {
    cc_.jmp(slow);
  }
  cc_.bind(done);
  int64_t step = i.imm;
  cold_.push_back([this, a, b, d, step, slow, done] {
    cc_.bind(slow);
    x86::Gp x = new_i64(), y = new_i64(), z = imm64(uint64_t(step));
    cc_.mov(x, a);
    cc_.mov(y, b);
    InvokeNode* inv;
    cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.range_iter_fn)),
               FuncSignatureT<void*, int64_t, int64_t, int64_t>(CallConvId::kHost));
    inv->setArg(0, x);
    inv->setArg(1, y);
    inv->setArg(2, z);
    inv->setRet(0, d);
    cc_.jmp(done);
  });
  return true;
}

bool Gen::lower_runtime(IRRef r) {
  const IRIns& i = ins(r);
  bool guard = ir::ir_info(i.op).is_guard;
  if (i.op == ir::IR_range_iter && o_.layout.range_iter_fn) return lower_range_iter(r);
  if ((i.op == ir::IR_list_slice && o_.layout.list_slice_fn) || (i.op == ir::IR_seq_iter && o_.layout.seq_iter_fn) ||
      (i.op == ir::IR_list_append && o_.layout.list_append_fn)) {
    // The runtime hook's own function, without its dispatch (fannkuch's `perm1[:]` 362 K times a run, nbody's
    // `for b in bs` 400 K). Never fails here: a null or 0 result is for the guard after it.
    InvokeNode* inv;
    if (i.op == ir::IR_list_slice) {
      x86::Gp a = gp(i.a), b = gp(i.b), hi = imm64(uint64_t(i.imm));
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.list_slice_fn)),
                 FuncSignatureT<void*, void*, int64_t, int64_t>(CallConvId::kHost));
      inv->setArg(0, a);
      inv->setArg(1, b);
      inv->setArg(2, hi);
    } else if (i.op == ir::IR_seq_iter) {
      x86::Gp a = gp(i.a);
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.seq_iter_fn)),
                 FuncSignatureT<void*, void*>(CallConvId::kHost));
      inv->setArg(0, a);
    } else {
      x86::Gp a = gp(i.a), b = gp(i.b);
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.list_append_fn)),
                 FuncSignatureT<int64_t, void*, void*>(CallConvId::kHost));
      inv->setArg(0, a);
      inv->setArg(1, b);
    }
    inv->setRet(0, def_gp(r));
    return true;
  }
  if (i.op == ir::IR_incref) {
    cc_.add(x86::qword_ptr(gp(i.a)), 1);
    return true;
  }
  if (i.op == ir::IR_box_i64 && o_.layout.box_i64 && o_.layout.small_ints) {
    // A small int is CPython's cached object (what PyLong_FromLongLong returns for it), referenced inline.
    const PyLayout& L = o_.layout;
    x86::Gp a = gp(i.a), d = def_gp(r), t = new_i64();
    Label call = cc_.newLabel(), done = cc_.newLabel();
    cc_.lea(t, x86::ptr(a, 5));
    cc_.cmp(t, L.small_int_count);
    cc_.jae(call);
    uint64_t base = uint64_t(L.small_ints);
    bool base32 = int64_t(base) == int64_t(int32_t(base)) && L.small_int_size == 32;
    if (base32) {   // (a non-PIE python3: the cached ints' address fits a displacement)
      cc_.shl(t, 5);
      cc_.lea(d, x86::ptr(t, int32_t(base)));
    } else {
      cc_.imul(t, t, L.small_int_size);
      cc_.mov(d, imm64(base));
      cc_.add(d, t);
    }
    cc_.add(x86::qword_ptr(d), 1);
    cc_.bind(done);
    cold_.push_back([this, a, d, call, done] {
      cc_.bind(call);
      x86::Gp arg = new_i64();
      cc_.mov(arg, a);
      InvokeNode* inv;
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.box_i64)), FuncSignatureT<void*, int64_t>(CallConvId::kHost));
      inv->setArg(0, arg);
      inv->setRet(0, d);
      cc_.test(d, d);
      cc_.jz(error_);   // out of memory: a Python error is set
      cc_.jmp(done);
    });
    return true;
  }
  if ((i.op == ir::IR_box_f64 && o_.layout.box_f64) || (i.op == ir::IR_box_i64 && o_.layout.box_i64)) {
    // (The argument first: whatever is emitted after the invoke node runs after the call.)
    InvokeNode* inv;
    if (i.op == ir::IR_box_f64) {
      x86::Xmm a = xmm(i.a);
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.box_f64)), FuncSignatureT<void*, double>(CallConvId::kHost));
      inv->setArg(0, a);
    } else {
      x86::Gp a = gp(i.a);
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.box_i64)), FuncSignatureT<void*, int64_t>(CallConvId::kHost));
      inv->setArg(0, a);
    }
    x86::Gp d = def_gp(r);
    inv->setRet(0, d);
    cc_.test(d, d);
    cc_.jz(error_);   // out of memory: a Python error is set
    return true;
  }
  if (i.op == ir::IR_decref && o_.layout.dealloc) {
    x86::Gp a = gp(i.a);
    Label done = cc_.newLabel(), dealloc = cc_.newLabel();
    cc_.sub(x86::qword_ptr(a), 1);
    cc_.jz(dealloc);
    cc_.bind(done);
    cold_.push_back([this, a, dealloc, done] {   // the last reference: out of line
      cc_.bind(dealloc);
      x86::Gp arg = new_ptr();
      cc_.mov(arg, a);
      InvokeNode* inv;
      cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.dealloc)),
                 FuncSignatureT<void, void*>(CallConvId::kHost));
      inv->setArg(0, arg);
      cc_.jmp(done);
    });
    return true;
  }
  bool sload = i.op >= ir::IR_sload_obj && i.op <= ir::IR_sload_bool;
  x86::Gp a = sload ? slot_word(r) : bits(i.a);
  x86::Gp b = sload ? imm64(0) : bits(i.b);
  if (!call_runtime(r, a, b, guard ? exit_of(r) : error_)) return false;
  load_runtime_result(r);
  return true;
}

void Gen::lower_loop(IRRef r) {
  for (IRRef p = r + 1; p < t_.size() && ins(p).op == ir::IR_phi; p++) phis_.push_back(p);
  for (IRRef p : phis_) {
    const IRIns& i = ins(p);
    if (i.type == ir::IRT_f64) fcopy(def_xmm(p), xmm(i.a));
    else cc_.mov(def_gp(p), gp(i.a));
  }
  // The f64 constants the body computes with, each in a register of its own from here on (loaded once,
  // not at every use in every iteration; the allocator spills one where registers run short, which costs
  // what the load did). Only the body's own instructions take them (in_body_): slow paths and exits,
  // emitted later, may be reached from before this point.
  // Likewise the constant addresses the body loads from or stores to that take a 64-bit immediate (a
  // namespace dict's version word re-read after each call: `mov reg, imm64` at every access).
  for (IRRef k = r + 1; k < t_.size(); k++) {
    const ir::IRIns& i = ins(k);
    const ir::IREffect e = ir::ir_info(i.op).effect;
    if ((e != ir::IRE_load && e != ir::IRE_store) || i.a < 0 || !is_k(i.a) || fused_addr_[size_t(i.a)] ||
        fits32(uint64_t(ins(i.a).imm)) || hoisted_[size_t(i.a)].isValid())
      continue;
    if (ir::ir_info(i.op).ka != ir::IRK_addr) continue;
    hoisted_[size_t(i.a)] = gp(i.a);
  }
  for (IRRef k = r + 1; k < t_.size(); k++) {
    const ir::IROpInfo& info = ir::ir_info(ins(k).op);
    if (ins(k).op == ir::IR_phi) continue;
    for (int side = 0; side < 2; side++) {
      IRRef o = side ? ins(k).b : ins(k).a;
      if ((side ? info.kb : info.ka) != ir::IRK_f64 || o < 0 || !is_k(o) || hoisted_[size_t(o)].isValid()) continue;
      hoisted_[size_t(o)] = xmm(o);
    }
  }
  in_body_ = true;
  body_ = cc_.newLabel();
  cc_.bind(body_);
}

bool Gen::lower(IRRef r) {
  const IRIns& i = ins(r);
  switch (i.op) {
    case ir::IR_store_fitem: {   // in place when the list holds the float's only reference, else the runtime
      if (!o_.layout.float_type || !o_.runtime) break;
      // The runtime call out of line (with copies of its operands), and the guard_true on the result that
      // always follows fused into it: the in-place store needs no result at all.
      bool fused = r + 1 < t_.size() && ins(r + 1).op == ir::IR_guard_true && ins(r + 1).a == r &&
                   uses_[size_t(r)] == 1;
      x86::Gp addr = gp(i.a), old = new_ptr();
      x86::Xmm v = xmm(i.b);
      x86::Gp ok = fused ? x86::Gp() : def_gp(r);
      Label slow = cc_.newLabel(), done = cc_.newLabel();
      cc_.mov(old, x86::qword_ptr(addr));
      cc_.cmp(x86::qword_ptr(old), 1);
      cc_.jne(slow);
      cc_.movsd(x86::qword_ptr(old, o_.layout.float_value), v);
      if (!fused) cc_.mov(ok, 1);
      cc_.bind(done);
      if (fused) fused_guard_ = r + 1;
      Label failed = fused ? exit_of(r + 1) : Label();
      cold_.push_back([this, r, addr, v, ok, slow, done, failed] {
        cc_.bind(slow);
        x86::Gp a = new_ptr();
        cc_.mov(a, addr);
        x86::Gp vb = new_i64();   // the bits, through memory (see fneg for why not movq)
        cc_.movsd(tmp_, v);
        cc_.mov(vb, tmp_);
        call_runtime(r, a, vb, error_);   // (the hook itself never fails: *out says whether it stored)
        if (failed.isValid()) {
          x86::Gp stored = new_i64();
          cc_.mov(stored, tmp_);
          cc_.test(stored, stored);
          cc_.jz(failed);
        } else {
          cc_.mov(ok, tmp_);
        }
        cc_.jmp(done);
      });
      return true;
    }
    case ir::IR_pload_i64: case ir::IR_pload_f64: case ir::IR_pload_bool: case ir::IR_pload_obj: {
      x86::Mem m = x86::qword_ptr(parent_, int32_t(8 * i.imm));
      if (i.op == ir::IR_pload_f64) cc_.movsd(def_xmm(r), m);
      else cc_.mov(def_gp(r), m);
      return true;
    }
    case ir::IR_guard_true:
      if (fused_guard_ != r) break;
      fused_guard_ = kNoRef;   // (checked by the store_fitem before it)
      return true;
    case ir::IR_loop: lower_loop(r); return true;
    case ir::IR_phi: return true;   // defined at the loop
    case ir::IR_sload_f64: case ir::IR_unbox_f64: case ir::IR_sload_i64: case ir::IR_unbox_i64:
    case ir::IR_sload_bool:
      return lower_unbox(r) || lower_runtime(r);
    default: break;
  }
  if (ir::ir_is_const(i.op)) return true;   // materialized where used
  return lower_i64(r) || lower_f64(r) || lower_guard(r) || lower_memory(r) || lower_runtime(r);
}

// True for the loads and stores whose address (operand a) lower_memory takes through mem().
static bool addressed_by_mem(ir::IROp op) {
  switch (op) {
    case ir::IR_load_obj: case ir::IR_load_i64: case ir::IR_load_ptr: case ir::IR_load_cptr: case ir::IR_load_f64:
    case ir::IR_load_i32: case ir::IR_load_f32: case ir::IR_store_i64: case ir::IR_store_ptr: case ir::IR_store_f64:
    case ir::IR_store_f32: case ir::IR_store_i32:
      return true;
    default:
      return false;
  }
}

void Gen::plan_fused_addresses(IRRef loop) {
  size_t n = size_t(t_.size());
  fused_addr_.assign(n, 0);
  std::vector<int> mem_uses(n, 0);
  std::vector<char> apart(n, 0);   // a use in the other part of the trace (the padd's operands would stay
                                   // live through the loop instead of its one register)
  std::vector<int64_t> max_off(n, 0), min_off(n, 0);
  for (IRRef q = 0; q < t_.size(); q++) {
    const IRIns& i = ins(q);
    if (i.a < 0 || ins(i.a).op != ir::IR_padd || !addressed_by_mem(i.op) || i.b == i.a) continue;
    size_t p = size_t(i.a);
    if (mem_uses[p]++ == 0) max_off[p] = min_off[p] = i.imm;
    max_off[p] = std::max(max_off[p], i.imm);
    min_off[p] = std::min(min_off[p], i.imm);
    if (loop != kNoRef && (i.a < loop) != (q < loop)) apart[p] = 1;
  }
  auto fits = [](int64_t v) { return v == int64_t(int32_t(v)); };
  for (IRRef r = 0; r < t_.size(); r++) {
    const IRIns& p = ins(r);
    size_t k = size_t(r);
    if (p.op != ir::IR_padd || mem_uses[k] == 0 || mem_uses[k] != uses_[k] || apart[k]) continue;
    int64_t base = 0;
    if (is_k(p.b)) {
      if (__builtin_mul_overflow(ins(p.b).imm, p.imm, &base)) continue;
    } else if (p.imm != 1 && p.imm != 2 && p.imm != 4 && p.imm != 8) {
      continue;
    }
    if (!fits(base) || !fits(base + min_off[k]) || !fits(base + max_off[k])) continue;
    fused_addr_[k] = 1;
  }
}

// A value r the back-edge moves into phi p is defined in p's register when nothing reads p from r on: no
// later instruction, no snapshot of r itself or of a later guard (their exits read p's register), no other
// phi's back-edge move. Only ops whose lowering reads operand a after writing the destination never, and
// with p not their b (SSE2's two-operand forms copy a into the destination before they read b).
// A fused padd's operands count as read where the padd is used (plan_fused_addresses runs first).
void Gen::plan_coalescing(IRRef loop) {
  size_t n = size_t(t_.size());
  coalesce_.assign(n, kNoRef);
  if (loop == kNoRef) return;
  // Per value: 2q for its last read as an operand of q, 2q + 1 in q's snapshot (read after q's result is
  // written: an overflow exit), past everything for a phi's back-edge move.
  const int64_t kForever = 2 * int64_t(n) + 2;
  std::vector<int64_t> last(n, -1);
  auto read = [&](IRRef v, int64_t at) {
    if (v >= 0 && last[size_t(v)] < at) last[size_t(v)] = at;
  };
  for (IRRef q = loop + 1; q < t_.size(); q++) {
    const IRIns& i = ins(q);
    if (i.op == ir::IR_phi) {
      if (i.b != q) read(i.b, ins(i.b).op == ir::IR_phi ? kForever : -1);
      continue;
    }
    read(i.a, 2 * int64_t(q));
    read(i.b, 2 * int64_t(q));
    if (i.a >= 0 && fused_addr_[size_t(i.a)]) {   // the padd's operands are read where it is used
      read(ins(i.a).a, 2 * int64_t(q));
      read(ins(i.a).b, 2 * int64_t(q));
    }
    if (ir::ir_info(i.op).is_guard && i.snap >= 0 && size_t(i.snap) < t_.snaps.size())
      for (const ir::SnapEntry& e : t_.snaps[size_t(i.snap)].entries) read(e.ref, 2 * int64_t(q) + 1);
  }
  for (IRRef p = loop + 1; p < t_.size() && ins(p).op == ir::IR_phi; p++) {
    IRRef r = ins(p).b;
    if (r <= p || r >= t_.size() || coalesce_[size_t(r)] != kNoRef) continue;
    const IRIns& d = ins(r);
    switch (d.op) {
      case ir::IR_add: case ir::IR_add_ov: case ir::IR_sub_ov: case ir::IR_mul_ov: case ir::IR_and:
      case ir::IR_or: case ir::IR_xor: case ir::IR_fadd: case ir::IR_fsub: case ir::IR_fmul: case ir::IR_fdiv:
      case ir::IR_unbox_f64: case ir::IR_unbox_i64:
        break;
      default:
        continue;
    }
    if (d.b == p || d.type != ins(p).type || last[size_t(p)] > 2 * int64_t(r)) continue;
    coalesce_[size_t(r)] = p;
  }
}

std::string Gen::run() {
  size_t n = size_t(t_.size());
  v_.assign(n, BaseReg());
  hoisted_.assign(n, BaseReg());
  uses_.assign(n, 0);
  exits_.assign(n, Label());
  snaps_.assign(t_.snaps.size(), Label());
  for (const IRIns& i : t_.ins) {
    if (i.a >= 0) uses_[size_t(i.a)]++;
    if (i.b >= 0) uses_[size_t(i.b)]++;
  }
  for (const ir::Snapshot& s : t_.snaps)
    for (const ir::SnapEntry& e : s.entries) uses_[size_t(e.ref)]++;
  snap_guards_.assign(t_.snaps.size(), 0);
  known_type_.assign(n, nullptr);
  for (const IRIns& i : t_.ins)
    if (i.snap >= 0 && size_t(i.snap) < t_.snaps.size()) snap_guards_[size_t(i.snap)]++;
  if (o_.asm_text) {
    std::istringstream in(ir::ir_print(t_));
    lines_.assign(n, "");
    for (std::string line; std::getline(in, line);) {
      if (line.size() < 2 || line[0] != '%') continue;
      long k = std::strtol(line.c_str() + 1, nullptr, 10);
      if (k >= 0 && size_t(k) < n) lines_[size_t(k)] = line;
    }
  }

  FuncNode* fn = cc_.addFunc(FuncSignatureT<int32_t, const uint64_t*, uint64_t*, const uint64_t*>(CallConvId::kHost));
  func_ = fn;
  if (save_all_) fn->frame().addDirtyRegs(RegGroup::kGp, kCalleeSavedGp);
  slots_ = new_ptr("slots");
  out_ = new_ptr("out");
  parent_ = new_ptr("parent");
  gid_ = new_i32("exit");
  fn->setArg(0, slots_);
  fn->setArg(1, out_);
  fn->setArg(2, parent_);
  tmp_ = cc_.newStack(8, 8, "tmp");
  error_ = cc_.newLabel();
  if (o_.link.cells) {
    slots_saved_ = cc_.newStack(8, 8, "slots");
    cc_.mov(slots_saved_, slots_);
  }
  IRRef loop = kNoRef;
  for (IRRef r = 0; r < t_.size() && loop == kNoRef; r++)
    if (ins(r).op == ir::IR_loop) loop = r;
  plan_fused_addresses(loop);
  plan_coalescing(loop);
  emit_entry();
  if (!o_.link.side && o_.link.cells && o_.link.loop_trace && o_.link.trace_frees) {
    // Where a link that returned kLoopBack starts the trace again (emit_link), and what no trace being
    // released since then looks like.
    reentry_ = cc_.newLabel();
    cc_.bind(reentry_);
    frees_saved_ = cc_.newStack(8, 8, "frees");
    x86::Gp t = new_i64();
    cc_.mov(t, mem_at(o_.link.trace_frees));
    cc_.mov(frees_saved_, t);
  }
  for (IRRef r = 0; r < t_.size(); r++) {
    if (o_.asm_text && !lines_[size_t(r)].empty() && !ir::ir_is_const(ins(r).op)) cc_.comment(lines_[size_t(r)].c_str());
    if (!lower(r)) return std::string("no lowering for ") + ir::ir_name(ins(r).op);
  }
  // The back-edge: every phi takes its b from the iteration just finished, all at once.
  if (loop != kNoRef) {
    if (o_.asm_text) cc_.comment("back-edge");
    // A parallel move: each phi's register is written once no pending move still reads it (its b is
    // another phi); a cycle of phis (a swap) goes through a copy.
    auto copy = [this](IRRef dst_ref, const BaseReg& src) {
      if (ins(dst_ref).type == ir::IRT_f64) fcopy(v_[size_t(dst_ref)].as<x86::Xmm>(), src.as<x86::Xmm>());
      else cc_.mov(v_[size_t(dst_ref)].as<x86::Gp>(), src.as<x86::Gp>());
    };
    std::vector<IRRef> pending;   // phis still to write
    std::vector<BaseReg> src;     // per phi: what it takes (its b's register, or a copy of it)
    for (IRRef p : phis_) {
      const IRIns& i = ins(p);
      if (i.b == p || (i.b >= 0 && coalesce_[size_t(i.b)] == p)) continue;   // (unchanged, or coalesced)
      pending.push_back(p);
      if (i.type == ir::IRT_f64) src.push_back(xmm(i.b));
      else src.push_back(gp(i.b));
    }
    while (!pending.empty()) {
      bool progress = false;
      for (size_t k = 0; k < pending.size(); k++) {
        bool read = false;   // does another pending move read pending[k]'s register?
        for (size_t j = 0; j < pending.size() && !read; j++)
          read = j != k && src[j].id() == v_[size_t(pending[k])].id();
        if (read) continue;
        copy(pending[k], src[k]);
        pending.erase(pending.begin() + long(k));
        src.erase(src.begin() + long(k));
        progress = true;
        break;
      }
      if (progress) continue;
      // Only cycles are left: the first phi's old value into a copy, for the moves that read it.
      IRRef p = pending[0];
      BaseReg old;
      if (ins(p).type == ir::IRT_f64) {
        x86::Xmm x = new_f64();
        fcopy(x, v_[size_t(p)].as<x86::Xmm>());
        old = x;
      } else {
        x86::Gp g = new_i64();
        cc_.mov(g, v_[size_t(p)].as<x86::Gp>());
        old = g;
      }
      for (size_t j = 1; j < pending.size(); j++)
        if (src[j].id() == v_[size_t(p)].id()) src[j] = old;
    }
    cc_.jmp(body_);
    in_body_ = false;
  } else {
    if (!t_.snaps.empty() && t_.snaps.back().at == t_.size()) {
      int last = int(t_.snaps.size() - 1);
      if (restorable(last)) {
        Label general = cc_.newLabel();
        emit_restore(last, general);
        cc_.bind(general);
      }
      store_snapshot(last);
    }
    cc_.mov(gid_, kCompleted);
    ret_own();
  }
  if (o_.asm_text && !cold_.empty()) cc_.comment("slow paths");
  for (auto& emit : cold_) emit();
  // Exit stubs: name the guard, then its snapshot's block stores the values and returns (or goes on in the
  // side trace the guard's link cell names). A snapshot whose stores are the first ones of another's block
  // (the same values into the same words of out) and that leaves the same way uses that block: what is
  // read of out for it is its own words (the restore routine, a side trace's ploads), the rest is not.
  std::vector<int> owner = share_exit_blocks();
  Label link_tail;
  for (IRRef r = 0; r < t_.size(); r++) {
    if (!exits_[size_t(r)].isValid()) continue;
    cc_.bind(exits_[size_t(r)]);
    cc_.mov(gid_, r);
    size_t s = size_t(owner[size_t(ins(r).snap)]);
    if (!snaps_[s].isValid()) snaps_[s] = cc_.newLabel();
    cc_.jmp(snaps_[s]);
  }
  for (size_t s = 0; s < snaps_.size(); s++) {
    if (!snaps_[s].isValid()) continue;
    if (o_.asm_text) cc_.commentf("exit to snapshot %d", int(s));
    cc_.bind(snaps_[s]);
    store_snapshot(int(s));
    if (o_.link.cells && t_.snaps[s].inlined.empty()) {   // one tail for every exit that may link
      if (!link_tail.isValid()) link_tail = cc_.newLabel();
      cc_.jmp(link_tail);
    } else {
      ret_own();
    }
  }
  if (link_tail.isValid()) {
    cc_.bind(link_tail);
    emit_link();
    ret_own();
  }
  cc_.bind(error_);
  cc_.mov(gid_, kError);
  ret_own();
  if (refused_.isValid()) {
    cc_.bind(refused_);
    cc_.mov(gid_, kRefused);
    cc_.ret(gid_);   // (not ran: names no trace)
  }
  cc_.endFunc();
  return "";
}

}  // namespace gen

namespace {

class ErrorCollector : public ErrorHandler {
 public:
  void handleError(Error err, const char* message, BaseEmitter*) override {
    if (first == kErrorOk) {
      first = err;
      text = message;
    }
  }
  Error first = kErrorOk;
  std::string text;
};

size_t g_live = 0;
std::vector<uint64_t> g_compile_ns;
size_t g_save_all_retries = 0;

// asmjit's code holder and compiler, kept from one compile to the next: detached (CodeHolder::reset) they
// keep their zones' memory (asmjit's soft reset), so a compile allocates none and writes into memory the
// last one left in the caches, where fresh objects took ~20 mallocs of 16-64 KB and first touches of them
// in the middle of a running program. One compile at a time uses them (compiles hold the GIL; the lock
// is for C++ callers). Created on first use and never destroyed (code may compile until the process ends).
struct Workspace {
  std::mutex lock;
  CodeHolder code;
  x86::Compiler cc;
};

// Attaches the workspace for one compile and always detaches it (every way out of compile_trace).
class Attached {
 public:
  Attached(Workspace& w, ErrorHandler* errors, Logger* logger) : w_(w), hold_(w.lock) {
    status_ = w_.code.init(jit_runtime().environment());
    w_.code.setErrorHandler(errors);
    if (logger) w_.code.setLogger(logger);
    if (status_ == kErrorOk) status_ = w_.code.attach(&w_.cc);
  }
  ~Attached() { w_.code.reset(ResetPolicy::kSoft); }
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;
  Error status() const { return status_; }

 private:
  Workspace& w_;
  std::lock_guard<std::mutex> hold_;
  Error status_ = kErrorOk;
};

Workspace& workspace() {
  static Workspace* w = new Workspace;
  return *w;
}

// The callee-saved general registers the allocated function uses (after runPasses: every operand is a
// physical register), as a mask of register ids; rsp aside.
RegMask callee_saved_used(x86::Compiler& cc) {
  RegMask used = 0;
  auto note = [&used](uint32_t id) {
    if (id < 16) used |= Support::bitMask(id) & gen::kCalleeSavedGp;
  };
  for (BaseNode* node = cc.firstNode(); node; node = node->next()) {
    if (!node->isInst()) continue;
    InstNode* in = node->as<InstNode>();
    for (uint32_t k = 0; k < in->opCount(); k++) {
      const Operand& op = in->op(k);
      if (op.isReg() && op.as<BaseReg>().isGp() && op.as<BaseReg>().isPhysReg()) {
        note(op.as<BaseReg>().id());
      } else if (op.isMem()) {
        const BaseMem& m = op.as<BaseMem>();
        auto gp = [](RegType t) { return t == RegType::kX86_Gpq || t == RegType::kX86_Gpd; };   // (not a label)
        if (m.hasBaseReg() && gp(m.baseType())) note(m.baseId());
        if (m.hasIndexReg() && gp(m.indexType())) note(m.indexId());
      }
    }
  }
  return used;
}

}  // namespace

std::string compile_trace(const ir::Trace& t, const CompileOptions& opts, CompiledTrace* out) {
  auto t0 = std::chrono::steady_clock::now();
  Workspace& w = workspace();
  TraceFn fn = nullptr;
  // asmjit 1.9's local allocator (ralocal.cpp, STEP 4) may move a value out of a register a call clobbers
  // into a callee-saved one the function uses nowhere else without marking it dirty, and the prologue would
  // not save it (the C++ caller's register, e.g. run_loop's `loop`, came back changed: a crash found by
  // tests/python/fuzz_nested.py). So after allocation the registers the code uses are checked against the
  // ones the prologue saves; where one is missing, the trace is compiled again with every callee-saved
  // register saved (the prologue and epilogue of a small side trace run on every link: 12 instructions).
  for (int attempt = 0;; attempt++) {
    ErrorCollector errors;
    StringLogger logger;
    Attached attached(w, &errors, opts.asm_text ? &logger : nullptr);
    CodeHolder& code = w.code;
    x86::Compiler& cc = w.cc;
    if (attached.status() != kErrorOk) return std::string("asmjit: ") + DebugUtils::errorAsString(attached.status());
    gen::Gen gen(t, opts, cc, attempt > 0);
    std::string err = gen.run();
    if (!err.empty()) return err;
    Error e = errors.first;
    if (e == kErrorOk) e = cc.runPasses();
    if (e == kErrorOk && attempt == 0) {
      RegMask saved = gen.func()->frame().dirtyRegs(RegGroup::kGp);
      if ((callee_saved_used(cc) & ~saved) || opts.test_recompile) {
        g_save_all_retries++;
        out->recompiled = true;
        continue;
      }
    }
    if (e == kErrorOk) {   // (x86::Compiler::finalize's second half)
      x86::Assembler a(&code);
      a.addEncodingOptions(cc.encodingOptions());
      a.addDiagnosticOptions(cc.diagnosticOptions());
      e = cc.serializeTo(&a);
    }
    if (e == kErrorOk) e = jit_runtime().add(&fn, &code);
    if (e != kErrorOk) return "asmjit: " + (errors.text.empty() ? std::string(DebugUtils::errorAsString(e)) : errors.text);
    out->code_size = code.codeSize();
    if (opts.asm_text) out->asm_text = logger.data();
    break;
  }
  out->fn = fn;
  uint32_t words = 1;
  for (const ir::Snapshot& s : t.snaps) words = std::max(words, uint32_t(s.entries.size()));
  out->out_words = words;
  add_code_bytes(int64_t(out->code_size));
  g_live++;
  out->compile_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  if (g_compile_ns.size() < kCompileTimesKept) g_compile_ns.push_back(out->compile_ns);
  return "";
}

void release_trace(CompiledTrace* c) {
  if (!c->fn) return;
  jit_runtime().release(c->fn);
  add_code_bytes(-int64_t(c->code_size));
  g_live--;
  c->fn = nullptr;
  c->code_size = 0;
}

size_t traces_live() { return g_live; }
size_t save_all_retries() { return g_save_all_retries; }

const std::vector<uint64_t>& compile_times_ns() { return g_compile_ns; }

}  // namespace fastpy::baseline
