#include <gtest/gtest.h>

#include "tiers/llvm/orc_jit.h"

namespace fastpy::llvmtier {
namespace {

// sum(i for i in range(n)) as a loop; -O2 turns it into a closed form without a loop.
const char kSumIR[] = R"IR(
define i64 @sum_to(i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i.next, %body ]
  %acc = phi i64 [ 0, %entry ], [ %acc.next, %body ]
  %done = icmp sge i64 %i, %n
  br i1 %done, label %exit, label %body
body:
  %acc.next = add i64 %acc, %i
  %i.next = add i64 %i, 1
  br label %loop
exit:
  ret i64 %acc
}
)IR";

TEST(LLVMTier, OrcCompilesAndRunsAtO2) {
  std::string err;
  auto jit = OrcJit::create(&err);
  ASSERT_TRUE(jit) << err;
  void* addr = jit->compile(kSumIR, "sum_to", &err);
  ASSERT_NE(addr, nullptr) << err;
  auto fn = reinterpret_cast<int64_t (*)(int64_t)>(addr);
  EXPECT_EQ(fn(0), 0);
  EXPECT_EQ(fn(10), 45);
  EXPECT_EQ(fn(100000), 100000LL * 99999 / 2);
  const std::string& opt = jit->last_optimized_ir();
  EXPECT_NE(opt.find("define"), std::string::npos);
  // -O2 replaced the loop by a closed form: the induction variable is gone, a multiply took its place.
  EXPECT_EQ(opt.find("%i.next"), std::string::npos) << "-O2 should have removed the loop:\n" << opt;
  EXPECT_NE(opt.find(" mul "), std::string::npos) << opt;
}

TEST(LLVMTier, BadIRIsAnErrorNotACrash) {
  std::string err;
  auto jit = OrcJit::create(&err);
  ASSERT_TRUE(jit) << err;
  EXPECT_EQ(jit->compile("define i64 @f( {", "f", &err), nullptr);
  EXPECT_FALSE(err.empty());
  err.clear();
  EXPECT_EQ(jit->compile(kSumIR, "missing_symbol", &err), nullptr);
  EXPECT_NE(err.find("missing_symbol"), std::string::npos) << err;
}

}  // namespace
}  // namespace fastpy::llvmtier
