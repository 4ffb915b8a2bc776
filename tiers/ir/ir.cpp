// Trace IR: table lookups, snapshots and the verifier.
#include "tiers/ir/ir.h"

#include <cstdio>

namespace fastpy::ir {

bool ir_op_from_name(std::string_view name, IROp* out) {
  for (int i = 0; i < IR__count; i++) {
    if (name == kIROpInfo[i].name) { *out = IROp(i); return true; }
  }
  return false;
}

bool ir_type_from_name(std::string_view name, IRType* out) {
  for (int i = 0; i < IRT_any; i++) {
    if (name == kIRTypeNames[i]) { *out = IRType(i); return true; }
  }
  return false;
}

int Trace::add_snapshot(int32_t pc, int32_t top, std::vector<SnapEntry> entries) {
  snaps.push_back(Snapshot{pc, top, size(), std::move(entries)});
  return int(snaps.size() - 1);
}

namespace {

// "%<ref>: <op>: " prefix of every message about one instruction.
std::string at(const Trace& t, IRRef r) {
  return "%" + std::to_string(r) + ": " + ir_name(t.ins[r].op) + ": ";
}

// True when a value of type ty satisfies kind k for an instruction of type self.
bool kind_accepts(IRKind k, IRType ty, IRType self) {
  if (k == IRK_addr) return ty == IRT_obj || ty == IRT_ptr;
  if (k == IRK_any) return ty == self;
  return int(k) == int(ty);
}

// Checks one operand slot (which = 'a' or 'b') of instruction r against kind k.
std::string check_operand(const Trace& t, IRRef r, char which, IRRef ref, IRKind k) {
  const IRIns& i = t.ins[r];
  auto w = [&] { return std::string("operand ") + which; };   // (built only for a message)
  if (k == IRK_none) return ref == kNoRef ? "" : at(t, r) + "unexpected " + w();
  if (ref == kNoRef) return at(t, r) + "missing " + w();
  if (ref < 0 || ref >= t.size()) return at(t, r) + w() + " %" + std::to_string(ref) + " does not exist";
  bool forward_ok = i.op == IR_phi && which == 'b';
  if (ref >= r && !forward_ok) return at(t, r) + w() + " %" + std::to_string(ref) + " used before defined";
  IRType ty = t.ins[ref].type;
  if (!kind_accepts(k, ty, i.type))
    return at(t, r) + w() + " has type " + (ty < IRT__count ? kIRTypeNames[ty] : "?");
  return "";
}

// Checks the type, immediate and snapshot index of instruction r.
std::string check_fields(const Trace& t, IRRef r) {
  const IRIns& i = t.ins[r];
  const IROpInfo& info = ir_info(i.op);
  if (info.result == IRT_any ? (i.type >= IRT_void) : (i.type != info.result))
    return at(t, r) + "wrong result type " + (i.type < IRT__count ? kIRTypeNames[i.type] : "?");
  if (info.imm == IMM_none && i.imm != 0) return at(t, r) + "unexpected immediate";
  if (info.imm == IMM_bool && i.imm != 0 && i.imm != 1) return at(t, r) + "bool immediate not 0/1";
  if (!info.is_guard) return i.snap == -1 ? "" : at(t, r) + "snapshot on a non-guard";
  if (i.snap < 0 || size_t(i.snap) >= t.snaps.size())
    return at(t, r) + "snapshot " + std::to_string(i.snap) + " does not exist";
  if (t.snaps[i.snap].at > r) return at(t, r) + "snapshot " + std::to_string(i.snap) + " taken after the guard";
  return "";
}

// Checks loop/phi placement of instruction r; *loops counts the loop instructions seen.
std::string check_structure(const Trace& t, IRRef r, int* loops) {
  IROp op = t.ins[r].op;
  if (op == IR_loop && ++*loops > 1) return at(t, r) + "second loop";
  if (op != IR_phi) return "";
  IROp prev = r > 0 ? t.ins[r - 1].op : IR__count;
  if (prev != IR_loop && prev != IR_phi) return at(t, r) + "phi not right after loop";
  return "";
}

// Checks instruction r.
std::string check_ins(const Trace& t, IRRef r, int* loops) {
  const IRIns& i = t.ins[r];
  if (i.op >= IR__count) return "%" + std::to_string(r) + ": bad op " + std::to_string(int(i.op));
  const IROpInfo& info = ir_info(i.op);
  std::string e = check_fields(t, r);
  if (e.empty()) e = check_operand(t, r, 'a', i.a, info.ka);
  if (e.empty()) e = check_operand(t, r, 'b', i.b, info.kb);
  if (e.empty()) e = check_structure(t, r, loops);
  return e;
}

// True when entry e may share an object with another slot (SnapEntry::same): a number boxed on restore.
bool shares_object(const Trace& t, const SnapEntry& e) {
  IRType ty = t.ins[size_t(e.ref)].type;
  return e.box != SNAP_own && (ty == IRT_i64 || ty == IRT_f64);
}

// The entry of sn for slot k, or nullptr (entries are in increasing slot order).
const SnapEntry* find_entry(const Snapshot& sn, int32_t k) {
  size_t lo = 0, hi = sn.entries.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (sn.entries[mid].slot < k) lo = mid + 1;
    else hi = mid;
  }
  return lo < sn.entries.size() && sn.entries[lo].slot == k ? &sn.entries[lo] : nullptr;
}

// What is wrong with entry e of snapshot sn (last: the slot of the entry before it), or nullptr. (The
// verifier runs after every optimization pass: no message is built for an entry that is right.)
const char* entry_problem(const Trace& t, const Snapshot& sn, const SnapEntry& e, int32_t last) {
  auto in_a_frame = [&](int32_t k) {
    if (k < sn.top) return true;
    for (const SnapFrame& fr : sn.inlined)
      if (k >= fr.base && k < fr.base + fr.top) return true;
    return false;
  };
  if (e.slot <= last) return "slots not increasing";
  if (!in_a_frame(e.slot)) return "at or above the stack top";
  if (e.ref < 0 || e.ref >= t.size()) return "no such instruction";
  if (e.ref >= sn.at) return "instruction defined after the snapshot";
  const IRType ty = t.ins[e.ref].type;
  if (ty == IRT_void) return "instruction has no value";
  if (e.box == SNAP_own && ty != IRT_obj) return "only objects are owned";
  if (e.box != SNAP_own && e.box != SNAP_py && ty != IRT_i64 && ty != IRT_f64)
    return "only i64 and f64 values box as numpy scalars";
  if (e.num != NUM_none && (ty != IRT_obj || e.box != SNAP_py)) return "only borrowed objects stand for a number";
  if (e.same < 0) return e.same_frame ? "same_frame without a slot" : nullptr;
  if (!shares_object(t, e)) return "only i64 and f64 values share an object";
  if (e.same == e.slot && !e.same_frame) return "the same object as itself";
  if (e.same_frame) return e.same >= sn.top ? "the frame's object of a slot at or above its top" : nullptr;
  const SnapEntry* to = find_entry(sn, e.same);
  if (!to) return "the same object as a slot with no entry";
  if (to->same >= 0) return "the same object as an entry that links on";
  if (to->ref != e.ref || to->box != e.box) return "the same object as another value";
  return nullptr;
}

// Checks snapshot s: position, then entries in range, defined before it, valued, slots increasing.
std::string check_snapshot(const Trace& t, size_t s) {
  const Snapshot& sn = t.snaps[s];
  auto bad = [&](const std::string& what) { return "snap " + std::to_string(s) + ": " + what; };
  if (sn.pc < 0) return bad("negative pc");
  if (sn.top < 0) return bad("negative stack top");
  if (sn.at < 0 || sn.at > t.size()) return bad("position out of range");
  if (s > 0 && t.snaps[s - 1].at > sn.at) return bad("taken before the previous snapshot");
  int32_t floor = sn.top;   // inlined frames' slots come after their callers'
  for (const SnapFrame& fr : sn.inlined) {
    if (fr.base < floor || fr.pc < 0 || fr.top < 0 || fr.code == 0) return bad("bad inlined frame");
    floor = fr.base + fr.top;
  }
  int32_t last_slot = -1;
  for (const SnapEntry& e : sn.entries) {
    if (const char* p = entry_problem(t, sn, e, last_slot)) return bad("slot " + std::to_string(e.slot) + ": " + p);
    last_slot = e.slot;
  }
  return "";
}

}  // namespace

