// IRBuilder: every instruction goes through constant folding, then CSE (LuaJIT's emitir = fold + cse).
// Each fold rule is written as a pattern right above the code that implements it: "FOLD: op args -> result".
// Python's numeric rules come from ir_arith.h, the functions the reference executor runs, so a folded
// constant is always the value the unfolded instruction would have computed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "tiers/ir/ir.h"
#include "tiers/ir/ir_arith.h"

namespace fastpy::ir {

IRBuilder::IRBuilder(Trace* t) : t_(t) {
  for (IRRef& h : head_) h = kNoRef;
  std::vector<IRIns> old;
  old.swap(t_->ins);
  for (const IRIns& i : old) append(i);  // relinks the CSE chains of a trace built elsewhere
}

IRRef IRBuilder::emit(IROp op, IRRef a, IRRef b, int64_t imm) {
  const IROpInfo& info = ir_info(op);
  IRIns i{op, info.result, a, b, imm, -1};
  if (info.result == IRT_any) i.type = (a >= 0 && a < t_->size()) ? t_->ins[a].type : IRT_void;  // phi
  if (info.is_guard) i.snap = int32_t(t_->snaps.size()) - 1;  // the latest snapshot
  if (fold) {
    IRRef f = fold_ins(i);
    if (f != kNoFold) return f;
  }
  if (cse) {
    IRRef c = cse_find(i);
    if (c != kNoRef) return c;
  }
  return append(i);
}

namespace {

// True for stores and calls that write nothing but an array's slot (store_ptr through an address into an
// array an object points to: list items, instance values; store_fitem: such a slot or the value of the float
// in it), reference counts (incref; decref, which the recorder emits only where no code can run: ints,
// floats and boxes, iterators the trace made and popped, an attribute value its owner still holds) or new
// objects (box_*). No object's own fields past its refcount change: a list's size and item pointer, a
// range iterator's index stay what they were.
bool items_only(const Trace& t, const IRIns& i) {
  switch (i.op) {
    case IR_incref: case IR_decref: case IR_box_i64: case IR_box_f64: case IR_store_fitem:
      return true;
    case IR_store_ptr: {
      if (i.a < 0) return false;
      const IRIns& a = t.ins[size_t(i.a)];
      return a.op == IR_padd && a.a >= 0 && t.ins[size_t(a.a)].op == IR_load_ptr;
    }
    default:
      return false;
  }
}

// True for a load of an object's own field (not its refcount, not a float's value): what items_only ops
// leave alone.
bool header_load(const Trace& t, const IRIns& i) {
  return (i.op == IR_load_i64 || i.op == IR_load_ptr || i.op == IR_load_cptr || i.op == IR_load_i32) &&
         i.imm != 0 && i.a >= 0 && t.ins[size_t(i.a)].type == IRT_obj;
}

}  // namespace

bool ir_readonly_load(const Trace& t, const IRIns& i) {
  return ir_info(i.op).effect == IRE_load && i.a >= 0 && t.ins[size_t(i.a)].op == IR_load_cptr;
}

IRRef IRBuilder::append(const IRIns& i) {
  IRRef r = t_->append(i);
  chain_.push_back(head_[i.op]);
  head_[i.op] = r;
  IREffect e = ir_info(i.op).effect;
  if (e == IRE_store || e == IRE_call || e == IRE_control) {
    if (items_only(*t_, i)) item_barrier_ = r;
    else barrier_ = r;
  }
  return r;
}

// CSE: pure ops anywhere before; loads and guards only after the latest store, call or control op (an object's
// own fields only after the latest one that may write them: not items_only); stores, calls and control ops
// never.
IRRef IRBuilder::emit_loop(bool barrier) {
  IRRef saved = barrier_;
  IRRef r = append(IRIns{IR_loop, IRT_void, kNoRef, kNoRef, 0, -1});
  if (!barrier) barrier_ = saved;
  return r;
}

IRRef IRBuilder::cse_find(const IRIns& i) const {
  IREffect e = ir_info(i.op).effect;
  if (e == IRE_store || e == IRE_call || e == IRE_control || i.op == IR_poll) return kNoRef;
  IRRef limit = e == IRE_pure || ir_readonly_load(*t_, i) ? kNoRef   // (its base comes after any barrier
                                                                     // that frees that memory: a load)
                : header_load(*t_, i)                       ? barrier_
                                                            : std::max(barrier_, item_barrier_);
  for (IRRef r = head_[i.op]; r > limit; r = chain_[r]) {
    const IRIns& c = t_->ins[r];
    if (c.a == i.a && c.b == i.b && c.imm == i.imm) return r;
  }
  return kNoRef;
}

namespace {

// The instruction r when it exists and has op k (a constant kind, for most rules), else nullptr.
const IRIns* konst(const Trace& t, IRRef r, IROp k) {
  if (r < 0 || r >= t.size() || t.ins[r].op != k) return nullptr;
  return &t.ins[r];
}

// Evaluates i64 op on constants; false when the guard would exit (overflow, a zero divisor, INT64_MIN / -1:
// the guard must stay) or op is not folded.
bool eval_i64(IROp op, int64_t x, int64_t y, int64_t* out) {
  uint64_t ux = uint64_t(x), sh = uint64_t(y) & 63;
  switch (op) {
    case IR_add_ov: return !__builtin_add_overflow(x, y, out);
    case IR_sub_ov: return !__builtin_sub_overflow(x, y, out);
    case IR_mul_ov: return !__builtin_mul_overflow(x, y, out);
    case IR_neg_ov: return !__builtin_sub_overflow(int64_t(0), x, out);
    case IR_abs_ov:
      if (x == std::numeric_limits<int64_t>::min()) return false;
      *out = x < 0 ? -x : x;
      return true;
    case IR_floordiv_ov:
      if (!py_divmod_ok(x, y)) return false;
      *out = py_floordiv(x, y);
      return true;
    case IR_mod_ov:
      if (!py_divmod_ok(x, y)) return false;
      *out = py_mod(x, y);
      return true;
    case IR_imin: *out = py_imin(x, y); return true;
    case IR_imax: *out = py_imax(x, y); return true;
    case IR_add: *out = int64_t(uint64_t(x) + uint64_t(y)); return true;
    case IR_and: *out = x & y; return true;
    case IR_or: *out = x | y; return true;
    case IR_xor: *out = x ^ y; return true;
    case IR_shl: *out = int64_t(ux << sh); return true;
    case IR_sar: *out = x >> sh; return true;  // arithmetic on every compiler fastpy supports (g++)
    default: return false;
  }
}

// Compares x and y with the compare at offset k from lt (lt le gt ge eq ne).
template <typename T>
bool eval_cmp(int k, T x, T y) {
  switch (k) {
    case 0: return x < y;
    case 1: return x <= y;
    case 2: return x > y;
    case 3: return x >= y;
    case 4: return x == y;
    default: return x != y;
  }
}

// True for ops where a op b == b op a.
bool commutative(IROp op) {
  return op == IR_add_ov || op == IR_add || op == IR_mul_ov || op == IR_and || op == IR_or || op == IR_xor;
}

}  // namespace

// Which fold function applies comes from the table: operand kind of a and result type.
IRRef IRBuilder::fold_ins(const IRIns& i) {
  IROp op = i.op;
  const IROpInfo& info = ir_info(op);
  if (ir_is_const(op) || info.effect == IRE_load || info.effect == IRE_store || info.effect == IRE_call ||
      info.effect == IRE_control)
    return kNoFold;
  // FOLD: f2i kflt in [-2**63, 2**63) -> kint (truncated); out of range or NaN: the guard stays
  if (op == IR_f2i) {
    const IRIns* k = konst(*t_, i.a, IR_kflt);
    return k && py_f2i_ok(bits_f64(k->imm)) ? kint(py_f2i(bits_f64(k->imm))) : kNoFold;
  }
  // FOLD: padd kobj/kptr kint -> kptr (a + b * imm, wrapping like the address arithmetic it is)
  if (op == IR_padd) {
    const IRIns* kb = konst(*t_, i.b, IR_kint);
    const IRIns* ka = konst(*t_, i.a, IR_kptr);
    if (!ka) ka = konst(*t_, i.a, IR_kobj);
    if (!ka || !kb) return kNoFold;
    return emit(IR_kptr, kNoRef, kNoRef, int64_t(uint64_t(ka->imm) + uint64_t(kb->imm) * uint64_t(i.imm)));
  }
  // Never folded: callf1 (a C call whose result the host's libm gives; a backend may call another copy).
  if (op == IR_callf1) return kNoFold;
  bool numeric_a = info.ka == IRK_i64 || info.ka == IRK_f64;
  if (info.result == IRT_i64 && info.ka == IRK_i64) return fold_i64(i);
  if (info.result == IRT_bool && numeric_a) return fold_cmp(i);
  if (info.result == IRT_f64 && numeric_a) return fold_f64(i);
  if (info.is_guard && info.result == IRT_void) return fold_guard(i);
  // FOLD: peq/pne x x -> kbool;  peq/pne of two kobj/kptr constants -> kbool
  if (op == IR_peq || op == IR_pne) {
    const IRIns* ka = i.a >= 0 && i.a < t_->size() && ir_is_const(t_->ins[i.a].op) ? &t_->ins[i.a] : nullptr;
    const IRIns* kb = i.b >= 0 && i.b < t_->size() && ir_is_const(t_->ins[i.b].op) ? &t_->ins[i.b] : nullptr;
    if (i.a == i.b) return kbool(op == IR_peq);
    if (ka && kb) return kbool((ka->imm == kb->imm) == (op == IR_peq));
    return kNoFold;
  }
  // FOLD: b2i kbool -> kint
  if (const IRIns* k = op == IR_b2i ? konst(*t_, i.a, IR_kbool) : nullptr) return kint(k->imm);
  // FOLD: not kbool -> kbool
  if (const IRIns* k = op == IR_not ? konst(*t_, i.a, IR_kbool) : nullptr) return kbool(k->imm == 0);
  // FOLD: not (not x) -> x
  if (const IRIns* n = op == IR_not ? konst(*t_, i.a, IR_not) : nullptr) return n->a;
  // FOLD: unbox_f64 (box_f64 x) -> x;  unbox_i64 (box_i64 x) -> x
  IROp boxed = op == IR_unbox_f64 ? IR_box_f64 : op == IR_unbox_i64 ? IR_box_i64 : IR__count;
  if (const IRIns* b = boxed != IR__count ? konst(*t_, i.a, boxed) : nullptr) return b->a;
  return kNoFold;
}

// FOLD: add_ov/sub_ov/mul_ov kint kint, neg_ov/abs_ov kint -> kint, unless it overflows: then the guard stays
// FOLD: floordiv_ov/mod_ov kint kint -> kint (Python floor), unless b == 0 or INT64_MIN / -1: the guard stays
// FOLD: add/and/or/xor/shl/sar/imin/imax kint kint -> kint (add wrapping, shift counts mod 64)
// FOLD: x+0, 0+x, x-0, x|0, x^0, x<<0, x>>0, x*1, 1*x, x&-1 -> x;  x*0, 0*x, x&0 -> kint 0
IRRef IRBuilder::fold_i64(const IRIns& i) {
  const IRIns* ka = konst(*t_, i.a, IR_kint);
  const IRIns* kb = konst(*t_, i.b, IR_kint);
  if (ka && (kb || ir_info(i.op).nargs == 1)) {
    int64_t r;
    return eval_i64(i.op, ka->imm, kb ? kb->imm : 0, &r) ? kint(r) : kNoFold;
  }
  IRRef x = i.a;
  if (ka && commutative(i.op)) {  // constant on the right
    std::swap(ka, kb);
    x = i.b;
  }
  if (!kb) return kNoFold;
  int64_t c = kb->imm;
  bool zero_is_identity = i.op == IR_add_ov || i.op == IR_add || i.op == IR_sub_ov || i.op == IR_or || i.op == IR_xor ||
                          i.op == IR_shl || i.op == IR_sar;
  if (c == 0 && zero_is_identity) return x;
  if (c == 0 && (i.op == IR_mul_ov || i.op == IR_and)) return kint(0);
  if ((c == 1 && i.op == IR_mul_ov) || (c == -1 && i.op == IR_and)) return x;
  return kNoFold;
}

// FOLD: lt/le/gt/ge/eq/ne/ult kint kint -> kbool;  flt/fle/fgt/fge/feq/fne kflt kflt -> kbool (IEEE, NaN aware)
// FOLD: feq/fne (i2f x) kflt(+-0.0) -> eq/ne x kint 0 (either order: i2f is exact at 0 and never gives 0.0
//       for x != 0), so a divisor check of a converted int is one integer test
IRRef IRBuilder::fold_cmp(const IRIns& i) {
  if (i.op == IR_feq || i.op == IR_fne) {
    for (int side = 0; side < 2; side++) {
      IRRef conv = side ? i.b : i.a, zero = side ? i.a : i.b;
      const IRIns* c = konst(*t_, conv, IR_i2f);
      const IRIns* z = konst(*t_, zero, IR_kflt);
      if (c && z && bits_f64(z->imm) == 0.0) return emit(i.op == IR_feq ? IR_eq : IR_ne, c->a, kint(0));
    }
  }
  if (i.op == IR_ult) {
    const IRIns* ka = konst(*t_, i.a, IR_kint);
    const IRIns* kb = konst(*t_, i.b, IR_kint);
    return ka && kb ? kbool(uint64_t(ka->imm) < uint64_t(kb->imm)) : kNoFold;
  }
  bool is_int = ir_info(i.op).ka == IRK_i64;
  int k = i.op - (is_int ? IR_lt : IR_flt);  // the static_asserts in ir.h keep both runs in one order
  if (k < 0 || k > IR_ne - IR_lt) return kNoFold;
  IROp kop = is_int ? IR_kint : IR_kflt;
  const IRIns* ka = konst(*t_, i.a, kop);
  const IRIns* kb = konst(*t_, i.b, kop);
  if (!ka || !kb) return kNoFold;
  if (is_int) return kbool(eval_cmp<int64_t>(k, ka->imm, kb->imm));
  return kbool(eval_cmp<double>(k, bits_f64(ka->imm), bits_f64(kb->imm)));
}

// FOLD: fadd/fsub/fmul/fdiv kflt kflt, fneg kflt -> kflt (plain double arithmetic);  i2f kint -> kflt
// FOLD: fsqrt kflt -> kflt (IEEE sqrt, a >= 0 or -0.0 only: the constant a NaN or negative stays);
// FOLD: fabs kflt -> kflt (sign bit cleared);  fmin/fmax kflt kflt -> kflt (Python's min/max, NaN order kept)
// FOLD: ffloordiv/fmod kflt kflt -> kflt (CPython's float_floor_div/float_rem) only when b is nonzero
// Never folded: x*1.0, x+0.0, x-0.0, x/1.0 with x unknown (-0.0 and NaN payloads would change).
IRRef IRBuilder::fold_f64(const IRIns& i) {
  if (i.op == IR_i2f) {
    const IRIns* k = konst(*t_, i.a, IR_kint);
    return k ? kflt(double(k->imm)) : kNoFold;
  }
  const IRIns* ka = konst(*t_, i.a, IR_kflt);
  if (!ka) return kNoFold;
  double x = bits_f64(ka->imm);
  if (i.op == IR_fneg) return kflt(-x);
  if (i.op == IR_fsqrt) return x >= 0.0 ? kflt(std::sqrt(x)) : kNoFold;
  if (i.op == IR_fabs) return emit(IR_kflt, kNoRef, kNoRef, int64_t(uint64_t(ka->imm) & ~(uint64_t(1) << 63)));
  if (ir_info(i.op).nargs != 2) return kNoFold;
  const IRIns* kb = konst(*t_, i.b, IR_kflt);
  if (!kb) return kNoFold;
  double y = bits_f64(kb->imm);
  switch (i.op) {
    case IR_fadd: return kflt(py_fadd(x, y));
    case IR_fsub: return kflt(x - y);
    case IR_fmul: return kflt(py_fmul(x, y));
    case IR_fdiv: return kflt(x / y);
    case IR_fmin: return kflt(py_fmin(x, y));
    case IR_fmax: return kflt(py_fmax(x, y));
    case IR_ffloordiv: return y != 0 ? kflt(py_ffloordiv(x, y)) : kNoFold;  // Python raises: the recorder's
    case IR_fmod: return y != 0 ? kflt(py_fmod(x, y)) : kNoFold;            // guard on b exits first
    default: return kNoFold;
  }
}

// FOLD: guard_true kbool(true), guard_false kbool(false) -> dropped (kNoRef); the opposite constant stays
// FOLD: guard_eqi kint kint equal, guard_eqi x x -> dropped
// FOLD: guard_eqp x x, guard_eqp of equal kobj/kptr constants -> dropped
IRRef IRBuilder::fold_guard(const IRIns& i) {
  if (i.op == IR_guard_true || i.op == IR_guard_false) {
    const IRIns* k = konst(*t_, i.a, IR_kbool);
    return k && k->imm == (i.op == IR_guard_true ? 1 : 0) ? kNoRef : kNoFold;
  }
  if (i.a == i.b && i.a != kNoRef) return kNoRef;
  if (i.op != IR_guard_eqi && i.op != IR_guard_eqp) return kNoFold;
  auto value = [&](IRRef r, int64_t* v) {
    if (r < 0 || r >= t_->size() || !ir_is_const(t_->ins[r].op)) return false;
    *v = t_->ins[r].imm;
    return true;
  };
  int64_t x, y;
  return value(i.a, &x) && value(i.b, &y) && x == y ? kNoRef : kNoFold;
}

}  // namespace fastpy::ir
