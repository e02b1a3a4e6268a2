// x87 FPU: loads/stores of every format, arithmetic, compares, transcendental, control
// instructions, the environment/state images, exceptions (masked, unmasked -> #MF) and
// CR0.EM/TS/MP (#NM). Expected values are exact bit patterns (SDM vol.1 chapter 8).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "interp/fpu_fast.h"
#include "interp/fpu_host.h"
#include "interp/trap.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;

constexpr uint32_t D = CpuHarness::DATA_ADDR;

// Little-endian bytes of a 32-bit absolute address D + off (for ModRM 05 disp32).
#define A(off) uint8_t((D + (off)) & 0xFF), uint8_t(((D + (off)) >> 8) & 0xFF), \
               uint8_t(((D + (off)) >> 16) & 0xFF), uint8_t(((D + (off)) >> 24) & 0xFF)

unsigned top(const Cpu& c) { return (c.fpu.sw >> 11) & 7; }
const Float80& st(const Cpu& c, unsigned i) { return c.fpu.st[(top(c) + i) & 7]; }
unsigned tag(const Cpu& c, unsigned i) { return (c.fpu.tw >> (2 * ((top(c) + i) & 7))) & 3; }

void expect_f80(const Float80& r, uint16_t se, uint64_t mant) {
  EXPECT_EQ(r.se, se) << std::hex << "se=" << r.se << " mant=" << r.mant;
  EXPECT_EQ(r.mant, mant) << std::hex << "se=" << r.se << " mant=" << r.mant;
}

void put64(CpuHarness& h, uint32_t addr, uint64_t v) { h.mem.write_bytes(addr, &v, 8); }
uint64_t get64(CpuHarness& h, uint32_t a) { uint64_t v; h.mem.read_bytes(a, &v, 8); return v; }
uint16_t get16(CpuHarness& h, uint32_t a) { uint16_t v; h.mem.read_bytes(a, &v, 2); return v; }
void put80(CpuHarness& h, uint32_t addr, uint16_t se, uint64_t mant) {
  h.mem.write_bytes(addr, &mant, 8);
  h.mem.write_bytes(addr + 8, &se, 2);
}

TEST(Fpu, PowerOnState) {
  CpuHarness h;
  EXPECT_EQ(h.cpu.fpu.cw, 0x0040);
  EXPECT_EQ(h.cpu.fpu.sw, 0);
  EXPECT_EQ(h.cpu.fpu.tw, 0x5555);
  EXPECT_TRUE(h.cpu.cr0 & CR0_ET);
}

TEST(Fpu, FninitAndConstants) {
  CpuHarness h;
  h.code({0xDB, 0xE3,               // fninit
          0xD9, 0xE8,               // fld1
          0xD9, 0xEE,               // fldz
          0xD9, 0xEB,               // fldpi
          0xD9, 0xEA,               // fldl2e
          0xD9, 0xE9,               // fldl2t
          0xD9, 0xEC,               // fldlg2
          0xD9, 0xED});             // fldln2
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  const Cpu& c = h.cpu;
  EXPECT_EQ(c.fpu.cw, 0x037F);
  EXPECT_EQ(top(c), 1u);
  expect_f80(st(c, 6), 0x3FFF, 0x8000000000000000ull);  // 1.0
  expect_f80(st(c, 5), 0x0000, 0);                      // +0.0
  expect_f80(st(c, 4), 0x4000, 0xC90FDAA22168C235ull);  // pi, round to nearest
  expect_f80(st(c, 3), 0x3FFF, 0xB8AA3B295C17F0BCull);  // log2(e)
  expect_f80(st(c, 2), 0x4000, 0xD49A784BCD1B8AFEull);  // log2(10)
  expect_f80(st(c, 1), 0x3FFD, 0x9A209A84FBCFF799ull);  // log10(2)
  expect_f80(st(c, 0), 0x3FFE, 0xB17217F7D1CF79ACull);  // ln(2)
  EXPECT_EQ(tag(c, 5), 1u);                              // zero
  EXPECT_EQ(tag(c, 0), 0u);                              // valid
  EXPECT_EQ((c.fpu.tw >> 0) & 3, 3u);                    // R0 still empty (TOP = 1)
}

TEST(Fpu, RoundingControlAppliesToConstants) {
  CpuHarness h;
  h.wr32(D, 0x0F7F);  // RC = chop
  h.code({0xDB, 0xE3, 0xD9, 0x2D, A(0), 0xD9, 0xEB});  // fninit; fldcw [D]; fldpi
  ASSERT_EQ(h.run(), EXIT_HLT);
  expect_f80(st(h.cpu, 0), 0x4000, 0xC90FDAA22168C234ull);
  EXPECT_EQ(h.cpu.fpu.cw, 0x0F7F);
}

TEST(Fpu, ArithmeticAndStores) {
  CpuHarness h;
  put64(h, D, 0x3FF8000000000000ull);       // 1.5 (m64fp)
  h.wr32(D + 8, 0x40200000);                // 2.5 (m32fp)
  h.wr32(D + 12, uint32_t(-5));             // m32int
  h.code({0xDB, 0xE3,                       // fninit
          0xDD, 0x05, A(0),                 // fld qword [D]      1.5
          0xD8, 0x05, A(8),                 // fadd dword [D+8]   4.0
          0xDA, 0x0D, A(12),                // fimul dword [D+12] -20.0
          0xD9, 0x1D, A(16),                // fstp dword [D+16]
          0xD9, 0xE8,                       // fld1
          0xD9, 0xE8,                       // fld1
          0xDE, 0xC1,                       // faddp st1, st     2.0
          0xD9, 0xFA,                       // fsqrt
          0xDD, 0x15, A(24),                // fst qword [D+24]
          0xDB, 0x3D, A(32)});              // fstp tword [D+32]
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.rd32(D + 16), 0xC1A00000u);                 // -20.0f
  EXPECT_EQ(get64(h, D + 24), 0x3FF6A09E667F3BCDull);      // sqrt(2) as double
  EXPECT_EQ(get64(h, D + 32), 0xB504F333F9DE6484ull);      // sqrt(2) extended
  EXPECT_EQ(get16(h, D + 40), 0x3FFF);
  EXPECT_EQ(h.cpu.fpu.sw & FSW_PE, FSW_PE);                // inexact
  EXPECT_EQ(h.cpu.fpu.tw, 0xFFFF);                         // all popped
}

