// opt_compact: the one place that drops instructions and renumbers refs, operands and snapshots.
#include "tiers/opt/opt.h"

namespace fastpy::opt {

using ir::IRRef;
using ir::kNoRef;

namespace {

// New number of every old instruction (kept: its new index; redirected: its target's; dropped: kNoRef), and in
// *before[r] the number of kept instructions below old r (size n + 1).
std::vector<IRRef> renumbering(const std::vector<IRRef>& to, std::vector<IRRef>* before) {
  size_t n = to.size();
  std::vector<IRRef> renum(n, kNoRef);
  before->assign(n + 1, 0);
  IRRef kept = 0;
  for (size_t r = 0; r < n; r++) {
    (*before)[r] = kept;
    if (to[r] == IRRef(r)) renum[r] = kept++;
    else if (to[r] != kNoRef && to[r] >= 0 && size_t(to[r]) < r) renum[r] = renum[size_t(to[r])];
  }
  (*before)[n] = kept;
  return renum;
}

// The new number of old ref r (kNoRef stays kNoRef).
IRRef map_ref(const std::vector<IRRef>& renum, IRRef r) {
  return r < 0 || size_t(r) >= renum.size() ? kNoRef : renum[size_t(r)];
}

}  // namespace

bool opt_compact(ir::Trace& t, const std::vector<IRRef>& to) {
  if (to.size() != t.ins.size()) return false;
  std::vector<IRRef> before;
  std::vector<IRRef> renum = renumbering(to, &before);
  if (before.back() == t.size()) return false;
  std::vector<ir::IRIns> ins;
  ins.reserve(size_t(before.back()));
  for (size_t r = 0; r < t.ins.size(); r++) {
    if (to[r] != IRRef(r)) continue;
    ir::IRIns i = t.ins[r];
    if (i.a != kNoRef) i.a = map_ref(renum, i.a);
    if (i.b != kNoRef) i.b = map_ref(renum, i.b);
    ins.push_back(i);
  }
  t.ins = std::move(ins);
  for (ir::Snapshot& sn : t.snaps) {
    sn.at = sn.at >= 0 && size_t(sn.at) < before.size() ? before[size_t(sn.at)] : sn.at;
    for (ir::SnapEntry& e : sn.entries) e.ref = map_ref(renum, e.ref);
  }
  return true;
}

}  // namespace fastpy::opt
