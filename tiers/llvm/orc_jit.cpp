#include "tiers/llvm/orc_jit.h"

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <mutex>

namespace fastpy::llvmtier {

struct OrcJit::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::string optimized_ir;
  unsigned next_dylib = 0;
};

namespace {

std::string take_message(llvm::Error e) { return llvm::toString(std::move(e)); }

// -O2 with the new pass manager, applied to every module before it is compiled.
void optimize_o2(llvm::Module& m) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2).run(m, mam);
}

}  // namespace

OrcJit::OrcJit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OrcJit::~OrcJit() = default;

std::unique_ptr<OrcJit> OrcJit::create(std::string* err) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit) {
    *err = "LLJIT: " + take_message(jit.takeError());
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->jit = std::move(*jit);
  Impl* raw = impl.get();
  raw->jit->getIRTransformLayer().setTransform(
      [raw](llvm::orc::ThreadSafeModule tsm, const llvm::orc::MaterializationResponsibility&) {
        tsm.withModuleDo([raw](llvm::Module& m) {
          optimize_o2(m);
          raw->optimized_ir.clear();
          llvm::raw_string_ostream os(raw->optimized_ir);
          m.print(os, nullptr);
        });
        return llvm::Expected<llvm::orc::ThreadSafeModule>(std::move(tsm));
      });
  return std::unique_ptr<OrcJit>(new OrcJit(std::move(impl)));
}

void* OrcJit::compile(const std::string& ir, const std::string& symbol, std::string* err) {
  auto ctx = std::make_unique<llvm::LLVMContext>();
  llvm::SMDiagnostic diag;
  std::unique_ptr<llvm::Module> m = llvm::parseIR(llvm::MemoryBufferRef(ir, "fastpy"), diag, *ctx);
  if (!m) {
    llvm::raw_string_ostream os(*err);
    diag.print("fastpy", os);
    return nullptr;
  }
  // One JITDylib per compiled unit, so units can define the same names and be removed independently.
  auto& es = impl_->jit->getExecutionSession();
  auto dylib = es.createJITDylib("unit" + std::to_string(impl_->next_dylib++));
  if (!dylib) {
    *err = take_message(dylib.takeError());
    return nullptr;
  }
  m->setDataLayout(impl_->jit->getDataLayout());
  if (llvm::Error e = impl_->jit->addIRModule(*dylib, llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx)))) {
    *err = take_message(std::move(e));
    return nullptr;
  }
  auto addr = impl_->jit->lookup(*dylib, symbol);
  if (!addr) {
    *err = take_message(addr.takeError());
    return nullptr;
  }
  return addr->toPtr<void*>();
}

const std::string& OrcJit::last_optimized_ir() const { return impl_->optimized_ir; }

}  // namespace fastpy::llvmtier
