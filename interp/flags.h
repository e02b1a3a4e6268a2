// Lazy arithmetic flags (SDM vol.1 3.4.3, appendix A for which instructions define what).
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

inline constexpr uint32_t size_mask(unsigned size) {
  return size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
}
inline constexpr uint32_t sign_bit(unsigned size) { return 1u << (size * 8 - 1); }

inline bool parity_even(uint32_t v) { return !__builtin_parity(v & 0xFF); }

// Record a flag-producing operation. Values are stored masked to `size`.
inline void set_lazy(Cpu& c, LazyKind k, unsigned size, uint32_t src1, uint32_t src2,
                     uint32_t res) {
  c.lz_kind = k;
  c.lz_size = static_cast<uint8_t>(size);
  c.lz_src1 = src1;
#if !SOFTCPU_JIT_BITCODE
  // GCC's SLP vectorizer packs the two stores below into movd, movd, punpckldq, movq (two
  // instructions more than two stores); an empty asm that may read and write lz_src1 keeps
  // them apart, at no cost. Not in the tier-1 bitcode: there LLVM drops dead record stores,
  // which an asm would keep.
  asm("" : "+m"(c.lz_src1));
#endif
  c.lz_src2 = src2;
  c.lz_res = res & size_mask(size);
}

// The lazy record holds a 32-bit subtraction (CMP, SUB, NEG): the commonest producer before
// a Jcc, SETcc, CMOVcc, ADC/SBB or INC/DEC (which keep CF). The kind and size bytes are
// adjacent, so the compiler tests both with one 16-bit compare.
inline bool lazy_is_sub32(const Cpu& c) { return c.lz_kind == LZ_SUB && c.lz_size == 4; }

// CF after SHL/SAL, SHR, SAR of the operand d (W bits, zero-extended) by n = 1..31: the last
// bit shifted out of d extended with zeros (SHL, SHR) or sign bits (SAR), so a left shift by
// more than W gives 0 and by W bit 0 (SDM vol.2 SAL/SAR/SHL/SHR; design.md "Undefined flags").
inline bool shl_cf(uint32_t d, unsigned n, unsigned w) { return (uint64_t(d) << n >> w) & 1; }
inline bool shr_cf(uint32_t d, unsigned n) { return (d >> (n - 1)) & 1; }
inline bool sar_cf(uint32_t d, unsigned n, unsigned w) {
  const int32_t sd = int32_t(d << (32 - w)) >> (32 - w);  // sign-extended to 32 bits
  return (uint32_t(sd) >> (n - 1)) & 1;
}

inline bool lazy_cf(const Cpu& c) {
  if (lazy_is_sub32(c)) return c.lz_src1 < c.lz_src2;  // CMP/SUB r32: no size mask, no switch
  const uint32_t m = size_mask(c.lz_size);
  switch (c.lz_kind) {
    case LZ_NONE: return c.eflags & CF;
    case LZ_ADD: return c.lz_res < (c.lz_src1 & m);
    case LZ_ADC:
      return c.lz_cf_in ? c.lz_res <= (c.lz_src1 & m) : c.lz_res < (c.lz_src1 & m);
    case LZ_SUB: return (c.lz_src1 & m) < (c.lz_src2 & m);
    case LZ_SBB:
      return uint64_t(c.lz_src1 & m) < uint64_t(c.lz_src2 & m) + c.lz_cf_in;
    case LZ_LOGIC: return false;
    case LZ_SHL: return shl_cf(c.lz_src1, c.lz_src2, c.lz_size * 8);
    case LZ_SHR: return shr_cf(c.lz_src1, c.lz_src2);
    case LZ_SAR: return sar_cf(c.lz_src1, c.lz_src2, c.lz_size * 8);
    default: return c.lz_cf_in;  // INC, DEC keep CF
  }
}

inline bool lazy_of(const Cpu& c) {
  const uint32_t s = sign_bit(c.lz_size);
  switch (c.lz_kind) {
    case LZ_NONE: return c.eflags & OF;
    case LZ_ADD:
    case LZ_ADC:
    case LZ_INC: return ((c.lz_src1 ^ c.lz_res) & (c.lz_src2 ^ c.lz_res) & s) != 0;
    case LZ_SUB:
    case LZ_SBB:
    case LZ_DEC: return ((c.lz_src1 ^ c.lz_src2) & (c.lz_src1 ^ c.lz_res) & s) != 0;
    // The OF of the last 1-bit step (Intel P6, as Bochs models it; defined by the SDM for a
    // count of 1 only): SHL MSB(res) ^ CF, SHR the XOR of the result's two top bits, SAR 0.
    case LZ_SHL: return ((c.lz_res & s) != 0) != shl_cf(c.lz_src1, c.lz_src2, c.lz_size * 8);
    case LZ_SHR: return ((c.lz_res ^ (c.lz_res << 1)) & s) != 0;
    default: return false;  // LOGIC, SAR
  }
}

