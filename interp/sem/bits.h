// Bit operation semantics: BT BTS BTR BTC, BSF BSR, SETcc, CMOVcc, BSWAP (SDM vol.2). The
// selector is in interp/ops_bits.cpp.
// Undefined flags follow Intel P6 behaviour, as Bochs models it: BT* change only CF (OF SF AF
// PF keep their values); BSF/BSR with a nonzero source set CF = OF = SF = AF = ZF = 0 and PF =
// parity of the found index (a logic operation on the index); with a zero source they set
// ZF and change nothing else, neither the other flags nor the destination.
#pragma once
#include "interp/sem/common.h"

namespace softcpu {

// Arithmetic flags set eagerly to `f` (the lazy record is dropped).
inline void bits_set_arith(Cpu& c, uint32_t f) {
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
  bits_set_arith(c, parity_even(idx) ? uint32_t(PF) : 0u);
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

inline void bswap32(Cpu& c, const Insn& i) { c.regs[i.reg] = __builtin_bswap32(c.regs[i.reg]); }
// 16-bit BSWAP is undefined; P6-family cores clear the low word.
inline void bswap16(Cpu& c, const Insn& i) { set_reg<2>(c, i.reg, 0); }

// ---- handler tables ---------------------------------------------------------------------

using BitOps = Dim<B_BT, B_BTS, B_BTR, B_BTC>;

// BT BTS BTR BTC: operand size, operation, immediate offset (else a register offset).
inline constexpr auto kBtReg = make_handlers<Sizes16_32, BitOps, Bools>(
    []<unsigned S, BitOp OP, bool IMM>() { return &bt_reg<S, OP, IMM>; });
inline constexpr auto kBtMem = make_handlers<Sizes16_32, BitOps, Bools>(
    []<unsigned S, BitOp OP, bool IMM>() { return &bt_mem<S, OP, IMM>; });
// BSF (REVERSE = false) and BSR: operand size, reverse, memory source.
inline constexpr auto kBitScan = make_handlers<Sizes16_32, Bools, Bools>(
    []<unsigned S, bool REVERSE, bool M>() { return &bsf_bsr<S, REVERSE, M>; });
inline constexpr auto kSetcc = make_handlers<Bools>([]<bool M>() { return &setcc<M>; });
inline constexpr auto kCmovcc =
    make_handlers<Sizes16_32, Bools>([]<unsigned S, bool M>() { return &cmovcc<S, M>; });
inline constexpr auto kBswap32 = kSingle<&bswap32>;
inline constexpr auto kBswap16 = kSingle<&bswap16>;

}  // namespace softcpu
