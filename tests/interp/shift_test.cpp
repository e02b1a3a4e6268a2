// Shifts and rotates: results and flags. Defined flags per the SDM; for undefined ones the
// expected values are Intel P6 behaviour, as Bochs models it (see interp/ops_shift.cpp): OF of
// the last 1-bit step for every count, AF = 0 after shifts.
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::flags_in;
using test::arith;
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;

// Run `code` with EAX = a, ECX = c and the given input flags; return EAX.
struct Shot {
  uint32_t eax, flags;
};
Shot shot(std::initializer_list<uint8_t> code, uint32_t a, uint32_t c = 0, uint32_t fin = 0,
          uint32_t b = 0) {
  CpuHarness h;
  h.code(code);
  h.cpu.regs[EAX] = a;
  h.cpu.regs[ECX] = c;
  h.cpu.regs[EBX] = b;
  flags_in(h, fin);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  return {h.cpu.regs[EAX], arith(h)};
}

#define EXPECT_SHOT(s, v, f)        \
  do {                              \
    Shot s_ = (s);                  \
    EXPECT_EQ(s_.eax, uint32_t(v)); \
    EXPECT_EQ(s_.flags, uint32_t(f)); \
  } while (0)

TEST(ShiftOps, Shl) {
  EXPECT_SHOT(shot({0xD1, 0xE0}, 0x80000001), 0x00000002, CF | OF);          // shl eax, 1
  EXPECT_SHOT(shot({0xC1, 0xE0, 0x1F}, 3), 0x80000000, CF | SF | PF);        // shl eax, 31
  EXPECT_SHOT(shot({0xD3, 0xE0}, 1, 33), 2, 0);                              // shl eax, cl: 33 & 31 = 1
  EXPECT_SHOT(shot({0xD2, 0xE0}, 0x11111181, 8), 0x11111100, CF | OF | ZF | PF);  // shl al, 8
  EXPECT_SHOT(shot({0xD2, 0xE0}, 0x81, 9), 0, ZF | PF);  // shl al, 9: CF = OF = 0
  EXPECT_SHOT(shot({0x66, 0xD3, 0xE0}, 0xFFFF8001, 16), 0xFFFF0000, CF | OF | ZF | PF);  // shl ax, 16
  // shl eax, 3: multi-bit OF = MSB(result) ^ CF (the last step), not bit31 ^ bit30 of the input
  EXPECT_SHOT(shot({0xC1, 0xE0, 0x03}, 0x40000001), 0x00000008, 0);
  EXPECT_SHOT(shot({0xC1, 0xE0, 0x02}, 0x30000000), 0xC0000000, OF | SF | PF);  // CF 0, MSB 1
  EXPECT_SHOT(shot({0xC1, 0xE0, 0x02}, 0x60000000), 0x80000000, CF | SF | PF);  // CF 1, MSB 1
  // /6 is the SAL alias
  EXPECT_SHOT(shot({0xD1, 0xF0}, 0x40000000), 0x80000000, OF | SF | PF);
}

// AF after SHL/SHR/SAR/SHLD/SHRD by a nonzero count is 0 on a P6 (the AMD host sets it, so the
// native oracle masks it and these are its reference).
TEST(ShiftOps, ShiftsClearAf) {
  EXPECT_SHOT(shot({0xD1, 0xE0}, 0x00000001, 0, AF), 0x00000002, 0);         // shl eax, 1
  EXPECT_SHOT(shot({0xC0, 0xE8, 0x03}, 0x80, 0, AF | CF), 0x10, 0);          // shr al, 3
  EXPECT_SHOT(shot({0x66, 0xD3, 0xF8}, 0x8000, 4, AF), 0xF800, SF | PF);     // sar ax, cl
  EXPECT_SHOT(shot({0x0F, 0xA4, 0xD8, 0x04}, 0x01, 0, AF, 0), 0x10, 0);      // shld eax, ebx, 4
  EXPECT_SHOT(shot({0xD3, 0xC0}, 0x1, 1, AF), 0x2, AF);  // rol eax, cl: rotates keep AF
}

TEST(ShiftOps, CountZeroChangesNothing) {
  EXPECT_SHOT(shot({0xD3, 0xE0}, 0x1234, 0, CF | ZF | OF | AF), 0x1234, CF | ZF | OF | AF);
  EXPECT_SHOT(shot({0xD3, 0xE8}, 0x1234, 32, SF | PF), 0x1234, SF | PF);   // shr eax, cl (32 -> 0)
  EXPECT_SHOT(shot({0xC1, 0xC0, 0x00}, 0x1234, 0, CF), 0x1234, CF);        // rol eax, 0
}

TEST(ShiftOps, Shr) {
  EXPECT_SHOT(shot({0xD1, 0xE8}, 0x80000001), 0x40000000, CF | OF | PF);     // shr eax, 1
  EXPECT_SHOT(shot({0xC1, 0xE8, 0x04}, 0xF8), 0x0F, CF | PF);               // shr eax, 4
  EXPECT_SHOT(shot({0xD2, 0xE8}, 0x80, 8), 0, CF | ZF | PF);               // shr al, 8: CF = bit 7
  // SHR by >= 2: OF = the result's two top bits XORed, always 0 (the input's MSB is not used)
  EXPECT_SHOT(shot({0xC1, 0xE8, 0x1F}, 0xFFFFFFFF), 1, CF);                 // shr eax, 31
  EXPECT_SHOT(shot({0xC1, 0xE8, 0x02}, 0x80000000, 0, OF), 0x20000000, PF); // shr eax, 2
}

