// dce: dead-code elimination. Roots are instructions with an effect (guards, stores, calls, control: loop and
// phis) and every snapshot entry; whatever they reach through operands (phi back-edges included) is live.
// Unreached pure instructions and loads are dropped.
#include "tiers/opt/opt.h"

namespace fastpy::opt {

using ir::IRRef;
using ir::kNoRef;

namespace {

// True for ops that may be dropped when unused: pure ops and loads.
bool removable(ir::IROp op) {
  ir::IREffect e = ir::ir_info(op).effect;
  return e == ir::IRE_pure || e == ir::IRE_load;
}

// Marks every instruction reachable from the roots; the result is one flag per instruction.
std::vector<char> live_set(const ir::Trace& t) {
  std::vector<char> live(t.ins.size(), 0);
  std::vector<IRRef> work;
  auto mark = [&](IRRef r) {
    if (r == kNoRef || live[size_t(r)]) return;
    live[size_t(r)] = 1;
    work.push_back(r);
  };
  for (IRRef r = 0; r < t.size(); r++)
    if (!removable(t.ins[size_t(r)].op)) mark(r);
  for (const ir::Snapshot& sn : t.snaps)
    for (const ir::SnapEntry& e : sn.entries) mark(e.ref);
  while (!work.empty()) {
    const ir::IRIns& i = t.ins[size_t(work.back())];
    work.pop_back();
    mark(i.a);
    mark(i.b);
  }
  return live;
}

}  // namespace

bool opt_dce(ir::Trace& t) {
  std::vector<char> live = live_set(t);
  std::vector<IRRef> to(t.ins.size());
  for (size_t r = 0; r < to.size(); r++) to[r] = live[r] ? IRRef(r) : kNoRef;
  return opt_compact(t, to);
}

}  // namespace fastpy::opt
