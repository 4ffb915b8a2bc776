#include "runtime/stats.h"

#include <cstring>

namespace fastpy {
namespace {
const StatInfo kStats[] = {
#define FASTPY_STAT(n, doc) {#n, doc},
#include "runtime/stats.def"
#undef FASTPY_STAT
};
static_assert(sizeof(kStats) / sizeof(kStats[0]) == kNumStats, "stats.def and Stat disagree");
}  // namespace

uint64_t g_stats[kNumStats];

const StatInfo& stat_info(Stat s) { return kStats[static_cast<int>(s)]; }

void stats_reset() { std::memset(g_stats, 0, sizeof(g_stats)); }

}  // namespace fastpy
