// forward: box forwarding. An int or float loaded from a container (load_obj: a list item, an instance
// value) is unboxed by the recorder, and boxed again where it is stored: `perm[i], perm[j] = perm[j],
// perm[i]`, `a[i] = a[i + 1]`. Where nothing between the unbox and the box can release the object (no call,
// decref or store other than store_ptr: the container still holds it), the box becomes `incref` of the
// loaded object and its uses take the object itself -- as CPython moves the object, same identity, no new
// float allocated. When the box was the unbox's last use and no snapshot holds the value or the object, the
// unbox goes too (its type check included: the object is only moved, nothing depends on its type). Snapshots
// keep the unboxed value, or name the loaded object where the recorder knew it alive there (its origins):
// then the unbox stays, since side traces and peel find the object's number by it.
//
// Past the barrier, one case more: when the barrier is `decref x` itself -- a store over the very item the
// value came from, as in the swap's second half (`perm[i] = a` releases b, which `perm[j] = b` then stores;
// CPython's value stack holds b meanwhile) -- the trace takes over the container's reference instead of
// releasing it, and the box whose one use is the next store's value becomes x itself, that reference the one
// the store consumes (take_over). Exits in between hand it to the frame: the snapshot entry of the value
// becomes x, owned (SNAP_own), which is the object CPython's stack holds there. So nothing in between may
// release or call, and every exit there must go through a snapshot that names the value once and is used
// only there.
//
// Runs before peel, on the recorded trace (one linear iteration); a trace that already has `loop` is
// handled too (the loop is a barrier).
#include <algorithm>
#include <vector>

#include "tiers/opt/opt.h"