TEST(Fpu, IntegerAndBcdFormats) {
  CpuHarness h;
  const uint8_t bcd[10] = {0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0x80};  // -123456789
  h.mem.write_bytes(D, bcd, 10);
  put64(h, D + 16, 0x8000000000000000ull);  // most negative m64int
  h.wr32(D + 24, 0x7FFF);                   // m16int 32767
  h.code({0xDB, 0xE3,
          0xDF, 0x25, A(0),                 // fbld [D]
          0xDF, 0x35, A(32),                // fbstp [D+32]
          0xDF, 0x2D, A(16),                // fild qword [D+16]
          0xDF, 0x3D, A(48),                // fistp qword [D+48]
          0xDF, 0x05, A(24),                // fild word [D+24]
          0xD9, 0xE8, 0xDE, 0xC1,           // fld1; faddp -> 32768
          0xDF, 0x15, A(56),                // fist word [D+56]: overflow, masked -> 8000h
          0xDB, 0x1D, A(60)});              // fistp dword [D+60]
  ASSERT_EQ(h.run(), EXIT_HLT);
  uint8_t out[10];
  h.mem.read_bytes(D + 32, out, 10);
  EXPECT_EQ(std::memcmp(out, bcd, 10), 0);
  EXPECT_EQ(get64(h, D + 48), 0x8000000000000000ull);
  EXPECT_EQ(get16(h, D + 56), 0x8000);          // integer indefinite
  EXPECT_EQ(h.rd32(D + 60), 32768u);
  EXPECT_TRUE(h.cpu.fpu.sw & FSW_IE);
  EXPECT_FALSE(h.cpu.fpu.sw & FSW_ES);          // masked
}

TEST(Fpu, TranscendentalAndMisc) {
  CpuHarness h;
  h.wr32(D, 8);
  h.wr32(D + 4, 7);
  h.wr32(D + 8, 3);
  h.code({0xDB, 0xE3,
          0xD9, 0xE8,                       // fld1
          0xDB, 0x05, A(0),                 // fild dword [D] = 8
          0xD9, 0xF1,                       // fyl2x: 1 * log2(8) = 3
          0xDB, 0x05, A(0),                 // fild 8
          0xD9, 0xF4,                       // fxtract: st0 = 1.0, st1 = 3.0 (exponent)
          0xD9, 0xFD,                       // fscale: 1.0 * 2^3 = 8
          0xDB, 0x05, A(8),                 // fild 3
          0xDB, 0x05, A(4),                 // fild 7
          0xD9, 0xF8});                     // fprem: 7 rem 3 = 1, quotient 2
  ASSERT_EQ(h.run(), EXIT_HLT);
  const Cpu& c = h.cpu;
  expect_f80(st(c, 0), 0x3FFF, 0x8000000000000000ull);  // 1.0 remainder
  expect_f80(st(c, 1), 0x4000, 0xC000000000000000ull);  // 3.0
  expect_f80(st(c, 2), 0x4002, 0x8000000000000000ull);  // 8.0
  expect_f80(st(c, 3), 0x4000, 0xC000000000000000ull);  // 3.0 (fxtract exponent)
  expect_f80(st(c, 4), 0x4000, 0xC000000000000000ull);  // 3.0 (fyl2x)
  // Quotient 2 (SDM vol.2 FPREM): C0 = Q2 = 0, C3 = Q1 = 1, C1 = Q0 = 0; C2 = 0 (complete).
  EXPECT_EQ(c.fpu.sw & FSW_CC, FSW_C3);
}

TEST(Fpu, SinCosTanAtan) {
  CpuHarness h;
  h.code({0xDB, 0xE3,
          0xD9, 0xEE, 0xD9, 0xFE,           // fldz; fsin -> 0
          0xD9, 0xEE, 0xD9, 0xFF,           // fldz; fcos -> 1
          0xD9, 0xEE, 0xD9, 0xF2,           // fldz; fptan -> 0, then 1 pushed
          0xD9, 0xE8, 0xD9, 0xE8, 0xD9, 0xF3,  // fld1; fld1; fpatan -> atan(1) = pi/4
          0xD9, 0xEE, 0xD9, 0xFB});         // fldz; fsincos -> st0 = cos = 1, st1 = sin = 0
  ASSERT_EQ(h.run(), EXIT_HLT);
  const Cpu& c = h.cpu;
  expect_f80(st(c, 0), 0x3FFF, 0x8000000000000000ull);
  expect_f80(st(c, 1), 0x0000, 0);
  expect_f80(st(c, 2), 0x3FFE, 0xC90FDAA22168C235ull);  // pi/4
  expect_f80(st(c, 3), 0x3FFF, 0x8000000000000000ull);  // fptan's 1.0
  expect_f80(st(c, 4), 0x0000, 0);
  expect_f80(st(c, 5), 0x3FFF, 0x8000000000000000ull);
  expect_f80(st(c, 6), 0x0000, 0);
  EXPECT_EQ(c.fpu.sw & FSW_C2, 0);  // arguments in range
}

