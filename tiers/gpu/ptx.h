// PTX emission for GPU kernels through LLVM's NVPTX backend.
#pragma once
#include <string>

namespace fastpy::gpu {

// Compiles LLVM IR (target nvptx64-nvidia-cuda) to PTX text for `sm` (e.g. "sm_90"). Returns "" and sets
// *err on failure.
std::string emit_ptx(const std::string& ir, const std::string& sm, std::string* err);

// A minimal kernel (y[i] = a * x[i] + y[i]) used to check the backend end to end.
extern const char kSaxpyKernelIR[];

}  // namespace fastpy::gpu