namespace fastpy::opt {

using ir::IRRef;
using ir::kNoRef;

namespace {

// True when instruction i may release a reference or change an object in place: what ends the stretch in
// which a borrowed object stays alive and unchanged.
bool barrier(const ir::IRIns& i) {
  // (A new int or float frees nothing: neither is tracked by the cycle collector, whose runs an
  // allocation may start.)
  if (i.op == ir::IR_box_i64 || i.op == ir::IR_box_f64) return false;
  ir::IREffect e = ir::ir_info(i.op).effect;
  if (e == ir::IRE_call || e == ir::IRE_control) return true;
  return e == ir::IRE_store && i.op != ir::IR_store_ptr && i.op != ir::IR_incref;
}

// The take-over described above, for u = unbox(x) and d = `decref x` (the barrier after u): true when it was
// made (d and the box dropped through to[], the box's use redirected to x, the snapshots between rewritten).
// next_barrier, uses and in_snap as opt_forward computes them.
bool take_over(ir::Trace& t, IRRef u, IRRef d, const std::vector<IRRef>& next_barrier, const std::vector<int>& uses,
               const std::vector<char>& in_snap, std::vector<IRRef>* to) {
  const size_t n = t.ins.size();
  const IRRef x = t.ins[size_t(u)].a;
  const ir::IROp box = t.ins[size_t(u)].op == ir::IR_unbox_i64 ? ir::IR_box_i64 : ir::IR_box_f64;
  const IRRef stop = next_barrier[size_t(d) + 1];
  IRRef b = kNoRef, st = kNoRef;
  for (IRRef r = d + 1; r < stop && b == kNoRef; r++) {
    const ir::IRIns& i = t.ins[size_t(r)];
    if (i.op == box && i.a == u && !in_snap[size_t(r)] && uses[size_t(r)] == 1) b = r;
  }
  if (b == kNoRef) return false;
  for (IRRef r = b + 1; r < stop && st == kNoRef; r++) {
    const ir::IRIns& i = t.ins[size_t(r)];
    if (i.a == b || i.b == b) {
      if (i.op != ir::IR_store_ptr || i.b != b || i.a == b) return false;
      st = r;
    }
  }
  if (st == kNoRef) return false;
  // x is not used after d (the recorder never does: it released it there), but by the rewrite.
  for (size_t r = size_t(d) + 1; r < n; r++)
    if (t.ins[r].a == x || t.ins[r].b == x) return false;
  // The exits between d and the store, and the snapshots taken there.
  std::vector<int32_t> rewrite;
  for (size_t s = 0; s < t.snaps.size(); s++) {
    const ir::Snapshot& sn = t.snaps[s];
    bool inside = sn.at > d && sn.at <= st;
    for (const ir::SnapEntry& e : sn.entries)
      if (e.ref == x && sn.at > d) return false;
    if (inside) rewrite.push_back(int32_t(s));
  }
  for (IRRef r = 0; r < IRRef(n); r++) {
    int32_t s = t.ins[size_t(r)].snap;
    if (s < 0) continue;
    const bool mine = std::find(rewrite.begin(), rewrite.end(), s) != rewrite.end();
    const bool between = r > d && r < st;
    if (mine != between) return false;   // an exit between through an older snapshot, or one after the store
  }
  for (int32_t s : rewrite) {
    int found = 0;
    for (const ir::SnapEntry& e : t.snaps[size_t(s)].entries) {
      if (e.ref != u) continue;
      if (e.box != ir::SNAP_py || e.same >= 0 || e.same_frame) return false;
      found++;
    }
    if (found != 1) return false;
  }
  for (int32_t s : rewrite)
    for (ir::SnapEntry& e : t.snaps[size_t(s)].entries)
      if (e.ref == u) e.ref = x, e.box = ir::SNAP_own;
  (*to)[size_t(d)] = kNoRef;
  (*to)[size_t(b)] = x;
  return true;
}

// For u = unbox(x) whose only uses are snapshot entries: names x instead of u in them (the number's object,
// SnapEntry::num) where every guard that exits through those snapshots comes before `end` (x alive and
// unchanged there), none of them is the completion snapshot, and each entry restores a plain number
// (SNAP_py; its `same` links go: the slots that shared the number share x). False (nothing changed) else.
bool name_object(ir::Trace& t, IRRef u, IRRef end) {
  const IRRef x = t.ins[size_t(u)].a;
  const ir::SnapNum num = t.ins[size_t(u)].op == ir::IR_unbox_f64 ? ir::NUM_f64 : ir::NUM_i64;
  std::vector<char> uses_u(t.snaps.size(), 0);
  for (size_t s = 0; s < t.snaps.size(); s++)
    for (const ir::SnapEntry& e : t.snaps[s].entries)
      if (e.ref == u) {
        if (e.box != ir::SNAP_py || s + 1 == t.snaps.size()) return false;
        uses_u[s] = 1;
      }
  for (IRRef g = 0; g < t.size(); g++) {
    const int32_t s = t.ins[size_t(g)].snap;
    if (s >= 0 && uses_u[size_t(s)] && (g <= x || g >= end)) return false;
  }
  for (size_t s = 0; s < t.snaps.size(); s++) {
    if (!uses_u[s]) continue;
    for (ir::SnapEntry& e : t.snaps[s].entries)
      if (e.ref == u) e.ref = x, e.num = num, e.same = -1, e.same_frame = false;
    ir::snap_normalize_same(t, &t.snaps[s]);
  }
  return true;
}

// True when every snapshot entry that names object x (none of them in the completion snapshot) names it as
// a number's object or owns it: what a side trace and peel need no unbox of x for.
bool named_as_number(const ir::Trace& t, IRRef x) {
  for (size_t s = 0; s < t.snaps.size(); s++)
    for (const ir::SnapEntry& e : t.snaps[s].entries)
      if (e.ref == x && (s + 1 == t.snaps.size() || (e.num == ir::NUM_none && e.box != ir::SNAP_own))) return false;
  return true;
}

}  // namespace

bool opt_forward(ir::Trace& t) {
  const size_t n = t.ins.size();
  // next_barrier[r]: the first barrier at or after r (n: none).
  std::vector<IRRef> next_barrier(n + 1, IRRef(n));
  for (size_t r = n; r-- > 0;)
    next_barrier[r] = barrier(t.ins[r]) ? IRRef(r) : next_barrier[r + 1];
  // Who uses each value: instruction operands and snapshot entries.
  std::vector<int> uses(n, 0);
  for (const ir::IRIns& i : t.ins) {
    if (i.a >= 0) uses[size_t(i.a)]++;
    if (i.b >= 0) uses[size_t(i.b)]++;
  }
  std::vector<char> in_snap(n, 0);
  for (const ir::Snapshot& sn : t.snaps)
    for (const ir::SnapEntry& e : sn.entries) in_snap[size_t(e.ref)] = 1;

  std::vector<IRRef> to(n);
  for (size_t r = 0; r < n; r++) to[r] = IRRef(r);
  bool changed = false, dropped = false;
  for (size_t u = 0; u < n; u++) {
    const ir::IRIns& ui = t.ins[u];
    if (ui.op != ir::IR_unbox_i64 && ui.op != ir::IR_unbox_f64) continue;
    IRRef x = ui.a;
    if (x < 0 || t.ins[size_t(x)].op != ir::IR_load_obj) continue;
    const ir::IROp box = ui.op == ir::IR_unbox_i64 ? ir::IR_box_i64 : ir::IR_box_f64;
    const IRRef end = next_barrier[u + 1];   // x is alive and unchanged before this
    // Boxes of u before the barrier whose own value no snapshot holds become increfs of x.
    for (size_t b = u + 1; b < size_t(end); b++) {
      ir::IRIns& bi = t.ins[b];
      if (bi.op != box || bi.a != IRRef(u) || in_snap[b]) continue;
      for (size_t k = 0; k < n; k++) {   // (from 0: a phi's back-edge may refer forward to it)
        ir::IRIns& k_ins = t.ins[k];
        if (k_ins.a == IRRef(b)) k_ins.a = x;
        if (k_ins.b == IRRef(b)) k_ins.b = x;
      }
      bi = ir::IRIns{ir::IR_incref, ir::IRT_void, x, kNoRef, 0, -1};
      uses[u]--;
      changed = true;
    }
    if (end < IRRef(n) && t.ins[size_t(end)].op == ir::IR_decref && t.ins[size_t(end)].a == x &&
        take_over(t, IRRef(u), end, next_barrier, uses, in_snap, &to)) {
      uses[u]--;
      in_snap[size_t(x)] = 1;
      changed = dropped = true;
    }
    // Snapshots that keep only the number (the stack of a swap: its values moved as objects) name the object
    // instead, as the number's (SnapEntry::num): where each exit through them has x alive and unchanged
    // (before the stretch's barrier) the restore gives the frame x itself, and a side trace starting there
    // unboxes it again -- the number is never needed in the trace, and the unbox goes below. (Only then:
    // where other snapshots need the unbox, they stay as they are.)
    if (uses[u] == 0 && in_snap[u] && named_as_number(t, x) && name_object(t, IRRef(u), next_barrier[size_t(x) + 1])) {
      in_snap[u] = 0;
      in_snap[size_t(x)] = 1;
      changed = true;
    }
    // The unbox goes only when nothing else uses its value, snapshots included (one that restores the number
    // hands a side trace the value, which it cannot get back from an object it does not own: a store over
    // the item, `store_fitem` in place, may release it first), nor the object as it is but as the number's
    // (SnapEntry::num; the completion snapshot: peel finds the number of the object it restores by the unbox).
    if (uses[u] != 0 || in_snap[u] || !named_as_number(t, x)) continue;
    to[u] = kNoRef;
    dropped = true;
  }
  if (dropped) opt_compact(t, to);
  return changed;
}

}  // namespace fastpy::opt
