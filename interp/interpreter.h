// Tier 0: runs cached decoded blocks with threaded dispatch.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "interp/block.h"
#include "interp/cpu.h"
#include "interp/decode.h"
#include "interp/native_tier.h"

namespace softcpu {

struct InterpCounters {
  uint64_t blocks_decoded = 0;
  uint64_t insns_decoded = 0;
  uint64_t insns_interpreted = 0;  // instructions retired by tier 0
  uint64_t exceptions = 0;
  uint64_t exceptions_by_vector[32] = {};
  uint64_t interrupts = 0;  // external interrupts and NMIs delivered
  uint64_t native_entries = 0;     // times the run loop entered compiled code
  uint64_t native_exits[NATIVE_EXIT_COUNT] = {};  // ... and why it came back
};

// Called before each instruction when tracing: `eip` is the instruction's EIP.
using TraceHook = void (*)(void* ctx, Cpu& c, const Insn& insn, uint32_t eip);
// --profile (monitor/profile.h): called at a block boundary, CS:EIP about to run.
using SampleHook = void (*)(void* ctx, Cpu& c);

class Interpreter {
 public:
  Interpreter(Cpu& cpu, BlockCache& cache);

  // Run until an exit reason, or until about `budget` instructions have retired. More than
  // `budget` exception or interrupt deliveries end it too, so a guest that faults forever
  // without retiring an instruction still returns to the monitor.
  ExitReason run(uint64_t budget);
  // As run(), but never retires more than `budget` instructions: blocks are cut where the
  // budget ends (the slow, EIP-exact variant). Deterministic runs use it for the last few
  // instructions before a timer deadline or a recorded event, so both tiers stop there.
  ExitReason run_exact(uint64_t budget);
  // Execute exactly one instruction (trace mode and the debugger use it).
  ExitReason step();

  void set_trace(TraceHook hook, void* ctx) { trace_ = hook; trace_ctx_ = ctx; }
  // Sampling profiler: another thread counts up *pending and sets Cpu::events; the next
  // block boundary (both tiers stop at one for Cpu::events) calls hook, which takes the
  // count. Costs nothing on the fast path: it is looked at only where events are handled.
  void set_sampler(std::atomic<uint32_t>* pending, SampleHook hook, void* ctx) {
    sample_flag_ = pending;
    sample_hook_ = hook;
    sample_ctx_ = ctx;
  }
  // Another thread asks the run to return: it sets *flag, then Cpu::events; the next block
  // boundary returns EXIT_REQUEST while *flag is set (the owner clears it). Looked at only
  // where events are handled, so the fast path pays nothing (the secondary hypervisor's
  // preemption, monitor/hypercall.h).
  void set_attention(std::atomic<uint8_t>* flag) { attention_ = flag; }
  // Tier 1: a block entered tier->thresholds().warm or .hot times is handed to its warm() or
  // hot(); compiled code installed in DecodedBlock::native runs instead of the block.
  // nullptr: interpret only.
  void set_native_tier(NativeTier* tier);
  NativeTier* native_tier() const { return native_; }

  // The block at the current CS:EIP: found in the cache or decoded now (may raise #PF/#GP).
  DecodedBlock* find_block();
  const InsnDecoder& decoder() const { return decoder_; }
  const InterpCounters& counters() const { return counters_; }

