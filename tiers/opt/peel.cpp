// peel: loop peeling with loop-invariant code motion by copy-substitution (LuaJIT's lj_opt_loop.c).
//
// Input: one recorded iteration of a loop, without `loop`, ending with a completion snapshot E (at the trace's
// end, used by no guard) whose entries give each slot the iteration changed its new value. Output: the recorded
// iteration unchanged as the pre-roll, then `loop`, then the body: every recorded instruction re-emitted through
// IRBuilder (fold + CSE) with its operands substituted: a frame-slot load of slot k becomes E's entry for k (the
// value the previous iteration left there) or stays itself when E leaves k alone (invariant); any other
// instruction becomes its re-emitted copy. A copy whose operands are all invariant CSEs to its pre-roll twin:
// that is the hoisting. Loads and guards CSE across `loop` only when the iteration has no store or call; a
// load whose address only a later store of the iteration writes becomes that store's value, loop-carried.
//
// In the body a pre-roll ref x means "x as of the previous iteration" (for an invariant x that is x itself).
// When x is referenced from the body and its body copy subst[x] is not x, it is loop-carried and gets
// `phi x, subst[x]` right after `loop`; body references to x go to the phi. subst[x] may itself be a pre-roll
// ref with a phi (a, b = b, a): the back-edge then names that phi, which the all-at-once phi update makes right.
//
// Body guards exit to copies of their pre-roll snapshots: same pc and top, entries substituted, plus every slot
// E changed that the snapshot leaves alone (the frame still holds its entry value there, the loop does not).
// E itself is dropped: the peeled trace never completes.
#include <map>
#include <utility>

#include "tiers/opt/opt.h"

namespace fastpy::opt {

using ir::IRRef;
using ir::kNoRef;

namespace {

// True for the frame-slot loads.
bool is_sload(ir::IROp op) {
  return op == ir::IR_sload_obj || op == ir::IR_sload_i64 || op == ir::IR_sload_f64 || op == ir::IR_sload_bool ||
         op == ir::IR_sload_npf64 || op == ir::IR_sload_npi64 || op == ir::IR_sload_npf32 ||
         op == ir::IR_sload_npi32;
}

// How the slot a load of this op reads is boxed: the end snapshot must leave it the same Python type.
ir::SnapBox sload_box(ir::IROp op) {
  if (op == ir::IR_sload_npf32 || op == ir::IR_sload_npi32) return ir::SNAP_np32;
  return op == ir::IR_sload_npf64 || op == ir::IR_sload_npi64 ? ir::SNAP_np : ir::SNAP_py;
}

// True when t is one recorded iteration peel can handle: no `loop`, a last snapshot at the end that no guard
// uses, and every frame-slot load's slot, if the iteration changes it, left with a value of the load's type.
bool peelable(const ir::Trace& t) {
  if (t.ins.empty() || t.snaps.empty()) return false;
  const ir::Snapshot& e = t.snaps.back();
  int32_t last = int32_t(t.snaps.size()) - 1;
  if (e.at != t.size()) return false;
  std::map<int32_t, ir::SnapEntry> changed;
  for (const ir::SnapEntry& en : e.entries) changed[en.slot] = en;
  for (const ir::IRIns& i : t.ins) {
    if (i.op == ir::IR_loop || i.op == ir::IR_phi) return false;
    if (ir::ir_info(i.op).is_guard && i.snap == last) return false;
    if (!is_sload(i.op)) continue;
    auto it = changed.find(int32_t(i.imm));
    if (it != changed.end() && (t.ins[size_t(it->second.ref)].type != i.type || it->second.box != sload_box(i.op)))
      return false;  // type-unstable (an int left as a float, a float as a numpy.float64, ...)
  }
  return true;
}

// What the recorded iteration writes, for deciding which loads of invariant addresses are invariant too.
// Addresses come in two disjoint kinds: a field of an object (the load's base is an `obj`: offsets within
// one object, and distinct objects never overlap) and an element of a separately allocated buffer (the base
// is a `ptr`: list items, numpy data); a buffer reached through a load_cptr (a numpy array's dimensions) is
// one no trace writes: only an op that may write anything clobbers it. Calls write only what their op says:
// list_append a list's size, items and capacity fields and its buffer; setattr a dict's internals (anything,
// conservatively); the rest (boxing, refcounts, math, power, getattr) nothing a trace loads. None of them
// runs Python code: they allocate no GC-tracked objects and release only ints and floats.
// Objects whose types a guard_type fixed are distinct objects when the types differ (type-based
// disambiguation: a store to a range iterator's index never changes an array's data pointer).
struct Writes {
  struct Field {
    IRRef base;
    int64_t begin, end;   // byte range written
    IRRef by;             // the store that writes it (kNoRef: a call's writes)
  };
  std::vector<Field> fields;                         // object fields written
  struct TypedField {
    int64_t type;
    int64_t begin, end;
  };
  std::vector<TypedField> typed_fields;              // fields of any object of a type (store_fitem's floats)
  std::map<IRRef, int64_t> type_of;                  // guard_type facts: object -> its type
  bool buffers = false;                              // some buffer element is written (anywhere)
  std::vector<IRRef> slots;                          // addresses of the object slots written (a list's
                                                     // items: store_fitem, store_ptr into a buffer)
  bool everything = false;                           // an op that may write any object's fields