TEST(Fpu, ComparesFstswSahfFcomiFcmov) {
  CpuHarness h;
  h.code({0xDB, 0xE3,
          0xD9, 0xE8, 0xD9, 0xEE,           // fld1; fldz  (st0 = 0, st1 = 1)
          0xD8, 0xD1,                       // fcom st1: 0 < 1 -> C0 = 1
          0xDF, 0xE0,                       // fnstsw ax
          0x9E,                             // sahf: CF = C0
          0x0F, 0x92, 0xC3,                 // setb bl
          0xDB, 0xF1,                       // fcomi st, st1: CF = 1, ZF = 0
          0x0F, 0x92, 0xC7,                 // setb bh
          0xDA, 0xC1,                       // fcmovb st, st1: st0 = 1
          0xD9, 0xE4,                       // ftst: 1 > 0 -> C3 = C2 = C0 = 0
          0xDF, 0xE0,                       // fnstsw ax
          0x89, 0xC1,                       // mov ecx, eax
          0xDE, 0xD9,                       // fcompp
          0xD9, 0xE5,                       // fxam on empty: C3 = 1, C0 = 1
          0xDD, 0x3D, A(0)});               // fnstsw [D]
  h.cpu.regs[EBX] = 0;
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX] & 0xFFFF, 0x0101u);
  EXPECT_EQ(h.cpu.regs[ECX] & (FSW_C0 | FSW_C2 | FSW_C3), 0u);
  EXPECT_EQ(get16(h, D) & (FSW_C0 | FSW_C2 | FSW_C3), FSW_C0 | FSW_C3);
  EXPECT_EQ(h.cpu.fpu.tw, 0xFFFF);
}

TEST(Fpu, FcomiUnorderedAndFxchFfree) {
  CpuHarness h;
  h.code({0xDB, 0xE3,
          0xD9, 0xEE, 0xD9, 0xEE, 0xDE, 0xF9,  // 0/0 -> invalid, default NaN
          0xD9, 0xE8,                          // fld1
          0xDF, 0xF1,                          // fcomip st, st1: unordered -> ZF PF CF
          0x9C, 0x5B,                          // pushfd; pop ebx
          0xD9, 0xE8, 0xD9, 0xC9,              // fld1; fxch st1
          0xDD, 0xC1});                        // ffree st1
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX] & (ZF | PF | CF | OF | SF | AF), ZF | PF | CF);
  const Cpu& c = h.cpu;
  expect_f80(st(c, 0), 0xFFFF, 0xC000000000000000ull);  // real indefinite after fxch
  EXPECT_EQ(tag(c, 1), 3u);                             // freed
  EXPECT_TRUE(c.fpu.sw & FSW_IE);
  EXPECT_FALSE(c.fpu.sw & FSW_ZE);
}

TEST(Fpu, StackOverflowAndUnderflowMasked) {
  CpuHarness h;
  std::vector<uint8_t> code = {0xDB, 0xE3};
  for (int k = 0; k < 9; ++k) { code.push_back(0xD9); code.push_back(0xE8); }
  h.code({});
  h.mem.write_bytes(h.cpu.eip, code.data(), uint32_t(code.size()));
  uint8_t tail[] = {0xF4};
  h.mem.write_bytes(h.cpu.eip + uint32_t(code.size()), tail, 1);
  ASSERT_EQ(h.run(), EXIT_HLT);
  const Cpu& c = h.cpu;
  // The ninth push overflows: IE and SF set, C1 = 1, ST(0) = real indefinite.
  EXPECT_EQ(c.fpu.sw & (FSW_IE | FSW_SF | FSW_C1), FSW_IE | FSW_SF | FSW_C1);
  expect_f80(st(c, 0), 0xFFFF, 0xC000000000000000ull);

  CpuHarness u;
  u.code({0xDB, 0xE3, 0xD9, 0xE1});  // fninit; fabs on an empty stack
  ASSERT_EQ(u.run(), EXIT_HLT);
  EXPECT_EQ(u.cpu.fpu.sw & (FSW_IE | FSW_SF | FSW_C1), FSW_IE | FSW_SF);  // C1 = 0: underflow
}

TEST(Fpu, UnmaskedExceptionRaisesMfOnNextWaitingInsn) {
  CpuHarness h;
  h.cpu.cr0 |= CR0_NE;
  h.wr32(D, 0x037B);  // ZM clear
  h.code({0xDB, 0xE3, 0xD9, 0x2D, A(0),     // fninit; fldcw [D]
          0xD9, 0xE8, 0xD9, 0xEE,           // fld1; fldz
          0xDE, 0xF9,                       // fdivp st1, st: 1/0, ZE unmasked: no result
          0xDF, 0xE0,                       // fnstsw ax (no wait: no #MF)
          0x9B});                           // fwait -> #MF
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_MF);
  const Cpu& c = h.cpu;
  EXPECT_EQ(c.regs[EAX] & 0xFFFF, c.fpu.sw);
  EXPECT_EQ(c.fpu.sw & (FSW_ZE | FSW_ES | FSW_B), FSW_ZE | FSW_ES | FSW_B);
  EXPECT_EQ(top(c), 6u);                        // operands untouched, no pop
  expect_f80(st(c, 0), 0, 0);
  expect_f80(st(c, 1), 0x3FFF, 0x8000000000000000ull);
  EXPECT_EQ(c.fpu.fip, CpuHarness::CODE_ADDR + 12);  // the FDIVP
  EXPECT_EQ(c.fpu.fop, 0x6F9);
  // The fault was taken at the FWAIT: the stub's return address on the stack.
  EXPECT_EQ(h.rd32(c.regs[ESP]), CpuHarness::CODE_ADDR + 16);
}

TEST(Fpu, UnmaskedOverflowBiasesRegisterResultAndSuppressesStore) {
  CpuHarness h;
  h.wr32(D, 0x0377);                        // OM clear
  put80(h, D + 16, 0x7FFE, 0x8000000000000000ull);  // 2^16383
  h.wr32(D + 32, 0x11111111);
  h.code({0xDB, 0xE3, 0xD9, 0x2D, A(0),
          0xDB, 0x2D, A(16),                // fld tword
          0xD9, 0x1D, A(32),                // fstp dword: overflow unmasked: no store, no pop
          0xDB, 0xE2,                       // fnclex
          0xD8, 0xC8});                     // fmul st, st: 2^32766, exponent biased down
  ASSERT_EQ(h.run(), EXIT_HLT);
  const Cpu& c = h.cpu;
  EXPECT_EQ(h.rd32(D + 32), 0x11111111u);
  EXPECT_EQ(top(c), 7u);
  // True biased exponent 32766 + 16383 = 49149; minus 24576 (SDM vol.1 8.5.4).
  expect_f80(st(c, 0), 0x5FFD, 0x8000000000000000ull);
  EXPECT_EQ(c.fpu.sw & (FSW_OE | FSW_ES), FSW_OE | FSW_ES);
}

