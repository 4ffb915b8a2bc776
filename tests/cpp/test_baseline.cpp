#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "tiers/baseline/code_memory.h"

namespace fastpy::baseline {
namespace {

TEST(Baseline, AsmjitEmitsAndRunsCheckedAdd) {
  std::string err;
  CheckedAddFn add = emit_checked_add(&err);
  ASSERT_NE(add, nullptr) << err;
  EXPECT_GT(code_bytes(), 0u);
  int64_t out = 0;
  EXPECT_EQ(add(40, 2, &out), 0);
  EXPECT_EQ(out, 42);
  EXPECT_EQ(add(-7, 3, &out), 0);
  EXPECT_EQ(out, -4);
  out = 123;
  EXPECT_EQ(add(std::numeric_limits<int64_t>::max(), 1, &out), 1);   // overflow leaves the fast path
  EXPECT_EQ(out, 123);                                                 // ... without writing a result
  EXPECT_EQ(add(std::numeric_limits<int64_t>::min(), -1, &out), 1);
}

}  // namespace
}  // namespace fastpy::baseline
