// DAA DAS AAA AAS AAM AAD: results and flags. The SDM's undefined flags are Intel P6
// behaviour (interp/ops_bcd.cpp); the native oracle cannot check them on a 64-bit-only host
// (BCD is invalid in 64-bit mode), so these tests are their reference.
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::flags_in;
using test::arith;

struct Out {
  uint32_t eax, flags;
};
Out bcd(std::initializer_list<uint8_t> code, uint32_t eax, uint32_t fin = 0,
        int expect_vector = -1, bool protected32 = true) {
  CpuHarness h(protected32);
  h.code(code);
  h.cpu.regs[EAX] = eax;
  flags_in(h, fin);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), expect_vector);
  return {h.cpu.regs[EAX], arith(h)};
}

#define EXPECT_OUT(o, a, f)          \
  do {                               \
    Out o_ = (o);                    \
    EXPECT_EQ(o_.eax, uint32_t(a));  \
    EXPECT_EQ(o_.flags, uint32_t(f)); \
  } while (0)

TEST(BcdOps, Daa) {
  EXPECT_OUT(bcd({0x27}, 0x1234000F), 0x12340015, AF);
  EXPECT_OUT(bcd({0x27}, 0x9A), 0x00, AF | CF | ZF | PF);
  EXPECT_OUT(bcd({0x04, 0x28, 0x27}, 0x19), 0x47, AF | PF);  // add al, 0x28; daa: 19 + 28 = 47
  EXPECT_OUT(bcd({0x04, 0x01, 0x27}, 0x99), 0x00, CF | ZF | PF | AF);  // 99 + 1 = (1)00
  EXPECT_OUT(bcd({0x27}, 0x37, CF), 0x97, CF | SF);  // OF stays 0
  EXPECT_OUT(bcd({0x27}, 0x37, CF | OF), 0x97, CF | SF);  // OF is cleared, not kept
  EXPECT_OUT(bcd({0x27}, 0x7A, 0), 0x80, AF | SF);  // 7A + 6 = 80: no signed overflow flagged
}

TEST(BcdOps, Das) {
  EXPECT_OUT(bcd({0x2C, 0x28, 0x2F}, 0x47), 0x19, AF);  // sub al, 0x28; das: 47 - 28 = 19
  EXPECT_OUT(bcd({0x2F}, 0x00, CF), 0xA0, CF | SF | PF);
  EXPECT_OUT(bcd({0x2C, 0x01, 0x2F}, 0x00), 0x99, CF | AF | SF | PF);  // 00 - 01 = 99 borrow
  EXPECT_OUT(bcd({0x2F}, 0x80, AF | OF), 0x7A, AF);  // 80 - 6 = 7A: OF cleared
}

TEST(BcdOps, AaaAas) {
  EXPECT_OUT(bcd({0x04, 0x03, 0x37}, 0x0009), 0x0102, AF | CF);  // add al, 3; aaa
  EXPECT_OUT(bcd({0x37}, 0x00FA), 0x0200, AF | CF | ZF | PF);     // AX += 106h carries into AH
  EXPECT_OUT(bcd({0x37}, 0x0305, AF), 0x040B, AF | CF);
  EXPECT_OUT(bcd({0x37}, 0x0305, CF | SF), 0x0305, PF);          // no adjust: CF = AF = 0
  // SF/ZF/PF come from the new AL, OF is cleared
  EXPECT_OUT(bcd({0x37}, 0x0380, OF | ZF), 0x0300, ZF | PF);
  EXPECT_OUT(bcd({0x3F}, 0x0300, OF | SF | AF), 0x010A, AF | CF | PF);  // AX - 106h
  EXPECT_OUT(bcd({0x3F}, 0x0205, AF), 0x000F, AF | CF | PF);
  EXPECT_OUT(bcd({0x3F}, 0x0208), 0x0208, 0);
  EXPECT_OUT(bcd({0x3F}, 0x000B), 0xFF05, AF | CF | PF);         // 0Bh - 6 = 05, AH - 1
}

TEST(BcdOps, Aam) {
  EXPECT_OUT(bcd({0xD4, 0x0A}, 0x0000004F, CF | OF | AF), 0x0709, PF);  // 79 -> 7, 9
  EXPECT_OUT(bcd({0xD4, 0x10}, 0x12340FFF), 0x12340F0F, PF);            // base 16
  EXPECT_OUT(bcd({0xD4, 0x0A}, 0x0000FF00), 0x0000, ZF | PF);
  EXPECT_OUT(bcd({0xD4, 0x00}, 0x1234, 0, 0), 0x1234, 0);               // base 0: #DE
}

// AAD's OF/AF/CF are those of the byte addition AL + AH * imm8 (R. Collins, Intel x86).
TEST(BcdOps, Aad) {
  EXPECT_OUT(bcd({0xD5, 0x0A}, 0x0709, CF | OF | AF), 0x004F, 0);
  EXPECT_OUT(bcd({0xD5, 0x0A}, 0x01F6), 0x0000, CF | ZF | PF | AF);  // F6 + 0A overflows AL
  EXPECT_OUT(bcd({0xD5, 0x0A}, 0x0176), 0x0080, SF | OF | AF);       // 76 + 0A = 80
  EXPECT_OUT(bcd({0xD5, 0x00}, 0xAB12), 0x0012, PF);                 // base 0: AL kept
  EXPECT_OUT(bcd({0xD5, 0x10}, 0x0305), 0x0035, PF);                 // base 16
}

TEST(BcdOps, RealMode) {
  EXPECT_OUT(bcd({0x27}, 0x0F, 0, -1, false), 0x15, AF);
  EXPECT_OUT(bcd({0xD4, 0x00}, 0x1234, 0, 0, false), 0x1234, 0);  // #DE in real mode too
}

}  // namespace
}  // namespace softcpu
