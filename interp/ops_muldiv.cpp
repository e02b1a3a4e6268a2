// MUL, IMUL (one-, two-, three-operand), DIV, IDIV (SDM vol.2).
// MUL/IMUL: CF = OF = the result does not fit the destination size. SF/ZF/AF/PF are
// undefined; Intel P6 behaviour, as Bochs models it: SF, ZF and PF as a logic operation on the
// low half of the product (the destination of the 2/3-operand forms: AL, AX, EAX or the
// truncated result) would set them, AF = 0. DIV/IDIV: all six flags undefined; P6 leaves
// them unchanged (Bochs does the same), as here.
#include "interp/ops_common.h"

namespace softcpu {

namespace {

inline void set_arith(Cpu& c, uint32_t f) {
  c.eflags = (c.eflags & ~ARITH_FLAGS) | f;
  c.lz_kind = LZ_NONE;
}

// SF/ZF/PF from the low half `lo` (masked to S bytes), AF = 0 (Intel P6, as Bochs models it).
template <unsigned S>
inline uint32_t mul_flags(uint32_t lo, bool overflow) {
  return (overflow ? (CF | OF) : 0u) | szp_flags(lo, S);
}

template <unsigned S>
inline int32_t sext(uint32_t v) {
  if constexpr (S == 1) return int8_t(v);
  else if constexpr (S == 2) return int16_t(v);
  else return int32_t(v);
}

template <unsigned S, bool MEM>
inline uint32_t src_rm(Cpu& c, const Insn& i) {
  if constexpr (MEM) return read_mem<S>(c, i.seg, effective_address(c, i));
  else return get_reg<S>(c, i.rm);
}

// One-operand MUL/IMUL: AX = AL * r/m8, DX:AX = AX * r/m16, EDX:EAX = EAX * r/m32.
template <unsigned S, bool SIGNED, bool MEM>
void mul1(Cpu& c, const Insn& i) {
  const uint32_t b = src_rm<S, MEM>(c, i);
  const uint32_t a = get_reg<S>(c, EAX);
  uint64_t p;
  bool ovf;
  if constexpr (SIGNED) {
    const int64_t sp = int64_t(sext<S>(a)) * sext<S>(b);
    p = uint64_t(sp);
    ovf = sp != sext<S>(uint32_t(sp));
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
  set_arith(c, mul_flags<S>(lo, ovf));
}

// IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69, 6B): truncated signed product.
template <unsigned S, bool IMM, bool MEM>
void imul_r(Cpu& c, const Insn& i) {
  const uint32_t b = src_rm<S, MEM>(c, i);
  const uint32_t a = IMM ? i.imm : get_reg<S>(c, i.reg);
  const int64_t sp = int64_t(sext<S>(a)) * sext<S>(b);
  const uint32_t lo = uint32_t(sp) & size_mask(S);
  set_reg<S>(c, i.reg, lo);
  set_arith(c, mul_flags<S>(lo, sp != sext<S>(lo)));
}

// DIV/IDIV: #DE on a zero divisor or a quotient that does not fit (SDM vol.2 DIV, IDIV).
template <unsigned S, bool SIGNED, bool MEM>
void div_op(Cpu& c, const Insn& i) {
  const uint32_t b = src_rm<S, MEM>(c, i);
  if (b == 0) raise_fault(VEC_DE);
  uint64_t dividend;
  if constexpr (S == 1) dividend = get_reg<2>(c, EAX);
  else dividend = (uint64_t(get_reg<S>(c, EDX)) << (S * 8)) | get_reg<S>(c, EAX);
  uint32_t q, r;
  if constexpr (SIGNED) {
    constexpr unsigned W = S * 16;  // dividend width
    const int64_t n = int64_t(dividend << (64 - W)) >> (64 - W);
    const int64_t d = sext<S>(b);
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

template <bool SIGNED, bool MEM>
Handler pick_mul1(unsigned s) {
  return s == 1 ? &mul1<1, SIGNED, MEM> : s == 2 ? &mul1<2, SIGNED, MEM> : &mul1<4, SIGNED, MEM>;
}
template <bool SIGNED, bool MEM>
Handler pick_div(unsigned s) {
  return s == 1 ? &div_op<1, SIGNED, MEM> : s == 2 ? &div_op<2, SIGNED, MEM> : &div_op<4, SIGNED, MEM>;
}
template <bool IMM, bool MEM>
Handler pick_imul_r(unsigned s) {
  return s == 2 ? &imul_r<2, IMM, MEM> : &imul_r<4, IMM, MEM>;
}

}  // namespace

bool select_muldiv(const DecodeContext& ctx, Insn& i) {
  const ZydisMnemonic m = mnemonic(ctx);
  if (m != ZYDIS_MNEMONIC_MUL && m != ZYDIS_MNEMONIC_IMUL && m != ZYDIS_MNEMONIC_DIV &&
      m != ZYDIS_MNEMONIC_IDIV)
    return false;
  if (i.lock) { i.fn = handler_ud; return true; }
  const unsigned s = i.opsize;
  const bool mem = i.is_mem;
  if (m == ZYDIS_MNEMONIC_IMUL && ctx.zi.operand_count_visible >= 2) {
    if (op_is_imm(ctx, 2)) {
      i.imm &= size_mask(s);  // 6B: imm8 already sign-extended by the decoder
      i.fn = mem ? pick_imul_r<true, true>(s) : pick_imul_r<true, false>(s);
    } else {
      i.fn = mem ? pick_imul_r<false, true>(s) : pick_imul_r<false, false>(s);
    }
    return true;
  }
  switch (m) {
    case ZYDIS_MNEMONIC_MUL: i.fn = mem ? pick_mul1<false, true>(s) : pick_mul1<false, false>(s); break;
    case ZYDIS_MNEMONIC_IMUL: i.fn = mem ? pick_mul1<true, true>(s) : pick_mul1<true, false>(s); break;
    case ZYDIS_MNEMONIC_DIV: i.fn = mem ? pick_div<false, true>(s) : pick_div<false, false>(s); break;
    default: i.fn = mem ? pick_div<true, true>(s) : pick_div<true, false>(s); break;
  }
  return true;
}

}  // namespace softcpu