 private:
  DecodedBlock* build_block(uint32_t phys);
  DecodedBlock* refit_to_cs_limit(DecodedBlock& b);  // b runs past CS's limit: decode again
  bool needs_tier(const DecodedBlock& b, uint64_t n) const;
  struct LinearJump;
  // find_block at linear EIP `lin`: the linear jump cache, then lookup_slow (the fetch TLB,
  // the cache's lookup by physical address, decoding), which refills `lj`.
  DecodedBlock* lookup(uint32_t lin);
  DecodedBlock* lookup_slow(uint32_t lin, LinearJump& lj);
  bool note_code_pages(uint32_t lin, bool crosses);  // true: the block's pages are global
  // Slow: trace, single step or an exact budget (EIP kept current). Jit: a tier 1 is set
  // (hot blocks go to it, compiled code runs); without one the fast path skips that work.
  template <bool Slow, bool Jit>
  ExitReason run_impl(uint64_t budget, unsigned max_insns);
  bool handle_fault(uint8_t v, bool has_error, uint32_t error);
  // Runs b's compiled code: -1 return to the caller (trap, triple fault), 1 a fault was
  // delivered (a stall), 2 the code refused (NATIVE_EXIT_LIMIT): run b in tier 0, 0 go on.
  int run_native(DecodedBlock& b, uint64_t& end);
  // Events at an instruction boundary (interp/events.h); returns a Boundary.
  int at_boundary();
  // One instruction with the per-instruction debug rules (TF, RF, shadows, data traps).
  ExitReason step_checked();
  void begin_run();

  // In front of the cache's lookup by physical address (QEMU's tb_jmp_cache is keyed by
  // virtual PC the same way): the block last found at a linear EIP and mode, valid while the
  // cache generation it was found in lasts. The generation moves whenever a block retires
  // or the linear->physical view of code changes (TLB flush, INVLPG of a page code was found
  // at, A20, CR3 loads, a switch of CPU), exactly as for chain links, so a hit needs neither
  // the fetch TLB nor a page2 check. An entry of global pages holds the cache's
  // global_generation() instead, which CR3 loads do not move. An entry whose generation
  // moved is not dropped: lookup_slow reuses its block if no entry retired since
  // (code_generation) and the fetch TLB maps the linear EIP to the block's physical address.
  // All zeroes is an empty entry (the table is zeroed as one block): no generation and no
  // code generation is 0, so it never hits.
  struct LinearJump {
    uint32_t lin;
    uint32_t mode;
    uint64_t generation;  // BlockCache::generation() or global_generation()
    DecodedBlock* block;
    uint64_t code_generation;  // BlockCache::code_generation() when it was made
  };
  // 16 Ki entries (512 KiB): entries now live until their code retires, so the spawn workload
  // (200 fork+exec) found 39 % of its lookups here with 4 Ki entries, 70 % with 16 Ki and 88 %
  // with 64 Ki; the rest were other linear EIPs sharing the entry (docs/design.md, fourth round).
  static constexpr unsigned LINEAR_JUMPS = 16384;
  static unsigned linear_index(uint32_t lin) { return (lin ^ (lin >> 12)) % LINEAR_JUMPS; }

  Cpu& cpu_;
  BlockCache& cache_;
  std::unique_ptr<LinearJump[]> linear_;
  InsnDecoder decoder_;
  InterpCounters counters_;
  NativeTier* native_ = nullptr;
  NativeLink* pending_link_ = nullptr;  // a region exit slot to fill at the next lookup
  uint64_t pending_link_generation_ = 0;
  uint32_t pending_link_lin_ = 0, pending_link_mode_ = 0;  // where the exit was going
  // Tier 1's thresholds (NativeTier::Thresholds; ~0 = never): a block whose count reaches
  // `tier_at_` (the smallest) takes the per-block path, where the tier is called at exactly
  // `warm_at_`, `early_at_` and `hot_at_` and compiled code is entered; between them it
  // stays chained.
  uint64_t tier_at_ = ~0ull, warm_at_ = ~0ull, early_at_ = ~0ull, hot_at_ = ~0ull;
  TraceHook trace_ = nullptr;
  void* trace_ctx_ = nullptr;
  std::atomic<uint32_t>* sample_flag_ = nullptr;
  SampleHook sample_hook_ = nullptr;
  void* sample_ctx_ = nullptr;
  std::atomic<uint8_t>* attention_ = nullptr;
  bool in_step_ = false;         // inside step_checked: the boundary was already handled
  bool first_boundary_ = false;  // the next boundary is where run()/step() resumed
  uint32_t resume_lin_ = 0;      // ... at this linear EIP: a debugger breakpoint there is skipped
};

}  // namespace softcpu
