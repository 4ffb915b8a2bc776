#include "tiers/gpu/ptx.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <mutex>

extern "C" {
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTarget();
void LLVMInitializeNVPTXTargetMC();
void LLVMInitializeNVPTXAsmPrinter();
}

namespace fastpy::gpu {

const char kSaxpyKernelIR[] = R"IR(
target triple = "nvptx64-nvidia-cuda"
declare i32 @llvm.nvvm.read.ptx.sreg.tid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
define void @saxpy(i64 %n, double %a, ptr addrspace(1) %x, ptr addrspace(1) %y) {
entry:
  %tid = call i32 @llvm.nvvm.read.ptx.sreg.tid.x()
  %bid = call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
  %bdim = call i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
  %base = mul i32 %bid, %bdim
  %i32 = add i32 %base, %tid
  %i = zext i32 %i32 to i64
  %in = icmp slt i64 %i, %n
  br i1 %in, label %body, label %done
body:
  %px = getelementptr double, ptr addrspace(1) %x, i64 %i
  %py = getelementptr double, ptr addrspace(1) %y, i64 %i
  %vx = load double, ptr addrspace(1) %px
  %vy = load double, ptr addrspace(1) %py
  %m = fmul double %a, %vx
  %s = fadd double %m, %vy
  store double %s, ptr addrspace(1) %py
  br label %done
done:
  ret void
}
!nvvm.annotations = !{!0}
!0 = !{ptr @saxpy, !"kernel", i32 1}
)IR";

std::string emit_ptx(const std::string& ir, const std::string& sm, std::string* err) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
  llvm::LLVMContext ctx;
  llvm::SMDiagnostic diag;
  std::unique_ptr<llvm::Module> m = llvm::parseIR(llvm::MemoryBufferRef(ir, "kernel"), diag, ctx);
  if (!m) {
    llvm::raw_string_ostream os(*err);
    diag.print("kernel", os);
    return "";
  }
  std::string triple = "nvptx64-nvidia-cuda";
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, *err);
  if (!target) return "";
  llvm::TargetOptions options;
  options.AllowFPOpFusion = llvm::FPOpFusion::Strict;   // IEEE: no fma contraction unless a user opts in
  std::unique_ptr<llvm::TargetMachine> tm(
      target->createTargetMachine(triple, sm, "+ptx80", options, std::nullopt));
  m->setDataLayout(tm->createDataLayout());
  llvm::SmallString<4096> out;
  llvm::raw_svector_ostream os(out);
  llvm::legacy::PassManager pm;
  if (tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile)) {
    *err = "NVPTX backend cannot emit assembly";
    return "";
  }
  pm.run(*m);
  return std::string(out.str());
}

}  // namespace fastpy::gpu
