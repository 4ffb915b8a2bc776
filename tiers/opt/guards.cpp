// guards: redundant-guard elimination. A guard whose outcome depends only on its operands and immediate
// (guard_true/false, guard_eqi/eqp, guard_type, guard_nonnull, the overflow-checked arithmetic, abs_ov, floordiv_ov, mod_ov,
// f2i, callf1) is implied by an earlier identical one (same op, same operands, commuted for the symmetric ops,
// same immediate) that dominates it: in a linear trace every earlier instruction does, within
// one pass over the pre-loop part and within one loop iteration. Across `loop`, the earlier guard must have
// loop-invariant operands (defined before `loop`, not phis). The redundant guard is dropped; the uses of an
// overflow-checked one's value go to the earlier one. unbox_* depend on the object too, so they are kept; so
// are poll (the eval-breaker word changes under the trace) and sload_* (they read the frame, no operands).
// `guard_true %c` after `guard_false %c` is a different op: it always exits and is kept. An index check
// `guard_true (lt kint a, n)` is also implied by an earlier `guard_true (lt kint b, n)` with b >= a.
// Pure instructions go the same way (an earlier identical one, operands seen through the redirections): a
// compare of redirected values is the earlier compare, and a guard of it the earlier guard.
#include <map>
#include <tuple>
#include <utility>

#include "tiers/opt/opt.h"

namespace fastpy::opt {

using ir::IRRef;
using ir::kNoRef;

namespace {

// True for guards whose outcome (and value) is a function of their operands alone.
bool operand_only(ir::IROp op) {
  switch (op) {
    case ir::IR_guard_true: case ir::IR_guard_false: case ir::IR_guard_eqi: case ir::IR_guard_eqp:
    case ir::IR_add_ov: case ir::IR_sub_ov: case ir::IR_mul_ov: case ir::IR_neg_ov:
    case ir::IR_abs_ov: case ir::IR_floordiv_ov: case ir::IR_mod_ov: case ir::IR_f2i: case ir::IR_callf1:
    case ir::IR_fpow: case ir::IR_ipow:
    case ir::IR_guard_type: case ir::IR_guard_nonnull:
      return true;
    default:
      return false;
  }
}

// True for guards with symmetric operands.
bool commutative(ir::IROp op) {
  return op == ir::IR_guard_eqi || op == ir::IR_guard_eqp || op == ir::IR_add_ov || op == ir::IR_mul_ov;
}

// What makes two guards identical: op, (redirected, ordered) operands and immediate (guard_type's type,
// callf1's function).
using Key = std::tuple<ir::IROp, IRRef, IRRef, int64_t>;

// The key of guard i, its operands seen through the redirections decided so far.
Key key_of(const ir::IRIns& i, const std::vector<IRRef>& to) {
  IRRef a = i.a == kNoRef ? kNoRef : to[size_t(i.a)];
  IRRef b = i.b == kNoRef ? kNoRef : to[size_t(i.b)];
  if (commutative(i.op) && b < a) std::swap(a, b);
  return Key{i.op, a, b, i.imm};
}

// True when ref r is loop-invariant: defined before `loop` (so not a phi).
bool invariant(const ir::Trace& t, IRRef loop, IRRef r) {
  return r == kNoRef || (r < loop && t.ins[size_t(r)].op != ir::IR_phi);
}

// True when the earlier identical guard `first` implies guard r, given the loop at `loop` (kNoRef: none).
bool implies(const ir::Trace& t, IRRef loop, IRRef first, IRRef r, const Key& k) {
  bool crosses = loop != kNoRef && first < loop && r > loop;
  return !crosses || (invariant(t, loop, std::get<1>(k)) && invariant(t, loop, std::get<2>(k)));
}

// The `loop` instruction, or kNoRef.
IRRef find_loop(const ir::Trace& t) {
  for (IRRef r = 0; r < t.size(); r++)
    if (t.ins[size_t(r)].op == ir::IR_loop) return r;
  return kNoRef;
}

}  // namespace

bool opt_guards(ir::Trace& t) {
  IRRef loop = find_loop(t);
  std::vector<IRRef> to(t.ins.size());
  for (size_t r = 0; r < to.size(); r++) to[r] = IRRef(r);
  std::map<Key, IRRef> seen;  // latest kept guard per key
  // Index checks: per value n, the kept guard_true(lt kint b, n) guards with their b. One with b >= a implies
  // guard_true(lt kint a, n) (a list's constant indexes c[6], then c[3]: the length is more than 6).
  std::map<IRRef, std::vector<std::pair<int64_t, IRRef>>> below;
  std::map<Key, IRRef> pure;  // first pure instruction per key
  for (IRRef r = 0; r < t.size(); r++) {
    const ir::IRIns& i = t.ins[size_t(r)];
    // A pure instruction identical to an earlier one, once the guards it uses are redirected, is that one:
    // the body's `ge %s, 0` of a check whose `add_ov %s` went to the pre-roll's is the pre-roll's compare,
    // so the body's guard of it is the pre-roll's guard and goes too. (Its operands are the same refs:
    // defined before the earlier one, so invariant where it crosses the loop.)
    if (ir::ir_info(i.op).effect == ir::IRE_pure && !ir::ir_is_const(i.op)) {
      auto [it, fresh] = pure.emplace(key_of(i, to), r);
      if (!fresh) to[size_t(r)] = it->second;
      continue;
    }
    if (!operand_only(i.op)) continue;
    if (i.op == ir::IR_guard_true && t.ins[size_t(i.a)].op == ir::IR_lt) {
      const ir::IRIns& c = t.ins[size_t(i.a)];
      const ir::IRIns& ka = t.ins[size_t(c.a)];
      if (ka.op == ir::IR_kint) {
        IRRef n = to[size_t(c.b)];
        Key nk{ir::IR_lt, n, n, 0};   // (only operand n can vary)
        std::vector<std::pair<int64_t, IRRef>>& v = below[n];
        bool implied = false;
        for (const auto& [b, g] : v)
          if (b >= ka.imm && implies(t, loop, g, r, nk)) {
            to[size_t(r)] = g;
            implied = true;
            break;
          }
        if (implied) continue;
        v.push_back({ka.imm, r});
      }
    }
    Key k = key_of(i, to);
    auto it = seen.find(k);
    if (it != seen.end() && implies(t, loop, it->second, r, k)) to[size_t(r)] = it->second;
    else seen[k] = r;
  }
  return opt_compact(t, to);
}

}  // namespace fastpy::opt
