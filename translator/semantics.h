// The instruction semantics as LLVM bitcode (interp/sem/, compiled by clang into the binary):
// which bitcode function a handler pointer names, whether compiled code may inline it, and
// linking the needed bodies into a region's module. Compile thread only (one LLVMContext;
// the lookups below settle a handler on first use, so even the const ones write).
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
class Function;
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
    llvm::Function* fn;         // its function in the lazily read bitcode
    bool settled;               // inlinable and cost computed (find() does it)
  };

  // Reads the embedded bitcode lazily (its globals and function headers; a body only when a
  // handler that reaches it is first looked up: parsing every body cost ~0.1 s at the JIT's
  // start) and checks it against the host (Cpu layout, handler registry). Throws
  // std::runtime_error when they disagree.
  explicit Semantics(llvm::LLVMContext& ctx);
  ~Semantics();

  // The bitcode handler for a host handler pointer, or nullptr (not in the registry); its
  // inlinability and cost are computed here on first use (its bodies are read then).
  const Handler* find(softcpu::Handler fn) const;
  // ... by its bitcode name (stable across runs of one build, unlike the host address).
  const Handler* find(const std::string& name) const;
  // The host address of the handler named `name`, or nullptr; reads no body (what compiled
  // code calls by name is resolved through this when its object is linked).
  const void* host_address(const std::string& name) const;

  // Copy into `m` the bodies of the functions `m` declares (and what they use), from the
  // bitcode read at start-up: bodies are read once per run, not once per region.
  bool link_into(llvm::Module& m, std::string* error) const;

  // Per registry family (interp/sem/registry.h order): its name and handlers, every one
  // settled (this reads every body: for reports and tests, not for a run).
  struct Family {
    std::string name;
    std::vector<const Handler*> handlers;
  };
  const std::vector<Family>& families() const;

  const std::string& triple() const { return triple_; }
  const std::string& data_layout() const { return data_layout_; }
  // A hash of the embedded bitcode (part of the persistent cache's key: translator/jit_cache.h).
  const std::string& bitcode_hash() const { return bitcode_hash_; }
  size_t handler_count() const { return by_fn_.size(); }
  // Functions in the bitcode with a body, and how many of those bodies have been read (tests
  // check that a lookup reads only what its handler reaches).
  struct Bodies {
    size_t total = 0, read = 0;
  };
  Bodies bodies() const;

 private:
  struct Memo;
  const Handler* settle(const Handler* h) const;

  llvm::LLVMContext& ctx_;
  std::unique_ptr<llvm::Module> module_;  // read lazily; bodies materialised by settle()
  std::unique_ptr<Memo> memo_;            // what settle() learnt of each function
  std::unordered_map<softcpu::Handler, Handler> by_fn_;
  std::unordered_map<std::string, Handler*> by_name_;
  std::vector<Family> families_;
  std::string triple_, data_layout_, bitcode_hash_;
};

// The embedded bitcode (translator/semantics_blob.S).
const char* semantics_bitcode(size_t* size);

}  // namespace softcpu
