// Guest memory and register access for instruction handlers: segment checks, the soft TLB
// fast path (one compare), and the slow path for page-crossing, ROM, MMIO and code pages.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "interp/cpu.h"
#include "interp/fault.h"
#include "interp/guest_ram.h"
#include "interp/insn.h"
#if SOFTCPU_JIT_BITCODE
#include "interp/jit_abi.h"
#endif

namespace softcpu {

#define SOFTCPU_LIKELY(x) __builtin_expect(!!(x), 1)
#define SOFTCPU_UNLIKELY(x) __builtin_expect(!!(x), 0)

// ---- registers ----------------------------------------------------------------------

// Register operand of `size` bytes; 8-bit numbers 4-7 are AH, CH, DH, BH.
template <unsigned S>
inline uint32_t get_reg(const Cpu& c, unsigned r) {
  if constexpr (S == 1) return r < 4 ? c.regs[r] & 0xFF : (c.regs[r - 4] >> 8) & 0xFF;
  else if constexpr (S == 2) return c.regs[r] & 0xFFFF;
  else return c.regs[r];
}
template <unsigned S>
inline void set_reg(Cpu& c, unsigned r, uint32_t v) {
  if constexpr (S == 1) {
    if (r < 4) c.regs[r] = (c.regs[r] & ~0xFFu) | (v & 0xFF);
    else c.regs[r - 4] = (c.regs[r - 4] & ~0xFF00u) | ((v & 0xFF) << 8);
  } else if constexpr (S == 2) {
    c.regs[r] = (c.regs[r] & ~0xFFFFu) | (v & 0xFFFF);
  } else {
    c.regs[r] = v;
  }
}
inline uint32_t get_reg_n(const Cpu& c, unsigned r, unsigned size) {
  return size == 1 ? get_reg<1>(c, r) : size == 2 ? get_reg<2>(c, r) : get_reg<4>(c, r);
}
inline void set_reg_n(Cpu& c, unsigned r, unsigned size, uint32_t v) {
  if (size == 1) set_reg<1>(c, r, v);
  else if (size == 2) set_reg<2>(c, r, v);
  else set_reg<4>(c, r, v);
}

// ---- linear memory ------------------------------------------------------------------

// Slow paths (access.cpp): translation, page crossing, ROM, MMIO, unassigned, code pages.
// probe_write_linear makes sure a write of `size` bytes at `lin` cannot raise #PF (walks and
// fills the write TLB for each page it touches; raises the #PF now if one is not writable).
// read/write_system_slow: the implicit supervisor accesses below.
#if SOFTCPU_JIT_BITCODE
// Compiled code calls the runtime's non-throwing versions (interp/jit_abi.h) and leaves
// through the fault exit when one reports a fault.
inline uint32_t read_linear_slow(Cpu& c, uint32_t lin, unsigned size) {
  const uint64_t r = softcpu_jit_read(&c, lin, size);
  if (SOFTCPU_UNLIKELY(r >> 32)) softcpu_jit_fault_exit();
  return uint32_t(r);
}
inline void write_linear_slow(Cpu& c, uint32_t lin, unsigned size, uint32_t v) {
  if (SOFTCPU_UNLIKELY(softcpu_jit_write(&c, lin, size, v))) softcpu_jit_fault_exit();
}
inline void probe_write_linear(Cpu& c, uint32_t lin, unsigned size) {
  if (SOFTCPU_UNLIKELY(softcpu_jit_probe_write(&c, lin, size))) softcpu_jit_fault_exit();
}
inline uint32_t read_system_slow(Cpu& c, uint32_t lin, unsigned size) {
  const uint64_t r = softcpu_jit_read_system(&c, lin, size);
  if (SOFTCPU_UNLIKELY(r >> 32)) softcpu_jit_fault_exit();
  return uint32_t(r);
}
inline void write_system_slow(Cpu& c, uint32_t lin, unsigned size, uint32_t v) {
  if (SOFTCPU_UNLIKELY(softcpu_jit_write_system(&c, lin, size, v))) softcpu_jit_fault_exit();
}
#else
uint32_t read_linear_slow(Cpu& c, uint32_t lin, unsigned size);
void write_linear_slow(Cpu& c, uint32_t lin, unsigned size, uint32_t v);
void probe_write_linear(Cpu& c, uint32_t lin, unsigned size);
uint32_t read_system_slow(Cpu& c, uint32_t lin, unsigned size);
void write_system_slow(Cpu& c, uint32_t lin, unsigned size, uint32_t v);
#endif

// `size` is 1, 2 or 4 (a power of two up to 4: the mask keeps address bits 0-1 at most, which
// is what makes TLB_INVALID_TAG unmatchable).
inline bool tlb_hit(const SoftTlbEntry& e, uint32_t lin, unsigned size) {
  // One compare: the page matches (an invalid entry's tag is unaligned, so never equal) and
  // the access is naturally aligned, so it cannot run past the page. Unaligned accesses take
  // the slow path, which handles them exactly.
  return (lin & (~0xFFFu | (size - 1))) == e.tag;
}

template <unsigned S>
inline uint32_t load_host(uintptr_t p) {
  if constexpr (kRamAtomic) return ram_load_n(reinterpret_cast<const void*>(p), S);  // TSan builds
  if constexpr (S == 1) return *reinterpret_cast<const uint8_t*>(p);
  else if constexpr (S == 2) { uint16_t v; std::memcpy(&v, reinterpret_cast<const void*>(p), 2); return v; }
  else { uint32_t v; std::memcpy(&v, reinterpret_cast<const void*>(p), 4); return v; }
}
template <unsigned S>
inline void store_host(uintptr_t p, uint32_t v) {
  if constexpr (kRamAtomic) return ram_store_n(reinterpret_cast<void*>(p), S, v);  // TSan builds
  if constexpr (S == 1) *reinterpret_cast<uint8_t*>(p) = static_cast<uint8_t>(v);
  else if constexpr (S == 2) { uint16_t x = static_cast<uint16_t>(v); std::memcpy(reinterpret_cast<void*>(p), &x, 2); }
  else std::memcpy(reinterpret_cast<void*>(p), &v, 4);
}

// Debug builds (SOFTCPU_DEBUG_CHECKS) check every host pointer the soft TLB hands out: it must
// lie inside guest RAM or a ROM mapping, or the process stops with the guest address.
#if SOFTCPU_DEBUG_CHECKS
void check_tlb_host(const Cpu& c, uintptr_t host, uint32_t lin, unsigned size);
#define SOFTCPU_CHECK_TLB_HOST(c, host, lin, size) check_tlb_host(c, host, lin, size)
#else
#define SOFTCPU_CHECK_TLB_HOST(c, host, lin, size) ((void)0)
#endif

template <unsigned S>
inline uint32_t read_linear(Cpu& c, uint32_t lin) {
  const SoftTlbEntry& e = tlb_entry(c.tlb.read, lin);
  if (SOFTCPU_LIKELY(tlb_hit(e, lin, S))) {
    SOFTCPU_CHECK_TLB_HOST(c, e.addend + lin, lin, S);
    return load_host<S>(e.addend + lin);
  }
  return read_linear_slow(c, lin, S);
}
template <unsigned S>
inline void write_linear(Cpu& c, uint32_t lin, uint32_t v) {
  const SoftTlbEntry& e = tlb_entry(c.tlb.write, lin);
  if (SOFTCPU_LIKELY(tlb_hit(e, lin, S))) {
    SOFTCPU_CHECK_TLB_HOST(c, e.addend + lin, lin, S);
    return store_host<S>(e.addend + lin, v);
  }
  write_linear_slow(c, lin, S, v);
}

// Implicit supervisor-mode accesses (SDM vol.3 4.6): the GDT, LDT, IDT and TSS are read and
// written with supervisor rights whatever the CPL. At CPL 0-2 that is the ordinary path; at
// CPL 3 a walk per access, never cached (a CPL 3 access must not find such an entry).
template <unsigned S>
inline uint32_t read_linear_system(Cpu& c, uint32_t lin) {
  if (SOFTCPU_LIKELY(c.cpl != 3)) return read_linear<S>(c, lin);
  return read_system_slow(c, lin, S);
}
template <unsigned S>
inline void write_linear_system(Cpu& c, uint32_t lin, uint32_t v) {
  if (SOFTCPU_LIKELY(c.cpl != 3)) return write_linear<S>(c, lin, v);
  write_system_slow(c, lin, S, v);
}

// ---- segmented memory ---------------------------------------------------------------

// #GP(0), or #SS(0) for the stack segment (SDM vol.3 6.15, exceptions 12 and 13).
[[noreturn]] inline void raise_segment_limit_fault(unsigned seg) {
  raise_fault(seg == SS ? VEC_SS : VEC_GP, 0);
}

// Forced inline: their only call is the fault, which does not return, so a handler's fast path
// keeps no registers across it (an out-of-line check returning into the handler did).
[[gnu::always_inline]] inline void check_read(const Cpu& c, unsigned seg, uint32_t off,
                                              unsigned size) {
  const SegmentCache& s = c.seg[seg];
  if (SOFTCPU_UNLIKELY(off < s.rd_lo || uint64_t(off) + size - 1 > s.rd_hi))
    raise_segment_limit_fault(seg);
}
[[gnu::always_inline]] inline void check_write(const Cpu& c, unsigned seg, uint32_t off,
                                               unsigned size) {
  const SegmentCache& s = c.seg[seg];
  if (SOFTCPU_UNLIKELY(off < s.wr_lo || uint64_t(off) + size - 1 > s.wr_hi))
    raise_segment_limit_fault(seg);
}
// A segment a read (write) may use at every offset, 0 to 4 GiB - 1: the flat segments of
// 32-bit protected mode, and any other with a 4 GiB limit (a TLS or per-CPU segment whose
// base is not 0). The range's two bounds are adjacent, so this is one 64-bit compare where
// check_read is two compares and a 64-bit add. In such a segment only an access that wraps
// past 4 GiB can fail the check, and that access is unaligned: the soft TLB's compare
// (tlb_hit) never lets it through, so the slow paths below check the limit for it.
inline bool all_offsets(const uint32_t& lo) {  // lo, then hi
  uint64_t lo_hi;
  std::memcpy(&lo_hi, &lo, sizeof lo_hi);
  return lo_hi == 0xFFFFFFFF00000000ull;  // lo = 0, hi = 0xFFFFFFFF
}
static_assert(offsetof(SegmentCache, rd_hi) == offsetof(SegmentCache, rd_lo) + 4 &&
              offsetof(SegmentCache, wr_hi) == offsetof(SegmentCache, wr_lo) + 4);
inline bool reads_anywhere(const SegmentCache& s) { return all_offsets(s.rd_lo); }
inline bool writes_anywhere(const SegmentCache& s) { return all_offsets(s.wr_lo); }

#if !SOFTCPU_JIT_BITCODE  // compiled code: the definitions at the end of this file
// The slow paths of a segmented access (access.cpp): the limit check, then the linear slow path.
uint32_t read_mem_slow(Cpu& c, unsigned seg, uint32_t off, unsigned size);
void write_mem_slow(Cpu& c, unsigned seg, uint32_t off, unsigned size, uint32_t v);

// The fast path of a segmented access of S bytes (W: a write): the limit check unless the
// segment allows every offset, then the soft-TLB compare. Returns the entry that maps `lin`,
// or null for the slow path (read_mem_slow, write_mem_slow), which checks the limit again.
// Forced inline: it is the handlers' fast path, and one more level of inlining left GCC short
// of its growth budget in the translation unit of all handlers (lazy_cf went out of line in
// INC r32: +0.28 host instructions per guest instruction on bench.rom).
template <unsigned S, bool W>
[[gnu::always_inline]] inline const SoftTlbEntry* mem_fast_entry(Cpu& c, unsigned seg, uint32_t off,
                                                                 uint32_t& lin) {
  const SegmentCache& s = c.seg[seg];
  if constexpr (W) {
    if (!writes_anywhere(s)) check_write(c, seg, off, S);
  } else {
    if (!reads_anywhere(s)) check_read(c, seg, off, S);
  }
  lin = s.base + off;
  const SoftTlbEntry& e = tlb_entry(W ? c.tlb.write : c.tlb.read, lin);
  if (SOFTCPU_UNLIKELY(!tlb_hit(e, lin, S))) return nullptr;
  SOFTCPU_CHECK_TLB_HOST(c, e.addend + lin, lin, S);
  return &e;
}

template <unsigned S>
inline uint32_t read_mem(Cpu& c, unsigned seg, uint32_t off) {
  uint32_t lin;
  if (const SoftTlbEntry* e = mem_fast_entry<S, false>(c, seg, off, lin))
    return load_host<S>(e->addend + lin);
  return read_mem_slow(c, seg, off, S);
}
template <unsigned S>
inline void write_mem(Cpu& c, unsigned seg, uint32_t off, uint32_t v) {
  uint32_t lin;
  if (const SoftTlbEntry* e = mem_fast_entry<S, true>(c, seg, off, lin))
    return store_host<S>(e->addend + lin, v);
  write_mem_slow(c, seg, off, S, v);
}
#endif  // probe_write_mem: a later write_mem of this range cannot fault (multi-part instructions)
inline void probe_write_mem(Cpu& c, unsigned seg, uint32_t off, unsigned size) {
  check_write(c, seg, off, size);
  probe_write_linear(c, c.seg[seg].base + off, size);
}
inline uint32_t read_mem_n(Cpu& c, unsigned seg, uint32_t off, unsigned size) {
  return size == 1 ? read_mem<1>(c, seg, off) : size == 2 ? read_mem<2>(c, seg, off)
                                                          : read_mem<4>(c, seg, off);
}
inline void write_mem_n(Cpu& c, unsigned seg, uint32_t off, unsigned size, uint32_t v) {
  if (size == 1) write_mem<1>(c, seg, off, v);
  else if (size == 2) write_mem<2>(c, seg, off, v);
  else write_mem<4>(c, seg, off, v);
}

// Read, then hand the value to `k` (a lambda the caller inlines). The continuation is
// inlined on the fast path and on the slow path separately: with no join after the slow
// call, the compiler keeps the fast path free of register saves (shrink-wrapping), which the
// hottest load handlers (MOV, MOVZX, CMP from memory) pay otherwise on every execution.
//
// The tier-1 bitcode (SOFTCPU_JIT_BITCODE) gets the plain form instead: the access, then
// `k` once. Inlining a copy of `k` into each path doubles a handler's IR per nested access
// (an ALU read-modify-write has four copies of its flag code), and a region of them took
// LLVM 3.7 s instead of 0.3 s to compile (random_rom_jit, seed 1052). Same semantics.
#if SOFTCPU_JIT_BITCODE
// Forced inline, so no closure object is passed by value (a memcpy and an escaped Cpu
// pointer the region compiler must assume reads every promoted field).
#define SOFTCPU_THEN_INLINE [[gnu::always_inline]] inline
template <unsigned S, class K>
[[gnu::always_inline]] inline void read_mem_then(Cpu& c, unsigned seg, uint32_t off, K k) {
  k(read_mem<S>(c, seg, off));
}
template <unsigned S, class K>
[[gnu::always_inline]] inline void write_mem_then(Cpu& c, unsigned seg, uint32_t off, uint32_t v, K k) {
  write_mem<S>(c, seg, off, v);
  k();
}
#else
#define SOFTCPU_THEN_INLINE inline
template <unsigned S, class K>
[[gnu::noinline, gnu::cold]] void read_slow_then(Cpu& c, unsigned seg, uint32_t off, K k) {
  k(read_mem_slow(c, seg, off, S));
}
template <unsigned S, class K>
[[gnu::noinline, gnu::cold]] void write_slow_then(Cpu& c, unsigned seg, uint32_t off, uint32_t v,
                                                  K k) {
  write_mem_slow(c, seg, off, S, v);
  k();
}
template <unsigned S, class K>
inline void read_mem_then(Cpu& c, unsigned seg, uint32_t off, K k) {
  uint32_t lin;
  if (const SoftTlbEntry* e = mem_fast_entry<S, false>(c, seg, off, lin)) {
    k(load_host<S>(e->addend + lin));
    return;
  }
  read_slow_then<S>(c, seg, off, k);  // a tail call: nothing of the caller lives across it
}
// Write, then run `k` (the state changes that must follow the write's last chance to fault).
template <unsigned S, class K>
inline void write_mem_then(Cpu& c, unsigned seg, uint32_t off, uint32_t v, K k) {
  uint32_t lin;
  if (const SoftTlbEntry* e = mem_fast_entry<S, true>(c, seg, off, lin)) {
    store_host<S>(e->addend + lin, v);
    k();
    return;
  }
  write_slow_then<S>(c, seg, off, v, k);
}
#endif

// ---- ModRM operands -----------------------------------------------------------------

// Effective address (offset within the segment) of the memory operand.
inline uint32_t effective_address(const Cpu& c, const Insn& i) {
  uint32_t ea = c.regs[i.base] + (c.regs[i.index] << i.scale) + i.disp;
  return ea & (0xFFFFu | (0u - i.addr32));  // 16-bit addressing wraps at 64 KiB
}

// The form of an r/m operand, chosen at decode time (rm_form) for the hottest handler
// families, so their effective address is computed with only the terms it has: a 32-bit
// [base + disp] (or [disp]: base is then the zero slot) is a load and an add, where the general
// form also loads, shifts and adds the index and masks for 16-bit addressing (11 host
// instructions against 3). RM_REG is 0 and the memory forms are nonzero, so a handler's
// `if constexpr (M)` and a family picked with a bool (`get(size, i.is_mem)`: RM_MEM) still
// mean what they did.
enum RmForm : unsigned {
  RM_REG = 0,    // the r/m operand is the register i.rm
  RM_MEM = 1,    // memory, any addressing (16-bit included)
  RM_BD32 = 2,   // memory, 32-bit addressing, no index: [base + disp]
  RM_SIB32 = 3,  // memory, 32-bit addressing with an index: [base + index * scale + disp]
};
inline constexpr unsigned rm_form(const Insn& i) {
  if (!i.is_mem) return RM_REG;
  if (!i.addr32) return RM_MEM;
  return i.index == REG_NONE ? RM_BD32 : RM_SIB32;
}
template <unsigned F>
inline uint32_t effective_address(const Cpu& c, const Insn& i) {
  if constexpr (F == RM_BD32) return c.regs[i.base] + i.disp;
  else if constexpr (F == RM_SIB32) return c.regs[i.base] + (c.regs[i.index] << i.scale) + i.disp;
  else return effective_address(c, i);
}

template <unsigned S>
inline uint32_t read_rm(Cpu& c, const Insn& i) {
  if (i.is_mem) return read_mem<S>(c, i.seg, effective_address(c, i));
  return get_reg<S>(c, i.rm);
}
template <unsigned S>
inline void write_rm(Cpu& c, const Insn& i, uint32_t v) {
  if (i.is_mem) write_mem<S>(c, i.seg, effective_address(c, i), v);
  else set_reg<S>(c, i.rm, v);
}

// The same with the register/memory choice made at decode time (for the hottest handlers):
// M is an RmForm (a bool M means RM_REG or RM_MEM).
template <unsigned S, unsigned M>
inline uint32_t read_rm(Cpu& c, const Insn& i) {
  if constexpr (M != RM_REG) return read_mem<S>(c, i.seg, effective_address<M>(c, i));
  else return get_reg<S>(c, i.rm);
}
template <unsigned S, unsigned M>
inline void write_rm(Cpu& c, const Insn& i, uint32_t v) {
  if constexpr (M != RM_REG) write_mem<S>(c, i.seg, effective_address<M>(c, i), v);
  else set_reg<S>(c, i.rm, v);
}

template <unsigned S, unsigned M, class K>
SOFTCPU_THEN_INLINE void read_rm_then(Cpu& c, const Insn& i, K k) {
  if constexpr (M != RM_REG) read_mem_then<S>(c, i.seg, effective_address<M>(c, i), k);
  else k(get_reg<S>(c, i.rm));
}

// Read-modify-write of the r/m operand (form M). `Op` is a class with static members
// (nothing captured, so the slow paths take only what they need, in registers):
//   uint32_t result(Cpu&, const Insn&, uint32_t a)      the value to write back for operand a;
//   void commit(Cpu&, const Insn&, uint32_t a, uint32_t r)  the state changes after the
//       write (flags), which must follow its last chance to fault;
//   optionally bool skip(const Cpu&, const Insn&)       after the read: write and commit nothing
//       (a shift by 0).
// Op's functions may run more than once for one execution (a slow path computes again what
// it needs), so they read only state the instruction has not changed: commit runs after the
// destination is written, so with a register destination it must not read registers.
template <class Op>
inline bool modify_skips(const Cpu& c, const Insn& i) {
  if constexpr (requires { Op::skip(c, i); }) return Op::skip(c, i);
  else return false;
}
// After the read of operand `a` at `ea`: the write of Op's result (plain), then Op's commit.
template <unsigned S, class Op>
SOFTCPU_THEN_INLINE void modify_finish(Cpu& c, const Insn& i, uint32_t ea, uint32_t a) {
  if (modify_skips<Op>(c, i)) return;
  const uint32_t r = Op::result(c, i, a);
  write_mem<S>(c, i.seg, ea, r);
  Op::commit(c, i, a, r);
}
#if SOFTCPU_JIT_BITCODE
// Tier 1: the accesses once, in order (see read_mem_then).
template <unsigned S, unsigned M, class Op>
[[gnu::always_inline]] inline void modify_mem(Cpu& c, const Insn& i) {
  const uint32_t ea = effective_address<M>(c, i);
  modify_finish<S, Op>(c, i, ea, read_mem<S>(c, i.seg, ea));
}
#else
// The slow paths: the read (then the write, by either path), or the write alone.
template <unsigned S, unsigned M, class Op>
[[gnu::noinline, gnu::cold]] void modify_read_slow(Cpu& c, const Insn& i) {
  const uint32_t ea = effective_address<M>(c, i);
  modify_finish<S, Op>(c, i, ea, read_mem_slow(c, i.seg, ea, S));
}
template <unsigned S, unsigned M, class Op>
[[gnu::noinline, gnu::cold]] void modify_write_slow(Cpu& c, const Insn& i, uint32_t a, uint32_t r) {
  write_mem_slow(c, i.seg, effective_address<M>(c, i), S, r);
  Op::commit(c, i, a, r);
}
// The fast path has no call that returns into it (the slow paths are tail calls with their
// arguments in registers; a limit fault does not return), so it saves no registers.
template <unsigned S, unsigned M, class Op>
inline void modify_mem(Cpu& c, const Insn& i) {
  const uint32_t ea = effective_address<M>(c, i);
  uint32_t lin;
  const SoftTlbEntry* e = mem_fast_entry<S, false>(c, i.seg, ea, lin);
  if (SOFTCPU_UNLIKELY(!e)) return modify_read_slow<S, M, Op>(c, i);
  const uint32_t a = load_host<S>(e->addend + lin);
  if (modify_skips<Op>(c, i)) return;
  const uint32_t r = Op::result(c, i, a);
  e = mem_fast_entry<S, true>(c, i.seg, ea, lin);
  if (SOFTCPU_UNLIKELY(!e)) return modify_write_slow<S, M, Op>(c, i, a, r);
  store_host<S>(e->addend + lin, r);
  Op::commit(c, i, a, r);
}
#endif
template <unsigned S, unsigned M, class Op>
SOFTCPU_THEN_INLINE void modify_rm(Cpu& c, const Insn& i) {
  if constexpr (M != RM_REG) {
    modify_mem<S, M, Op>(c, i);
  } else {
    const uint32_t a = get_reg<S>(c, i.rm);
    if (modify_skips<Op>(c, i)) return;
    const uint32_t r = Op::result(c, i, a);
    set_reg<S>(c, i.rm, r);
    Op::commit(c, i, a, r);
  }
}

// ---- stack --------------------------------------------------------------------------

// SS.B selects ESP (32-bit) or SP (16-bit) as the stack pointer (SDM vol.3 3.4.5).
inline bool stack32(const Cpu& c) { return c.seg[SS].attrs & SA_DB; }
// The stack size a handler runs with: read from SS.B (STACK_SS_B), or fixed at decode time
// (STACK16, STACK32) for handlers decoded into a block, whose key holds SS.B (interp/segments.cpp
// update_mode) and every instruction that loads SS ends. The push, pop and stack pointer
// helpers below take it as a template argument; SS.B is the default.
enum StackSize : unsigned { STACK16 = 0, STACK32 = 1, STACK_SS_B = 2 };
template <unsigned B = STACK_SS_B>
inline bool stack_is32(const Cpu& c) {
  if constexpr (B == STACK_SS_B) return stack32(c);
  else return B == STACK32;
}
template <unsigned B = STACK_SS_B>
inline uint32_t stack_pointer(const Cpu& c) {
  return stack_is32<B>(c) ? c.regs[ESP] : c.regs[ESP] & 0xFFFF;
}
// ESP (a 32-bit stack) or SP (a 16-bit one, ESP's upper half kept) from `sp`.
inline void set_stack_pointer_as(Cpu& c, bool s32, uint32_t sp) {
  if (s32) c.regs[ESP] = sp;
  else c.regs[ESP] = (c.regs[ESP] & ~0xFFFFu) | (sp & 0xFFFF);
}
template <unsigned B = STACK_SS_B>
inline void set_stack_pointer(Cpu& c, uint32_t sp) { set_stack_pointer_as(c, stack_is32<B>(c), sp); }
template <unsigned B = STACK_SS_B>
inline uint32_t stack_mask(const Cpu& c) { return stack_is32<B>(c) ? 0xFFFFFFFFu : 0xFFFFu; }

// Push/pop of `size` bytes (2 or 4). The write happens before ESP changes, so a fault
// leaves ESP as it was.
template <unsigned S, unsigned B = STACK_SS_B>
inline void push(Cpu& c, uint32_t v) {
  uint32_t sp = (stack_pointer<B>(c) - S) & stack_mask<B>(c);
  write_mem_then<S>(c, SS, sp, v, [&c, sp] { set_stack_pointer<B>(c, sp); });
}
template <unsigned S>
inline uint32_t pop(Cpu& c) {
  uint32_t sp = stack_pointer(c);
  uint32_t v = read_mem<S>(c, SS, sp);
  set_stack_pointer(c, sp + S);
  return v;
}
// POP, then run `k(c, v)` with the value (see read_mem_then). The stack pointer is read again
// after the read (which changes nothing) and `k` gets the Cpu as an argument, so the closure
// handed to the slow path is two pointers and travels in registers: with the stack pointer
// captured too it was built on the stack on every execution, fast path included.
template <unsigned S, unsigned B = STACK_SS_B, class K>
SOFTCPU_THEN_INLINE void pop_then(Cpu& c, K k) {
  read_mem_then<S>(c, SS, stack_pointer<B>(c), [&c, k](uint32_t v) {
    set_stack_pointer<B>(c, stack_pointer<B>(c) + S);
    k(c, v);
  });
}
inline void push_n(Cpu& c, unsigned size, uint32_t v) {
  if (size == 4) push<4>(c, v); else push<2>(c, v);
}
inline uint32_t pop_n(Cpu& c, unsigned size) { return size == 4 ? pop<4>(c) : pop<2>(c); }

}  // namespace softcpu

