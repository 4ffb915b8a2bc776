#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tiers/gpu/ptx.h"

namespace fastpy::gpu {
namespace {

TEST(GPUTier, NVPTXEmitsPTXForAKernel) {
  std::string err;
  std::string ptx = emit_ptx(kSaxpyKernelIR, "sm_90", &err);
  ASSERT_FALSE(ptx.empty()) << err;
  EXPECT_NE(ptx.find(".target sm_90"), std::string::npos);
  EXPECT_NE(ptx.find(".entry saxpy"), std::string::npos) << ptx;
  // IEEE semantics: a*x+y is rounded twice, as CPython computes it; never contracted into an fma.
  EXPECT_NE(ptx.find("mul.rn.f64"), std::string::npos) << ptx;
  EXPECT_NE(ptx.find("add.rn.f64"), std::string::npos) << ptx;
  EXPECT_EQ(ptx.find("fma"), std::string::npos) << ptx;
}

TEST(GPUTier, PtxasAcceptsThePTX) {
  std::string ptxas = FASTPY_PTXAS;
  if (ptxas.empty()) GTEST_SKIP() << "ptxas not installed: PTX not validated";
  std::string err;
  std::string ptx = emit_ptx(kSaxpyKernelIR, "sm_90", &err);
  ASSERT_FALSE(ptx.empty()) << err;
  char dir[] = "/tmp/fastpy-ptx-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string in = std::string(dir) + "/k.ptx", out = std::string(dir) + "/k.cubin";
  std::ofstream(in) << ptx;
  std::string cmd = ptxas + " --gpu-name sm_90 -o " + out + " " + in + " 2>&1";
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  std::remove(in.c_str());
  std::remove(out.c_str());
  rmdir(dir);
}

TEST(GPUTier, BadKernelIsAnError) {
  std::string err;
  EXPECT_EQ(emit_ptx("not llvm ir", "sm_90", &err), "");
  EXPECT_FALSE(err.empty());
}

}  // namespace
}  // namespace fastpy::gpu
