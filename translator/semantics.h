// The instruction semantics as LLVM bitcode (interp/sem/, compiled by clang into the binary):
// which bitcode function a handler pointer names, whether compiled code may inline it, and
// linking the needed bodies into a region's module. Compile thread only (one LLVMContext).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "interp/insn.h"

namespace llvm {
class LLVMContext;
class Module;
class FunctionType;
}  // namespace llvm

namespace softcpu {

class Semantics {
 public:
  struct Handler {
    std::string name;           // the bitcode function's (mangled) name
    llvm::FunctionType* type;   // void(ptr, ptr)
    bool inlinable;             // calls only the JIT runtime, intrinsics and its own helpers
    uint32_t cost;              // IR instructions once inlined with its callees (a call: 8)
    softcpu::Handler host;      // the host function (this process's address)
  };

  // Parses the embedded bitcode and checks it against the host (Cpu layout, handler
  // registry). Throws std::runtime_error when they disagree.
  explicit Semantics(llvm::LLVMContext& ctx);
  ~Semantics();

  // The bitcode handler for a host handler pointer, or nullptr (not in the registry).
  const Handler* find(softcpu::Handler fn) const;
  // ... by its bitcode name (stable across runs of one build, unlike the host address).
  const Handler* find(const std::string& name) const;
  // Every handler, for defining the host addresses of those compiled code calls.
  template <typename F>
  void for_each(F f) const {
    for (const auto& [fn, h] : by_fn_) f(h);
  }

  // Link the bodies of the functions `m` declares (and what they use) into `m`.
  bool link_into(llvm::Module& m, std::string* error) const;

  // Per registry family (interp/sem/registry.h order): its name and handlers.
  struct Family {
    std::string name;
    std::vector<const Handler*> handlers;
  };
  const std::vector<Family>& families() const { return families_; }

  const std::string& triple() const { return triple_; }
  const std::string& data_layout() const { return data_layout_; }
  // A hash of the embedded bitcode (part of the persistent cache's key: translator/jit_cache.h).
  const std::string& bitcode_hash() const { return bitcode_hash_; }
  size_t handler_count() const { return by_fn_.size(); }
  size_t inlinable_count() const { return inlinable_; }

 private:
  llvm::LLVMContext& ctx_;
  std::unordered_map<softcpu::Handler, Handler> by_fn_;
  std::unordered_map<std::string, const Handler*> by_name_;
  std::vector<Family> families_;
  std::string triple_, data_layout_, bitcode_hash_;
  size_t inlinable_ = 0;
};

// The embedded bitcode (translator/semantics_blob.S).
const char* semantics_bitcode(size_t* size);

}  // namespace softcpu
