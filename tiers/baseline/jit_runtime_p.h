// Private to tiers/baseline: the process-wide executable memory and its byte count.
#pragma once
#include <asmjit/core.h>

#include <cstdint>

namespace fastpy::baseline {

// asmjit's runtime for every piece of baseline code (lives for the process).
asmjit::JitRuntime& jit_runtime();
// Adjusts code_bytes() by n (negative when code is released).
void add_code_bytes(int64_t n);

}  // namespace fastpy::baseline