TEST(Fpu, PendingExceptionWithNeClearDoesNotFault) {
  CpuHarness h;  // CR0.NE = 0: reported through FERR#/IRQ13 (not modelled); no #MF
  h.wr32(D, 0x037E);
  h.code({0xDB, 0xE3, 0xD9, 0x2D, A(0), 0xD9, 0xEE, 0xD9, 0xEE, 0xDE, 0xF9, 0x9B, 0xD9, 0xE8});
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
}

TEST(Fpu, CR0EmAndTsRaiseNm) {
  {
    CpuHarness h;
    h.cpu.cr0 |= CR0_EM;
    h.code({0xD9, 0xE8});
    ASSERT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_NM);
    EXPECT_EQ(h.rd32(h.cpu.regs[ESP]), CpuHarness::CODE_ADDR);
  }
  {
    CpuHarness h;  // EM: WAIT is not affected
    h.cpu.cr0 |= CR0_EM | CR0_MP;
    h.code({0x9B});
    ASSERT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), -1);
  }
  {
    CpuHarness h;  // TS without MP: ESC faults, WAIT does not
    h.cpu.cr0 |= CR0_TS;
    h.code({0x9B, 0xDB, 0xE3});
    ASSERT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_NM);
    EXPECT_EQ(h.rd32(h.cpu.regs[ESP]), CpuHarness::CODE_ADDR + 1);
  }
  {
    CpuHarness h;  // TS and MP: WAIT faults
    h.cpu.cr0 |= CR0_TS | CR0_MP;
    h.code({0x9B});
    ASSERT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_NM);
  }
}

TEST(Fpu, ControlWordReservedBitsAndFnstcw) {
  CpuHarness h;
  h.wr32(D, 0xFFFF);
  h.code({0xDB, 0xE3, 0xD9, 0x2D, A(0), 0xD9, 0x3D, A(4)});
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(get16(h, D + 4), 0x1F7F);
}

TEST(Fpu, FnstenvProtected32Layout) {
  CpuHarness h;
  h.wr32(D + 64, 0x40490FDB);  // float pi
  h.code({0x90,                              // nop (FIP must skip it)
          0xDB, 0xE3,                        // fninit
          0xD9, 0x05, A(64),                 // fld dword [D+64]  (at CODE+3)
          0xD9, 0x35, A(0),                  // fnstenv [D]
          0xD9, 0x3D, A(32)});               // fnstcw [D+32]: all masked after fnstenv
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(D + 0), 0xFFFF037Fu);
  EXPECT_EQ(h.rd32(D + 4), 0xFFFF3800u);   // TOP = 7
  EXPECT_EQ(h.rd32(D + 8), 0xFFFF3FFFu);   // R7 valid, others empty
  EXPECT_EQ(h.rd32(D + 12), CpuHarness::CODE_ADDR + 3);
  EXPECT_EQ(h.rd32(D + 16), 0x08u | (0x105u << 16));  // CS, FOP = D9 05 -> 105h
  EXPECT_EQ(h.rd32(D + 20), D + 64);
  EXPECT_EQ(h.rd32(D + 24), 0xFFFF0010u);
  EXPECT_EQ(get16(h, D + 32), 0x037F);
}

TEST(Fpu, FsaveFrstorRoundTripAndMasking) {
  CpuHarness h;
  h.cpu.cr0 |= CR0_NE;
  h.code({0xDB, 0xE3, 0xD9, 0xEB, 0xD9, 0xE8, 0xD9, 0xEE,  // fninit; fldpi; fld1; fldz
          0xDD, 0x35, A(0),                               // fnsave [D]: then fninit
          0xD9, 0x3D, A(300),                             // fnstcw
          0xDD, 0x25, A(0),                               // frstor [D]
          0xDD, 0x35, A(108)});                           // fnsave [D+108]
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(get16(h, D + 300), 0x037F);
  uint8_t a[108], b[108];
  h.mem.read_bytes(D, a, 108);
  h.mem.read_bytes(D + 108, b, 108);
  EXPECT_EQ(std::memcmp(a, b, 108), 0);
  EXPECT_EQ(h.rd32(D + 8), 0xFFFF07FFu);  // R5 zero, R6 valid (1.0), R7 valid (pi)
  uint64_t m;
  std::memcpy(&m, a + 28, 8);
  EXPECT_EQ(m, 0u);                        // ST(0) = +0
  std::memcpy(&m, a + 48, 8);
  EXPECT_EQ(m, 0xC90FDAA22168C235ull);     // ST(2) = pi
  EXPECT_EQ(h.cpu.fpu.tw, 0xFFFF);         // the second fnsave reinitialized

  // FRSTOR of an image with a pending unmasked exception -> #MF at the next waiting insn.
  CpuHarness g;
  g.cpu.cr0 |= CR0_NE;
  uint8_t img[108];
  std::memset(img, 0, sizeof img);
  const uint32_t cw = 0xFFFF037E, sw = 0xFFFF0001, tw = 0xFFFFFFFF;
  std::memcpy(img, &cw, 4);
  std::memcpy(img + 4, &sw, 4);
  std::memcpy(img + 8, &tw, 4);
  g.mem.write_bytes(D, img, 108);
  g.code({0xDD, 0x25, A(0), 0xDB, 0xE2, 0xD9, 0xE8, 0xDD, 0x25, A(0), 0xD9, 0xE8});
  ASSERT_EQ(g.run(), EXIT_HLT);
  EXPECT_EQ(g.last_vector(), VEC_MF);
  EXPECT_EQ(g.rd32(g.cpu.regs[ESP]), CpuHarness::CODE_ADDR + 16);  // the second fld1
  EXPECT_EQ(g.cpu.fpu.sw & (FSW_ES | FSW_B | FSW_IE), FSW_ES | FSW_B | FSW_IE);
}

