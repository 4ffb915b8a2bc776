// Tunable parameters (table in params.def): values, parsing and validation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fastpy {

enum class ParamKind : uint8_t { Int, Set, Enum };

// One row of params.def, as data.
struct ParamInfo {
  const char* name;       // fastpy.config() keyword
  const char* env;        // environment variable
  ParamKind kind;
  const char* def;        // default, as text
  int64_t min, max;       // Int only
  const char* accepted;   // Set/Enum: comma-separated words
  const char* doc;
};

enum class ParamId : uint8_t {
#define FASTPY_INT(n, ...) n,
#define FASTPY_SET(n, ...) n,
#define FASTPY_ENUM(n, ...) n,
#include "runtime/params.def"
#undef FASTPY_INT
#undef FASTPY_SET
#undef FASTPY_ENUM
  count_
};
constexpr int kNumParams = static_cast<int>(ParamId::count_);

const ParamInfo& param_info(ParamId id);
// Looks a parameter up by config() name; nullptr when unknown.
const ParamInfo* find_param(const std::string& name, ParamId* id_out);

// Current values. Int params hold the number; Set params a bit mask over the accepted words (in order);
// Enum params the index of the word.
struct Params {
  int64_t value[kNumParams];
  int64_t get(ParamId id) const { return value[static_cast<int>(id)]; }
  bool has(ParamId set_param, int bit) const { return (get(set_param) >> bit) & 1; }
};

extern Params g_params;

// Parses `text` for parameter `id`. On success stores the parsed value in *out and returns "";
// otherwise returns a complete error message naming `origin` (e.g. "FASTPY_HOT_LOOP"), the value and what
// is accepted.
std::string parse_param(ParamId id, const std::string& text, const std::string& origin, int64_t* out);
// Renders a value as the text parse_param accepts.
std::string format_param(ParamId id, int64_t value);
// Loads defaults, then overrides from the environment; returns the first error (or "").
std::string load_params_from_env(Params* p);
// The --help-params table as text.
std::string params_help();

// Tier bits of FASTPY_TIERS, in the order of its accepted list.
enum Tier : int { kTierInterp = 0, kTierIR = 1, kTierBaseline = 2, kTierLLVM = 3, kTierGPU = 4 };
// Bits of FASTPY_LOG, in the order of its accepted list.
enum LogBit : int {
  kLogHook = 0, kLogTrace, kLogIR, kLogAsm, kLogPerfmap, kLogDeopt, kLogAbort, kLogLLVM, kLogGPU, kLogStats
};

}  // namespace fastpy
