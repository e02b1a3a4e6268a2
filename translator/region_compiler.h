// Compiles one region (translator/region_spec.h) to an object file: IR that calls the
// instruction handlers of interp/sem/ with each Insn as a constant, the handler bodies linked
// from the semantics bitcode and inlined, faults turned into branches to an exit that leaves
// the guest state exact, then LLVM's optimiser and code generator. Compile thread only.
#pragma once
#include <atomic>
#include <cstddef>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class MemoryBuffer;
class TargetMachine;
}  // namespace llvm

namespace softcpu {

struct Cpu;
struct Insn;
struct NativeLink;
class Semantics;
struct RegionSpec;

class RegionCompiler {
 public:
  RegionCompiler(llvm::LLVMContext& ctx, const Semantics& sem, llvm::TargetMachine& tm);

  struct Output {
    std::string name;                            // function_name: the function's symbol
    std::string symbol;                          // symbol_name: its name in ir_hash
    std::unique_ptr<llvm::MemoryBuffer> object;  // ELF object holding it
    // BLAKE3 of the region's IR as built, before the handler bodies are linked in (every
    // handler by name, its Insn with the handler pointer zeroed): with what the compile
    // depends on besides (translator/jit_cache.h) it keys the object in the persistent cache.
    std::array<uint8_t, 32> ir_hash{};
    bool relocatable = true;                     // no host address in the object
    uint64_t code_bytes = 0;                     // its .text size
    uint64_t inlined_insns = 0;                  // instructions whose handler was inlined
    std::string ir_before, ir, assembly;         // with `dump`: IR before and after optimisation, assembly
    // Thread CPU time of each phase, µs: building IR and linking the handler bodies,
    // inlining them, the optimiser, the code generator.
    double build_us = 0, inline_us = 0, opt_us = 0, codegen_us = 0;
  };
  // Between its phases the compile gives up (false, *error = "cancelled") once *cancel is set.
  // `go_on`, when given, is asked once the IR is built and out.ir_hash set (only then): false ends the
  // compile there (true, no object): the persistent cache has the object, or only the key
  // was wanted.
  bool compile(const RegionSpec& spec, bool dump, Output& out, std::string* error,
               const std::atomic<bool>* cancel = nullptr,
               const std::function<bool(const Output&)>& go_on = {});

  // How many of the region's blocks, in order, fit in `budget` of weight (the sum of their
  // handlers' Semantics::Handler::cost: compile time grows with it); at least the entry
  // block.
  size_t blocks_within(const RegionSpec& spec, uint64_t budget) const;

  // Which blocks the run loop may enter the region at (RegionBlock::entry): the first, every
  // target of a branch back inside the region (a loop header, where the boundary test is), and
  // every block that ran clearly more often than its share of the runs of the region blocks
  // branching forward to it (so it is also reached from outside: a return site, a join of
  // other regions' exits). Any other block is reached only by the region's own branches: its
  // code needs no merge with the function's entry, so guest registers flow into it as SSA
  // values instead of phis; the run loop runs it in tier 0 if it comes there from outside.
  // Edges inside the region: a relative branch's target, the fall-through of a block the
  // decoder split, and the chain links the interpreter saw, from blocks whose last instruction
  // is inlined code (after a trap or a called handler the region returns to the run loop,
  // which must find the successor an entry).
  void mark_entries(RegionSpec& spec) const;

  // The targets of a block-ending JMP through a jump table (`jmp [disp + index*4]`, 32-bit)
  // that lie in the page of linear address `page_lin` (CS.base `cs_base`), as EIPs, read
  // from the table as it is now through the soft TLB (no fill, no fault: a miss reads
  // nothing), up to the first entry outside the page or 64 entries. CPU thread. The region
  // builder takes in those of them that are warm, so that a dispatch loop's handlers are
  // blocks of the region and the jump is a switch inside it, instead of regions of their
  // own reached through the jump cache (docs/design.md, "Measured (tier 1)": the quality of
  // compiled code). A guess from data is safe: the region's switch tests the EIP the jump
  // computed, and a block that is no target is only a bigger region.
  static std::vector<uint32_t> jump_table_targets(const Cpu& c, const Insn& tail, uint32_t cs_base,
                                                  uint32_t page_lin);
  // RegionSpec::flat_segs for the CPU now: bit s for each of ES, SS, DS with base 0 whose
  // reads and writes may use every offset (what specialize_flat_segments compiles them as).
  static uint8_t flat_segments(const Cpu& c);

  // The function name of a region: guest_0x<entry linear>_len_<bytes>_r<id> (perf shows it).
  static std::string function_name(const RegionSpec& spec);
  // ... without the region number (which differs between runs), as the key sees it.
  static std::string symbol_name(const RegionSpec& spec);
  // The symbol naming a host handler that compiled code calls (JitEngine::define).
  static std::string host_symbol(const std::string& handler);
  static constexpr const char* kGenerationSymbol = "softcpu_cache_generation";

 private:
  llvm::LLVMContext& ctx_;
  const Semantics& sem_;
  llvm::TargetMachine& tm_;
};

}  // namespace softcpu
