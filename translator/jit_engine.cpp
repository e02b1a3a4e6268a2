#include "translator/jit_engine.h"

#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetMachine.h>

#include <cstring>
#include <mutex>
#include <stdexcept>

#include "interp/fpu_host.h"
#include "interp/jit_abi.h"

namespace softcpu {

namespace {

void init_llvm_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

template <typename T>
T unwrap(llvm::Expected<T> e, const char* what) {
  if (!e) throw std::runtime_error(std::string(what) + ": " + llvm::toString(e.takeError()));
  return std::move(*e);
}

// Defines the symbols JitEngine::define_on_demand names when a link first looks them up.
class OnDemand : public llvm::orc::DefinitionGenerator {
 public:
  OnDemand(std::string prefix, char global_prefix,
           std::function<const void*(const std::string&)> resolve)
      : prefix_(std::move(prefix)), global_prefix_(global_prefix), resolve_(std::move(resolve)) {}

  llvm::Error tryToGenerate(llvm::orc::LookupState&, llvm::orc::LookupKind,
                            llvm::orc::JITDylib& jd, llvm::orc::JITDylibLookupFlags,
                            const llvm::orc::SymbolLookupSet& symbols) override {
    llvm::orc::SymbolMap found;
    for (const auto& [name, flags] : symbols) {
      llvm::StringRef n = *name;
      if (global_prefix_ && !n.consume_front(llvm::StringRef(&global_prefix_, 1))) continue;
      if (!n.consume_front(prefix_)) continue;
      if (const void* address = resolve_(n.str()))
        found[name] = llvm::orc::ExecutorSymbolDef(llvm::orc::ExecutorAddr::fromPtr(address),
                                                   llvm::JITSymbolFlags::Exported);
    }
    if (found.empty()) return llvm::Error::success();
    return jd.define(llvm::orc::absoluteSymbols(std::move(found)));
  }

 private:
  std::string prefix_;
  char global_prefix_;
  std::function<const void*(const std::string&)> resolve_;
};

}  // namespace

JitEngine::JitEngine() {
  init_llvm_once();
  // Small code model and PIC: the default (Large) makes codegen several times slower
  // (../shared/TOOLCHAIN.md), and JITLink places code and data within 2 GiB of each other.
  auto jtmb = unwrap(llvm::orc::JITTargetMachineBuilder::detectHost(), "host target");
  jtmb.setCodeModel(llvm::CodeModel::Small);
  jtmb.setRelocationModel(llvm::Reloc::PIC_);
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
  tm_ = unwrap(jtmb.createTargetMachine(), "target machine");
  jit_ = unwrap(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create(), "LLJIT");

  // What compiled code may call: the JIT runtime (interp/jit_abi.h) and libc's memory
  // functions, by address (no dynamic symbol table needed).
  llvm::orc::SymbolMap syms;
  auto add = [&](const char* name, const void* fn) {
    syms[jit_->mangleAndIntern(name)] = llvm::orc::ExecutorSymbolDef(
        llvm::orc::ExecutorAddr::fromPtr(fn),
        llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  };
  add("softcpu_jit_read", reinterpret_cast<const void*>(&softcpu_jit_read));
  add("softcpu_jit_write", reinterpret_cast<const void*>(&softcpu_jit_write));
  add("softcpu_jit_probe_write", reinterpret_cast<const void*>(&softcpu_jit_probe_write));
  add("softcpu_jit_read_system", reinterpret_cast<const void*>(&softcpu_jit_read_system));
  add("softcpu_jit_write_system", reinterpret_cast<const void*>(&softcpu_jit_write_system));
  add("softcpu_jit_read_mem", reinterpret_cast<const void*>(&softcpu_jit_read_mem));
  add("softcpu_jit_write_mem", reinterpret_cast<const void*>(&softcpu_jit_write_mem));
  add("softcpu_jit_call", reinterpret_cast<const void*>(&softcpu_jit_call));
  add("softcpu_jit_fpu_exec", reinterpret_cast<const void*>(&softcpu_jit_fpu_exec));
  add("memcpy", reinterpret_cast<const void*>(&std::memcpy));
  add("memmove", reinterpret_cast<const void*>(&std::memmove));
  add("memset", reinterpret_cast<const void*>(&std::memset));
  if (auto err = jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(syms))))
    throw std::runtime_error("JIT runtime symbols: " + llvm::toString(std::move(err)));
}

JitEngine::~JitEngine() = default;

void JitEngine::define(const std::string& name, const void* address) {
  llvm::orc::SymbolMap syms;
  syms[jit_->mangleAndIntern(name)] = llvm::orc::ExecutorSymbolDef(
      llvm::orc::ExecutorAddr::fromPtr(address), llvm::JITSymbolFlags::Exported);
  if (auto err = jit_->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(syms))))
    throw std::runtime_error("JIT symbol " + name + ": " + llvm::toString(std::move(err)));
}

void JitEngine::define_on_demand(const std::string& prefix,
                                 std::function<const void*(const std::string&)> resolve) {
  jit_->getMainJITDylib().addGenerator(std::make_unique<OnDemand>(
      prefix, jit_->getDataLayout().getGlobalPrefix(), std::move(resolve)));
}

bool JitEngine::add(std::unique_ptr<llvm::MemoryBuffer> object, const std::string& name,
                    uintptr_t* address, void** handle, std::string* error) {
  // A bare JITDylib (no platform set-up) that resolves the runtime through the main one.
  llvm::orc::ExecutionSession& es = jit_->getExecutionSession();
  llvm::orc::JITDylib& jd = es.createBareJITDylib("region" + std::to_string(++dylibs_));
  jd.addToLinkOrder(jit_->getMainJITDylib());
  jd.addToLinkOrder(jit_->defaultLinkOrder());
  auto drop = [&] {
    if (auto e = es.removeJITDylib(jd)) llvm::consumeError(std::move(e));
  };
  if (auto err = jit_->addObjectFile(jd, std::move(object))) {
    *error = llvm::toString(std::move(err));
    drop();
    return false;
  }
  auto sym = jit_->lookup(jd, name);
  if (!sym) {
    *error = llvm::toString(sym.takeError());
    drop();
    return false;
  }
  *address = sym->getValue();
  *handle = &jd;
  return true;
}

void JitEngine::remove(void* handle) {
  auto* jd = static_cast<llvm::orc::JITDylib*>(handle);
  if (auto err = jit_->getExecutionSession().removeJITDylib(*jd)) llvm::consumeError(std::move(err));
}

}  // namespace softcpu