TEST(Fpu, RealMode16BitEnvironment) {
  CpuHarness h(false);  // CS = DS = 0x1000, IP = 0
  h.code({0xDB, 0xE3,                 // fninit
          0xD9, 0x06, 0x40, 0x01,     // fld dword [0x140] (at IP 2)
          0xD9, 0x36, 0x00, 0x01,     // fnstenv [0x100] (14 bytes)
          0x66, 0xD9, 0x36, 0x20, 0x01});  // o32 fnstenv [0x120] (28 bytes)
  h.wr32(0x10000 + 0x140, 0x3F800000);
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  uint16_t e[7];
  h.mem.read_bytes(0x10100, e, 14);
  EXPECT_EQ(e[0], 0x037F);
  EXPECT_EQ(e[1], 0x3800);
  EXPECT_EQ(e[2], 0x3FFF);
  EXPECT_EQ(e[3], 0x0002);                       // linear IP 10002h, low 16 bits
  EXPECT_EQ(e[4], (1u << 12) | 0x106);           // IP bits 19-16, FOP D9 06
  EXPECT_EQ(e[5], 0x0140);
  EXPECT_EQ(e[6], 1u << 12);
  EXPECT_EQ(h.rd32(0x10120 + 12), 0xFFFF0002u);
  EXPECT_EQ(h.rd32(0x10120 + 16), (1u << 12) | 0x106u);
  EXPECT_EQ(h.rd32(0x10120 + 20), 0xFFFF0140u);
  EXPECT_EQ(h.rd32(0x10120 + 24), 1u << 12);
}

TEST(Fpu, FldenvRecomputesTagsAndSummary) {
  CpuHarness h;
  h.code({0xDB, 0xE3, 0xD9, 0xEE, 0xD9, 0xE8,   // fninit; fldz; fld1 (R7 = 0, R6 = 1)
          0xD9, 0x35, A(0),                      // fnstenv [D]
          0xD9, 0x25, A(32),                     // fldenv [D+32]
          0xD9, 0x35, A(64)});                   // fnstenv [D+64]
  // TOP 6, ES set (no unmasked flag), every tag "valid".
  uint32_t env[7] = {0xFFFF037F, 0xFFFF3080, 0xFFFF0000, 0, 0, 0, 0};
  h.mem.write_bytes(D + 32, env, sizeof env);
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(D + 8), 0xFFFF4FFFu);          // R6 valid, R7 zero
  EXPECT_EQ(h.rd32(D + 64 + 4), 0xFFFF3000u);     // ES cleared: no unmasked flag
  // Non-empty tags follow the contents: R0-R5 hold +0.0 from power-on -> zero (01).
  EXPECT_EQ(h.rd32(D + 64 + 8), 0xFFFF4555u);
}

TEST(Fpu, InvalidFormsAndLock) {
  {
    CpuHarness h;
    h.code({0xDB, 0x0D, A(0)});  // fisttp dword: SSE3, #UD on a P6
    ASSERT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_UD);
  }
  {
    CpuHarness h;
    h.code({0xF0, 0xD9, 0xE8});  // lock fld1
    ASSERT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_UD);
  }
}

TEST(Fpu, MemoryFaultLeavesStateUnchanged) {
  CpuHarness h(false);
  h.code({0xDB, 0xE3, 0xD9, 0xE8,      // fninit; fld1
          0xDB, 0x3E, 0xFA, 0xFF});    // fstp tword [0xFFFA]: crosses the 64 KiB limit
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_GP);
  EXPECT_EQ(top(h.cpu), 7u);           // not popped
  EXPECT_EQ(h.cpu.fpu.fop, 0x1E8);     // still the fld1
}

TEST(Fpu, EnvironmentRoundTripsInEveryFormat) {
  // Real mode, 16- and 32-bit formats: FNSTENV, FLDENV, FNSTENV again gives the same bytes.
  CpuHarness r(false);
  r.wr32(0x10000 + 0x140, 0x3F800000);
  r.code({0xDB, 0xE3, 0xD9, 0x06, 0x40, 0x01, 0xD9, 0xE8,  // fninit; fld dword [0x140]; fld1
          0xD9, 0x36, 0x00, 0x02,                          // fnstenv [0x200]
          0xD9, 0x26, 0x00, 0x02,                          // fldenv [0x200]
          0xD9, 0x36, 0x20, 0x02,                          // fnstenv [0x220]
          0x66, 0xD9, 0x36, 0x40, 0x02,                    // o32 fnstenv [0x240]
          0x66, 0xD9, 0x26, 0x40, 0x02,                    // o32 fldenv [0x240]
          0x66, 0xD9, 0x36, 0x60, 0x02});                  // o32 fnstenv [0x260]
  ASSERT_EQ(r.run(), EXIT_HLT);
  EXPECT_EQ(r.last_vector(), -1);
  uint8_t a[28], b[28];
  r.mem.read_bytes(0x10200, a, 14);
  r.mem.read_bytes(0x10220, b, 14);
  EXPECT_EQ(std::memcmp(a, b, 14), 0);
  r.mem.read_bytes(0x10240, a, 28);
  r.mem.read_bytes(0x10260, b, 28);
  EXPECT_EQ(std::memcmp(a, b, 28), 0);
  EXPECT_EQ(r.rd32(0x10240 + 4), 0xFFFF3000u);  // TOP = 6
  EXPECT_EQ(r.rd32(0x10240 + 8), 0xFFFF0FFFu);  // R6, R7 valid

  // Protected mode, 16-bit format (operand-size prefix): CS and DS selectors are stored.
  CpuHarness p;
  p.code({0xDB, 0xE3, 0xD9, 0xE8,                      // fninit; fld1 (at CODE+2)
          0xDD, 0x05, A(100),                          // fld qword [D+100] (at CODE+4)
          0x66, 0xD9, 0x35, A(0),                      // o16 fnstenv [D]
          0x66, 0xD9, 0x25, A(0),                      // o16 fldenv [D]
          0x66, 0xD9, 0x35, A(16)});                   // o16 fnstenv [D+16]
  ASSERT_EQ(p.run(), EXIT_HLT);
  uint16_t e[7];
  p.mem.read_bytes(D, e, 14);
  EXPECT_EQ(e[3], uint16_t(CpuHarness::CODE_ADDR + 4));
  EXPECT_EQ(e[4], 0x08);
  EXPECT_EQ(e[5], uint16_t(D + 100));
  EXPECT_EQ(e[6], 0x10);
  p.mem.read_bytes(D, a, 14);
  p.mem.read_bytes(D + 16, b, 14);
  EXPECT_EQ(std::memcmp(a, b, 14), 0);
}

