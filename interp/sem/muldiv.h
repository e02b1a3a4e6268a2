// MUL, IMUL (one-, two-, three-operand), DIV, IDIV (SDM vol.2). The selector is in
// interp/ops_muldiv.cpp.
// MUL/IMUL: CF = OF = the result does not fit the destination size. SF/ZF/AF/PF are
// undefined; Intel P6 behaviour, as Bochs models it: SF, ZF and PF as a logic operation on the
// low half of the product (the destination of the 2/3-operand forms: AL, AX, EAX or the
// truncated result) would set them, AF = 0. DIV/IDIV: all six flags undefined; P6 leaves
// them unchanged (Bochs does the same), as here.
#pragma once
#include "interp/sem/common.h"

namespace softcpu {

// Write all six arithmetic flags at once (nothing of the lazy record survives).
inline void mul_set_arith(Cpu& c, uint32_t f) {
  c.eflags = (c.eflags & ~ARITH_FLAGS) | f;
  c.lz_kind = LZ_NONE;
}

// SF/ZF/PF from the low half `lo` (masked to S bytes), AF = 0 (Intel P6, as Bochs models it).
template <unsigned S>
inline uint32_t mul_flags(uint32_t lo, bool overflow) {
  return (overflow ? (CF | OF) : 0u) | szp_flags(lo, S);
}

// Sign-extend an S-byte value.
template <unsigned S>
inline int32_t mul_sext(uint32_t v) {
  if constexpr (S == 1) return int8_t(v);
  else if constexpr (S == 2) return int16_t(v);
  else return int32_t(v);
}

// One-operand MUL/IMUL: AX = AL * r/m8, DX:AX = AX * r/m16, EDX:EAX = EAX * r/m32.
template <unsigned S, bool SIGNED, bool MEM>
void mul_acc(Cpu& c, const Insn& i) {
  const uint32_t b = read_rm<S, MEM>(c, i);
  const uint32_t a = get_reg<S>(c, EAX);
  uint64_t p;
  bool ovf;
  if constexpr (SIGNED) {
    const int64_t sp = int64_t(mul_sext<S>(a)) * mul_sext<S>(b);
    p = uint64_t(sp);
    ovf = sp != mul_sext<S>(uint32_t(sp));
  } else {
    p = uint64_t(a) * b;
    ovf = (p >> (S * 8)) != 0;
  }
  const uint32_t lo = uint32_t(p) & size_mask(S);
  if constexpr (S == 1) {
    set_reg<2>(c, EAX, uint32_t(p));
  } else {
    set_reg<S>(c, EAX, lo);
    set_reg<S>(c, EDX, uint32_t(p >> (S * 8)));
  }
  mul_set_arith(c, mul_flags<S>(lo, ovf));
}

// IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B): truncated signed product.
template <unsigned S, bool IMM, bool MEM>
void imul_reg(Cpu& c, const Insn& i) {
  const uint32_t b = read_rm<S, MEM>(c, i);
  const uint32_t a = IMM ? i.imm : get_reg<S>(c, i.reg);
  const int64_t sp = int64_t(mul_sext<S>(a)) * mul_sext<S>(b);
  const uint32_t lo = uint32_t(sp) & size_mask(S);
  set_reg<S>(c, i.reg, lo);
  mul_set_arith(c, mul_flags<S>(lo, sp != mul_sext<S>(lo)));
}

// DIV/IDIV: #DE on a zero divisor or a quotient that does not fit (SDM vol.2 DIV, IDIV).
template <unsigned S, bool SIGNED, bool MEM>
void div_acc(Cpu& c, const Insn& i) {
  const uint32_t b = read_rm<S, MEM>(c, i);
  if (b == 0) raise_fault(VEC_DE);
  uint64_t dividend;
  if constexpr (S == 1) dividend = get_reg<2>(c, EAX);
  else dividend = (uint64_t(get_reg<S>(c, EDX)) << (S * 8)) | get_reg<S>(c, EAX);
  uint32_t q, r;
  if constexpr (SIGNED) {
    constexpr unsigned W = S * 16;  // dividend width
    const int64_t n = int64_t(dividend << (64 - W)) >> (64 - W);
    const int64_t d = mul_sext<S>(b);
    if (d == -1 && n == INT64_MIN) raise_fault(VEC_DE);  // cannot happen for W < 64
    const int64_t sq = n / d, sr = n % d;
    const int64_t lim = int64_t(1) << (S * 8 - 1);
    if (sq >= lim || sq < -lim) raise_fault(VEC_DE);
    q = uint32_t(sq);
    r = uint32_t(sr);
  } else {
    const uint64_t uq = dividend / b;
    if (uq > size_mask(S)) raise_fault(VEC_DE);
    q = uint32_t(uq);
    r = uint32_t(dividend % b);
  }
  if constexpr (S == 1) {
    set_reg<2>(c, EAX, (q & 0xFF) | ((r & 0xFF) << 8));
  } else {
    set_reg<S>(c, EAX, q);
    set_reg<S>(c, EDX, r);
  }
}

// ---- handler tables ---------------------------------------------------------------------

// One-operand MUL/IMUL (F6/F7 /4 /5): size, signed, memory source.
inline constexpr auto kMulAcc = make_handlers<Sizes, Bools, Bools>(
    []<unsigned S, bool SIGNED, bool M>() { return &mul_acc<S, SIGNED, M>; });
// IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B): size, immediate, memory source.
inline constexpr auto kImulReg = make_handlers<Sizes16_32, Bools, Bools>(
    []<unsigned S, bool IMM, bool M>() { return &imul_reg<S, IMM, M>; });
// DIV/IDIV (F6/F7 /6 /7): size, signed, memory source.
inline constexpr auto kDivAcc = make_handlers<Sizes, Bools, Bools>(
    []<unsigned S, bool SIGNED, bool M>() { return &div_acc<S, SIGNED, M>; });

}  // namespace softcpu