  // Collects the writes of t's instructions.
  explicit Writes(const ir::Trace& t) {
    for (const ir::IRIns& i : t.ins)
      if (i.op == ir::IR_guard_type) type_of[i.a] = i.imm;
    for (const ir::IRIns& i : t.ins) {
      switch (i.op) {
        case ir::IR_store_i64: case ir::IR_store_f64: case ir::IR_store_ptr:
          if (t.ins[size_t(i.a)].type == ir::IRT_obj) fields.push_back({i.a, i.imm, i.imm + 8, IRRef(&i - t.ins.data())});
          else if (i.op == ir::IR_store_ptr && i.imm == 0) slots.push_back(i.a);
          else buffers = true;
          break;
        case ir::IR_list_append:
          fields.push_back({i.a, 16, 40, kNoRef});   // PyListObject: ob_size, ob_item, allocated
          buffers = true;
          break;
        case ir::IR_store_fitem: {   // a list's item pointer (a buffer) and a float's value (its ob_fval)
          slots.push_back(i.a);
          // The float's type: the guard_type on the item the recorder loaded from the same address.
          int64_t ft = 0;
          for (const ir::IRIns& g : t.ins)
            if (g.op == ir::IR_guard_type && t.ins[size_t(g.a)].op == ir::IR_load_obj && t.ins[size_t(g.a)].a == i.a)
              ft = g.imm;
          if (ft == 0) everything = true;
          else typed_fields.push_back({ft, 16, 24});   // PyFloatObject: ob_fval
          break;
        }
        default:
          if (ir::ir_info(i.op).effect == ir::IRE_store || ir::ir_info(i.op).effect == ir::IRE_call) {
            bool harmless = i.op == ir::IR_incref || i.op == ir::IR_decref || i.op == ir::IR_box_f64 ||
                            i.op == ir::IR_box_i64 || i.op == ir::IR_getattr ||
                            i.op == ir::IR_range_iter || i.op == ir::IR_seq_iter ||
                            i.op == ir::IR_list_slice;   // a new object
            if (!harmless) everything = buffers = true;
          }
      }
    }
  }
  // True when the load i (base in t) may read memory one of these writes changes, store `except` aside.
  bool clobbers(const ir::Trace& t, const ir::IRIns& i, IRRef except = kNoRef) const {
    if (everything) return true;
    if (ir::ir_readonly_load(t, i)) return false;   // through a load_cptr: memory no trace writes
    if (t.ins[size_t(i.a)].type != ir::IRT_obj) {
      if (buffers) return true;
      for (IRRef w : slots)
        if (i.op != ir::IR_load_obj || i.imm != 0 || !distinct_slots(t, i.a, w)) return true;
      return false;
    }
    int64_t b = i.imm, e = i.imm + (i.op == ir::IR_load_i32 ? 4 : 8);
    auto ta = type_of.find(i.a);
    for (const TypedField& w : typed_fields)
      if (w.begin < e && b < w.end && (ta == type_of.end() || ta->second == w.type)) return true;
    for (const Field& w : fields) {
      if (w.end <= b || e <= w.begin || (except != kNoRef && w.by == except)) continue;   // other bytes
      auto tw = type_of.find(w.base);
      if (w.base != i.a && ta != type_of.end() && tw != type_of.end() && ta->second != tw->second) continue;
      return true;
    }
    return false;
  }