TEST(Fpu, FipTracksLastNonControlInstructionInsideBlocks) {
  CpuHarness h;
  h.code({0x90, 0x90, 0xD9, 0xE8,          // nop; nop; fld1 (at CODE+2)
          0x40,                            // inc eax
          0xD9, 0x3D, A(0),                // fnstcw (control: FIP unchanged)
          0x90,
          0xD9, 0x35, A(16)});             // fnstenv [D+16]
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(D + 16 + 12), CpuHarness::CODE_ADDR + 2);
  EXPECT_EQ(h.rd32(D + 16 + 16) >> 16, 0x1E8u);
}

struct NoIo : IoBus {
  uint32_t in(uint16_t, unsigned) override { return ~0u; }
  void out(uint16_t, unsigned, uint32_t) override {}
};

TEST(Fpu, CpuidReportsFpu) {
  CpuHarness h;
  h.cpu.regs[EAX] = 1;
  h.code({0x0F, 0xA2});
  ASSERT_EQ(h.run(), EXIT_CPUID);
  NoIo io;
  ASSERT_TRUE(execute_trapped(h.cpu, io));
  EXPECT_EQ(h.cpu.regs[EDX] & 1u, 1u);
}

// The random draws of the comparisons below (xorshift64).
struct XorShift64 {
  uint64_t s;
  uint64_t operator()() {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return s;
  }
};

// The software fast paths (interp/fpu_fast.h) against the host FPU (the round trip) over random
// states and operands: whenever a fast path takes an instruction, the state and the stored
// bytes must be exactly what the hardware gives. States mix empty and full registers, every
// TOP, rounding and precision control, masks, C0-C3 and sticky flags; values mix normal,
// exact-in-double, rounding ties, near-overflow/underflow, zero, denormal, NaN and infinity.
TEST(Fpu, FastPathsMatchTheHostFpu) {
  XorShift64 rnd{0x9E3779B97F4A7C15ull};
  auto f80 = [&](Float80& r) {
    const uint64_t k = rnd() % 16;
    r.mant = rnd();
    uint16_t exp = uint16_t(16383 - 1100 + rnd() % 2200);  // around the double's range
    if (k == 0) r.mant &= ~uint64_t(0x7FF);                  // exact in a double
    if (k == 1) r.mant = (r.mant & ~uint64_t(0x7FF)) | 0x400;  // a tie
    if (k == 2) exp = uint16_t(16383 + 1023 - rnd() % 2), r.mant |= 0xFFFFFFFFFFFFF800ull;
    if (k == 3) exp = uint16_t(16383 - 1022 - rnd() % 2);
    if (k == 4) exp = 0, r.mant = rnd() % 2 ? 0 : r.mant;    // zero or denormal
    if (k == 5) exp = 0x7FFF;                                // NaN or infinity
    if (k != 4 && k != 5 && k != 6) r.mant |= uint64_t(1) << 63;  // 6: unnormal sometimes
    r.se = uint16_t(exp | (rnd() % 2 ? 0x8000 : 0));
    r.pad[0] = r.pad[1] = r.pad[2] = 0;
  };
  auto dbl = [&]() {
    const uint64_t k = rnd() % 12;
    uint64_t d = rnd();
    if (k == 0) d &= 0x800FFFFFFFFFFFFFull;                          // zero exponent
    if (k == 1) d &= 0x8000000000000000ull;                          // zero
    if (k == 2) d |= 0x7FF0000000000000ull;                          // NaN, infinity
    if (k == 3) d = (d & 0x800FFFFFFFFFFFFFull) | 0x7FF0000000000000ull * (rnd() % 2);
    return d;
  };
  unsigned taken[2] = {0, 0};
  for (int n = 0; n < 200000; ++n) {
    FpuState f{};
    for (Float80& r : f.st) f80(r);
    f.cw = uint16_t(0x0040 | (rnd() % 8 == 0 ? rnd() & 0x0F3F : 0x033F | (rnd() & 0x0C00)));
    if (rnd() % 4 == 0) f.cw &= uint16_t(~0x0020);  // PE unmasked
    f.sw = uint16_t(rnd() & 0x477F);                // C0-C3, TOP, sticky flags
    f.tw = uint16_t(rnd());
    f.tw = fpu_full_tag_word(f);
    fpu_update_summary(f);
    f.fip = uint32_t(rnd());
    const bool store = rnd() % 2;
    const uint16_t code = store ? uint16_t(rnd() % 2 ? 0xDD17 : 0xDD1F) : uint16_t(0xDD07);
    uint8_t fast_mem[16], host_mem[16];
    const uint64_t d = dbl();
    std::memcpy(fast_mem, &d, 8);
    std::memcpy(host_mem, &d, 8);
    FpuState fast = f, host = f;
    const bool took = store ? fpu_fast_fst64(fast, code, fast_mem) : fpu_fast_fld64(fast, code, fast_mem);
    if (!took) {
      ASSERT_EQ(std::memcmp(&fast, &f, sizeof f), 0) << "a refused fast path changed the state";
      continue;
    }
    ++taken[store];
    const FpuExecResult r = fpu_roundtrip_exec(host, code, host_mem, 8, store, 0);
    SCOPED_TRACE(::testing::Message() << std::hex << "code " << code << " cw " << f.cw << " sw "
                                      << f.sw << " tw " << f.tw << " operand " << d << " ST0 "
                                      << f.st[(f.sw >> 11) & 7].se << ":" << f.st[(f.sw >> 11) & 7].mant);
    EXPECT_EQ(fast.sw, host.sw);
    EXPECT_EQ(fast.tw, host.tw);
    EXPECT_EQ(fast.cw, host.cw);
    for (unsigned k = 0; k < 8; ++k) {
      EXPECT_EQ(fast.st[k].se, host.st[k].se) << "R" << k;
      EXPECT_EQ(fast.st[k].mant, host.st[k].mant) << "R" << k;
    }
    if (store) {
      EXPECT_TRUE(r.stored);
      EXPECT_EQ(std::memcmp(fast_mem, host_mem, 8), 0);
    }
    if (HasFailure()) break;
  }
  // The draws reach the fast paths often enough to mean something.
  EXPECT_GT(taken[0], 5000u);
  EXPECT_GT(taken[1], 5000u);
}


