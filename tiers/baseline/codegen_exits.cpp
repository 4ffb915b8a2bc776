// What leaves a trace (codegen_p.h): the exit values a snapshot stores into `out`, the completion restore
// that writes a side trace's last snapshot into the frame itself, a side trace's entry checks, the tail that
// calls the side trace an exit links to, and the loops its kLoopBack closes in machine code.
#include "tiers/baseline/codegen_p.h"

#include <algorithm>

namespace fastpy::baseline::gen {

void Gen::store_snapshot(int s) {
  const ir::Snapshot& sn = t_.snaps[size_t(s)];
  for (size_t e = 0; e < sn.entries.size(); e++) {
    IRRef r = sn.entries[e].ref;
    x86::Mem m = x86::qword_ptr(out_, int32_t(8 * e));
    if (!is_k(r) && r + 1 < t_.size() && ins(r + 1).snap == s && fusable(r)) {
      cc_.mov(m, Imm(ins(r + 1).op == ir::IR_guard_true ? 0 : 1));   // the value that failed the guard
      continue;
    }
    if (is_k(r) && ins(r).imm == int64_t(int32_t(ins(r).imm))) cc_.mov(m, Imm(ins(r).imm));
    else if (ins(r).type == ir::IRT_f64 && !is_k(r)) cc_.movsd(m, xmm(r));
    else cc_.mov(m, gp(r));
  }
}

// What store_snapshot(s) writes into word e of out: an immediate (the value that failed a fused guard, an
// int32 constant) or an IR value's register.
std::pair<bool, int64_t> Gen::snapshot_store(int s, size_t e) const {
  IRRef r = t_.snaps[size_t(s)].entries[e].ref;
  if (!is_k(r) && r + 1 < t_.size() && ins(r + 1).snap == s && fusable(r))
    return {true, ins(r + 1).op == ir::IR_guard_true ? 0 : 1};
  if (is_k(r) && ins(r).imm == int64_t(int32_t(ins(r).imm))) return {true, ins(r).imm};
  return {false, r};
}

// Per snapshot, the snapshot whose exit block its exits use (itself, or one whose stores begin with all of
// its own and that leaves the same way: through the link tail or not). The block's further stores must
// be of values defined where each of the snapshot's guards exits (before the first of them: a value used
// where it was not defined would be live, in a register, from the trace's entry on). Only snapshots some
// guard exits to take part; the largest are placed first, each smaller one joins the first that fits.
std::vector<int> Gen::share_exit_blocks() const {
  const size_t ns = t_.snaps.size();
  std::vector<int> owner(ns);
  std::vector<IRRef> first_exit(ns, kNoRef);
  for (IRRef r = 0; r < t_.size(); r++)
    if (exits_[size_t(r)].isValid() && first_exit[size_t(ins(r).snap)] == kNoRef) first_exit[size_t(ins(r).snap)] = r;
  std::vector<int> order;
  for (size_t s = 0; s < ns; s++) {
    owner[s] = int(s);
    if (first_exit[s] != kNoRef) order.push_back(int(s));
  }
  if (order.size() < 2) return owner;
  std::stable_sort(order.begin(), order.end(), [this](int a, int b) {
    return t_.snaps[size_t(a)].entries.size() > t_.snaps[size_t(b)].entries.size();
  });
  auto links = [this](int s) { return o_.link.cells && t_.snaps[size_t(s)].inlined.empty(); };
  std::vector<int> placed;
  for (int s : order) {
    const size_t mine = t_.snaps[size_t(s)].entries.size();
    for (int p : placed) {
      const size_t theirs = t_.snaps[size_t(p)].entries.size();
      if (links(p) != links(s)) continue;
      bool fits = true;
      for (size_t e = 0; e < mine && fits; e++) fits = snapshot_store(s, e) == snapshot_store(p, e);
      for (size_t e = mine; e < theirs && fits; e++) {
        auto st = snapshot_store(p, e);
        fits = st.first || is_k(IRRef(st.second)) || st.second < first_exit[size_t(s)];
      }
      if (!fits) continue;
      owner[size_t(s)] = p;
      break;
    }
    if (owner[size_t(s)] == s) placed.push_back(s);
  }
  return owner;
}

bool Gen::restorable(int s) const {
  const PyLayout& L = o_.layout;
  if (o_.frame_nlocals < 0 || !o_.frame_code || !L.float_type || !L.long_type || !L.true_obj || !L.dealloc ||
      !L.small_ints || !L.resume_pending || !L.stat_restores || !L.stat_in_place || !L.stat_compiled)
    return false;
  const ir::Snapshot& sn = t_.snaps[size_t(s)];
  if (!sn.inlined.empty() || sn.entries.size() > 32) return false;
  for (const ir::SnapEntry& e : sn.entries) {
    IRRef r = e.ref;
    if (e.slot >= sn.top) return false;
    if (e.same_frame && e.same >= o_.frame_nlocals) return false;   // (a link to the frame's stack)
    if (!is_k(r) && r + 1 < t_.size() && ins(r + 1).snap == s && fusable(r)) return false;   // (a guard's)
    ir::IRType ty = ins(r).type;
    if (e.box == ir::SNAP_own) {
      if (ty != ir::IRT_obj) return false;
    } else if (e.box != ir::SNAP_py) {
      return false;   // a numpy scalar
    } else if (ty == ir::IRT_i64 || ty == ir::IRT_f64 || ty == ir::IRT_bool) {
      if (e.slot >= o_.frame_nlocals) return false;   // a number on the stack: a new object
    } else if (ty != ir::IRT_obj) {
      return false;
    }
  }
  return true;
}

// The restore routine's frame_holders, narrowed to what needs no bookkeeping of which entry took the object:
// o (entry e's old object) has no references but its slot's and those of the slots that share e's new object
// (SnapEntry::same) and hold o now (they hold it afterwards too); else to `fail`.
void Gen::check_frame_holders(const ir::Snapshot& sn, size_t e, x86::Gp o, Label fail) {
  const int32_t slot = sn.entries[e].slot;
  bool linked = false;
  for (const ir::SnapEntry& m : sn.entries) linked = linked || (m.same == slot && !m.same_frame);
  if (!linked) {
    cc_.cmp(x86::qword_ptr(o), 1);
    cc_.jne(fail);
    return;
  }
  x86::Gp h = new_i64("holders"), h1 = new_i64();
  cc_.mov(h, 1);
  for (const ir::SnapEntry& m : sn.entries) {
    if (m.same != slot || m.same_frame) continue;
    cc_.lea(h1, x86::ptr(h, 1));   // (leaves the flags alone)
    cc_.cmp(x86::qword_ptr(slots_, 8 * m.slot), o);
    cc_.cmove(h, h1);
  }
  cc_.cmp(x86::qword_ptr(o), h);
  cc_.jne(fail);
}

void Gen::release(x86::Gp o) {
  Label done = cc_.newLabel();
  cc_.test(o, o);
  cc_.jz(done);
  cc_.sub(x86::qword_ptr(o), 1);
  cc_.jnz(done);
  InvokeNode* inv;
  cc_.invoke(&inv, Imm(reinterpret_cast<uint64_t>(o_.layout.dealloc)), FuncSignatureT<void, void*>(CallConvId::kHost));
  inv->setArg(0, o);
  cc_.bind(done);
}

// The completion restore (CompileOptions::frame_nlocals), in the restore routine's order: every new object
// value referenced first; then the checks that the frame's own numbers may take the new values (only the
// frame holds them, now that every object value has its reference; an int of one digit of the same sign;
// a small int needs none: its cached object replaces whatever the slot held); then the frame written, its
// stack top and resume point; the old values released last (a destructor may run arbitrary code, which
// must see the restored frame). A failed check undoes the references and goes to `fallback` (the frame
// untouched).
void Gen::emit_restore(int s, Label fallback) {
  const PyLayout& L = o_.layout;
  const ir::Snapshot& sn = t_.snaps[size_t(s)];
  const size_t n = sn.entries.size();
  const int32_t nlocals = o_.frame_nlocals;
  constexpr int64_t kDigitMax = (int64_t(1) << 30) - 1;
  if (o_.asm_text) cc_.commentf("completion restore of snapshot %d into the frame", s);
  bool refs = false;   // does 1 take references (then a failed check must undo them)?
  for (const ir::SnapEntry& en : sn.entries)
    refs = refs || (ins(en.ref).type == ir::IRT_obj && en.box != ir::SNAP_own) || en.same_frame;
  Label undo = refs ? cc_.newLabel() : fallback;
  std::vector<x86::Gp> val(n), old(n);
  // The frame's stack top: known where the trace always runs with its tree's header state in the frame
  // (CompileOptions::frame_entry_top, checked in 2), else read.
  const int32_t etop = o_.frame_entry_top;
  x86::Gp otop;
  if (etop < 0) {
    otop = new_i64("old_top");
    cc_.movsxd(otop, x86::dword_ptr(slots_, L.frame_stacktop));
  }
  // 1. the new object values' references (a constant object is kept alive by the trace), and those of the
  //    frame's objects that other slots get (SnapEntry::same: a number moved; before the checks, so that an
  //    object the frame holds twice is no longer the frame's alone)
  for (size_t e = 0; e < n; e++) {
    const ir::SnapEntry& en = sn.entries[e];
    if (en.same_frame) {
      val[e] = new_ptr();
      cc_.mov(val[e], x86::qword_ptr(slots_, 8 * en.same));
    } else if (en.same >= 0 || ins(en.ref).type != ir::IRT_obj) {
      continue;
    } else {
      val[e] = gp(en.ref);
      if (en.box == ir::SNAP_own) continue;
    }
    Label skip = cc_.newLabel();
    cc_.test(val[e], val[e]);
    cc_.jz(skip);
    cc_.add(x86::qword_ptr(val[e]), 1);
    cc_.bind(skip);
  }
  // 2. the checks
  cc_.cmp(mem_at(L.resume_pending, 1), 0);
  cc_.jne(undo);
  if (etop >= 0) {
    cc_.cmp(x86::dword_ptr(slots_, L.frame_stacktop), etop);
    cc_.jne(undo);
  }
  for (size_t e = 0; e < n; e++) {
    if (!sn.entries[e].same_frame) continue;
    cc_.test(val[e], val[e]);   // (never empty: the trace read a number there)
    cc_.jz(undo);
  }
  // (One pair of temporaries serves every int entry's check and write: fewer virtual registers, less work
  // for the allocator's liveness; a float's old object lives on to its write.)
  x86::Gp t, o;
  for (size_t e = 0; e < n; e++) {
    const ir::SnapEntry& en = sn.entries[e];
    ir::IRType ty = ins(en.ref).type;
    if ((ty != ir::IRT_f64 && ty != ir::IRT_i64) || en.same >= 0) continue;
    if (small_int_k(en.ref)) continue;   // its cached object replaces whatever the slot held: no check
    if (ty == ir::IRT_f64) {
      old[e] = new_ptr();
      cc_.mov(old[e], x86::qword_ptr(slots_, 8 * en.slot));
      cc_.test(old[e], old[e]);
      cc_.jz(undo);
      cc_.emit(x86::Inst::kIdCmp, x86::qword_ptr(old[e], 8), cmp_k(L.float_type));
      cc_.jne(undo);
      check_frame_holders(sn, e, old[e], undo);
      continue;
    }
    val[e] = gp(en.ref);
    Label ok = cc_.newLabel();
    if (!t.isValid()) t = new_i64(), o = new_ptr();
    cc_.lea(t, x86::ptr(val[e], 5));
    cc_.cmp(t, L.small_int_count);
    cc_.jb(ok);   // a small int: its cached object replaces whatever the slot held
    // else the frame's own int, of one digit (|value| <= kDigitMax, one unsigned compare) of the value's sign
    // (ob_size -1 or 1: the sign bit spread, or 1), only the frame holding it: changed in place
    cc_.lea(t, x86::ptr(val[e], int32_t(kDigitMax)));
    cc_.cmp(t, int32_t(2 * kDigitMax));
    cc_.ja(undo);
    cc_.mov(o, x86::qword_ptr(slots_, 8 * en.slot));
    cc_.test(o, o);
    cc_.jz(undo);
    cc_.emit(x86::Inst::kIdCmp, x86::qword_ptr(o, 8), cmp_k(L.long_type));
    cc_.jne(undo);
    check_frame_holders(sn, e, o, undo);
    cc_.mov(t, val[e]);
    cc_.sar(t, 63);
    cc_.or_(t, 1);
    cc_.cmp(x86::qword_ptr(o, L.long_size), t);
    cc_.jne(undo);
    cc_.bind(ok);
  }
  // 3. the frame (floats and digits changed in place are counted in stat_in_place: the floats here, at once)
  int32_t in_place_floats = 0;
  std::vector<x86::Gp> rel(n);   // what each entry's slot held, released in 4 (invalid: nothing)
  for (size_t e = 0; e < n; e++) {
    const ir::SnapEntry& en = sn.entries[e];
    const int32_t k = en.slot;
    x86::Mem slot = x86::qword_ptr(slots_, 8 * k);
    ir::IRType ty = ins(en.ref).type;
    if (en.same >= 0) continue;   // below
    if (ty == ir::IRT_f64) {
      cc_.movsd(x86::qword_ptr(old[e], L.float_value), xmm(en.ref));
      in_place_floats++;
      continue;
    }
    rel[e] = new_ptr();
    if (ty == ir::IRT_i64 && small_int_k(en.ref)) {
      const void* o = static_cast<const char*>(L.small_ints) + (ins(en.ref).imm + 5) * L.small_int_size;
      cc_.add(mem_at(o), 1);
      cc_.mov(rel[e], slot);
      cc_.emit(x86::Inst::kIdMov, slot, cmp_k(o));
      continue;
    }
    if (ty == ir::IRT_i64) {
      Label digit = cc_.newLabel(), done = cc_.newLabel();
      cc_.lea(t, x86::ptr(val[e], 5));
      cc_.cmp(t, L.small_int_count);
      cc_.jae(digit);
      cc_.imul(t, t, L.small_int_size);
      cc_.emit(x86::Inst::kIdAdd, t, cmp_k(L.small_ints));
      cc_.add(x86::qword_ptr(t), 1);
      cc_.mov(rel[e], slot);
      cc_.mov(slot, t);
      cc_.jmp(done);
      cc_.bind(digit);
      cc_.xor_(rel[e].r32(), rel[e].r32());
      cc_.mov(t, val[e]);   // |value|
      cc_.neg(t);
      cc_.cmovs(t, val[e]);
      cc_.mov(o, slot);   // (reloaded: the checks' path that loaded it was only one of two)
      cc_.mov(x86::dword_ptr(o, L.long_digit), t.r32());
      cc_.add(mem_at(L.stat_in_place), 1);
      cc_.bind(done);
      continue;
    }
    if (ty == ir::IRT_bool) {
      x86::Gp nw = imm64(uint64_t(L.false_obj)), tr = imm64(uint64_t(L.true_obj));
      x86::Gp b = gp(en.ref);
      cc_.test(b, b);
      cc_.cmovnz(nw, tr);
      cc_.add(x86::qword_ptr(nw), 1);
      cc_.mov(rel[e], slot);
      cc_.mov(slot, nw);
      continue;
    }
    // an object (referenced in 1, or owned: handed over)
    if (k < nlocals || (etop >= 0 && k < etop)) {
      cc_.mov(rel[e], slot);
    } else if (etop >= 0) {   // a stack slot at or above the frame's top: it held none (nothing to release)
      rel[e] = x86::Gp();
    } else {   // a stack slot: the frame held one only below its old top
      Label fresh = cc_.newLabel();
      cc_.xor_(rel[e].r32(), rel[e].r32());
      cc_.cmp(otop, k);
      cc_.jle(fresh);
      cc_.mov(rel[e], slot);
      cc_.bind(fresh);
    }
    cc_.mov(slot, val[e]);
  }
  // ... the slots that share another's object: the frame's (referenced in 1), or the one the entry it
  // names now holds in its slot (a local: restorable)
  for (size_t e = 0; e < n; e++) {
    const ir::SnapEntry& en = sn.entries[e];
    if (en.same < 0) continue;
    x86::Mem slot = x86::qword_ptr(slots_, 8 * en.slot);
    if (!en.same_frame) {
      val[e] = new_ptr();
      cc_.mov(val[e], x86::qword_ptr(slots_, 8 * en.same));
      cc_.add(x86::qword_ptr(val[e]), 1);
    }
    rel[e] = new_ptr();
    cc_.mov(rel[e], slot);
    cc_.mov(slot, val[e]);
  }
  cc_.mov(x86::dword_ptr(slots_, L.frame_stacktop), sn.top);
  {
    // (an immediate where the address fits: a code object in python3's low heap)
    cc_.emit(x86::Inst::kIdMov, x86::qword_ptr(slots_, L.frame_prev_instr),
             cmp_k(uint64_t(o_.frame_code) + 2 * uint64_t(int64_t(sn.pc) - 1)));
    cc_.add(mem_at(L.stat_restores), 1);
    cc_.add(mem_at(L.stat_compiled), 1);
    if (in_place_floats) cc_.add(mem_at(L.stat_in_place), in_place_floats);
  }
  // 4. the old values, then the stack slots the snapshot's top drops (the trace consumed them)
  for (size_t e = 0; e < n; e++)
    if (rel[e].isValid()) release(rel[e]);
  if (etop >= 0) {
    for (int32_t k = std::max(sn.top, nlocals); k < etop; k++) {
      x86::Gp o = new_ptr();
      cc_.mov(o, x86::qword_ptr(slots_, 8 * k));
      release(o);
    }
  } else {
    x86::Gp k = new_i64("dropped");
    Label loop = cc_.newLabel(), done = cc_.newLabel();
    cc_.mov(k, std::max(sn.top, nlocals));
    cc_.bind(loop);
    cc_.cmp(k, otop);
    cc_.jge(done);
    x86::Gp o = new_ptr();
    cc_.mov(o, x86::qword_ptr(slots_, k, 3));
    release(o);
    cc_.inc(k);
    cc_.jmp(loop);
    cc_.bind(done);
  }
  if (o_.link.loop_back) {   // (the C++ caller would reset the streak of the trace whose end this is)
    if (o_.link.streak) cc_.mov(mem_at(o_.link.streak), 0);
    cc_.mov(gid_, kLoopBack);
  } else {
    cc_.mov(gid_, kRestored);
  }
  ret_own();
  // A check failed: the references of 1 go again; the frame was not touched.
  if (!refs) return;
  cc_.bind(undo);
  for (size_t e = 0; e < n; e++) {
    const ir::SnapEntry& en = sn.entries[e];
    if ((ins(en.ref).type == ir::IRT_obj && en.box != ir::SNAP_own) || en.same_frame) release(val[e]);
  }
  cc_.jmp(fallback);
}

// A side trace entered through a link runs with no C++ in between: the checks Held::take makes at a C++
// entry (the frame's namespaces are the recorded ones, at the versions the trace expects), the references
// it takes (released by the caller, after the frame is restored).
void Gen::emit_entry() {
  const LinkOptions& l = o_.link;
  const int32_t ns_off[2] = {o_.layout.frame_globals, o_.layout.frame_builtins};
  for (int k = 0; k < 2; k++) {
    if (!l.ns[k]) continue;
    if (!refused_.isValid()) refused_ = cc_.newLabel();
    x86::Gp d = new_ptr();
    cc_.mov(d, x86::qword_ptr(slots_, ns_off[k]));
    cc_.emit(x86::Inst::kIdCmp, d, cmp_k(l.ns[k]));
    cc_.jne(refused_);
    cc_.mov(d, x86::qword_ptr(d, o_.layout.dict_version));
    cc_.cmp(d, mem_at(l.expect[k]));
    cc_.jne(refused_);
  }
  for (size_t k = 0; k < l.nhold; k++) {
    cc_.add(mem_at(l.hold[k]), 1);
  }
  for (uint64_t* c : l.entry_counts)
    if (c) cc_.add(mem_at(c), 1);
}

// Every return of a result of this trace's own names it in exit_cell: written right before the ret, with
// nothing in between that could run Python code (another thread's traces write the same cell).
void Gen::ret_own() {
  if (o_.link.exit_cell) {
    x86::Gp c = imm64(reinterpret_cast<uint64_t>(o_.link.exit_cell)), id = imm64(o_.link.id);
    cc_.mov(x86::qword_ptr(c), id);
    cc_.mov(x86::qword_ptr(c, 8), out_);
  }
  cc_.ret(gid_);
}

// At an exit (its values in out, the guard in gid_): the side trace in the guard's link cell runs from
// them, in the buffer this trace did not write, and its result is this trace's (unless it refused).
void Gen::emit_link() {
  Label plain = cc_.newLabel();
  x86::Gp cells = imm64(reinterpret_cast<uint64_t>(o_.link.cells)), idx = new_i64(), fn = new_ptr();
  cc_.movsxd(idx, gid_);
  cc_.mov(fn, x86::qword_ptr(cells, idx, 3));
  cc_.test(fn, fn);
  cc_.jz(plain);
  x86::Gp other = new_ptr();
  if (o_.link.side) cc_.mov(other, parent_);
  else cc_.lea(other, x86::qword_ptr(out_, int32_t(8 * kLinkWords)));
  // (slots from the stack: a trace whose loop no longer reads them keeps no register for them; every
  // argument is computed before the invoke node)
  x86::Gp sl = new_ptr();
  cc_.mov(sl, slots_saved_);
  x86::Gp res = new_i32();
  InvokeNode* inv;
  cc_.invoke(&inv, fn, FuncSignatureT<int32_t, const uint64_t*, uint64_t*, const uint64_t*>(CallConvId::kHost));
  inv->setArg(0, sl);
  inv->setArg(1, other);
  inv->setArg(2, out_);
  inv->setRet(0, res);
  cc_.cmp(res, kRefused);
  cc_.je(plain);
  // The link was taken (a refusal is the plain exit, which the caller counts): its counts.
  const LinkOptions& l = o_.link;
  if (l.exits) {
    x86::Gp g = new_i64();
    cc_.movsxd(g, gid_);
    cc_.add(x86::qword_ptr(imm64(reinterpret_cast<uint64_t>(l.exits)), g, 3), 1);
  }
  if (l.streak) cc_.mov(mem_at(l.streak), 0);
  if (l.last_exit) cc_.mov(mem_at(l.last_exit, 4), -1);
  for (uint64_t* c : l.link_counts)
    if (c) cc_.add(mem_at(c), 1);
  if (reentry_.isValid()) {   // the chain ended at this loop's header: the next iteration, here if allowed
    Label done = cc_.newLabel(), restored = cc_.newLabel();
    cc_.cmp(res, kLoopBack);
    cc_.jne(done);
    x86::Gp t = new_ptr();
    cc_.mov(t, mem_at(l.loop_trace));
    cc_.emit(x86::Inst::kIdCmp, t, cmp_k(l.id));
    cc_.jne(restored);
    cc_.mov(t, mem_at(l.trace_frees));
    cc_.cmp(t, frees_saved_);
    cc_.jne(restored);
    for (uint64_t* c : l.run_counts)
      if (c) cc_.add(mem_at(c), 1);
    cc_.jmp(reentry_);
    cc_.bind(restored);
    cc_.mov(res, kRestored);
    cc_.bind(done);
  }
  cc_.ret(res);
  cc_.bind(plain);
}

}  // namespace fastpy::baseline::gen
