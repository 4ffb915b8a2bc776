#include <gtest/gtest.h>
#include <stdlib.h>

#include "runtime/params.h"

namespace fastpy {
namespace {

TEST(Params, DefaultsParse) {
  Params p;
  unsetenv("FASTPY_HOT_LOOP");
  EXPECT_EQ(load_params_from_env(&p), "");
  EXPECT_EQ(p.get(ParamId::hot_loop), 1000);
  EXPECT_TRUE(p.has(ParamId::tiers, kTierInterp));
  EXPECT_FALSE(p.has(ParamId::tiers, kTierIR));
}

TEST(Params, OneIsValidForEveryThreshold) {
  for (ParamId id : {ParamId::hot_loop, ParamId::hot_exit, ParamId::hot_func, ParamId::llvm_hot}) {
    int64_t v = 0;
    EXPECT_EQ(parse_param(id, "1", "X", &v), "");
    EXPECT_EQ(v, 1);
  }
}

TEST(Params, BadIntegersNameVariableValueAndRange) {
  int64_t v = 0;
  for (const char* bad : {"abc", "-5", "0", "", "12x", " 7", "99999999999999999999"}) {
    std::string err = parse_param(ParamId::hot_loop, bad, "FASTPY_HOT_LOOP", &v);
    EXPECT_NE(err.find("FASTPY_HOT_LOOP='" + std::string(bad) + "'"), std::string::npos) << err;
    EXPECT_NE(err.find("an integer from 1 to"), std::string::npos) << err;
  }
}

TEST(Params, TierSets) {
  int64_t v = 0;
  EXPECT_EQ(parse_param(ParamId::tiers, "interp,ir", "T", &v), "");
  EXPECT_EQ(v, (1 << kTierInterp) | (1 << kTierIR));
  EXPECT_EQ(format_param(ParamId::tiers, v), "interp,ir");
  EXPECT_EQ(parse_param(ParamId::tiers, "none", "T", &v), "");
  EXPECT_EQ(v, 0);
  std::string err = parse_param(ParamId::tiers, "interp,turbo", "FASTPY_TIERS", &v);
  EXPECT_NE(err.find("unknown: 'turbo'"), std::string::npos) << err;
  EXPECT_NE(err.find("interp,ir,baseline,llvm,gpu"), std::string::npos) << err;
  err = parse_param(ParamId::tiers, "baseline", "FASTPY_TIERS", &v);
  EXPECT_NE(err.find("includes 'interp'"), std::string::npos) << err;
}

TEST(Params, EnumAndEnvironment) {
  Params p;
  setenv("FASTPY_GPU", "maybe", 1);
  std::string err = load_params_from_env(&p);
  unsetenv("FASTPY_GPU");
  EXPECT_NE(err.find("FASTPY_GPU='maybe'"), std::string::npos) << err;
  EXPECT_NE(err.find("auto,on,off"), std::string::npos) << err;
  setenv("FASTPY_HOT_LOOP", "7", 1);
  EXPECT_EQ(load_params_from_env(&p), "");
  unsetenv("FASTPY_HOT_LOOP");
  EXPECT_EQ(p.get(ParamId::hot_loop), 7);
}

TEST(Params, HelpListsEveryParameter) {
  std::string help = params_help();
  for (int i = 0; i < kNumParams; i++)
    EXPECT_NE(help.find(param_info(static_cast<ParamId>(i)).env), std::string::npos);
}

}  // namespace
}  // namespace fastpy
