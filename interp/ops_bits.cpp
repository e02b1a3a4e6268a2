// Bit operations: BT BTS BTR BTC, BSF BSR, SETcc, CMOVcc, BSWAP (SDM vol.2).
// Undefined flags follow Intel P6 behaviour, as Bochs models it: BT* change only CF (OF SF AF
// PF keep their values); BSF/BSR with a nonzero source set CF = OF = SF = AF = ZF = 0 and PF =
// parity of the found index (a logic operation on the index); with a zero source they set
// ZF and change nothing else, neither the other flags nor the destination.
#include "interp/ops_common.h"

namespace softcpu {

namespace {

inline void set_arith(Cpu& c, uint32_t f) {
  c.eflags = (c.eflags & ~ARITH_FLAGS) | f;
  c.lz_kind = LZ_NONE;
}

enum BitOp : unsigned { B_BT, B_BTS, B_BTR, B_BTC };

template <unsigned OP>
inline uint32_t bit_apply(uint32_t v, uint32_t mask) {
  if constexpr (OP == B_BTS) return v | mask;
  else if constexpr (OP == B_BTR) return v & ~mask;
  else if constexpr (OP == B_BTC) return v ^ mask;
  else return v;
}

// BT* with an imm8 offset (taken modulo the operand width) or a register offset into a
// register operand (also modulo the width).
template <unsigned S, unsigned OP, bool IMM>
void bt_reg(Cpu& c, const Insn& i) {
  const uint32_t off = (IMM ? i.imm : get_reg<S>(c, i.reg)) & (S * 8 - 1);
  const uint32_t v = get_reg<S>(c, i.rm), mask = 1u << off;
  if constexpr (OP != B_BT) set_reg<S>(c, i.rm, bit_apply<OP>(v, mask));
  set_flags(c, CF, (v >> off) & 1);
}

// BT* on memory. A register offset is signed and selects the word/dword at
// EA + S * (offset >> log2(width)) (SDM vol.2 BT, "bit base/bit offset").
template <unsigned S, unsigned OP, bool IMM>
void bt_mem(Cpu& c, const Insn& i) {
  uint32_t ea = effective_address(c, i), off;
  if constexpr (IMM) {
    off = i.imm & (S * 8 - 1);
  } else {
    const int32_t soff = S == 2 ? int32_t(int16_t(get_reg<2>(c, i.reg))) : int32_t(c.regs[i.reg]);
    ea += uint32_t((soff >> (S == 2 ? 4 : 5)) * int32_t(S));
    if (!i.addr32) ea &= 0xFFFF;
    off = uint32_t(soff) & (S * 8 - 1);
  }
  const uint32_t v = read_mem<S>(c, i.seg, ea), mask = 1u << off;
  if constexpr (OP != B_BT) write_mem<S>(c, i.seg, ea, bit_apply<OP>(v, mask));
  set_flags(c, CF, (v >> off) & 1);
}

template <unsigned S, bool REVERSE, bool MEM>
void bsf_bsr(Cpu& c, const Insn& i) {
  uint32_t v;
  if constexpr (MEM) v = read_mem<S>(c, i.seg, effective_address(c, i));
  else v = get_reg<S>(c, i.rm);
  if (v == 0) {
    set_flags(c, ZF, ZF);  // Intel P6 (Bochs): only ZF; flags and destination otherwise kept
    return;
  }
  const uint32_t idx = REVERSE ? 31 - __builtin_clz(v) : __builtin_ctz(v);
  set_reg<S>(c, i.reg, idx);
  set_arith(c, parity_even(idx) ? uint32_t(PF) : 0u);
}

template <bool MEM>
void setcc(Cpu& c, const Insn& i) {
  const uint32_t v = condition(c, i.cond) ? 1 : 0;
  if constexpr (MEM) write_mem<1>(c, i.seg, effective_address(c, i), v);
  else set_reg<1>(c, i.rm, v);
}

// CMOVcc: a memory source is read whatever the condition (SDM vol.2 CMOVcc).
template <unsigned S, bool MEM>
void cmovcc(Cpu& c, const Insn& i) {
  if constexpr (MEM) {
    const uint32_t v = read_mem<S>(c, i.seg, effective_address(c, i));
    if (condition(c, i.cond)) set_reg<S>(c, i.reg, v);
  } else {
    if (condition(c, i.cond)) set_reg<S>(c, i.reg, get_reg<S>(c, i.rm));
  }
}

void bswap32(Cpu& c, const Insn& i) { c.regs[i.reg] = __builtin_bswap32(c.regs[i.reg]); }
// 16-bit BSWAP is undefined; P6-family cores clear the low word.
void bswap16(Cpu& c, const Insn& i) { set_reg<2>(c, i.reg, 0); }

template <unsigned S, unsigned OP>
Handler pick_bt3(bool imm, bool mem) {
  if (mem) return imm ? &bt_mem<S, OP, true> : &bt_mem<S, OP, false>;
  return imm ? &bt_reg<S, OP, true> : &bt_reg<S, OP, false>;
}
template <unsigned OP>
Handler pick_bt2(unsigned s, bool imm, bool mem) {
  return s == 2 ? pick_bt3<2, OP>(imm, mem) : pick_bt3<4, OP>(imm, mem);
}

template <bool REVERSE, bool MEM>
Handler pick_bs(unsigned s) {
  return s == 2 ? &bsf_bsr<2, REVERSE, MEM> : &bsf_bsr<4, REVERSE, MEM>;
}

}  // namespace

bool select_bits(const DecodeContext& ctx, Insn& i) {
  const ZydisMnemonic m = mnemonic(ctx);
  const unsigned s = i.opsize;
  const bool mem = i.is_mem;
  switch (m) {
    case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTC: {
      if (i.lock && !lock_allowed(ctx)) { i.fn = handler_ud; return true; }
      const bool imm = op_is_imm(ctx, 1);
      if (imm) i.imm &= 0xFF;
      switch (m) {
        case ZYDIS_MNEMONIC_BT: i.fn = pick_bt2<B_BT>(s, imm, mem); break;
        case ZYDIS_MNEMONIC_BTS: i.fn = pick_bt2<B_BTS>(s, imm, mem); break;
        case ZYDIS_MNEMONIC_BTR: i.fn = pick_bt2<B_BTR>(s, imm, mem); break;
        default: i.fn = pick_bt2<B_BTC>(s, imm, mem); break;
      }
      return true;
    }
    case ZYDIS_MNEMONIC_BSF: case ZYDIS_MNEMONIC_BSR:
    case ZYDIS_MNEMONIC_TZCNT: case ZYDIS_MNEMONIC_LZCNT: {
      if (i.lock) { i.fn = handler_ud; return true; }
      // Zydis decodes F3 0F BC/BD as TZCNT/LZCNT; a P6 has no BMI1/ABM and ignores the REP
      // prefix, running BSF/BSR (SDM vol.2 TZCNT: "executes as BSF" without BMI1). Linux's
      // find-first-bit helpers use this encoding ("rep; bsf").
      if (m == ZYDIS_MNEMONIC_BSF || m == ZYDIS_MNEMONIC_TZCNT) i.fn = mem ? pick_bs<false, true>(s) : pick_bs<false, false>(s);
      else i.fn = mem ? pick_bs<true, true>(s) : pick_bs<true, false>(s);
      return true;
    }
    case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB:
    case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ:
    case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_SETS:
    case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
    case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE:
    case ZYDIS_MNEMONIC_SETNLE:
      i.fn = i.lock ? handler_ud : mem ? &setcc<true> : &setcc<false>;
      return true;
    case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
    case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
    case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
    case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
    case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
    case ZYDIS_MNEMONIC_CMOVNLE:
      if (i.lock) { i.fn = handler_ud; return true; }
      if (s == 2) i.fn = mem ? &cmovcc<2, true> : &cmovcc<2, false>;
      else i.fn = mem ? &cmovcc<4, true> : &cmovcc<4, false>;
      return true;
    case ZYDIS_MNEMONIC_BSWAP:
      if (i.lock) { i.fn = handler_ud; return true; }
      i.fn = s == 2 ? bswap16 : bswap32;
      return true;
    default:
      return false;
  }
}

}  // namespace softcpu