void snap_normalize_same(const Trace& t, Snapshot* s) {
  for (SnapEntry& x : s->entries) {
    if (x.same < 0 || !shares_object(t, x)) {
      x.same = -1;
      x.same_frame = false;
      continue;
    }
    int32_t to = x.same;
    bool frame = x.same_frame, ok = frame && to < s->top;
    for (size_t hops = 0; !frame && hops <= s->entries.size(); hops++) {
      const SnapEntry* y = to == x.slot ? nullptr : find_entry(*s, to);
      if (!y || y->ref != x.ref || y->box != x.box) break;
      if (y->same < 0) {
        ok = true;
        break;
      }
      to = y->same;
      frame = y->same_frame;
      ok = frame && to < s->top;
    }
    x.same = ok && (frame || to != x.slot) ? to : -1;
    x.same_frame = x.same >= 0 && frame;
  }
}

IRRef ir_unbox_of(const Trace& t, IRRef obj) {
  for (int hops = 0; obj >= 0 && obj < t.size() && hops < 2; hops++) {
    for (IRRef r = obj + 1; r < t.size(); r++) {
      const IRIns& i = t.ins[size_t(r)];
      if ((i.op == IR_unbox_f64 || i.op == IR_unbox_i64) && i.a == obj) return r;
    }
    if (t.ins[size_t(obj)].op != IR_phi) break;
    obj = t.ins[size_t(obj)].a;
  }
  return kNoRef;
}

std::string ir_verify(const Trace& t) {
  int loops = 0;
  for (IRRef r = 0; r < t.size(); r++) {
    std::string e = check_ins(t, r, &loops);
    if (!e.empty()) return e;
  }
  for (size_t s = 0; s < t.snaps.size(); s++) {
    std::string e = check_snapshot(t, s);
    if (!e.empty()) return e;
  }
  return "";
}

}  // namespace fastpy::ir
