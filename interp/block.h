// A decoded block: the Insn records of straight-line guest code, cached by physical address.
#pragma once
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "cache/block_cache.h"
#include "interp/insn.h"

namespace softcpu {

struct NativeRegion;

// Compiled code for a region entered at a block (translator/). It returns a NativeExit and
// leaves the guest state exact: EIP at the next instruction to run (or the faulting one).
using NativeFn = uint32_t (*)(Cpu*);

enum NativeExit : uint32_t {
  NATIVE_EXIT_BRANCH,  // left the region: EIP is the next block to look up
  NATIVE_EXIT_EVENT,   // stopped at a block boundary for Cpu::events or the instruction budget
  NATIVE_EXIT_STOP,    // an instruction set Cpu::stop (self-modifying code, a data watch)
  NATIVE_EXIT_TRAP,    // a trapping instruction set Cpu::exit_reason (I/O, CPUID, HLT, ...)
  NATIVE_EXIT_FAULT,   // a fault waits in Cpu::jit_fault_*; EIP is the faulting instruction
  NATIVE_EXIT_PAUSE,   // the last instruction stopped on itself (a REP chunk); EIP is at it
  NATIVE_EXIT_LIMIT,   // refused at entry, nothing run: a block of the region ends past the
                       // current CS limit (it was decoded under a larger one); tier 0 runs it
  NATIVE_EXIT_COUNT
};

// A region's exit slot: where one of its branch exits went last time, while the cache
// generation it was made in lasts (like tier 0's chain links). The region jumps straight to
// `fn` when the branch goes to `eip` again and the generation is unchanged; a retired region
// bumps the generation, so a stale slot is never followed.
struct NativeLink {
  uint32_t eip = 0;
  uint32_t unused = 0;
  uint64_t generation = 0;
  NativeFn fn = nullptr;
};

// A block's Insn records, stored in the block's own allocation right after the block (the run
// loop reads a block's header and then its first record; a separate vector cost a miss of its
// own on code that ran a while ago). Only a DecodedBlock holds one: it finds the records at a
// fixed distance from itself, so it cannot be copied out.
class InsnRecords {
 public:
  InsnRecords() = default;
  InsnRecords(const InsnRecords&) = delete;
  InsnRecords& operator=(const InsnRecords&) = delete;
  inline const Insn* data() const;
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const Insn* begin() const { return data(); }
  const Insn* end() const { return data() + n_; }
  const Insn& operator[](size_t k) const { return data()[k]; }
  const Insn& front() const { return data()[0]; }
  const Insn& back() const { return data()[n_ - 1]; }

 private:
  friend struct DecodedBlock;
  uint32_t n_ = 0;
};

// The layout is for density as much as for the run loop: a block is 136 bytes of header and
// 32 per instruction, and blocks decoded one after another (often each other's successors)
// lie next to each other; 72 unused bytes more per block made spawn `--jit off` 15 % slower,
// and placing the run loop's fields on one cache line by padding the block cost more than it
// saved (docs/design.md, "The tier-0 fast path"). So no field is kept that can be computed
// (the records' address), and the fields the run loop reads of every block it runs, from
// CachedBlock::mode (its last field) to the chain links, are next to each other.
struct DecodedBlock : CachedBlock {
  // A block of these n records (copied in), allocated with them.
  static std::unique_ptr<DecodedBlock> make(const Insn* records, size_t n);
  static void operator delete(void* p) { ::operator delete(p); }
  uint32_t bytes = 0;       // length of the block's code (EIP after it = entry EIP + bytes)
  InsnRecords insns;
  uint32_t lin = 0;         // CS.base + EIP it was decoded at (profiles name it by this)
  uint64_t executions = 0;  // times the interpreter entered it (heat for tier 1)
  // Successor links (taken / fall-through), keyed by the successor's linear EIP and valid in
  // cache generation `chain_generation` only: the generation, or the global link generation
  // when every successor is reached through global translations (interpreter.cpp link()).
  uint64_t chain_generation = 0;
  uint32_t chain_lin[2] = {};
  DecodedBlock* chain[2] = {};
  // Tier 1: compiled code entered here, valid when CS.base + EIP is `native_lin` and EIP is
  // `native_eip` (the region was compiled with this block's EIP as a constant), owned by
  // `native_region`. A region's entries: RegionCompiler::mark_entries (dispatch on EIP).
  // The run loop reads them only of blocks run tier_at_ times or more.
  NativeFn native = nullptr;
  uint32_t native_lin = 0;
  uint32_t native_eip = 0;
  NativeRegion* native_region = nullptr;
  uint64_t native_entries = 0;  // run-loop entries of its compiled code (--profile)