TEST(ShiftOps, Sar) {
  EXPECT_SHOT(shot({0xD1, 0xF8}, 0x80000001), 0xC0000000, CF | SF | PF);     // sar eax, 1
  EXPECT_SHOT(shot({0xD2, 0xF8}, 0x80, 10), 0xFF, CF | SF | PF);            // sar al, 10
  EXPECT_SHOT(shot({0x66, 0xC1, 0xF8, 0x10}, 0x8000), 0xFFFF, CF | SF | PF); // sar ax, 16
  EXPECT_SHOT(shot({0x66, 0xC1, 0xF8, 0x1F}, 0x4000), 0, ZF | PF);          // sar ax, 31
  EXPECT_SHOT(shot({0xD1, 0xF8}, 0x00000003), 1, CF);                       // sar eax, 1
}

TEST(ShiftOps, RolRorKeepOtherFlags) {
  EXPECT_SHOT(shot({0xD1, 0xC0}, 0x80000000, 0, ZF | AF), 1, CF | OF | ZF | AF);  // rol eax, 1
  // rol al, 8 rotates nothing but sets CF = bit 0 and OF = MSB ^ CF
  EXPECT_SHOT(shot({0xC0, 0xC0, 0x08}, 0x01, 0, SF), 0x01, CF | OF | SF);
  EXPECT_SHOT(shot({0x66, 0xC1, 0xC0, 0x04}, 0x1234), 0x2341, CF | OF);     // rol ax, 4
  EXPECT_SHOT(shot({0xD1, 0xC8}, 1, 0, PF), 0x80000000, CF | OF | PF);     // ror eax, 1
  // ror al, 4: OF = bit 7 ^ bit 6 of the result
  EXPECT_SHOT(shot({0xC0, 0xC8, 0x04}, 0x12, 0, CF | OF), 0x21, 0);
  EXPECT_SHOT(shot({0xC0, 0xC8, 0x04}, 0x84, 0, 0), 0x48, OF);
  // ROL/ROR by imm8 and by CL compute OF the same way (MSB(result) ^ CF for ROL)
  EXPECT_SHOT(shot({0xC1, 0xC0, 0x07}, 0xFFFFFFFF, 0, OF | PF), 0xFFFFFFFF, CF | PF);
  EXPECT_SHOT(shot({0xD3, 0xC0}, 0xFFFFFFFF, 7, OF | PF), 0xFFFFFFFF, CF | PF);
  EXPECT_SHOT(shot({0xC1, 0xC0, 0x04}, 0x08000000), 0x80000000, OF);       // rol eax, 4: CF 0
  EXPECT_SHOT(shot({0xC1, 0xC8, 0x01}, 0x00000001, 0, 0), 0x80000000, CF | OF);  // ror eax, 1 (C1)
  // ror eax, cl (36 & 31 = 4): CF = bit 31, OF = bit 31 ^ bit 30 of the result
  EXPECT_SHOT(shot({0xD3, 0xC8}, 0x12345678, 36), 0x81234567, CF | OF);
  EXPECT_SHOT(shot({0x66, 0xC1, 0xC8, 0x10}, 0xC000, 0, OF), 0xC000, CF);  // ror ax, 16
}

TEST(ShiftOps, RclRcr) {
  EXPECT_SHOT(shot({0xD1, 0xD0}, 0x80000000, 0, CF), 1, CF | OF);           // rcl eax, 1
  // rcl al, 9: no-op, OF kept too (the AMD host sets OF = CF ^ MSB = 1 here)
  EXPECT_SHOT(shot({0xC0, 0xD0, 0x09}, 0x55, 0, CF | ZF), 0x55, CF | ZF);
  EXPECT_SHOT(shot({0xD2, 0xD0}, 0x40, 1), 0x80, OF);                      // rcl al, cl=1
  EXPECT_SHOT(shot({0xC0, 0xD0, 0x0A}, 0, 0, CF), 1, 0);                    // rcl al, 10 = 1 mod 9
  EXPECT_SHOT(shot({0x66, 0xC1, 0xD0, 0x11}, 0xBEEF, 0, OF), 0xBEEF, OF);   // rcl ax, 17: no-op
  EXPECT_SHOT(shot({0xD1, 0xD8}, 1, 0, CF), 0x80000000, CF | OF);           // rcr eax, 1
  // rcr al, 2: OF = bit 7 ^ bit 6 of the result (not MSB(src) ^ CF-in, which is 0 here)
  EXPECT_SHOT(shot({0xC0, 0xD8, 0x02}, 0x03), 0x80, CF | OF);
  EXPECT_SHOT(shot({0xC1, 0xD8, 0x1F}, 0x80000000, 0, CF), 0x00000003, 0);  // rcr eax, 31
  // rcr eax, 2: the result's top bits are CF-in and the source's bit 0 (MSB(src) ^ CF-in
  // would give 0 for the first, 0 for the second)
  EXPECT_SHOT(shot({0xC1, 0xD8, 0x02}, 0x00000001), 0x80000000, OF);
  EXPECT_SHOT(shot({0xC1, 0xD8, 0x02}, 0x80000001, 0, CF), 0xE0000000, 0);
  // rcl eax, 2: OF = MSB(result) ^ CF (not bit 31 ^ bit 30 of the source)
  EXPECT_SHOT(shot({0xC1, 0xD0, 0x02}, 0x20000000), 0x80000000, OF);
  EXPECT_SHOT(shot({0xC1, 0xD0, 0x02}, 0x40000000), 0x00000000, CF | OF);
  EXPECT_SHOT(shot({0xC1, 0xD0, 0x02}, 0xC0000000), 0x00000001, CF | OF);
  // rcl ax, 16 and rcl al, 8 (a rotate right by one through CF): OF = CF-in ^ bit 0
  EXPECT_SHOT(shot({0x66, 0xC1, 0xD0, 0x10}, 0, 0, CF), 0x8000, OF);
  EXPECT_SHOT(shot({0xC0, 0xD0, 0x08}, 0, 0, CF), 0x80, OF);
  EXPECT_SHOT(shot({0xC0, 0xD0, 0x08}, 1, 0, CF), 0x80, CF);
}

