// Software fast paths for the x87 instructions that only move a double: FLD m64fp (DD /0) and
// FST/FSTP m64fp (DD /2, DD /3), in the cases whose outcome is certain without the hardware.
// Everything else (a stack fault, a NaN, infinity or denormal operand, a result that overflows
// or underflows, a rounding mode other than to nearest, an unmasked precision exception)
// returns false and the caller runs the backend (interp/fpu_host.h), which is bit-exact in every
// case. Compiled code inlines these (the backend is a call of ~250 cycles: FRSTOR and FNSAVE
// are microcoded), and the interpreter saves the same call. tests/interp/fpu_test.cpp
// (Fpu.FastPathsMatchTheHostFpu) compares both ways over random states and operands.
#pragma once
#include <cstdint>
#include <cstring>

#include "interp/cpu.h"
#include "interp/fpu_host.h"

namespace softcpu {

namespace fpu_fast_detail {
inline void set_top(FpuState& f, unsigned t) {
  f.sw = uint16_t((f.sw & ~FSW_TOP) | (t << 11));
}
}  // namespace fpu_fast_detail

// FLD m64fp (SDM vol.2 FLD): push the double, converted exactly. Handled when the register
// that becomes ST(0) is empty (no stack overflow) and the double is normal or zero (no #IA
// for an SNaN, no #D for a denormal). C1 is cleared; C0, C2, C3 are undefined and the P6 (and
// this host) leaves them as they were.
inline bool fpu_fast_fld64(FpuState& f, uint16_t code, const uint8_t* mem) {
  using namespace fpu_fast_detail;
  if ((code & 0xFF38) != 0xDD00 || (code & 0xC0) == 0xC0) return false;
  const unsigned phys = (fpu_top(f.sw) - 1) & 7;
  if (fpu_tag_at(f.tw, phys) != 3) return false;
  uint64_t d;
  std::memcpy(&d, mem, 8);
  const unsigned e = unsigned(d >> 52) & 0x7FF;
  const uint64_t frac = d & ((uint64_t(1) << 52) - 1);
  const uint16_t sign = uint16_t((d >> 63) << 15);
  Float80& r = f.st[phys];
  if (e == 0 && frac == 0) {
    r.mant = 0;
    r.se = sign;
    fpu_set_tag(f, phys, 1);
  } else if (e != 0 && e != 0x7FF) {
    r.mant = (uint64_t(1) << 63) | (frac << 11);
    r.se = uint16_t(sign | (e - 1023 + 16383));
    fpu_set_tag(f, phys, 0);
  } else {
    return false;
  }
  r.pad[0] = r.pad[1] = r.pad[2] = 0;
  set_top(f, phys);
  f.sw &= uint16_t(~FSW_C1);
  return true;
}

// FST/FSTP m64fp (SDM vol.2 FST/FSTP, vol.1 4.8.4 rounding): ST(0) rounded to double. Handled
// when ST(0) is not empty and is zero or a normal number whose rounded result is a normal
// double, the rounding control is to nearest, and the precision exception is masked when the
// result is inexact (then PE is set and C1 says whether it was rounded up; else C1 is
// cleared). FSTP then pops. The bytes go to `mem`.
inline bool fpu_fast_fst64(FpuState& f, uint16_t code, uint8_t* mem) {
  using namespace fpu_fast_detail;
  if ((code & 0xFF30) != 0xDD10 || (code & 0xC0) == 0xC0) return false;  // DD /2, DD /3
  if (f.cw & 0x0C00) return false;                                       // RC not nearest
  const unsigned t = fpu_top(f.sw);
  if (fpu_tag_at(f.tw, t) == 3) return false;  // stack underflow
  const Float80& r = f.st[t];
  const unsigned exp = r.se & 0x7FFF;
  const uint64_t sign = uint64_t(r.se >> 15) << 63;
  uint64_t bits;
  bool inexact = false, up = false;
  if (exp == 0 && r.mant == 0) {
    bits = sign;
  } else {
    if (!(r.mant >> 63)) return false;  // denormal, pseudo-denormal, unnormal
    int de = int(exp) - 16383 + 1023;
    if (de < 1 || de > 0x7FE) return false;  // NaN, infinity, overflow, underflow
    uint64_t keep = r.mant >> 11;             // 53 bits with the integer bit
    const unsigned rem = unsigned(r.mant & 0x7FF);
    inexact = rem != 0;
    up = rem > 0x400 || (rem == 0x400 && (keep & 1));
    if (up && ++keep == (uint64_t(1) << 53)) {
      keep >>= 1;
      if (++de > 0x7FE) return false;  // rounded up to overflow
    }
    if (inexact && !(f.cw & FSW_PE)) return false;  // unmasked #P (CW.PM is SW.PE's bit): the backend
    bits = sign | (uint64_t(de) << 52) | (keep & ((uint64_t(1) << 52) - 1));
  }
  std::memcpy(mem, &bits, 8);
  f.sw = uint16_t((f.sw & ~FSW_C1) | (up ? FSW_C1 : 0) | (inexact ? FSW_PE : 0));
  if (code & 0x08) {  // FSTP
    fpu_set_tag(f, t, 3);
    set_top(f, (t + 1) & 7);
  }
  return true;
}

}  // namespace softcpu