// The backend's quick paths (interp/fpu_quick.cpp) against its round trip (the whole state in
// the host FPU) over random states, instructions and operands: whenever the quick path takes
// an instruction, the registers, tags, status word (C0-C3, TOP, the sticky flags, SF, ES/B),
// EFLAGS from FCOMI, the flags raised and the stored bytes must be exactly the round trip's;
// when it refuses one, nothing may have changed. States mix empty and full stacks, every TOP,
// rounding and precision control, masked and unmasked exceptions, C0-C3 and sticky flags;
// values mix small integers, normal, denormal, unnormal, zero, NaN and infinity.
TEST(Fpu, QuickPathsMatchTheRoundTrip) {
  XorShift64 rnd{0x2545F4914F6CDD1Dull};
  auto f80 = [&](Float80& r) {
    const uint64_t k = rnd() % 16;
    r.mant = rnd() | uint64_t(1) << 63;
    uint16_t exp = uint16_t(16383 - 70 + rnd() % 140);
    if (k == 0) exp = uint16_t(rnd() % 0x7FFF);                                 // anywhere
    if (k == 1) exp = uint16_t(16383 + rnd() % 20), r.mant &= ~uint64_t(0) << (63 - rnd() % 20);
    if (k == 2) r.mant &= ~uint64_t(0) << 40;                                   // few bits
    if (k == 3) exp = 0, r.mant = rnd() % 2 ? 0 : r.mant >> (1 + rnd() % 63);  // zero, denormal
    if (k == 4) exp = 0x7FFF, r.mant = rnd() % 2 ? uint64_t(1) << 63 : r.mant;  // inf, NaN
    if (k == 5) exp = 0, r.mant = 0;                                            // zero
    if (k == 6) exp = uint16_t(rnd() % 0x7FFF), r.mant >>= rnd() % 2;           // unnormal
    if (k == 7) exp = uint16_t(16383 + 62 + rnd() % 3);                         // near 2^63
    r.se = uint16_t(exp | (rnd() % 2 ? 0x8000 : 0));
    r.pad[0] = r.pad[1] = r.pad[2] = 0;
  };
  // Memory operand bytes for a format: the value of a register converted, small integers,
  // special bit patterns or noise.
  auto operand = [&](uint8_t* m, unsigned n, bool integer) {
    uint64_t v = rnd();
    const uint64_t k = rnd() % 8;
    if (integer && k < 4) v = uint64_t(int64_t(rnd() % 2001) - 1000);
    if (!integer && n == 8 && k < 3) {  // a double: zero, denormal, infinity or NaN, 1 .. 2^20
      const uint64_t e = k == 0 ? 0 : k == 1 ? 0x7FF : 1023 + rnd() % 20;
      v = (v & 0x800FFFFFFFFFFFFFull) | (e << 52);
      if (k == 0 && rnd() % 2) v &= 0x8000000000000000ull;
    }
    if (!integer && n == 4 && k < 3) {
      const uint32_t e = k == 0 ? 0 : k == 1 ? 0xFF : 127 + rnd() % 20;
      v = (v & 0x807FFFFFull) | (e << 23);
      if (k == 0 && rnd() % 2) v &= 0x80000000ull;
    }
    std::memcpy(m, &v, n < 8 ? n : 8);
    if (n == 10) {
      Float80 r;
      f80(r);
      std::memcpy(m, &r.mant, 8);
      std::memcpy(m + 8, &r.se, 2);
      if (integer) for (unsigned b = 0; b < 9; ++b) m[b] = uint8_t((rnd() % 10) << 4 | rnd() % 10);
    }
  };
  struct Form {
    uint16_t code;
    uint8_t size;  // memory operand bytes, 0 for a register form
    bool store, integer;
  };
  std::vector<Form> forms;
  auto regs = [&](unsigned esc, unsigned lo, unsigned hi) {
    for (unsigned m = lo; m <= hi; ++m) forms.push_back({uint16_t(esc << 8 | m), 0, false, false});
  };
  regs(0xD8, 0xC0, 0xFF);
  regs(0xD9, 0xC0, 0xD0);
  regs(0xD9, 0xE0, 0xE1);
  regs(0xD9, 0xE4, 0xE5);
  regs(0xD9, 0xE8, 0xEE);
  regs(0xD9, 0xF0, 0xFF);
  regs(0xDA, 0xC0, 0xDF);
  regs(0xDA, 0xE9, 0xE9);
  regs(0xDB, 0xC0, 0xDF);
  regs(0xDB, 0xE8, 0xF7);
  regs(0xDC, 0xC0, 0xFF);
  regs(0xDD, 0xC0, 0xC7);
  regs(0xDD, 0xD0, 0xEF);
  regs(0xDE, 0xC0, 0xCF);
  regs(0xDE, 0xD9, 0xD9);
  regs(0xDE, 0xE0, 0xFF);
  regs(0xDF, 0xE8, 0xF7);
  auto mems = [&](unsigned esc, unsigned reg, unsigned size, bool store, bool integer) {
    forms.push_back({uint16_t(esc << 8 | reg << 3), uint8_t(size), store, integer});
  };
  for (unsigned reg = 0; reg < 8; ++reg) {
    mems(0xD8, reg, 4, false, false);
    mems(0xDA, reg, 4, false, true);
    mems(0xDC, reg, 8, false, false);
    mems(0xDE, reg, 2, false, true);
  }
  mems(0xD9, 0, 4, false, false), mems(0xD9, 2, 4, true, false), mems(0xD9, 3, 4, true, false);
  mems(0xDB, 0, 4, false, true), mems(0xDB, 2, 4, true, true), mems(0xDB, 3, 4, true, true);
  mems(0xDB, 5, 10, false, false), mems(0xDB, 7, 10, true, false);
  mems(0xDD, 0, 8, false, false), mems(0xDD, 2, 8, true, false), mems(0xDD, 3, 8, true, false);
  mems(0xDF, 0, 2, false, true), mems(0xDF, 2, 2, true, true), mems(0xDF, 3, 2, true, true);
  mems(0xDF, 4, 10, false, true), mems(0xDF, 5, 8, false, true), mems(0xDF, 6, 10, true, true);
  mems(0xDF, 7, 8, true, true);

  std::vector<unsigned> taken(forms.size(), 0);
  unsigned total = 0, failures = 0;
  std::vector<bool> failed(forms.size(), false);  // one report per form
  for (int n = 0; n < 400000; ++n) {
    const unsigned fi = unsigned(rnd() % forms.size());
    const Form& form = forms[fi];
    if (failed[fi]) continue;
    uint16_t code = form.code;
    if (form.size) code = uint16_t(code | (rnd() % 3) << 6 | (rnd() % 8));  // any mod 0-2, rm
    FpuState f{};
    for (Float80& r : f.st) f80(r);
    // Mostly everything masked (as Linux and Windows run), any RC and PC; sometimes anything.
    f.cw = uint16_t(0x0040 | (rnd() % 4 ? 0x003F | (rnd() & 0x0F00) : rnd() & 0x1F3F));
    f.sw = uint16_t(rnd() & 0x477F);  // C0-C3, TOP, sticky flags and SF
    // Stacks as programs make them (the depth's registers from TOP up full, the rest empty),
    // empty, full, or any tags.
    const uint64_t t = rnd() % 8;
    f.tw = t == 0 ? 0xFFFF : t == 1 ? 0 : t < 4 ? uint16_t(rnd() & rnd()) : uint16_t(rnd());
    if (t >= 5) {
      const unsigned depth = unsigned(rnd() % 9);
      f.tw = 0xFFFF;
      for (unsigned k = 0; k < depth; ++k) fpu_set_tag(f, (fpu_top(f.sw) + k) & 7, 0);
    }
    f.tw = fpu_full_tag_word(f);
    fpu_update_summary(f);
    f.fip = uint32_t(rnd());
    const uint8_t flags_in = uint8_t(rnd());
    uint8_t mem[16] = {}, qmem[16], rmem[16];
    if (form.size && !form.store) operand(mem, form.size, form.integer);
    else for (uint8_t& b : mem) b = uint8_t(rnd());
    std::memcpy(qmem, mem, 16);
    std::memcpy(rmem, mem, 16);
    FpuState q = f, r = f;
    FpuExecResult qr{};
    if (!fpu_quick_exec(q, code, form.size ? qmem : nullptr, form.size, form.store, flags_in, qr)) {
      ASSERT_EQ(std::memcmp(&q, &f, sizeof f), 0) << "a refused quick path changed the state";
      ASSERT_EQ(std::memcmp(qmem, mem, 16), 0) << "a refused quick path wrote memory";
      continue;
    }
    ++taken[fi], ++total;
    const FpuExecResult rr =
        fpu_roundtrip_exec(r, code, form.size ? rmem : nullptr, form.size, form.store, flags_in);
    bool same = q.sw == r.sw && q.tw == r.tw && q.cw == r.cw && q.fip == r.fip &&
                q.fop == r.fop && qr.flags == rr.flags && qr.raised == rr.raised &&
                qr.stored == rr.stored &&
                (!form.store || std::memcmp(qmem, rmem, form.size) == 0);
    for (unsigned k = 0; k < 8; ++k)
      same = same && q.st[k].se == r.st[k].se && q.st[k].mant == r.st[k].mant;
    if (same) continue;
    auto show = [](const FpuState& s, const FpuExecResult& x, const uint8_t* m, unsigned size) {
      ::testing::Message msg;
      msg << std::hex << "sw " << s.sw << " tw " << s.tw << " flags " << unsigned(x.flags)
          << " raised " << x.raised << " stored " << x.stored << " mem";
      for (unsigned b = 0; b < size; ++b) msg << " " << unsigned(m[b]);
      for (unsigned k = 0; k < 8; ++k) msg << "\n  R" << k << " " << s.st[k].se << ":" << s.st[k].mant;
      return msg;
    };
    ADD_FAILURE() << std::hex << "code " << code << " cw " << f.cw << " flags_in "
                  << unsigned(flags_in) << "\nbefore: " << show(f, FpuExecResult{}, mem, form.size)
                  << "\nquick: " << show(q, qr, qmem, form.size)
                  << "\nround trip: " << show(r, rr, rmem, form.size);
    failed[fi] = true;
    if (++failures == 20) break;
  }
  // Every form the quick paths exist for was taken often enough to mean something; the ones
  // compiled code runs most (lua-float: FLD/FSTP m64, FILD m32, FMULP, FADDP, FSUBRP, FCOMIP,
  // FSTP ST(0), FXCH, FLD ST(i)) among them.
  EXPECT_GT(total, 100000u);
  unsigned forms_taken = 0;
  for (size_t k = 0; k < forms.size(); ++k) {
    if (taken[k]) ++forms_taken;
    const uint16_t c = forms[k].code;
    if (c == 0xDD00 || c == 0xDD18 || c == 0xDB00 || c == 0xDEC9 || c == 0xDEC1 ||
        c == 0xDEE1 || c == 0xDFF1 || c == 0xDDD8 || c == 0xD9C9 || c == 0xD9C1) {
      EXPECT_GT(taken[k], 100u) << std::hex << c;
    }
  }
  EXPECT_GT(forms_taken, 300u);
}

}  // namespace
}  // namespace softcpu