#if SOFTCPU_JIT_BITCODE
namespace softcpu {
// Segmented accesses in compiled code (declared in interp/jit_abi.h): the limit check and the
// soft-TLB compare share one branch to one runtime call that checks the limit again (raising
// #GP/#SS) or takes the linear slow path, so an access has one fault test instead of three
// (the limit checks' fault exits were about a quarter of LLVM's code generation for a region).
// The same checks in the same order as check_read/check_write and read/write_linear.
template <unsigned S>
inline uint32_t read_mem(Cpu& c, unsigned seg, uint32_t off) {
  const SegmentCache& s = c.seg[seg];
  const uint32_t lin = s.base + off;
  const SoftTlbEntry& e = tlb_entry(c.tlb.read, lin);
  if (SOFTCPU_LIKELY((off >= s.rd_lo) & (uint64_t(off) + S - 1 <= s.rd_hi) & tlb_hit(e, lin, S)))
    return load_host<S>(e.addend + lin);
  const uint64_t r = softcpu_jit_read_mem(&c, seg, off, S);
  if (SOFTCPU_UNLIKELY(r >> 32)) softcpu_jit_fault_exit();
  return uint32_t(r);
}
template <unsigned S>
inline void write_mem(Cpu& c, unsigned seg, uint32_t off, uint32_t v) {
  const SegmentCache& s = c.seg[seg];
  const uint32_t lin = s.base + off;
  const SoftTlbEntry& e = tlb_entry(c.tlb.write, lin);
  if (SOFTCPU_LIKELY((off >= s.wr_lo) & (uint64_t(off) + S - 1 <= s.wr_hi) & tlb_hit(e, lin, S)))
    return store_host<S>(e.addend + lin, v);
  if (SOFTCPU_UNLIKELY(softcpu_jit_write_mem(&c, seg, off, S, v))) softcpu_jit_fault_exit();
}
}  // namespace softcpu
#endif
