// Shifts and rotates: SHL/SAL SHR SAR ROL ROR RCL RCR, SHLD SHRD (SDM vol.2 SAL/SAR/SHL/SHR,
// RCL/RCR/ROL/ROR, SHLD, SHRD). SHL, SHR and SAR leave their flags in the lazy record
// (LZ_SHL, LZ_SHR, LZ_SAR; interp/flags.h); rotates, SHLD and SHRD set them eagerly. The
// selector is in interp/ops_shift.cpp.
//
// Flags the SDM leaves undefined follow Intel P6 behaviour, as Bochs models it: for every
// nonzero count OF is the OF of the LAST 1-bit step, read from the result and the new CF:
// left shifts and rotates (SHL/SAL, SHLD, ROL, RCL) OF = MSB(result) ^ CF; right shifts and
// rotates (SHR, SHRD, ROR, RCR) OF = the XOR of the result's two top bits (so SHR by >= 2
// gives 0); SAR OF = 0. AF = 0 after SHL/SHR/SAR/SHLD/SHRD. CF is the last bit shifted out of
// the operand extended with zeros (SHL/SHR) or sign bits (SAR) when the count is >= the
// operand width (SHL r8 by 9..31: CF = OF = 0). ROL/ROR r8/r16 by a nonzero multiple of the
// width rotate nothing but still set CF and OF from the operand. 16-bit SHLD/SHRD with a
// count of 17..31 shift the 48-bit value dest:src:dest (the P6 way, as Bochs documents).
// A count of 0 (after masking to 5 bits) changes nothing, flags included; RCL/RCR whose
// count reduces to 0 mod 9/17 also change nothing.
#pragma once
#include "interp/sem/common.h"