  // True when slot addresses a and b (each an item of an array that a load_ptr gave) differ: both are the
  // array's start or a constant index into it, at different indexes. The recorder's only object arrays
  // behind a load_ptr are a list's items and an instance's values (record_attr.cpp), each the start of its
  // own allocation, so two of them are the same array or never overlap; and a constant index is one the
  // recorder bounds-checked. Different indexes never meet, whatever the arrays. (An array pointer into the
  // middle of another -- a numpy view's -- would break this; no object slot is reached through one.)
  static bool distinct_slots(const ir::Trace& t, IRRef a, IRRef b) {
    auto index = [&](IRRef r, int64_t* k) {
      const ir::IRIns& p = t.ins[size_t(r)];
      if (p.op == ir::IR_load_ptr) {
        *k = 0;
        return true;
      }
      if (p.op != ir::IR_padd || p.imm != 8 || t.ins[size_t(p.b)].op != ir::IR_kint ||
          t.ins[size_t(p.a)].op != ir::IR_load_ptr)
        return false;
      *k = t.ins[size_t(p.b)].imm;
      return true;
    };
    int64_t ka = 0, kb = 0;
    return index(a, &ka) && index(b, &kb) && ka != kb;
  }

  // The store that alone writes what load r reads, when it comes after r in the iteration and stores a value
  // of r's type at r's very address (a range or sequence iterator's index: loaded, advanced, stored back);
  // else kNoRef. In the body, r then reads what that store left in the previous iteration: its value.
  IRRef forwarding_store(const ir::Trace& t, IRRef r) const {
    const ir::IRIns& l = t.ins[size_t(r)];
    if (everything || l.op != ir::IR_load_i64 || t.ins[size_t(l.a)].type != ir::IRT_obj) return kNoRef;
    IRRef found = kNoRef;
    for (const Field& w : fields) {
      if (w.by == kNoRef || w.by < r || w.base != l.a || w.begin != l.imm) continue;
      const ir::IRIns& st = t.ins[size_t(w.by)];
      if (st.op != ir::IR_store_i64 || t.ins[size_t(st.b)].type != ir::IRT_i64) continue;
      if (found != kNoRef) return kNoRef;   // stored twice: keep the load
      found = w.by;
    }
    return found != kNoRef && !clobbers(t, l, found) ? found : kNoRef;
  }
};

// True when the recorded iteration stores or calls: then loads and guards must not be hoisted.
bool has_side_effects(const ir::Trace& t) {
  for (const ir::IRIns& i : t.ins) {
    ir::IREffect e = ir::ir_info(i.op).effect;
    if (e == ir::IRE_store || e == ir::IRE_call) return true;
  }
  return false;
}

// The body under construction: the builder over pre-roll + loop + body, and the substitution.
struct Peeler {
  const ir::Trace& rec;            // the recorded iteration (with E)
  const ir::Snapshot& end;         // E
  ir::Trace out;                   // pre-roll, loop, body (phis not yet placed)
  std::vector<IRRef> subst;        // per recorded ref: its body value (a pre-roll ref or a body ref)
  std::vector<int> body_snap;      // per recorded snapshot: its body copy, or -1
  IRRef loop = kNoRef;
  IRRef first_release;             // the recorded iteration's first instruction that may release an object

  // Starts from the recorded iteration.
  explicit Peeler(const ir::Trace& t) : rec(t), end(t.snaps.back()), out(t), first_release(t.size()) {
    for (IRRef r = 0; r < t.size(); r++)
      if (ir::ir_may_release(t.ins[size_t(r)].op)) {
        first_release = r;
        break;
      }
  }

  // Substituted operand r (kNoRef stays kNoRef).
  IRRef sub(IRRef r) const { return r == kNoRef ? kNoRef : subst[size_t(r)]; }

