// String instructions: MOVS CMPS SCAS LODS STOS (B/W/D) with REP/REPE/REPNE
// (SDM vol.2 MOVS/CMPS/SCAS/LODS/STOS and REP/REPE/REPNE). INS/OUTS are in ops_trap.cpp.
//
// Each iteration commits (E)SI/(E)DI/(E)CX, so a fault leaves them at the faulting element
// and the interpreter restores EIP to the instruction. A REP instruction runs at most
// kMaxElements per call; then it points EIP back at itself and stops the block, so the run
// loop re-enters it (and can look at interrupts and budgets in between).
#include <algorithm>
#include <cstring>

#include "interp/ops_common.h"
#include "interp/tlb.h"

namespace softcpu {

namespace {

constexpr unsigned kMaxElements = 16384;

enum StrOp { OP_MOVS, OP_CMPS, OP_SCAS, OP_LODS, OP_STOS };

template <bool A32> inline uint32_t idx(const Cpu& c, unsigned r) {
  return A32 ? c.regs[r] : c.regs[r] & 0xFFFF;
}
template <bool A32> inline void set_idx(Cpu& c, unsigned r, uint32_t v) {
  if constexpr (A32) c.regs[r] = v;
  else c.regs[r] = (c.regs[r] & ~0xFFFFu) | (v & 0xFFFF);
}
template <unsigned S> inline uint32_t step(const Cpu& c) {
  return (c.eflags & DF) ? uint32_t(0) - S : S;
}

// One element. The source segment is i.seg (DS or an override); the destination is ES.
template <StrOp Op, unsigned S, bool A32> inline void one(Cpu& c, const Insn& i) {
  const uint32_t d = step<S>(c);
  if constexpr (Op == OP_MOVS) {
    uint32_t si = idx<A32>(c, ESI), di = idx<A32>(c, EDI);
    uint32_t v = read_mem<S>(c, i.seg, si);
    write_mem<S>(c, ES, di, v);
    set_idx<A32>(c, ESI, si + d);
    set_idx<A32>(c, EDI, di + d);
  } else if constexpr (Op == OP_CMPS) {
    uint32_t si = idx<A32>(c, ESI), di = idx<A32>(c, EDI);
    uint32_t a = read_mem<S>(c, i.seg, si);
    uint32_t b = read_mem<S>(c, ES, di);
    set_idx<A32>(c, ESI, si + d);
    set_idx<A32>(c, EDI, di + d);
    set_lazy(c, LZ_SUB, S, a, b, a - b);
  } else if constexpr (Op == OP_SCAS) {
    uint32_t di = idx<A32>(c, EDI);
    uint32_t b = read_mem<S>(c, ES, di);
    uint32_t a = get_reg<S>(c, EAX);
    set_idx<A32>(c, EDI, di + d);
    set_lazy(c, LZ_SUB, S, a, b, a - b);
  } else if constexpr (Op == OP_LODS) {
    uint32_t si = idx<A32>(c, ESI);
    uint32_t v = read_mem<S>(c, i.seg, si);
    set_reg<S>(c, EAX, v);
    set_idx<A32>(c, ESI, si + d);
  } else {
    uint32_t di = idx<A32>(c, EDI);
    write_mem<S>(c, ES, di, get_reg<S>(c, EAX));
    set_idx<A32>(c, EDI, di + d);
  }
}

template <StrOp Op, unsigned S, bool A32> void string_once(Cpu& c, const Insn& i) {
  one<Op, S, A32>(c, i);
}

// Whole-element run inside one page of RAM, for MOVS/STOS with DF=0. Returns the number of
// elements done (0 when the fast path does not apply; the caller then does one element the
// ordinary way, which also fills the TLB or raises the fault at the exact element).
// Elements that fit from `off` within the segment range [lo, hi] (and, for 16-bit
// addressing, before the offset wraps).
template <unsigned S, bool A32>
inline uint32_t fit(uint32_t off, uint32_t lo, uint32_t hi, uint32_t n) {
  if (off < lo || off > hi) return 0;
  uint64_t room = uint64_t(hi) - off + 1;
  if (!A32) room = std::min<uint64_t>(room, 0x10000u - off);
  return uint32_t(std::min<uint64_t>(n, room / S));
}

// Whole-element run inside one page of RAM, for MOVS/STOS with DF=0. Returns the number of
// elements done (0 when the fast path does not apply; the caller then does one element the
// ordinary way, which also fills the TLB or raises the fault at the exact element).
template <StrOp Op, unsigned S, bool A32>
uint32_t fast_run(Cpu& c, const Insn& i, uint32_t count) {
  const uint32_t di = idx<A32>(c, EDI);
  const SegmentCache& es = c.seg[ES];
  const uint32_t dlin = es.base + di;
  uint32_t n = std::min(count, (4096u - (dlin & 0xFFF)) / S);
  n = fit<S, A32>(di, es.wr_lo, es.wr_hi, n);
  uintptr_t src = 0;
  uint32_t si = 0;
  if constexpr (Op == OP_MOVS) {
    si = idx<A32>(c, ESI);
    const SegmentCache& ss = c.seg[i.seg];
    const uint32_t slin = ss.base + si;
    n = std::min(n, (4096u - (slin & 0xFFF)) / S);
    n = fit<S, A32>(si, ss.rd_lo, ss.rd_hi, n);
    if (n == 0) return 0;
    // The run stays inside the page (n is bounded above), so only the page must match: a
    // size-1 lookup. (tlb_hit's alignment mask is for power-of-two sizes up to 4 only.)
    const SoftTlbEntry& re = c.tlb.read[(slin >> 12) % TLB_SIZE];
    if (!tlb_hit(re, slin, 1)) return 0;
    src = re.addend + slin;
    SOFTCPU_CHECK_TLB_HOST(c, src, slin, n * S);
  }
  if (n == 0) return 0;
  const uint32_t bytes = n * S;
  const SoftTlbEntry& we = c.tlb.write[(dlin >> 12) % TLB_SIZE];
  if (!tlb_hit(we, dlin, 1)) return 0;
  const uintptr_t dst = we.addend + dlin;
  SOFTCPU_CHECK_TLB_HOST(c, dst, dlin, bytes);
  if constexpr (Op == OP_MOVS) {
    // An element-wise forward copy into an overlapping higher destination replicates the
    // pattern; memmove would not. Leave that case to the slow path.
    if (dst > src && dst < src + bytes) return 0;
    std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes);
    set_idx<A32>(c, ESI, si + bytes);
  } else {
    const uint32_t v = get_reg<S>(c, EAX);
    if constexpr (S == 1) std::memset(reinterpret_cast<void*>(dst), int(v), bytes);
    else for (uint32_t k = 0; k < n; ++k) store_host<S>(dst + k * S, v);
  }
  set_idx<A32>(c, EDI, di + bytes);
  return n;
}

template <StrOp Op, unsigned S, bool A32> void string_rep(Cpu& c, const Insn& i) {
  uint32_t count = idx<A32>(c, ECX);
  if (count == 0) return;
  constexpr bool kCond = Op == OP_CMPS || Op == OP_SCAS;
  uint32_t done = 0;
  for (;;) {
    if constexpr (Op == OP_MOVS || Op == OP_STOS) {
      if (!(c.eflags & DF)) {
        uint32_t n = fast_run<Op, S, A32>(c, i, std::min(count, kMaxElements - done));
        if (n) {
          count -= n;
          set_idx<A32>(c, ECX, count);
          done += n;
          if (count == 0) return;
          if (done >= kMaxElements) break;
          continue;
        }
      }
    }
    one<Op, S, A32>(c, i);
    set_idx<A32>(c, ECX, --count);
    if (count == 0) return;
    if constexpr (kCond) {
      // REPE stops when ZF=0, REPNE when ZF=1 (SDM vol.2 REP/REPE/REPZ/REPNE/REPNZ).
      bool zf = lazy_zf(c);
      if (i.rep == REP_E ? !zf : zf) return;
    }
    if (++done >= kMaxElements) break;
  }
  c.eip -= i.len;  // not finished: run this instruction again
  c.stop = 1;
}

template <StrOp Op, unsigned S>
Handler pick(bool rep, bool a32) {
  if (rep) return a32 ? &string_rep<Op, S, true> : &string_rep<Op, S, false>;
  return a32 ? &string_once<Op, S, true> : &string_once<Op, S, false>;
}

template <StrOp Op>
Handler pick_size(unsigned s, bool rep, bool a32) {
  return s == 1 ? pick<Op, 1>(rep, a32) : s == 2 ? pick<Op, 2>(rep, a32) : pick<Op, 4>(rep, a32);
}

}  // namespace

