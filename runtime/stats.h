// Counters behind fastpy.stats() (table in stats.def). Updated under the GIL; plain integers.
#pragma once
#include <cstdint>

namespace fastpy {

enum class Stat : uint16_t {
#define FASTPY_STAT(n, doc) n,
#include "runtime/stats.def"
#undef FASTPY_STAT
  count_
};
constexpr int kNumStats = static_cast<int>(Stat::count_);

struct StatInfo {
  const char* name;
  const char* doc;
};

extern uint64_t g_stats[kNumStats];

inline void stat_inc(Stat s, uint64_t n = 1) { g_stats[static_cast<int>(s)] += n; }
inline uint64_t stat_get(Stat s) { return g_stats[static_cast<int>(s)]; }
const StatInfo& stat_info(Stat s);
void stats_reset();

}  // namespace fastpy
