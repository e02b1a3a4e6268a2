// BCD adjustment semantics: DAA DAS AAA AAS AAM AAD (SDM vol.2). The selector is in
// interp/ops_bcd.cpp. Undefined flags follow Intel P6 behaviour: DAA/DAS OF = 0; AAA/AAS
// SF/ZF/PF from the new AL, OF = 0; AAM OF = AF = CF = 0 (as Bochs models the P6); AAD sets
// OF/AF/CF as the 8-bit addition AL + (AH * imm8) does (R. Collins' measurements of Intel
// processors; Bochs clears them instead).
#pragma once
#include "interp/sem/common.h"

namespace softcpu {

// Arithmetic flags set eagerly to `f` (the lazy record is dropped).
inline void bcd_set_arith(Cpu& c, uint32_t f) {
  c.eflags = (c.eflags & ~ARITH_FLAGS) | f;
  c.lz_kind = LZ_NONE;
}

inline void daa(Cpu& c, const Insn&) {
  const uint32_t old_al = c.regs[EAX] & 0xFF;
  const bool old_cf = lazy_cf(c), af_in = lazy_af(c);
  uint32_t al = old_al, f = 0;
  if ((al & 0xF) > 9 || af_in) { al += 6; f |= AF; }
  if (old_al > 0x99 || old_cf) { al += 0x60; f |= CF; }
  al &= 0xFF;
  set_reg<1>(c, EAX, al);
  bcd_set_arith(c, f | szp_flags(al, 1));
}

inline void das(Cpu& c, const Insn&) {
  const uint32_t old_al = c.regs[EAX] & 0xFF;
  const bool old_cf = lazy_cf(c), af_in = lazy_af(c);
  uint32_t al = old_al, f = 0;
  if ((al & 0xF) > 9 || af_in) {
    if (al < 6) f |= CF;  // borrow from AL - 6
    al -= 6;
    f |= AF;
  }
  if (old_al > 0x99 || old_cf) { al -= 0x60; f |= CF; }
  al &= 0xFF;
  set_reg<1>(c, EAX, al);
  bcd_set_arith(c, f | szp_flags(al, 1));
}

// AAA: AX += 106h (the carry from AL reaches AH, as on P6 and later), AL &= 0Fh.
inline void aaa(Cpu& c, const Insn&) {
  uint32_t ax = c.regs[EAX] & 0xFFFF, f = 0;
  if ((ax & 0xF) > 9 || lazy_af(c)) { ax += 0x106; f = AF | CF; }
  ax &= 0xFF0F;
  set_reg<2>(c, EAX, ax);
  bcd_set_arith(c, f | szp_flags(ax & 0xFF, 1));
}

inline void aas(Cpu& c, const Insn&) {
  uint32_t ax = c.regs[EAX] & 0xFFFF, f = 0;
  if ((ax & 0xF) > 9 || lazy_af(c)) { ax = ax - 6 - 0x100; f = AF | CF; }
  ax &= 0xFF0F;
  set_reg<2>(c, EAX, ax);
  bcd_set_arith(c, f | szp_flags(ax & 0xFF, 1));
}

inline void aam(Cpu& c, const Insn& i) {
  const uint32_t base = i.imm & 0xFF;
  if (base == 0) raise_fault(VEC_DE);
  const uint32_t al = c.regs[EAX] & 0xFF;
  const uint32_t q = al / base, r = al % base;
  set_reg<2>(c, EAX, (q << 8) | r);
  bcd_set_arith(c, szp_flags(r, 1));
}

inline void aad(Cpu& c, const Insn& i) {
  const uint32_t al = c.regs[EAX] & 0xFF, ah = (c.regs[EAX] >> 8) & 0xFF;
  const uint32_t t = (ah * (i.imm & 0xFF)) & 0xFF;
  const uint32_t r = (al + t) & 0xFF;
  set_reg<2>(c, EAX, r);
  set_lazy(c, LZ_ADD, 1, al, t, r);
}

// ---- handler tables ---------------------------------------------------------------------

inline constexpr auto kDaa = kSingle<&daa>;
inline constexpr auto kDas = kSingle<&das>;
inline constexpr auto kAaa = kSingle<&aaa>;
inline constexpr auto kAas = kSingle<&aas>;
inline constexpr auto kAam = kSingle<&aam>;
inline constexpr auto kAad = kSingle<&aad>;

}  // namespace softcpu