  void on_retire(RetireCause) override;
  uint64_t uses() const override { return executions; }
  CachedBlock* dependent() const override;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"  // GCC and Clang lay out as the Itanium ABI says
static_assert(offsetof(DecodedBlock, chain) + sizeof(DecodedBlock::chain) -
                      offsetof(DecodedBlock, mode) <= 64,
              "the run loop's fields span at most two cache lines");
inline const Insn* InsnRecords::data() const {
  return reinterpret_cast<const Insn*>(reinterpret_cast<const char*>(this) -
                                       offsetof(DecodedBlock, insns) + sizeof(DecodedBlock));
}
#pragma GCC diagnostic pop

// A compiled region as the cache sees it: a companion entry (CachedBlock::lines) covering the
// lines of all its blocks, so a write to any of them retires it. translator/ derives from it.
// Each of its entry blocks still in the cache (translator/ chooses: the first, loop headers,
// blocks reached from outside) has `native` = the region's code, which starts with a switch on
// EIP, so a return from a call or a branch from another page into the region runs compiled
// instead of being compiled again as a region of its own. entries[0] is the block that got hot.
struct NativeRegion : CachedBlock {
  std::vector<DecodedBlock*> entries;  // blocks whose `native` is this region's code
  std::unique_ptr<NativeLink[]> links;  // its exit slots (the code holds their address)

  // Unlink from the entry blocks (the cache retired one of them, or this region).
  void detach() {
    for (DecodedBlock* e : entries) {
      e->native = nullptr;
      e->native_region = nullptr;
      // Heat again from zero: a region evicted alone is compiled again once a block is hot.
      e->executions = 0;
    }
    entries.clear();
  }
  void on_retire(RetireCause) override { detach(); }
  uint64_t uses() const override;
};

inline std::unique_ptr<DecodedBlock> DecodedBlock::make(const Insn* records, size_t n) {
  // sizeof(DecodedBlock) is a multiple of its alignment, so the records right after it are
  // aligned; they are never destroyed (operator delete frees them with the block).
  static_assert(alignof(Insn) <= alignof(DecodedBlock), "records follow the block");
  static_assert(std::is_trivially_copyable_v<Insn> && std::is_trivially_destructible_v<Insn>);
  void* mem = ::operator new(sizeof(DecodedBlock) + n * sizeof(Insn));
  auto* b = new (mem) DecodedBlock();
  std::memcpy(reinterpret_cast<Insn*>(b + 1), records, n * sizeof(Insn));
  b->insns.n_ = uint32_t(n);
  return std::unique_ptr<DecodedBlock>(b);
}

inline void DecodedBlock::on_retire(RetireCause) {
  if (native_region) native_region->detach();
}
inline CachedBlock* DecodedBlock::dependent() const { return native_region; }
inline uint64_t NativeRegion::uses() const {
  uint64_t n = 0;
  for (const DecodedBlock* e : entries) n = e->executions > n ? e->executions : n;
  return n;
}

// Longest block we decode; also bounds the work between checks of the run loop.
constexpr unsigned MAX_BLOCK_INSNS = 64;

}  // namespace softcpu
