#include <gtest/gtest.h>

#include <cstdlib>

#include "gc/code_data.h"
#include "gc/jit_heap.h"
#include "runtime/stats.h"

namespace fastpy {
namespace {

struct Node {
  int64_t value;
  Node* next;
};

TEST(JitHeap, ArenaHoldsJitDataAndReleasesItAtOnce) {
  Arena arena;
  Node* head = nullptr;
  for (int i = 0; i < 10000; i++) head = arena.make<Node>(Node{i, head});
  int64_t sum = 0;
  for (Node* n = head; n; n = n->next) {
    EXPECT_TRUE(arena.owns(n));
    sum += n->value;
  }
  EXPECT_EQ(sum, 10000LL * 9999 / 2);
  EXPECT_GE(arena.bytes_allocated(), 10000 * sizeof(Node));
  void* foreign = std::malloc(32);   // never confused with malloc memory
  EXPECT_FALSE(arena.owns(foreign));
  std::free(foreign);
}

TEST(JitHeap, CodeDataIsZeroedAndCounted) {
  stats_reset();
  CodeData* cd = code_data_new();
  EXPECT_EQ(cd->flags, 0u);
  EXPECT_EQ(cd->quiet, 0u);
  EXPECT_GE(jit_usable_size(cd), sizeof(CodeData));
  code_data_free(cd);
  EXPECT_EQ(stat_get(Stat::code_marked), 1u);
  EXPECT_EQ(stat_get(Stat::code_freed), 1u);
}

}  // namespace
}  // namespace fastpy