  // Appends the body copy of recorded snapshot s; returns its index.
  //
  // Object identity (SnapEntry::same): the frame still holds what it held at the trace's entry, but in the
  // body "the iteration's start" is E. A link of sn to the frame's slot j stays when E leaves j alone
  // (invariant); when E changes j and sn does not, it becomes a link to j's entry (E's value, the object
  // the restore makes for it); when sn changes j too, the object it meant (the previous iteration's) is
  // nowhere: dropped. A link of E's to the frame's j stays when E leaves j alone; one to E's entry j stays
  // when sn leaves j alone. A dropped link gives a new object: a different identity, never a wrong value.
  int copy_snapshot(int32_t s) {
    const ir::Snapshot& sn = rec.snaps[size_t(s)];
    std::map<int32_t, ir::SnapEntry> entries;
    std::map<int32_t, bool> from_sn;   // per slot of the copy: sn's entry (else E's)
    for (const ir::SnapEntry& e : end.entries)
      if (e.slot < sn.top) entries[e.slot] = e, from_sn[e.slot] = false;  // the previous iteration's value,
                                                                           // unless sn says otherwise
    for (const ir::SnapEntry& e : sn.entries) {
      ir::SnapEntry c = e;
      c.ref = sub(e.ref);
      entries[e.slot] = c;
      from_sn[e.slot] = true;
    }
    std::vector<ir::SnapEntry> v;
    for (auto& [slot, en] : entries) {
      // E's number restored from the object it was loaded from (the recorder's origins: an object entry the
      // trace unboxed) is the previous iteration's object: alive here only if nothing before sn in the
      // iteration may have released it; else the number itself.
      if (!from_sn[slot] && rec.ins[size_t(en.ref)].type == ir::IRT_obj && first_release < sn.at) {
        IRRef u = ir::ir_unbox_of(rec, en.ref);   // (an object never unboxed is a slot's object as it is)
        if (u != kNoRef) en.ref = u, en.num = ir::NUM_none;
      }
      if (en.same >= 0) {
        const bool mine = from_sn[slot];
        const auto j = from_sn.find(en.same);
        const bool sn_sets_j = j != from_sn.end() && j->second;
        bool keep = en.same_frame ? !end_changes(en.same) || (mine && !sn_sets_j) : mine || !sn_sets_j;
        if (en.same_frame && end_changes(en.same)) en.same_frame = false;   // (kept: E's entry for j)
        if (!keep) en.same = -1, en.same_frame = false;
      }
      v.push_back(en);
    }
    int n = out.add_snapshot(sn.pc, sn.top, std::move(v));
    out.snaps.back().inlined = sn.inlined;   // the root frame's slots come first: E only touches those
    ir::snap_normalize_same(out, &out.snaps.back());
    return n;
  }

  // True when E changes slot j.
  bool end_changes(int32_t j) const {
    for (const ir::SnapEntry& e : end.entries)
      if (e.slot == j) return true;
    return false;
  }

  // Re-emits recorded guard i through b; returns the result (kNoRef: folded away). A new guard exits to the
  // body copy of its snapshot, taken right before it the first time a body guard needs it.
  IRRef emit_guard(ir::IRBuilder& b, const ir::IRIns& i) {
    bool fresh = body_snap[size_t(i.snap)] < 0;
    if (fresh) body_snap[size_t(i.snap)] = copy_snapshot(i.snap);
    IRRef before = out.size();
    IRRef r = b.emit(i.op, sub(i.a), sub(i.b), i.imm);
    bool added = r != kNoRef && r >= before && ir::ir_info(out.ins[size_t(r)].op).is_guard;
    if (added) {
      out.ins[size_t(r)].snap = body_snap[size_t(i.snap)];
    } else if (fresh) {  // folded or CSE'd: the copy is unused and is the latest snapshot, so it can go
      out.snaps.pop_back();
      body_snap[size_t(i.snap)] = -1;
    }
    return r;
  }

