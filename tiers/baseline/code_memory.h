// Executable memory and code emission for the baseline tier (asmjit).
#pragma once
#include <cstdint>
#include <string>

namespace fastpy::baseline {

// Checked 64-bit add: returns 0 and stores a+b, or returns 1 (overflow: the fast path must be left).
// It is the shape of every integer operation in baseline traces: compute, then branch out on overflow.
using CheckedAddFn = int (*)(int64_t a, int64_t b, int64_t* out);

// Emits CheckedAddFn into the process-wide code memory. On failure returns nullptr and sets *err.
CheckedAddFn emit_checked_add(std::string* err);

// Bytes of machine code currently held (for stats and tests).
size_t code_bytes();

}  // namespace fastpy::baseline
