// The LLVM tier's JIT: LLVM IR in, optimized (-O2) native code out, through ORC's LLJIT.
// No LLVM type appears here, so only tiers/llvm's own files pay for LLVM's headers.
#pragma once
#include <memory>
#include <string>

namespace fastpy::llvmtier {

class OrcJit {
 public:
  // nullptr and *err set when the host target cannot be initialized.
  static std::unique_ptr<OrcJit> create(std::string* err);
  ~OrcJit();

  // Parses `ir` (LLVM assembly), optimizes it at -O2 and returns the address of `symbol`; nullptr and *err
  // set on failure. The optimized module's text is kept in last_optimized_ir() for dumps and tests.
  void* compile(const std::string& ir, const std::string& symbol, std::string* err);
  const std::string& last_optimized_ir() const;

 private:
  struct Impl;
  explicit OrcJit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fastpy::llvmtier
