// String instruction semantics: MOVS CMPS SCAS LODS STOS (B/W/D) with REP/REPE/REPNE
// (SDM vol.2 MOVS/CMPS/SCAS/LODS/STOS and REP/REPE/REPNE). INS/OUTS are in ops_trap.cpp.
// The selector is in interp/ops_string.cpp.
//
// Each iteration commits (E)SI/(E)DI/(E)CX, so a fault leaves them at the faulting element
// and the interpreter restores EIP to the instruction. A REP instruction runs at most
// kStringMaxElements per call; then it points EIP back at itself and stops the block, so the
// run loop re-enters it (and can look at interrupts and budgets in between).
#pragma once
#include <algorithm>
#include <cstring>

#include "interp/sem/common.h"

namespace softcpu {

inline constexpr unsigned kStringMaxElements = 16384;

enum StringOp : unsigned { STR_MOVS, STR_CMPS, STR_SCAS, STR_LODS, STR_STOS };

// (E)SI/(E)DI/(E)CX as the address size sees them.
template <bool A32> inline uint32_t string_index(const Cpu& c, unsigned r) {
  return A32 ? c.regs[r] : c.regs[r] & 0xFFFF;
}
template <bool A32> inline void set_string_index(Cpu& c, unsigned r, uint32_t v) {
  if constexpr (A32) c.regs[r] = v;
  else c.regs[r] = (c.regs[r] & ~0xFFFFu) | (v & 0xFFFF);
}
template <unsigned S> inline uint32_t string_step(const Cpu& c) {
  return (c.eflags & DF) ? uint32_t(0) - S : S;
}

// One element. The source segment is i.seg (DS or an override); the destination is ES.
template <StringOp Op, unsigned S, bool A32> inline void string_element(Cpu& c, const Insn& i) {
  const uint32_t d = string_step<S>(c);
  if constexpr (Op == STR_MOVS) {
    uint32_t si = string_index<A32>(c, ESI), di = string_index<A32>(c, EDI);
    uint32_t v = read_mem<S>(c, i.seg, si);
    write_mem<S>(c, ES, di, v);
    set_string_index<A32>(c, ESI, si + d);
    set_string_index<A32>(c, EDI, di + d);
  } else if constexpr (Op == STR_CMPS) {
    uint32_t si = string_index<A32>(c, ESI), di = string_index<A32>(c, EDI);
    uint32_t a = read_mem<S>(c, i.seg, si);
    uint32_t b = read_mem<S>(c, ES, di);
    set_string_index<A32>(c, ESI, si + d);
    set_string_index<A32>(c, EDI, di + d);
    set_lazy(c, LZ_SUB, S, a, b, a - b);
  } else if constexpr (Op == STR_SCAS) {
    uint32_t di = string_index<A32>(c, EDI);
    uint32_t b = read_mem<S>(c, ES, di);
    uint32_t a = get_reg<S>(c, EAX);
    set_string_index<A32>(c, EDI, di + d);
    set_lazy(c, LZ_SUB, S, a, b, a - b);
  } else if constexpr (Op == STR_LODS) {
    uint32_t si = string_index<A32>(c, ESI);
    uint32_t v = read_mem<S>(c, i.seg, si);
    set_reg<S>(c, EAX, v);
    set_string_index<A32>(c, ESI, si + d);
  } else {
    uint32_t di = string_index<A32>(c, EDI);
    write_mem<S>(c, ES, di, get_reg<S>(c, EAX));
    set_string_index<A32>(c, EDI, di + d);
  }
}

template <StringOp Op, unsigned S, bool A32> void string_once(Cpu& c, const Insn& i) {
  string_element<Op, S, A32>(c, i);
}

// Elements that fit from `off` within the segment range [lo, hi] (and, for 16-bit
// addressing, before the offset wraps).
template <unsigned S, bool A32>
inline uint32_t string_fit(uint32_t off, uint32_t lo, uint32_t hi, uint32_t n) {
  if (off < lo || off > hi) return 0;
  uint64_t room = uint64_t(hi) - off + 1;
  if (!A32) room = std::min<uint64_t>(room, 0x10000u - off);
  return uint32_t(std::min<uint64_t>(n, room / S));
}

// Whole-element run inside one page of RAM, for MOVS/STOS with DF=0. Returns the number of
// elements done (0 when the fast path does not apply; the caller then does one element the
// ordinary way, which also fills the TLB or raises the fault at the exact element).
template <StringOp Op, unsigned S, bool A32>
inline uint32_t string_fast_run(Cpu& c, const Insn& i, uint32_t count) {
  const uint32_t di = string_index<A32>(c, EDI);
  const SegmentCache& es = c.seg[ES];
  const uint32_t dlin = es.base + di;
  uint32_t n = std::min(count, (4096u - (dlin & 0xFFF)) / S);
  n = string_fit<S, A32>(di, es.wr_lo, es.wr_hi, n);
  uintptr_t src = 0;
  uint32_t si = 0;
  if constexpr (Op == STR_MOVS) {
    si = string_index<A32>(c, ESI);
    const SegmentCache& ss = c.seg[i.seg];
    const uint32_t slin = ss.base + si;
    n = std::min(n, (4096u - (slin & 0xFFF)) / S);
    n = string_fit<S, A32>(si, ss.rd_lo, ss.rd_hi, n);
    if (n == 0) return 0;
    // The run stays inside the page (n is bounded above), so only the page must match: a
    // size-1 lookup. (tlb_hit's alignment mask is for power-of-two sizes up to 4 only.)
    const SoftTlbEntry& re = tlb_entry(c.tlb.read, slin);
    if (!tlb_hit(re, slin, 1)) return 0;
    src = re.addend + slin;
    SOFTCPU_CHECK_TLB_HOST(c, src, slin, n * S);
  }
  if (n == 0) return 0;
  const uint32_t bytes = n * S;
  const SoftTlbEntry& we = tlb_entry(c.tlb.write, dlin);
  if (!tlb_hit(we, dlin, 1)) return 0;
  const uintptr_t dst = we.addend + dlin;
  SOFTCPU_CHECK_TLB_HOST(c, dst, dlin, bytes);
  if constexpr (Op == STR_MOVS) {
    // An element-wise forward copy into an overlapping higher destination replicates the
    // pattern; memmove would not. Leave that case to the slow path.
    if (dst > src && dst < src + bytes) return 0;
    ram_copy_forward(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes);
    set_string_index<A32>(c, ESI, si + bytes);
  } else {
    const uint32_t v = get_reg<S>(c, EAX);
    if constexpr (S == 1) ram_fill(reinterpret_cast<void*>(dst), uint8_t(v), bytes);
    else for (uint32_t k = 0; k < n; ++k) store_host<S>(dst + k * S, v);
  }
  set_string_index<A32>(c, EDI, di + bytes);
  return n;
}

template <StringOp Op, unsigned S, bool A32> void string_rep(Cpu& c, const Insn& i) {
  uint32_t count = string_index<A32>(c, ECX);
  if (count == 0) return;
  constexpr bool kCond = Op == STR_CMPS || Op == STR_SCAS;
  uint32_t done = 0;
  for (;;) {
    if constexpr (Op == STR_MOVS || Op == STR_STOS) {
      if (!(c.eflags & DF)) {
        uint32_t n =
            string_fast_run<Op, S, A32>(c, i, std::min(count, kStringMaxElements - done));
        if (n) {
          count -= n;
          set_string_index<A32>(c, ECX, count);
          done += n;
          if (count == 0) return;
          if (done >= kStringMaxElements) break;
          continue;
        }
      }
    }
    string_element<Op, S, A32>(c, i);
    set_string_index<A32>(c, ECX, --count);
    if (count == 0) return;
    if constexpr (kCond) {
      // REPE stops when ZF=0, REPNE when ZF=1 (SDM vol.2 REP/REPE/REPZ/REPNE/REPNZ).
      bool zf = lazy_zf(c);
      if (i.rep == REP_E ? !zf : zf) return;
    }
    if (++done >= kStringMaxElements) break;
  }
  c.eip -= i.len;  // not finished: run this instruction again
  c.stop = 1;
}

// ---- handler tables ---------------------------------------------------------------------

using StringOps = Dim<STR_MOVS, STR_CMPS, STR_SCAS, STR_LODS, STR_STOS>;

// One element (no REP prefix), and the REP/REPE/REPNE forms; the last Dim is 32-bit addressing.
inline constexpr auto kStringOnce = make_handlers<StringOps, Sizes, Bools>(
    []<StringOp OP, unsigned S, bool A32>() { return &string_once<OP, S, A32>; });
inline constexpr auto kStringRep = make_handlers<StringOps, Sizes, Bools>(
    []<StringOp OP, unsigned S, bool A32>() { return &string_rep<OP, S, A32>; });

}  // namespace softcpu
