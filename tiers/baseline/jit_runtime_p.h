// Private to tiers/baseline: the process-wide executable memory and its byte count.
#pragma once
#include <asmjit/core.h>

#include <cstdint>

namespace fastpy::baseline {

// asmjit's runtime for every piece of baseline code (lives for the process).
asmjit::JitRuntime& jit_runtime();
// Adjusts code_bytes() by n (negative when code is released).
void add_code_bytes(int64_t n);
// Machine code (made once per target, kept for the process) that calls target (System V) and gives every
// general register but rax back as it found them: the register allocator need not save what it keeps in
// caller-saved registers around such a call (a slow path's spills). Null when no memory could be had.
const void* gp_saving_thunk(const void* target);

}  // namespace fastpy::baseline