namespace softcpu {

// ModRM.reg order of the C0/C1/D0-D3 group (/6, SAL, decodes as SHL and runs as S_SHL).
enum ShiftOp : unsigned { S_ROL, S_ROR, S_RCL, S_RCR, S_SHL, S_SHR, S_SAL, S_SAR };

// Where the count comes from: an immediate (C0/C1, D0/D1 with imm = 1, 0F A4/AC) or CL.
enum ShiftCountSrc : unsigned { SHIFT_COUNT_IMM, SHIFT_COUNT_CL };

// Write all six arithmetic flags at once (nothing of the lazy record survives).
inline void shift_set_arith(Cpu& c, uint32_t f) {
  c.eflags = (c.eflags & ~ARITH_FLAGS) | f;
  c.lz_kind = LZ_NONE;
}

// Result and new flags of a shift; flags are committed after the (possibly faulting) write.
struct ShiftOut {
  uint32_t r;
  uint32_t f;  // flag values; the mask is CF|OF for rotates, ARITH_FLAGS otherwise
};

// OF of the last 1-bit step of a W-bit shift or rotate (Intel P6 behaviour, as Bochs models it):
// a left step sets OF = MSB(result) ^ CF, a right step the XOR of the result's two top bits.
template <unsigned W>
inline uint32_t shift_of_left(uint32_t r, uint32_t cf) { return ((r >> (W - 1)) & 1) ^ cf; }
template <unsigned W>
inline uint32_t shift_of_right(uint32_t r) { return ((r >> (W - 1)) ^ (r >> (W - 2))) & 1; }

// Rotate `d` by a masked, nonzero count `n`. RCL/RCR with a count of 0 mod 9/17 return the
// old flags so that committing them changes nothing.
template <unsigned S, unsigned OP>
inline ShiftOut shift_core(const Cpu& c, uint32_t d, unsigned n) {
  constexpr unsigned W = S * 8;
  constexpr uint32_t M = size_mask(S);
  if constexpr (OP == S_ROL || OP == S_ROR) {
    const unsigned k = n & (W - 1);
    uint32_t r = d;
    if (k) r = OP == S_ROL ? ((d << k) | (d >> (W - k))) & M : ((d >> k) | (d << (W - k))) & M;
    if constexpr (OP == S_ROL) {
      const uint32_t cf = r & 1;
      return {r, cf | (shift_of_left<W>(r, cf) << 11)};
    } else {
      return {r, ((r >> (W - 1)) & 1) | (shift_of_right<W>(r) << 11)};
    }
  } else {
    static_assert(OP == S_RCL || OP == S_RCR, "SHL, SHR, SAR: shift_result");
    const unsigned k = W == 32 ? n : n % (W + 1);
    const uint32_t cin = lazy_cf(c) ? 1 : 0;
    if (k == 0) return {d, cin | (lazy_of(c) ? OF : 0u)};
    const uint64_t MM = (uint64_t(2) << (W)) - 1;  // W+1 bits: CF:dest
    uint64_t v = (uint64_t(cin) << W) | d;
    v = OP == S_RCL ? ((v << k) | (v >> (W + 1 - k))) & MM : ((v >> k) | (v << (W + 1 - k))) & MM;
    const uint32_t cf = uint32_t(v >> W) & 1, r = uint32_t(v) & M;
    const uint32_t of = OP == S_RCL ? shift_of_left<W>(r, cf) : shift_of_right<W>(r);
    return {r, cf | (of << 11)};
  }
}

// SHL/SAL, SHR, SAR of the operand d (zero-extended) by n = 1..31; their flags stay lazy
// (LZ_SHL, LZ_SHR, LZ_SAR: interp/flags.h computes CF and OF from d, n and the result).
template <unsigned S, unsigned OP>
inline uint32_t shift_result(uint32_t d, unsigned n) {
  constexpr unsigned W = S * 8;
  if constexpr (OP == S_SHL || OP == S_SAL) return d << n;  // masked by whoever stores it
  else if constexpr (OP == S_SHR) return d >> n;
  else return uint32_t(int32_t(d << (32 - W)) >> (32 - W) >> n);  // SAR: sign-extended first
}
constexpr LazyKind shift_kind(unsigned op) {
  return op == S_SHR ? LZ_SHR : op == S_SAR ? LZ_SAR : LZ_SHL;
}

template <unsigned CNT>
inline unsigned shift_count(const Cpu& c, const Insn& i) {
  if constexpr (CNT == SHIFT_COUNT_CL) return c.regs[ECX] & 31;
  else return i.imm & 31;
}

// The result of shifting or rotating d by a nonzero count n, and the flags it sets (a
// rotate's CF and OF are computed again from d; SHL, SHR and SAR go to the lazy record).
template <unsigned S, unsigned OP>
inline uint32_t shift_value(const Cpu& c, uint32_t d, unsigned n) {
  if constexpr (OP <= S_RCR) return shift_core<S, OP>(c, d, n).r;
  else return shift_result<S, OP>(d, n);
}
template <unsigned S, unsigned OP>
inline void shift_flags(Cpu& c, uint32_t d, unsigned n, uint32_t r) {
  if constexpr (OP <= S_RCR) set_flags(c, CF | OF, shift_core<S, OP>(c, d, n).f);  // CF, OF only
  else set_lazy(c, shift_kind(OP), S, d, n, r);
}

// A shift or rotate of a memory operand (modify_rm). With a count of 0 the operand is read
// (its faults happen) and not written.
template <unsigned S, unsigned OP, unsigned CNT>
struct ShiftModify {
  static bool skip(const Cpu& c, const Insn& i) { return shift_count<CNT>(c, i) == 0; }
  static uint32_t result(Cpu& c, const Insn& i, uint32_t d) {
    return shift_value<S, OP>(c, d, shift_count<CNT>(c, i));
  }
  static void commit(Cpu& c, const Insn& i, uint32_t d, uint32_t r) {
    shift_flags<S, OP>(c, d, shift_count<CNT>(c, i), r);
  }
};

// Shift or rotate the r/m operand (form M). A count of 0 changes nothing, flags included.
template <unsigned S, unsigned OP, unsigned CNT, unsigned M>
void shift_op(Cpu& c, const Insn& i) {
  if constexpr (M != RM_REG) {
    modify_rm<S, M, ShiftModify<S, OP, CNT>>(c, i);
  } else {  // the count is taken once: the destination may be CL itself
    const unsigned n = shift_count<CNT>(c, i);
    if (n == 0) return;
    const uint32_t d = get_reg<S>(c, i.rm), r = shift_value<S, OP>(c, d, n);
    set_reg<S>(c, i.rm, r);
    shift_flags<S, OP>(c, d, n, r);
  }
}

// SHLD/SHRD: dest = r/m, src = i.reg. S is 2 or 4.
template <unsigned S, bool RIGHT>
inline ShiftOut dshift_core(uint32_t d, uint32_t s, unsigned n) {
  constexpr unsigned W = S * 8;
  constexpr uint32_t M = size_mask(S);
  uint32_t r, cf, of;
  if constexpr (!RIGHT) {
    // 32-bit: dest:src; 16-bit: dest:src:dest (counts above 16 continue into dest).
    const uint64_t v = S == 4 ? (uint64_t(d) << 32) | s
                              : (uint64_t(d) << 32) | (uint64_t(s) << 16) | d;
    constexpr unsigned TOP = S == 4 ? 64 : 48;
    r = uint32_t(v >> (TOP - W - n)) & M;
    cf = uint32_t(v >> (TOP - n)) & 1;
    of = shift_of_left<W>(r, cf);
  } else {
    // 32-bit: src:dest; 16-bit: dest:src:dest.
    const uint64_t v = S == 4 ? (uint64_t(s) << 32) | d
                              : (uint64_t(d) << 32) | (uint64_t(s) << 16) | d;
    r = uint32_t(v >> n) & M;
    cf = uint32_t(v >> (n - 1)) & 1;
    of = shift_of_right<W>(r);
  }
  return {r, szp_flags(r, S) | cf | (of << 11)};
}

template <unsigned S, bool RIGHT, unsigned CNT, bool MEM>
void dshift_op(Cpu& c, const Insn& i) {
  const unsigned n = shift_count<CNT>(c, i);
  const uint32_t s = get_reg<S>(c, i.reg);
  if constexpr (MEM) {
    const uint32_t ea = effective_address(c, i);
    const uint32_t d = read_mem<S>(c, i.seg, ea);
    if (n == 0) return;
    const ShiftOut o = dshift_core<S, RIGHT>(d, s, n);
    write_mem<S>(c, i.seg, ea, o.r);
    shift_set_arith(c, o.f);
  } else {
    if (n == 0) return;
    const ShiftOut o = dshift_core<S, RIGHT>(get_reg<S>(c, i.rm), s, n);
    set_reg<S>(c, i.rm, o.r);
    shift_set_arith(c, o.f);
  }
}

// ---- handler tables ---------------------------------------------------------------------

// S_SAL has no handlers of its own: SAL is SHL.
using ShiftOps = Dim<S_ROL, S_ROR, S_RCL, S_RCR, S_SHL, S_SHR, S_SAR>;
using ShiftCountSrcs = Dim<SHIFT_COUNT_IMM, SHIFT_COUNT_CL>;

// Size, operation, count source, form of the destination (RmForm).
inline constexpr auto kShiftRotate = make_handlers<Sizes, ShiftOps, ShiftCountSrcs, RmForms>(
    []<unsigned S, ShiftOp OP, ShiftCountSrc CNT, unsigned M>() {
      return &shift_op<S, OP, CNT, M>;
    });
// SHLD/SHRD: size, right (SHRD), count source, memory destination.
inline constexpr auto kShiftDouble = make_handlers<Sizes16_32, Bools, ShiftCountSrcs, Bools>(
    []<unsigned S, bool RIGHT, ShiftCountSrc CNT, bool M>() {
      return &dshift_op<S, RIGHT, CNT, M>;
    });

}  // namespace softcpu