bool select_string(const DecodeContext& ctx, Insn& i) {
  if (ctx.zi.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) return false;  // SSE MOVSD/CMPSD
  StrOp op;
  unsigned s;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_MOVSB: op = OP_MOVS; s = 1; break;
    case ZYDIS_MNEMONIC_MOVSW: op = OP_MOVS; s = 2; break;
    case ZYDIS_MNEMONIC_MOVSD: op = OP_MOVS; s = 4; break;
    case ZYDIS_MNEMONIC_CMPSB: op = OP_CMPS; s = 1; break;
    case ZYDIS_MNEMONIC_CMPSW: op = OP_CMPS; s = 2; break;
    case ZYDIS_MNEMONIC_CMPSD: op = OP_CMPS; s = 4; break;
    case ZYDIS_MNEMONIC_SCASB: op = OP_SCAS; s = 1; break;
    case ZYDIS_MNEMONIC_SCASW: op = OP_SCAS; s = 2; break;
    case ZYDIS_MNEMONIC_SCASD: op = OP_SCAS; s = 4; break;
    case ZYDIS_MNEMONIC_LODSB: op = OP_LODS; s = 1; break;
    case ZYDIS_MNEMONIC_LODSW: op = OP_LODS; s = 2; break;
    case ZYDIS_MNEMONIC_LODSD: op = OP_LODS; s = 4; break;
    case ZYDIS_MNEMONIC_STOSB: op = OP_STOS; s = 1; break;
    case ZYDIS_MNEMONIC_STOSW: op = OP_STOS; s = 2; break;
    case ZYDIS_MNEMONIC_STOSD: op = OP_STOS; s = 4; break;
    default: return false;
  }
  i.opsize = uint8_t(s);
  // The source (DS:(E)SI) may be overridden; ES:(E)DI never is. The operands are hidden, so
  // the decoder did not fill i.seg: take it from the (E)SI memory operand.
  i.seg = DS;
  for (unsigned k = 0; k < ctx.zi.operand_count; ++k) {
    const ZydisDecodedOperand& o = ctx.ops[k];
    if (o.type == ZYDIS_OPERAND_TYPE_MEMORY &&
        (o.mem.base == ZYDIS_REGISTER_ESI || o.mem.base == ZYDIS_REGISTER_SI))
      i.seg = segment_number(o.mem.segment);
  }
  const bool rep = i.rep != REP_NONE;  // REPNE on MOVS/LODS/STOS acts as REP
  if (op != OP_CMPS && op != OP_SCAS && rep) i.rep = REP_E;
  Handler fn;
  switch (op) {
    case OP_MOVS: fn = pick_size<OP_MOVS>(s, rep, i.addr32); break;
    case OP_CMPS: fn = pick_size<OP_CMPS>(s, rep, i.addr32); break;
    case OP_SCAS: fn = pick_size<OP_SCAS>(s, rep, i.addr32); break;
    case OP_LODS: fn = pick_size<OP_LODS>(s, rep, i.addr32); break;
    default: fn = pick_size<OP_STOS>(s, rep, i.addr32); break;
  }
  if (rep) i.flags |= INSN_ENDS_BLOCK;
  i.fn = i.lock ? handler_ud : fn;
  return true;
}

}  // namespace softcpu
