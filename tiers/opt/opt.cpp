// Optimizer driver: the pass table, opt_run and the pass-list parser.
#include "tiers/opt/opt.h"

namespace fastpy::opt {

const OptPassInfo kOptPassInfo[OPT__count] = {
#define FASTPY_PASS(name, doc) {#name, doc, &opt_##name},
#include "tiers/opt/passes.def"
#undef FASTPY_PASS
};

bool opt_pass_from_name(std::string_view name, OptPass* out) {
  for (int p = 0; p < OPT__count; p++) {
    if (name == kOptPassInfo[p].name) { *out = OptPass(p); return true; }
  }
  return false;
}

namespace {

// s without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "guards, dce": every pass name, for error messages.
std::string all_names() {
  std::string s;
  for (int p = 0; p < OPT__count; p++) s += std::string(p ? ", " : "") + kOptPassInfo[p].name;
  return s;
}

}  // namespace

std::string opt_parse_passes(std::string_view list, OptOptions* out) {
  OptOptions o = OptOptions::none();
  if (trim(list).empty()) { *out = o; return ""; }
  while (true) {
    size_t comma = list.find(',');
    std::string_view name = trim(list.substr(0, comma));
    OptPass p;
    if (!opt_pass_from_name(name, &p)) return "unknown pass '" + std::string(name) + "' (passes: " + all_names() + ")";
    o.set(p, true);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  *out = o;
  return "";
}

std::string opt_run(ir::Trace& t, const OptOptions& o, bool* changed) {
  if (changed) *changed = false;
  std::string e = ir::ir_verify(t);
  if (!e.empty()) return "invalid input trace: " + e;
  for (int p = 0; p < OPT__count; p++) {
    if (!o.on(OptPass(p)) || !kOptPassInfo[p].run(t)) continue;
    if (changed) *changed = true;
    e = ir::ir_verify(t);  // always on: a broken trace must never reach a backend
    if (!e.empty()) return std::string("after ") + kOptPassInfo[p].name + ": " + e;
  }
  return "";
}

}  // namespace fastpy::opt
