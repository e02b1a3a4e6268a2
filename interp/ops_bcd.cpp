// BCD adjustments: DAA DAS AAA AAS AAM AAD (SDM vol.2). Undefined flags follow Intel P6
// behaviour: DAA/DAS OF = 0; AAA/AAS SF/ZF/PF from the new AL, OF = 0; AAM OF = AF = CF = 0
// (as Bochs models the P6); AAD sets OF/AF/CF as the 8-bit addition AL + (AH * imm8) does
// (R. Collins' measurements of Intel processors; Bochs clears them instead).
#include "interp/ops_common.h"

namespace softcpu {

namespace {

inline void set_arith(Cpu& c, uint32_t f) {
  c.eflags = (c.eflags & ~ARITH_FLAGS) | f;
  c.lz_kind = LZ_NONE;
}

void daa(Cpu& c, const Insn&) {
  const uint32_t old_al = c.regs[EAX] & 0xFF;
  const bool old_cf = lazy_cf(c), af_in = lazy_af(c);
  uint32_t al = old_al, f = 0;
  if ((al & 0xF) > 9 || af_in) { al += 6; f |= AF; }
  if (old_al > 0x99 || old_cf) { al += 0x60; f |= CF; }
  al &= 0xFF;
  set_reg<1>(c, EAX, al);
  set_arith(c, f | szp_flags(al, 1));
}

void das(Cpu& c, const Insn&) {
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
  set_arith(c, f | szp_flags(al, 1));
}

// AAA: AX += 106h (the carry from AL reaches AH, as on P6 and later), AL &= 0Fh.
void aaa(Cpu& c, const Insn&) {
  uint32_t ax = c.regs[EAX] & 0xFFFF, f = 0;
  if ((ax & 0xF) > 9 || lazy_af(c)) { ax += 0x106; f = AF | CF; }
  ax &= 0xFF0F;
  set_reg<2>(c, EAX, ax);
  set_arith(c, f | szp_flags(ax & 0xFF, 1));
}

void aas(Cpu& c, const Insn&) {
  uint32_t ax = c.regs[EAX] & 0xFFFF, f = 0;
  if ((ax & 0xF) > 9 || lazy_af(c)) { ax = ax - 6 - 0x100; f = AF | CF; }
  ax &= 0xFF0F;
  set_reg<2>(c, EAX, ax);
  set_arith(c, f | szp_flags(ax & 0xFF, 1));
}

void aam(Cpu& c, const Insn& i) {
  const uint32_t base = i.imm & 0xFF;
  if (base == 0) raise_fault(VEC_DE);
  const uint32_t al = c.regs[EAX] & 0xFF;
  const uint32_t q = al / base, r = al % base;
  set_reg<2>(c, EAX, (q << 8) | r);
  set_arith(c, szp_flags(r, 1));
}

void aad(Cpu& c, const Insn& i) {
  const uint32_t al = c.regs[EAX] & 0xFF, ah = (c.regs[EAX] >> 8) & 0xFF;
  const uint32_t t = (ah * (i.imm & 0xFF)) & 0xFF;
  const uint32_t r = (al + t) & 0xFF;
  set_reg<2>(c, EAX, r);
  set_lazy(c, LZ_ADD, 1, al, t, r);
}

}  // namespace

bool select_bcd(const DecodeContext& ctx, Insn& i) {
  Handler h;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_DAA: h = daa; break;
    case ZYDIS_MNEMONIC_DAS: h = das; break;
    case ZYDIS_MNEMONIC_AAA: h = aaa; break;
    case ZYDIS_MNEMONIC_AAS: h = aas; break;
    case ZYDIS_MNEMONIC_AAM: h = aam; break;
    case ZYDIS_MNEMONIC_AAD: h = aad; break;
    default: return false;
  }
  i.fn = i.lock ? handler_ud : h;
  return true;
}

}  // namespace softcpu