TEST(ShiftOps, ShldShrd) {
  // shld eax, ebx, 4: OF = MSB(result) ^ CF
  EXPECT_SHOT(shot({0x0F, 0xA4, 0xD8, 0x04}, 0x12345678, 0, 0, 0x9ABCDEF0), 0x23456789, CF | OF);
  // shrd eax, ebx, cl (8)
  EXPECT_SHOT(shot({0x0F, 0xAD, 0xD8}, 0x12345678, 8, 0, 0x9ABCDEF0), 0xF0123456, SF | PF);
  // 16-bit counts above 16 continue into the destination (dest:src:dest)
  EXPECT_SHOT(shot({0x66, 0x0F, 0xA4, 0xD8, 0x11}, 0x4567, 0, 0, 0x9869), 0x30D2, CF | PF | OF);
  // shrd ax, bx, 17: OF = bit 15 ^ bit 14 of the result
  EXPECT_SHOT(shot({0x66, 0x0F, 0xAC, 0xD8, 0x11}, 0x4567, 0, 0, 0x9869), 0xCC34, CF | SF);
  // shld ax, bx, 16 gives the source; CF = bit 0 of the destination, OF = MSB ^ CF (the AMD
  // host gives CF ^ the old MSB here, 1)
  EXPECT_SHOT(shot({0x66, 0x0F, 0xA4, 0xD8, 0x10}, 0x4567, 0, 0, 0x9869), 0x9869,
              CF | SF | PF);
  // shrd eax, ebx, 2: OF = bit 31 ^ bit 30 of the result (1 ^ 0)
  EXPECT_SHOT(shot({0x0F, 0xAC, 0xD8, 0x02}, 0x00000000, 0, 0, 0x00000002), 0x80000000,
              OF | SF | PF);
  // count 0: nothing changes
  EXPECT_SHOT(shot({0x0F, 0xA5, 0xD8}, 0x1234, 0x20, ZF, 0xFFFFFFFF), 0x1234, ZF);
  // shld eax, ebx, 1: OF = sign change
  EXPECT_SHOT(shot({0x0F, 0xA4, 0xD8, 0x01}, 0x40000000, 0, 0, 0x80000000), 0x80000001, OF | SF);
}

TEST(ShiftOps, MemoryOperands) {
  CpuHarness h;
  h.code({0xD1, 0x25, 0x00, 0x00, 0x02, 0x00,         // shl dword [DATA], 1
          0xD2, 0x2D, 0x04, 0x00, 0x02, 0x00,         // shr byte [DATA+4], cl
          0x0F, 0xAC, 0x1D, 0x08, 0x00, 0x02, 0x00, 0x04});  // shrd [DATA+8], ebx, 4
  h.wr32(DATA, 0xC0000001);
  h.wr32(DATA + 4, 0x11223381);
  h.wr32(DATA + 8, 0x12345678);
  h.cpu.regs[ECX] = 7;
  h.cpu.regs[EBX] = 0xA;
  RUN_OK(h);
  EXPECT_EQ(h.rd32(DATA), 0x80000002u);
  EXPECT_EQ(h.rd32(DATA + 4), 0x11223301u);
  EXPECT_EQ(h.rd32(DATA + 8), 0xA1234567u);
  EXPECT_EQ(arith(h), CF | SF | OF);  // shrd: CF = bit 3 of 0x78; OF = bit 31 ^ bit 30 = 1
}

TEST(ShiftOps, LockIsUndefined) {
  CpuHarness h;
  h.code({0xF0, 0xD1, 0x25, 0x00, 0x00, 0x02, 0x00});  // lock shl dword [DATA], 1
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 6);
}

}  // namespace
}  // namespace softcpu
