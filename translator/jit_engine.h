// The ORC LLJIT instance that holds compiled regions, the TargetMachine that generates their
// code, and the host symbols compiled code may call. Compile thread only, except where noted.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace llvm {
class MemoryBuffer;
class TargetMachine;
namespace orc {
class LLJIT;
}
}  // namespace llvm

namespace softcpu {

class JitEngine {
 public:
  JitEngine();  // throws std::runtime_error
  ~JitEngine();

  llvm::TargetMachine& target_machine() { return *tm_; }

  // Host addresses compiled code refers to by name (handlers it calls, the cache generation),
  // so that its object file holds no address of this process and another run can load it.
  void define(const std::string& name, const void* address);
  // ... and those named `prefix` + something, asked for only when an object being linked
  // refers to one: `resolve` gets the rest of the name and gives the address (nullptr: not
  // defined, the link fails). Runs on the thread that links (the compile thread).
  void define_on_demand(const std::string& prefix,
                        std::function<const void*(const std::string&)> resolve);

  // Link an object file holding function `name`, in a JITDylib of its own (a region loaded
  // from the persistent cache keeps the name it had in the run that compiled it, which may be
  // another region's in this one); its address and a handle for remove().
  bool add(std::unique_ptr<llvm::MemoryBuffer> object, const std::string& name, uintptr_t* address,
           void** handle, std::string* error);
  // Free the code of an added object (no CPU may be running it).
  void remove(void* handle);

 private:
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unique_ptr<llvm::TargetMachine> tm_;
  uint64_t dylibs_ = 0;  // JITDylibs made: each gets a new name
};

}  // namespace softcpu