inline bool lazy_zf(const Cpu& c) { return c.lz_kind == LZ_NONE ? (c.eflags & ZF) : c.lz_res == 0; }
inline bool lazy_sf(const Cpu& c) {
  return c.lz_kind == LZ_NONE ? (c.eflags & SF) : (c.lz_res & sign_bit(c.lz_size)) != 0;
}
inline bool lazy_pf(const Cpu& c) {
  return c.lz_kind == LZ_NONE ? (c.eflags & PF) : parity_even(c.lz_res);
}
inline bool lazy_af(const Cpu& c) {
  if (c.lz_kind == LZ_NONE) return c.eflags & AF;
  if (c.lz_kind == LZ_LOGIC || c.lz_kind >= LZ_SHL) return false;  // AF 0 after a shift (P6)
  return ((c.lz_src1 ^ c.lz_src2 ^ c.lz_res) & 0x10) != 0;
}

// Write the lazily held arithmetic flags into eflags and mark them up to date.
inline void materialize_flags(Cpu& c) {
  if (c.lz_kind == LZ_NONE) return;
  uint32_t f = c.eflags & ~ARITH_FLAGS;
  if (lazy_cf(c)) f |= CF;
  if (lazy_pf(c)) f |= PF;
  if (lazy_af(c)) f |= AF;
  if (lazy_zf(c)) f |= ZF;
  if (lazy_sf(c)) f |= SF;
  if (lazy_of(c)) f |= OF;
  c.eflags = f;
  c.lz_kind = LZ_NONE;
}

// The architectural EFLAGS value (bit 1 always reads 1).
inline uint32_t read_eflags(Cpu& c) {
  materialize_flags(c);
  return c.eflags | 2u;
}

// Set arithmetic flags eagerly: bits in `mask` take their value from `value`.
inline void set_flags(Cpu& c, uint32_t mask, uint32_t value) {
  materialize_flags(c);
  c.eflags = (c.eflags & ~mask) | (value & mask);
}

// Flags for a result, with SF/ZF/PF from `res` of `size` bytes (used by eager producers).
inline uint32_t szp_flags(uint32_t res, unsigned size) {
  res &= size_mask(size);
  uint32_t f = 0;
  if (res == 0) f |= ZF;
  if (res & sign_bit(size)) f |= SF;
  if (parity_even(res)) f |= PF;
  return f;
}

// Condition codes tttn (SDM vol.2 appendix B.1.4.7).
inline bool condition(const Cpu& c, unsigned cc) {
  // After a 32-bit CMP/SUB the conditions that read CF or OF compare the operands directly
  // (SDM vol.1 appendix B: below is a < b unsigned, less is a < b signed), instead of
  // computing each flag through the record's kind and size. Same values as below.
  const unsigned t = cc >> 1;
  if (t != 2 && t != 5 && lazy_is_sub32(c)) {
    const uint32_t a = c.lz_src1, b = c.lz_src2;
    bool r;
    switch (t) {
      case 0: r = ((a ^ b) & (a ^ c.lz_res)) >> 31; break;  // O
      case 1: r = a < b; break;                             // B
      case 3: r = a <= b; break;                            // BE
      case 4: r = c.lz_res >> 31; break;                    // S
      case 6: r = int32_t(a) < int32_t(b); break;           // L
      default: r = int32_t(a) <= int32_t(b); break;         // LE
    }
    return r ^ (cc & 1);
  }
  bool r;
  switch (cc >> 1) {
    case 0: r = lazy_of(c); break;
    case 1: r = lazy_cf(c); break;
    case 2: r = lazy_zf(c); break;
    case 3: r = lazy_cf(c) || lazy_zf(c); break;
    case 4: r = lazy_sf(c); break;
    case 5: r = lazy_pf(c); break;
    case 6: r = lazy_sf(c) != lazy_of(c); break;
    default: r = lazy_zf(c) || (lazy_sf(c) != lazy_of(c)); break;
  }
  return r ^ (cc & 1);
}

}  // namespace softcpu
