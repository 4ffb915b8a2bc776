// Optimizer passes over Trace IR. The pass list is passes.def; everything here derives from it. Each pass can be
// switched off alone (OptOptions) to bisect a miscompile. Pure C++17, no Python headers.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tiers/ir/ir.h"

namespace fastpy::opt {

// Every pass of passes.def, as OPT_<name>, in pipeline order.
enum OptPass : uint8_t {
#define FASTPY_PASS(name, doc) OPT_##name,
#include "tiers/opt/passes.def"
#undef FASTPY_PASS
  OPT__count
};

// One row of passes.def, as data.
struct OptPassInfo {
  const char* name;                 // name, as opt_parse_passes accepts it
  const char* doc;                  // one line
  bool (*run)(ir::Trace& t);        // the pass: true when it changed t
};

// The table, indexed by OptPass.
extern const OptPassInfo kOptPassInfo[OPT__count];

static_assert(OPT__count <= 32, "OptOptions holds one bit per pass in 32 bits");

// Which passes opt_run runs: one bit per pass of passes.def (default: all on).
struct OptOptions {
  uint32_t bits = (uint32_t(1) << OPT__count) - 1;
  // True when pass p is on.
  bool on(OptPass p) const { return (bits >> p) & 1; }
  // Switches pass p on or off.
  void set(OptPass p, bool v) { bits = v ? (bits | (uint32_t(1) << p)) : (bits & ~(uint32_t(1) << p)); }
  // Every pass off.
  static OptOptions none() { OptOptions o; o.bits = 0; return o; }
};

// The pass's name.
inline const char* opt_pass_name(OptPass p) { return kOptPassInfo[p].name; }
// Finds a pass by name; false when unknown.
bool opt_pass_from_name(std::string_view name, OptPass* out);
// Parses "dce,guards" (spaces around names allowed) into *out: the listed passes on, every other off ("" turns
// all off). Returns "" or "unknown pass 'x' (passes: ...)"; *out is unchanged on error.
std::string opt_parse_passes(std::string_view list, OptOptions* out);
// Runs the enabled passes in table order. Returns "" or the problem: an input that fails ir_verify (t is left
// as is), or "after <pass>: ..." if a pass broke the trace. *changed (if given): some pass changed t.
std::string opt_run(ir::Trace& t, const OptOptions& o = OptOptions(), bool* changed = nullptr);

// The passes (t must pass ir_verify); each returns true when it changed t. See passes.def.
#define FASTPY_PASS(name, doc) bool opt_##name(ir::Trace& t);
#include "tiers/opt/passes.def"
#undef FASTPY_PASS

// The one renumbering routine every pass uses. to[r] says what becomes of instruction r: r keeps it; kNoRef
// drops it (it must be unused); an earlier q drops it and redirects its uses (operands, phi back-edges, snapshot
// entries) to q, which must itself be kept or redirected earlier. Operands, snapshot entries and snapshot
// positions are renumbered; snapshots themselves are never dropped, so guards' snapshot indices stay valid and
// side exits keep their snapshot numbers. Returns true when something was dropped.
bool opt_compact(ir::Trace& t, const std::vector<ir::IRRef>& to);

}  // namespace fastpy::opt
