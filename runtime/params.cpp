#include "runtime/params.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace fastpy {
namespace {

// FASTPY_OPT accepts the optimizer's passes, named by its own table: ",peel,guards,dce" without the comma.
#define FASTPY_PASS(name, doc) "," #name
constexpr char kOptPassList[] = ""
#include "tiers/opt/passes.def"
    ;
#undef FASTPY_PASS
#define FASTPY_OPT_PASSES (kOptPassList + 1)

const ParamInfo kParams[] = {
#define FASTPY_INT(n, env, def, lo, hi, doc) {#n, env, ParamKind::Int, #def, lo, hi, "", doc},
#define FASTPY_SET(n, env, def, acc, doc) {#n, env, ParamKind::Set, def, 0, 0, acc, doc},
#define FASTPY_ENUM(n, env, def, acc, doc) {#n, env, ParamKind::Enum, def, 0, 0, acc, doc},
#include "runtime/params.def"
#undef FASTPY_INT
#undef FASTPY_SET
#undef FASTPY_ENUM
};
static_assert(sizeof(kParams) / sizeof(kParams[0]) == kNumParams, "params.def and ParamId disagree");

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, ',')) {
    size_t b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
    out.push_back(b == std::string::npos ? "" : cur.substr(b, e - b + 1));
  }
  return out;
}

int word_index(const ParamInfo& p, const std::string& w) {
  std::vector<std::string> acc = split_words(p.accepted);
  for (size_t i = 0; i < acc.size(); i++)
    if (acc[i] == w) return static_cast<int>(i);
  return -1;
}

std::string bad_value(const ParamInfo& p, const std::string& origin, const std::string& text,
                      const std::string& expected) {
  return origin + "='" + text + "' is not valid: expected " + expected;
}

std::string parse_int(const ParamInfo& p, const std::string& text, const std::string& origin,
                      int64_t* out) {
  std::string expected = "an integer from " + std::to_string(p.min) + " to " + std::to_string(p.max);
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  bool ok = !text.empty() && end && *end == '\0' && errno == 0 && !std::isspace((unsigned char)s[0]);
  if (!ok || v < p.min || v > p.max) return bad_value(p, origin, text, expected);
  *out = v;
  return "";
}

std::string parse_set(const ParamInfo& p, const std::string& text, const std::string& origin,
                      int64_t* out) {
  std::string expected = "'none' or a comma-separated list of: " + std::string(p.accepted);
  if (text == "none") { *out = 0; return ""; }
  if (text == "all") { *out = (int64_t(1) << split_words(p.accepted).size()) - 1; return ""; }
  int64_t mask = 0;
  for (const std::string& w : split_words(text)) {
    int i = word_index(p, w);
    if (i < 0) return bad_value(p, origin, text, expected + " (unknown: '" + w + "')");
    mask |= int64_t(1) << i;
  }
  *out = mask;
  return "";
}

}  // namespace

Params g_params;

const ParamInfo& param_info(ParamId id) { return kParams[static_cast<int>(id)]; }

const ParamInfo* find_param(const std::string& name, ParamId* id_out) {
  for (int i = 0; i < kNumParams; i++)
    if (name == kParams[i].name) {
      if (id_out) *id_out = static_cast<ParamId>(i);
      return &kParams[i];
    }
  return nullptr;
}

std::string parse_param(ParamId id, const std::string& text, const std::string& origin, int64_t* out) {
  const ParamInfo& p = param_info(id);
  switch (p.kind) {
    case ParamKind::Int: return parse_int(p, text, origin, out);
    case ParamKind::Set: {
      std::string err = parse_set(p, text, origin, out);
      if (err.empty() && id == ParamId::tiers && *out != 0 && !((*out >> kTierInterp) & 1))
        return bad_value(p, origin, text, "a list that includes 'interp' (every tier is entered from it), or 'none'");
      return err;
    }
    case ParamKind::Enum: {
      int i = word_index(p, text);
      if (i < 0) return bad_value(p, origin, text, "one of: " + std::string(p.accepted));
      *out = i;
      return "";
    }
  }
  return "internal error: unknown parameter kind";
}

std::string format_param(ParamId id, int64_t value) {
  const ParamInfo& p = param_info(id);
  if (p.kind == ParamKind::Int) return std::to_string(value);
  std::vector<std::string> acc = split_words(p.accepted);
  if (p.kind == ParamKind::Enum) return acc.at(static_cast<size_t>(value));
  std::string out;
  for (size_t i = 0; i < acc.size(); i++)
    if ((value >> i) & 1) out += (out.empty() ? "" : ",") + acc[i];
  return out.empty() ? "none" : out;
}

std::string load_params_from_env(Params* params) {
  for (int i = 0; i < kNumParams; i++) {
    ParamId id = static_cast<ParamId>(i);
    std::string err = parse_param(id, kParams[i].def, std::string("default of ") + kParams[i].env,
                                  &params->value[i]);
    if (!err.empty()) return "internal error: " + err;
  }
  for (int i = 0; i < kNumParams; i++) {
    const char* v = std::getenv(kParams[i].env);
    if (!v) continue;
    std::string err = parse_param(static_cast<ParamId>(i), v, kParams[i].env, &params->value[i]);
    if (!err.empty()) return err;
  }
  return "";
}

std::string params_help() {
  std::ostringstream o;
  o << "fastpy parameters (environment variable, or fastpy.config(name=value)):\n\n";
  for (const ParamInfo& p : kParams) {
    o << "  " << p.env << "  (config: " << p.name << ")\n      " << p.doc << "\n      ";
    if (p.kind == ParamKind::Int)
      o << "integer " << p.min << ".." << p.max;
    else if (p.kind == ParamKind::Set)
      o << "'none', 'all' or comma-separated subset of: " << p.accepted;
    else
      o << "one of: " << p.accepted;
    o << "; default: " << p.def << "\n";
  }
  return o.str();
}

}  // namespace fastpy