  // Emits loop and body; false when some operand has no body value (the trace is left alone).
  bool build() {
    size_t n = rec.ins.size();
    out.snaps.pop_back();  // E: the peeled trace never completes
    body_snap.assign(rec.snaps.size(), -1);
    subst.assign(n, kNoRef);
    std::map<int32_t, IRRef> changed;
    for (const ir::SnapEntry& e : end.entries) changed[e.slot] = e.ref;
    for (size_t r = 0; r < n; r++) {
      if (!is_sload(rec.ins[r].op)) continue;
      auto it = changed.find(int32_t(rec.ins[r].imm));
      subst[r] = it == changed.end() ? IRRef(r) : it->second;
    }
    ir::IRBuilder b(&out);  // relinks the CSE chains over the pre-roll, so body copies can hit it
    loop = b.emit_loop(has_side_effects(rec));
    Writes writes(rec);
    for (size_t r = 0; r < n; r++) {
      const ir::IRIns& i = rec.ins[r];
      if (is_sload(i.op)) continue;
      if ((i.a != kNoRef && sub(i.a) == kNoRef) || (i.b != kNoRef && sub(i.b) == kNoRef)) return false;
      // A load from an invariant address that nothing in the loop writes reads the same value every
      // iteration: the pre-roll's load is the body's (hoisted), even when the loop stores elsewhere.
      if (ir::ir_info(i.op).effect == ir::IRE_load && sub(i.a) == i.a && !writes.clobbers(rec, i)) {
        subst[r] = IRRef(r);
        continue;
      }
      // The number in an invariant int or float object that something the loop does not write holds (a list
      // slot no store writes, a frame slot) is invariant too: ints never change, and store_fitem changes a
      // float in place only where its slot holds the float's one reference. Its unbox is the pre-roll's.
      if ((i.op == ir::IR_unbox_f64 || i.op == ir::IR_unbox_i64) && sub(i.a) == i.a && !writes.everything &&
          (rec.ins[size_t(i.a)].op == ir::IR_load_obj || rec.ins[size_t(i.a)].op == ir::IR_sload_obj)) {
        subst[r] = IRRef(r);
        continue;
      }
      // A load from an invariant address that only a later store of the iteration writes reads, from the
      // second iteration on, what that store wrote the iteration before: the stored value, loop-carried
      // through a phi like a frame slot's. The store stays (the memory is right at every exit); the load
      // and its store-to-load latency on the loop-carried chain go.
      if (ir::ir_info(i.op).effect == ir::IRE_load && sub(i.a) == i.a) {
        IRRef st = writes.forwarding_store(rec, IRRef(r));
        if (st != kNoRef) {
          subst[r] = rec.ins[size_t(st)].b;
          continue;
        }
      }
      subst[r] = ir::ir_info(i.op).is_guard ? emit_guard(b, i) : b.emit(i.op, sub(i.a), sub(i.b), i.imm);
    }
    return true;
  }

  // The pre-roll refs that need a phi, in increasing order: referenced from the body (operands or body
  // snapshot entries) with a body value of their own, closed over back-edges that are such refs themselves.
  std::vector<IRRef> carried() const {
    std::vector<char> need(size_t(loop), 0);
    std::vector<IRRef> work;
    auto use = [&](IRRef x) {
      if (x == kNoRef || x >= loop || need[size_t(x)] || subst[size_t(x)] == x) return;
      need[size_t(x)] = 1;
      work.push_back(x);
    };
    for (IRRef r = loop + 1; r < out.size(); r++) {
      use(out.ins[size_t(r)].a);
      use(out.ins[size_t(r)].b);
    }
    for (const ir::Snapshot& sn : out.snaps)
      if (sn.at > loop)
        for (const ir::SnapEntry& e : sn.entries) use(e.ref);
    while (!work.empty()) {
      IRRef x = work.back();
      work.pop_back();
      use(subst[size_t(x)]);
    }
    std::vector<IRRef> v;
    for (IRRef x = 0; x < loop; x++)
      if (need[size_t(x)]) v.push_back(x);
    return v;
  }

  // The final trace: pre-roll, loop, the phis, then the body renumbered to make room for them.
  ir::Trace place_phis() const {
    std::vector<IRRef> phis = carried();
    IRRef np = IRRef(phis.size());
    std::vector<IRRef> phi_of(size_t(loop), kNoRef);
    for (IRRef k = 0; k < np; k++) phi_of[size_t(phis[size_t(k)])] = loop + 1 + k;
    auto body_ref = [&](IRRef r) {  // what ref r means inside the body
      if (r == kNoRef) return kNoRef;
      if (r < loop) return phi_of[size_t(r)] != kNoRef ? phi_of[size_t(r)] : r;
      return r + np;
    };
    ir::Trace t;
    t.ins.assign(out.ins.begin(), out.ins.begin() + loop + 1);
    for (IRRef x : phis) {
      ir::IRIns p{ir::IR_phi, out.ins[size_t(x)].type, x, body_ref(subst[size_t(x)]), 0, -1};
      t.ins.push_back(p);
    }
    for (IRRef r = loop + 1; r < out.size(); r++) {
      ir::IRIns i = out.ins[size_t(r)];
      i.a = body_ref(i.a);
      i.b = body_ref(i.b);
      t.ins.push_back(i);
    }
    t.snaps = out.snaps;
    for (ir::Snapshot& sn : t.snaps) {
      if (sn.at <= loop) continue;  // pre-roll snapshots are unchanged
      sn.at += np;
      for (ir::SnapEntry& e : sn.entries) e.ref = body_ref(e.ref);
    }
    return t;
  }
};

}  // namespace

bool opt_peel(ir::Trace& t) {
  if (!peelable(t)) return false;
  Peeler p(t);
  if (!p.build()) return false;
  t = p.place_phis();
  return true;
}

}  // namespace fastpy::opt
