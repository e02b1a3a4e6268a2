#include "interp/interpreter.h"

#include <algorithm>
#include <cstring>

#include "interp/access.h"
#include "interp/debug.h"
#include "interp/events.h"
#include "interp/events_fence.h"
#include "interp/exceptions.h"
#include "interp/fault.h"
#include "interp/interrupts.h"
#include "interp/memory.h"
#include "interp/paging.h"
#include "interp/segments.h"
#include "interp/smp.h"
#include "interp/tlb.h"

namespace softcpu {

Interpreter::Interpreter(Cpu& cpu, BlockCache& cache)
    : cpu_(cpu), cache_(cache), linear_(new LinearJump[LINEAR_JUMPS]()) {}

// The bytes of an instruction fetch, as decoding sees them. A partition's page whose stage-2
// mapping lacks X reads all ones, like unassigned memory (the guest typically gets #UD), and
// each fetch counts as a stage-2 violation. Checked here, when a block is decoded: the
// primary drops a page's decoded and translated code when it changes its mapping, so no
// cached block outlives its X (and the soft TLB's fast path has no check).
static void fetch_bytes(PhysicalMemory& m, uint32_t addr, uint8_t* out, uint32_t len) {
  if (SOFTCPU_UNLIKELY(!m.fetch_allowed(addr / PAGE_SIZE))) {
    std::memset(out, 0xFF, len);
    ++m.stage2_violations;
    return;
  }
  m.read_bytes(addr, out, len);
}

// -smp N (round-robin): PAUSE (F3 90, the spin-wait hint) ends the CPU's slice so the others
// run, as QEMU's TCG does (helper_pause): a CPU spinning on a lock another CPU holds would
// otherwise use its whole slice, and a wait loop that releases and retakes a lock (SeaBIOS's
// smp_scan) would never be preempted with the lock free. It retires here (the run loop counts
// an instruction that exits as not run, so tier0.instructions adds Cpu::pauses_retired) and
// exits with EXIT_BUDGET, which asks for nothing.
// It is marked INSN_TRAPS: compiled code then leaves the region through its trap exit (counting
// the instructions before it, as the run loop does) and the run returns, ending the slice.
static void smp_pause(Cpu& c, const Insn&) {
  ++c.icount;
  ++c.pauses_retired;
  c.stop = 1;
  c.exit_reason = EXIT_BUDGET;
}

DecodedBlock* Interpreter::build_block(uint32_t phys) {
  Cpu& c = cpu_;
  Insn records[MAX_BLOCK_INSNS];
  size_t count = 0;
  uint32_t page2_of_last = NO_PAGE, page2_end_of_last = 0;
  const bool c32 = code32(c);
  const bool s32 = stack32(c);  // the block key holds it (decode specialises on it)
  const SegmentCache& cs = c.seg[CS];
  uint32_t eip = c.eip;
  uint32_t page_end = (phys & ~0xFFFu) + PAGE_SIZE;
  uint32_t at = phys;  // physical address of the next instruction (within the first page)
  for (unsigned n = 0; n < MAX_BLOCK_INSNS; ++n) {
    // Bytes available before the CS limit (SDM vol.3 6.15 #GP: beyond the limit).
    if (eip > cs.limit) {
      if (n == 0) raise_gp(0);
      break;
    }
    unsigned avail = unsigned(std::min<uint64_t>(15, uint64_t(cs.limit) - eip + 1));
    uint8_t bytes[15];
    unsigned in_page = std::min<unsigned>(avail, page_end - at);
    fetch_bytes(*c.mem, at, bytes, in_page);
    uint32_t page2 = NO_PAGE;
    if (in_page < avail) {  // the instruction may continue on the next page
      const uint32_t lin_next = cs.base + eip + in_page;
      uint32_t phys2, err = 0;
      if (try_translate(c, lin_next, ACCESS_FETCH, phys2, &err)) {
        page2 = phys2 / PAGE_SIZE;
        fetch_bytes(*c.mem, page2 * PAGE_SIZE, bytes + in_page, avail - in_page);
      } else {
        // The next page cannot be fetched: fine if the instruction ends on this one.
        // Otherwise its fetch faults, but only once the instructions before it have run.
        Insn t = decoder_.decode(bytes, in_page, c32, s32);
        if (t.fn == handler_ud || t.len > in_page) {
          if (n > 0) break;
          raise_page_fault(c, lin_next, err);  // EIP is this instruction's (SDM vol.3 6.5)
        }
        avail = in_page;
      }
    }
    Insn insn = decoder_.decode(bytes, avail, c32, s32);
    if (SOFTCPU_UNLIKELY(c.smp_next) && insn.len == 2 && bytes[0] == 0xF3 && bytes[1] == 0x90) {
      if (!c.smp) {  // with threads on a spinning CPU keeps its own host thread
        insn.fn = smp_pause;  // -smp: PAUSE ends the CPU's slice (see smp_pause)
        insn.flags |= INSN_ENDS_BLOCK | INSN_TRAPS;
      }
    }
    if (SOFTCPU_UNLIKELY(c.smp != nullptr)) make_atomic(insn, bytes, insn.len);
    ++counters_.insns_decoded;
    records[count++] = insn;
    eip += insn.len;
    if (insn.len > in_page) {  // crossed into the next page: last instruction of the block
      page2_of_last = page2;
      page2_end_of_last = page2 * PAGE_SIZE + (insn.len - in_page);
      at = page_end;
      break;
    }
    at += insn.len;
    if ((insn.flags & INSN_ENDS_BLOCK) || at == page_end) break;
  }
  auto block = DecodedBlock::make(records, count);
  block->phys = phys;
  block->mode = c.mode_key;
  block->page2 = page2_of_last;
  block->page2_end = page2_end_of_last;
  block->phys_end = std::min(at, page_end);
  block->bytes = eip - c.eip;
  block->lin = cs.base + c.eip;
  block->size_bytes = uint32_t(sizeof(DecodedBlock) + block->insns.size() * sizeof(Insn));
  ++counters_.blocks_decoded;
  DecodedBlock* b = static_cast<DecodedBlock*>(cache_.insert(std::move(block)));
  // Mark the code lines so writes to them take the slow path (SMC detection).
  for (uint32_t page : {b->phys / PAGE_SIZE, b->page2}) {
    if (page == NO_PAGE) continue;
    const bool newly_code = !c.mem->has_code(page);
    note_code_lines(c, page);
    if (newly_code) {  // write entries may point at the page, in every CPU's TLB
      tlb_drop_write_page(c, page);
      if (c.smp) c.smp->code_page_added(page);  // threads on: theirs at their next boundary
      else
        for (Cpu* o = c.smp_next; o && o != &c; o = o->smp_next) tlb_drop_write_page(*o, page);
    }
  }
  return b;
}

// Physical address of the fetch at `lin` with paging on: the fetch TLB, or a walk that may
// raise #PF (EIP is still the instruction's: the run loop's catch leaves it alone).
// find_block has dropped the supervisor-only entries if the fetch is at CPL 3.
__attribute__((noinline)) static uint32_t fetch_phys_paged(Cpu& c, uint32_t lin) {
  const SoftTlbEntry& e = tlb_entry(c.tlb.fetch, lin);
  if (tlb_hit(e, lin, 1)) return e.phys | (lin & 0xFFF);
  return tlb_fill(c, lin, ACCESS_FETCH);
}

// A block whose last instruction crosses a page is valid only while the second page still
// maps where it did (a fault there is raised by build_block, at that instruction).
__attribute__((noinline)) static bool page2_maps(Cpu& c, uint32_t lin, uint32_t page2) {
  uint32_t phys2;
  return try_translate(c, (lin & ~0xFFFu) + PAGE_SIZE, ACCESS_FETCH, phys2) &&
         phys2 / PAGE_SIZE == page2;
}

// The linear jump cache inline (a hit is a dozen instructions); the rest out of line, so the
// hit does not pay for the miss path's saved registers.
inline DecodedBlock* Interpreter::lookup(uint32_t lin) {
  Cpu& c = cpu_;
  // Entries only supervisor accesses may use go before code runs at CPL 3 (set aside for the
  // misses of CPL 0-2 code). Every change of CPL passes here: chain links join blocks of one
  // mode only (link()).
  if (SOFTCPU_UNLIKELY(c.tlb.nsup != 0) && c.cpl == 3) tlb_drop_supervisor(c);
  LinearJump& lj = linear_[linear_index(lin)];
  if (lj.lin == lin && lj.mode == c.mode_key &&
      (lj.generation == cache_.generation() || lj.generation == cache_.global_generation())) {
    CacheCounters& k = cache_.counters();
    ++k.lookups;
    ++k.jump_cache_hits;
    ++k.linear_jump_hits;
    return lj.block;
  }
  return lookup_slow(lin, lj);
}

__attribute__((noinline)) DecodedBlock* Interpreter::lookup_slow(uint32_t lin, LinearJump& lj) {
  Cpu& c = cpu_;
  const uint32_t phys =
      SOFTCPU_LIKELY(!(c.cr0 & CR0_PG)) ? a20_mask(c, lin) : fetch_phys_paged(c, lin);
  DecodedBlock* b;
  if (lj.lin == lin && lj.mode == c.mode_key && lj.code_generation == cache_.code_generation() &&
      lj.block->phys == phys) {
    // The entry's generation moved (a CR3 load, INVLPG of a page code was found at, a switch
    // of CPU), but its block is alive (no entry retired since) and the fetch TLB, or the walk
    // that just refilled it, maps `lin` where the block was decoded from: it is the block a
    // lookup by physical address would find. So a block is reachable only where the TLB maps
    // it, as a fetch would be, and a page-table write without INVLPG is seen exactly when the
    // TLB sees it (SDM vol.3 4.10.4.3).
    CacheCounters& k = cache_.counters();
    ++k.lookups;
    ++k.jump_cache_hits;
    ++k.linear_jump_hits;
    ++k.linear_checked_hits;
    b = lj.block;
  } else {
    b = static_cast<DecodedBlock*>(cache_.lookup(phys, c.mode_key));
  }
  if (SOFTCPU_LIKELY(b != nullptr)) {
    if (b->page2 != NO_PAGE && !page2_maps(c, lin, b->page2)) {
      cache_.invalidate(b->phys, 1);
      b = nullptr;
    }
  }
  if (!b) b = build_block(phys);
  // Recorded in the generation as it is now: decoding may have retired blocks (eviction).
  const bool global = note_code_pages(lin, b->page2 != NO_PAGE);
  lj = LinearJump{lin, c.mode_key, global ? cache_.global_generation() : cache_.generation(), b,
                  cache_.code_generation()};
  return b;
}

// A block found at `lin` (and, if it crosses a page, the next linear page) may be reached
// through the linear jump cache and chain links while the generation lasts: note its linear
// pages, so that INVLPG of a page holding none of them keeps both (paging.cpp tlb_invlpg).
// True when its translation outlives a CR3 load (SDM vol.3 4.10.2.4, 4.10.4.1): every page it
// spans has a global fetch TLB entry (CR4.PGE and G; the walk that just translated it filled
// the entry). An entry not in the TLB (a page that is not cached there) counts as neither
// global nor 4 KiB. With paging off nothing is noted (only a full flush changes the view), and
// the entry is not called global although it could be: CR3 loads are rare then, and the hit
// test compares generation() first (a global hit costs one compare more: bench.rom, paging
// off, paid 0.08 host instructions per guest instruction for it).
bool Interpreter::note_code_pages(uint32_t lin, bool crosses) {
  Cpu& c = cpu_;
  if (!(c.cr0 & CR0_PG)) return false;
  bool global = true;
  for (uint32_t page = lin & ~0xFFFu;; page += PAGE_SIZE) {
    const unsigned index = tlb_index(page);
    const uint8_t meta = c.tlb.meta[ACCESS_FETCH * TLB_SIZE + index];
    const bool cached = c.tlb.fetch[index].tag == page;
    global = global && cached && (meta & TLB_GLOBAL);
    cache_.note_linear_code(page, !cached || (meta & TLB_LARGE));
    if (!crosses || page != (lin & ~0xFFFu)) break;
  }
  return global;
}

// Blocks are cached by physical address and mode, so a block decoded where CS's limit was
// larger can be reached where it is smaller, and would run instructions beyond the limit
// (found by fuzz_insn: real mode, CS = 0, code running on at 0x10000). Retire it and decode
// again under this limit: build_block ends the block before the limit, or raises #GP(0) when
// EIP is already past it (SDM vol.3 6.15). Only code running across a limit gets here.
static inline bool past_cs_limit(const Cpu& c, uint32_t eip, const DecodedBlock& b) {
  return eip + b.bytes - 1 > c.seg[CS].limit;
}
__attribute__((noinline)) DecodedBlock* Interpreter::refit_to_cs_limit(DecodedBlock& b) {
  const uint32_t phys = b.phys;
  cache_.invalidate(phys, 1);
  return build_block(phys);
}

DecodedBlock* Interpreter::find_block() { return lookup(cpu_.seg[CS].base + cpu_.eip); }

void Interpreter::set_native_tier(NativeTier* tier) {
  native_ = tier;
  const NativeTier::Thresholds t = tier ? tier->thresholds() : NativeTier::Thresholds{};
  hot_at_ = t.hot ? t.hot : ~0ull;
  warm_at_ = t.warm && t.warm != t.hot ? t.warm : ~0ull;
  early_at_ = t.early && t.early != t.hot && t.early != t.warm ? t.early : ~0ull;
  tier_at_ = std::min({warm_at_, early_at_, hot_at_});
}

// Does a block run `n` times (counting this run) need the run loop's per-block path: is the
// tier called now, or is there compiled code to enter? Asked of blocks run tier_at_ times or
// more; the others never do.
inline bool Interpreter::needs_tier(const DecodedBlock& b, uint64_t n) const {
  return b.native || n == warm_at_ || n == early_at_ || n == hot_at_;
}

// An instruction that stops its block and leaves EIP on itself has more to do: a REP string
// instruction pauses after 16384 elements (ops_string.cpp). On the slow path (stores to MMIO
// or unassigned pages, each with a page walk) such a chunk takes milliseconds, so it uses
// up this much budget: the monitor then gets control every few tens of milliseconds (it
// checks --timeout, timers and input) rather than after 100 000 chunks, minutes later.
constexpr uint64_t kResumeCharge = 4096;
static inline void charge_resume(uint64_t& end, uint64_t icount) {
  end = end > icount + kResumeCharge ? end - kResumeCharge : icount;
}

int Interpreter::run_native(DecodedBlock& b, uint64_t& end) {
  Cpu& c = cpu_;
  ++counters_.native_entries;
  ++b.native_entries;
  c.icount_limit = end;
  c.stop = 0;
  c.native_link = nullptr;
  const uint32_t r = b.native(&c);
  ++counters_.native_exits[r];
  if (c.native_link) {
    // Link the region's exit to where the branch went, if that has compiled code too (valid
    // only while nothing was retired: the slot's region is alive).
    pending_link_ = static_cast<NativeLink*>(c.native_link);
    pending_link_generation_ = cache_.generation();
    pending_link_lin_ = c.seg[CS].base + c.eip;
    pending_link_mode_ = c.mode_key;
  }
  switch (r) {
    case NATIVE_EXIT_FAULT:
      // As in run_impl's catch: the instruction did not complete; EIP and icount are exact.
      c.db_trap = 0;
      c.debug_pending.kind = HIT_NONE;
      set_rf_for_fault(c, c.jit_fault_vector);
      if (!handle_fault(c.jit_fault_vector, c.jit_fault_has_error, c.jit_fault_error)) return -1;
      return 1;  // a delivery: a stall, as in run_impl
    case NATIVE_EXIT_PAUSE:
      charge_resume(end, c.icount);
      return 0;
    case NATIVE_EXIT_TRAP: return -1;
    case NATIVE_EXIT_LIMIT:
      // The region (this one, or one it jumped to) ends past CS.limit: the block at EIP runs in
      // tier 0, which refits its blocks to the limit (past_cs_limit). Back to the lookup when
      // the refusing region was entered elsewhere.
      return c.eip == b.native_eip ? 2 : 0;
    default: return 0;
  }
}

bool Interpreter::handle_fault(uint8_t v, bool has_error, uint32_t error) {
  ++counters_.exceptions;
  ++counters_.exceptions_by_vector[v & 31];
  if (!deliver_exception(cpu_, v, has_error, error)) {
    cpu_.exit_reason = EXIT_TRIPLE_FAULT;
    return false;
  }
  return true;
}

// Follow a chain link from `from` to the block at linear EIP `lin` in mode `mode`, if one is
// valid. Links join blocks of one mode only (link()), so `from`'s mode stands for the
// successor's. A slot whose block is null never leads anywhere, and slot 1 is filled only
// after slot 0, so no null test is needed: an empty slot 0 is a miss either way. Links are
// stamped with the generation, or with the global link generation when every successor is in
// global pages (link()): those survive CR3 loads, as the linear jump cache's entries do.
static inline DecodedBlock* chained_successor(const DecodedBlock* from, uint32_t lin,
                                              uint32_t mode, uint64_t generation,
                                              uint64_t global_link_generation) {
  if ((from->chain_generation != generation &&
       from->chain_generation != global_link_generation) ||
      from->mode != mode)
    return nullptr;
  if (from->chain_lin[0] == lin) return from->chain[0];
  if (from->chain_lin[1] == lin) return from->chain[1];
  return nullptr;
}

// The record the fast path's loop stopped at (or that faulted), `off` bytes before the end of
// b's records. From the block, not from the loop's own pointers: GCC would otherwise keep the
// record's address (or the block's first record) alive across the loop's call in a
// callee-saved register, an instruction more per guest instruction or a spill per block.
static inline const Insn* stopped_at(const DecodedBlock& b, intptr_t off) {
  return b.insns.data() + b.insns.size() + off / intptr_t(sizeof(Insn));
}

// Out of line: it runs only after find_block, and inlined it costs the chained path a register.
// `found` is what find_block's linear jump cache entry for `lin` holds: the global generation
// when `to` is reached through global translations only (Interpreter::note_code_pages), else
// the generation. Such a link is stamped with the global link generation (BlockCache), else
// with the generation. A block's links share one stamp: the global link generation while all
// its links are global ones, else the generation (which moves whenever the other does, so it
// is the stricter of the two). Kernel code in global pages keeps its links over the CR3 loads
// of every task switch (SDM vol.3 4.10.4.1: global translations are not invalidated by them).
__attribute__((noinline)) static void link(DecodedBlock* from, DecodedBlock* to, uint32_t lin,
                                           uint64_t found, const BlockCache& cache) {
  // Only between blocks of one mode: entering CPL 3 must pass find_block (soft TLB rights).
  if (SOFTCPU_UNLIKELY(from->mode != to->mode)) return;
  const uint64_t generation = cache.generation();
  const uint64_t global_link = cache.global_link_generation();
  const uint64_t stamp = found == cache.global_generation() ? global_link : generation;
  if (from->chain_generation != generation && from->chain_generation != global_link) {
    from->chain_generation = stamp;  // its links are stale: start again
    from->chain[0] = from->chain[1] = nullptr;
  } else if (from->chain_generation != stamp) {
    from->chain_generation = generation;  // global and non-global links together
  }
  unsigned k = from->chain[0] == nullptr ? 0 : 1;  // keep the first link, rotate the second
  from->chain[k] = to;
  from->chain_lin[k] = lin;
}


// What at_boundary() decided: run blocks, look again (something was delivered), run one
// instruction with the per-instruction rules, or return to the caller.
enum Boundary { BOUNDARY_RUN, BOUNDARY_AGAIN, BOUNDARY_STEP, BOUNDARY_EXIT };

// EIP just past instruction `upto` of a block entered at `entry_eip`.
static uint32_t eip_after(const Insn* first, const Insn* upto, uint32_t entry_eip) {
  uint32_t eip = entry_eip;
  for (const Insn* k = first; k <= upto; ++k) eip += k->len;
  return eip;
}

// Count the `done` instructions a block ran as retired, except a trapping last one: it did
// not run, the monitor executes it. True when a trap ends the run.
static inline bool retire_block(Cpu& c, InterpCounters& k, uint64_t done) {
  const bool trapped = c.exit_reason != EXIT_NONE;
  done -= trapped;
  c.icount += done;
  k.insns_interpreted += done;
  return trapped;
}

// Slow = trace or single step: EIP is kept current before every instruction. The fast path
// sets EIP only before a block's last instruction: only block-ending handlers read it
// (insn.h), and a fault or stop in the middle recomputes it from the instruction lengths.
template <bool Slow, bool Jit>
ExitReason Interpreter::run_impl(uint64_t budget, unsigned max_insns) {
  Cpu& c = cpu_;
  // Deliveries (and single steps) count as stalls: more than `budget` of them end the run
  // even when no instruction retires (a handler whose first instruction faults again, or
  // interrupts arriving before any instruction runs). `end` drops when a REP pauses.
  uint64_t end = c.icount + budget;
  uint64_t stalls = 0;
  c.exit_reason = EXIT_NONE;
  c.stop = 0;  // the fast path clears it only where it may have been set
  DecodedBlock* prev = nullptr;  // the block that just ran to its end, for chaining
  bool chain_missed = false;     // ... and its links were already looked at, in vain
  while (c.icount < end) {
    // One load and a branch per block on the fast path (interp/events.h).
    if (SOFTCPU_UNLIKELY(c.events) && !(Slow && in_step_)) {
      prev = nullptr;
      const int ev = at_boundary();
      c.stop = 0;  // a delivery may have hit a data watch
      if (ev == BOUNDARY_EXIT) return ExitReason(c.exit_reason);
      if (ev == BOUNDARY_AGAIN) {
        if (++stalls > budget) break;
        continue;
      }
      if (ev == BOUNDARY_STEP) {
        const ExitReason r = step_checked();
        c.stop = 0;
        if (r != EXIT_BUDGET) return r;
        if (++stalls > budget) break;
        continue;
      }
    }
    const Insn* first = nullptr;
    const Insn* i = nullptr;  // the running instruction, for fault recovery (Slow)
    // The fast path walks block `b` by a negative byte offset from its end (`last + off`),
    // so its loop needs no compare of its own: the `add` that steps to the next record sets
    // the flags that end it. `off` is 0 outside a block (fault recovery).
    DecodedBlock* b = nullptr;
    intptr_t off = 0;
    bool eip_is_next = false;  // c.eip holds the address after *i
    uint32_t entry_eip = c.eip;
    try {
      const uint32_t lin = c.seg[CS].base + c.eip;
      b = prev && !chain_missed ? chained_successor(prev, lin, c.mode_key, cache_.generation(),
                                                    cache_.global_link_generation())
                                : nullptr;
      chain_missed = false;
      if (b) {
        ++cache_.counters().chained;
      } else {
        cache_.collect_garbage();  // no block pointer is held across this point
        if constexpr (Jit) native_->poll();
        else if (Slow && native_) native_->poll();
        b = lookup(lin);
        if (prev)  // lookup() left the entry for `lin` stamped as it found `b`
          link(prev, b, lin, linear_[linear_index(lin)].generation, cache_);
      }
      prev = nullptr;
      // A block decoded under a larger CS limit (the same code through another CS, or before a
      // CS load) may run past this one: decode it again under this limit (refit_to_cs_limit).
      if (SOFTCPU_UNLIKELY(past_cs_limit(c, entry_eip, *b))) b = refit_to_cs_limit(*b);
      // Counted for LRU and --profile; the tier-1 threshold is looked at only with a tier 1.
      ++b->executions;
      if constexpr (Jit) {
        if (SOFTCPU_UNLIKELY(b->executions >= tier_at_)) {
          // Compiled code, or warm or hot now (a synchronous tier installs it before returning).
          if (b->executions == warm_at_) native_->warm(c, *b);
          else if (b->executions == early_at_) native_->early(c, *b);
          else if (b->executions == hot_at_) native_->hot(c, *b);
          if (b->native && b->native_lin == lin && b->native_eip == c.eip) {
            if (pending_link_) {
              if (cache_.generation() == pending_link_generation_ && lin == pending_link_lin_ &&
                  c.mode_key == pending_link_mode_)
                *pending_link_ = NativeLink{c.eip, 0, pending_link_generation_, b->native};
              pending_link_ = nullptr;
            }
            c.native_jumps[c.eip % Cpu::NATIVE_JUMPS] = {c.eip, lin - c.eip, c.mode_key, 0,
                                                         cache_.generation(),
                                                         reinterpret_cast<void*>(b->native)};
            const int nr = run_native(*b, end);
            c.stop = 0;
            if (nr < 0) return ExitReason(c.exit_reason);
            if (nr == 1 && ++stalls > budget) break;
            if (nr != 2) continue;  // 2: NATIVE_EXIT_LIMIT, run this block in tier 0 below
          }
        }
        pending_link_ = nullptr;
      }
      if constexpr (Slow) {
        first = b->insns.data();
        c.stop = 0;
        const size_t n = b->insns.size();
        eip_is_next = true;
        // Never past the budget: run_exact() stops at exactly `end` (deterministic runs).
        const Insn* const stop_at =
            first + std::min<uint64_t>(std::min<size_t>(n, max_insns), end - c.icount);
        for (i = first;;) {
          if (trace_) trace_(trace_ctx_, c, *i, c.eip);
          const uint32_t at = c.eip;
          c.eip += i->len;
          i->fn(c, *i);
          if (SOFTCPU_UNLIKELY(c.stop)) {
            if (c.eip == at) charge_resume(end, c.icount);
            ++i;
            break;
          }
          if (++i == stop_at) {
            if (i == first + n) prev = b;
            break;
          }
        }
        const uint64_t done = uint64_t(i - first);
        i = nullptr;
        if (retire_block(c, counters_, done)) return ExitReason(c.exit_reason);
      } else {
        // Blocks run here one after another for as long as chain links lead on, with no more
        // per block than the checks that must be made between blocks: the budget, Cpu::events,
        // the link. Anything else (a lookup, compiled code, a stop) goes back to the loop above.
        for (;;) {
          // EIP is set once, to the block's end, before its first instruction: only its last
          // instruction (a branch, a trap) reads it, and a stop or a fault in the middle
          // recomputes it from the instruction lengths. c.stop is 0 here (cleared wherever
          // it may have been set: after a stop, a fault, a native run, a boundary).
          const Insn* const last = b->insns.end();
          off = -intptr_t(b->insns.size() * sizeof(Insn));
          c.eip = entry_eip + b->bytes;
          do {
            const Insn* in =
                reinterpret_cast<const Insn*>(reinterpret_cast<const char*>(last) + off);
            in->fn(c, *in);
            if (SOFTCPU_UNLIKELY(c.stop)) break;
          } while ((off += intptr_t(sizeof(Insn))) != 0);
          if (SOFTCPU_UNLIKELY(off != 0)) {  // stopped
            i = stopped_at(*b, off);
            first = b->insns.data();
            off = 0;
            c.stop = 0;
            if (i + 1 != last) {  // stopped early (self-modifying code, a data watch)
              c.eip = eip_after(first, i, entry_eip);
            } else if (c.eip == entry_eip + b->bytes - i->len) {  // stopped on itself
              charge_resume(end, c.icount);
            }
            const uint64_t done = uint64_t(i + 1 - first);
            i = nullptr;
            if (retire_block(c, counters_, done)) return ExitReason(c.exit_reason);
            break;
          }
          const uint64_t done = b->insns.size();  // ran to its end
          c.icount += done;
          counters_.insns_interpreted += done;
          prev = b;
          if (SOFTCPU_UNLIKELY(c.icount >= end) || SOFTCPU_UNLIKELY(c.events)) break;
          entry_eip = c.eip;
          DecodedBlock* const next =
              chained_successor(b, c.seg[CS].base + entry_eip, c.mode_key, cache_.generation(),
                                cache_.global_link_generation());
          if (!next) {
            chain_missed = true;
            break;
          }
          // Past the CS limit: the loop above follows the link again and refits the block.
          if (SOFTCPU_UNLIKELY(past_cs_limit(c, entry_eip, *next))) break;
          // A block with compiled code, or that becomes warm or hot now, goes the long way
          // (it follows the link again there).
          if (Jit && SOFTCPU_UNLIKELY(next->executions + 1 >= tier_at_) &&
              needs_tier(*next, next->executions + 1))
            break;
          ++cache_.counters().chained;
          ++next->executions;
          prev = nullptr;
          b = next;
        }
      }
    } catch (const GuestFault& f) {
      if (!Slow && off != 0) {
        i = stopped_at(*b, off);
        first = b->insns.data();
      }
      prev = nullptr;
      c.stop = 0;
      c.db_trap = 0;  // the instruction did not complete: its data breakpoint hits are void
      c.debug_pending.kind = HIT_NONE;
      if (i) {
        // Handlers commit EIP last, so EIP is where the loop put it: faults restart the
        // instruction (SDM vol.3 6.5). Instructions before it in the block retired.
        c.icount += uint64_t(i - first);
        counters_.insns_interpreted += uint64_t(i - first);
        c.eip = eip_is_next ? c.eip - i->len
                            : (i == first ? entry_eip : eip_after(first, i - 1, entry_eip));
      }
      set_rf_for_fault(c, f.vector);
      if (!handle_fault(f.vector, f.has_error, f.error)) return EXIT_TRIPLE_FAULT;
      if (Slow && in_step_) return EXIT_BUDGET;  // the handler's first instruction is the next step
      if (++stalls > budget) break;
    }
  }
  // A watchpoint hit by the last instruction of the budget (e.g. step()) is reported now.
  if (SOFTCPU_UNLIKELY(c.debug_pending.kind != HIT_NONE) && !(Slow && in_step_)) {
    c.debug_hit = c.debug_pending;
    c.debug_pending.kind = HIT_NONE;
    c.exit_reason = EXIT_DEBUG;
    return EXIT_DEBUG;
  }
  return EXIT_BUDGET;
}

// SDM vol.3 6.9 priorities between instructions: traps of the previous instruction (#DB),
// NMI, INTR, then the next instruction's breakpoints. MOV SS / POP SS and STI shadows hold
// back what they inhibit for one instruction (6.8.3).
int Interpreter::at_boundary() {
  Cpu& c = cpu_;
  const bool resumed_here = first_boundary_;
  first_boundary_ = false;
  if (sample_flag_ && sample_flag_->load(std::memory_order_relaxed))  // --profile
    sample_hook_(sample_ctx_, c);
  if (attention_ && attention_->load(std::memory_order_relaxed)) {
    c.exit_reason = EXIT_REQUEST;
    return BOUNDARY_EXIT;
  }
  if (c.debug_pending.kind != HIT_NONE) {  // a debugger watchpoint: stop after the access
    c.debug_hit = c.debug_pending;
    c.debug_pending.kind = HIT_NONE;
    c.exit_reason = EXIT_DEBUG;
    return BOUNDARY_EXIT;
  }
  if (c.shadow == SHADOW_SS) return BOUNDARY_STEP;  // #DB traps wait for the next instruction
  if (c.db_trap) {  // single-step and data breakpoints: one #DB trap, EIP = next instruction
    c.dr[6] |= c.db_trap;
    c.db_trap = 0;
    c.shadow = SHADOW_NONE;
    return handle_fault(VEC_DB, false, 0) ? BOUNDARY_AGAIN : BOUNDARY_EXIT;
  }
  if (c.shadow == SHADOW_STI) return BOUNDARY_STEP;
  uint8_t external = 0;
  int vector = -1;
  if (c.nmi_pending && !c.nmi_blocked) {
    c.nmi_pending = 0;
    c.nmi_blocked = 1;  // until the next IRET (SDM vol.3 6.7.1)
    vector = VEC_NMI;
    external = 1;
  } else if (c.intr && (c.eflags & IF) && c.intc) {
    vector = c.intc->acknowledge();  // INTA: the controller may have withdrawn its request
    external = vector >= 0;
  }
  if (external) {
    ++counters_.interrupts;
    try {
      deliver_interrupt(c, uint8_t(vector), IntSource::EXTERNAL, false, 0);
    } catch (const GuestFault& f) {
      set_rf_for_fault(c, f.vector);
      if (!handle_fault(f.vector, f.has_error, f.error)) return BOUNDARY_EXIT;
    }
    return BOUNDARY_AGAIN;
  }
  if (c.exec_bp_active || (c.eflags & (TF | RF))) {
    const uint32_t lin = c.seg[CS].base + c.eip;
    if (c.dbg.nbp && !(resumed_here && lin == resume_lin_) && debug_breakpoint_at(c, lin)) {
      c.debug_hit = {HIT_BREAKPOINT, WatchKind(0), lin};
      c.exit_reason = EXIT_DEBUG;
      return BOUNDARY_EXIT;
    }
    // DR instruction breakpoints are faults; RF suppresses them for one instruction (17.3.1.1).
    if (!(c.eflags & RF)) {
      if (const uint32_t hits = debug_exec_breakpoints(c, lin)) {
        c.dr[6] |= hits;
        return handle_fault(VEC_DB, false, 0) ? BOUNDARY_AGAIN : BOUNDARY_EXIT;
      }
    }
    return BOUNDARY_STEP;
  }
  refresh_events(c);
  if (attention_) {
    // A kick may have set events between our check above and the refresh that cleared it:
    // order the clear before a second look at the flag (set_attention).
    events_fence();
    if (attention_->load(std::memory_order_relaxed)) c.events = 1;
  }
  return BOUNDARY_RUN;
}

ExitReason Interpreter::step_checked() {
  Cpu& c = cpu_;
  const uint32_t flags0 = c.eflags;
  const uint8_t shadow0 = c.shadow;
  c.shadow = SHADOW_NONE;  // the instruction may set a new one
  // SDM vol.3 17.3.1.4: a trap after each instruction that began with TF = 1. Bits carried
  // over a MOV SS shadow are still in db_trap.
  if (shadow0 != SHADOW_SS) c.db_trap = 0;
  if (flags0 & TF) c.db_trap |= DR6_BS;
  c.int_delivered = 0;
  in_step_ = true;
  const ExitReason r = run_impl<true, false>(1, 1);
  in_step_ = false;
  c.events = 1;  // look at the next boundary again
  if (r != EXIT_BUDGET) return r;  // a trapped instruction: execute_trapped reports db_trap
  if (c.int_delivered) {
    // A fault, or INT n / INTO / INT3: the handler starts with TF clear and no trap is
    // reported for the instruction (its delivery cleared TF). A task switch through a task
    // gate may have raised the new task's T-bit trap: that one stays.
    c.db_trap &= DR6_BT;
    return r;
  }
  if (flags0 & RF) c.eflags &= ~RF;  // RF clears after an instruction completes
  return r;
}

void Interpreter::begin_run() {
  Cpu& c = cpu_;
  refresh_events(c);  // EFLAGS.TF/RF may have been set from outside (debugger, reset)
  if (attention_ && attention_->load(std::memory_order_relaxed)) c.events = 1;
  first_boundary_ = true;
  resume_lin_ = c.seg[CS].base + c.eip;
}

ExitReason Interpreter::run(uint64_t budget) {
  begin_run();
  if (trace_) return run_impl<true, false>(budget, MAX_BLOCK_INSNS);
  if (native_) return run_impl<false, true>(budget, MAX_BLOCK_INSNS);
  return run_impl<false, false>(budget, MAX_BLOCK_INSNS);
}

ExitReason Interpreter::run_exact(uint64_t budget) {
  begin_run();
  return run_impl<true, false>(budget, MAX_BLOCK_INSNS);
}

ExitReason Interpreter::step() {
  begin_run();
  return run_impl<true, false>(1, 1);
}

}  // namespace softcpu
