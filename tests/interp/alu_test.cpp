// ADD OR ADC SBB AND SUB XOR CMP TEST INC DEC NEG NOT: results and exact arithmetic flags
// (hand-computed from the SDM vol.2 instruction pages).
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::flags_in;
using test::arith;
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;  // disp32 bytes: 00 00 02 00

TEST(AluOps, Add32CarryZero) {
  CpuHarness h;
  h.code({0x01, 0xD8});  // add eax, ebx
  h.cpu.regs[EAX] = 0xFFFFFFFF;
  h.cpu.regs[EBX] = 1;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0u);
  EXPECT_EQ(arith(h), CF | ZF | PF | AF);
}

TEST(AluOps, Add32SignedOverflow) {
  CpuHarness h;
  h.code({0x01, 0xD8});  // add eax, ebx
  h.cpu.regs[EAX] = 0x7FFFFFFF;
  h.cpu.regs[EBX] = 1;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x80000000u);
  EXPECT_EQ(arith(h), OF | SF | AF | PF);
}

TEST(AluOps, Add8HighByteRegisters) {
  CpuHarness h;
  h.code({0x00, 0xDC});  // add ah, bl
  h.cpu.regs[EAX] = 0x11228033;
  h.cpu.regs[EBX] = 0x00000080;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x11220033u);
  EXPECT_EQ(arith(h), CF | OF | ZF | PF);
}

TEST(AluOps, AddDirectionBitRegDestination) {
  CpuHarness h;
  h.code({0x03, 0xD8});  // add ebx, eax (03 /r: reg is the destination)
  h.cpu.regs[EAX] = 7;
  h.cpu.regs[EBX] = 5;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EBX], 12u);
  EXPECT_EQ(h.cpu.regs[EAX], 7u);
  EXPECT_EQ(arith(h), PF);  // 0x0C: two bits set
}

TEST(AluOps, AccumulatorShortForms) {
  CpuHarness h;
  h.code({0x04, 0xFF,                          // add al, 0xFF
          0x88, 0xC1,                          // mov cl, al
          0x66, 0x05, 0x34, 0x12,              // add ax, 0x1234
          0x05, 0x00, 0x00, 0x00, 0x80});      // add eax, 0x80000000
  h.cpu.regs[EAX] = 0xAAAA0001;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[ECX] & 0xFF, 0u);           // 1 + 0xFF = 0x100
  EXPECT_EQ(h.cpu.regs[EAX], 0x2AAA1234u);         // 0xAAAA1234 + 0x80000000
  EXPECT_EQ(arith(h), CF | OF);                    // 0x34 has 3 bits: PF = 0
}

TEST(AluOps, SignExtendedImm8) {
  CpuHarness h;
  h.code({0x83, 0xC1, 0xFF});  // add ecx, -1
  h.cpu.regs[ECX] = 0;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[ECX], 0xFFFFFFFFu);
  EXPECT_EQ(arith(h), SF | PF);

  CpuHarness h2;
  h2.code({0x66, 0x83, 0xC1, 0x80});  // add cx, -128
  h2.cpu.regs[ECX] = 0x55550080;
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[ECX], 0x55550000u);
  EXPECT_EQ(arith(h2), CF | ZF | PF);
}

TEST(AluOps, AdcUsesCarryIn) {
  CpuHarness h;
  h.code({0x11, 0xD8});  // adc eax, ebx
  h.cpu.regs[EAX] = 0xFFFFFFFF;
  h.cpu.regs[EBX] = 0;
  flags_in(h, CF);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0u);
  EXPECT_EQ(arith(h), CF | ZF | PF | AF);

  CpuHarness h2;
  h2.code({0x14, 0x7F});  // adc al, 0x7F
  h2.cpu.regs[EAX] = 0;
  flags_in(h2, CF);
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[EAX], 0x80u);
  EXPECT_EQ(arith(h2), OF | SF | AF);

  CpuHarness h3;  // carry out of the 32-bit ADC chain: 0xFFFFFFFF + 0xFFFFFFFF + 1
  h3.code({0x11, 0xD8});
  h3.cpu.regs[EAX] = 0xFFFFFFFF;
  h3.cpu.regs[EBX] = 0xFFFFFFFF;
  flags_in(h3, CF);
  RUN_OK(h3);
  EXPECT_EQ(h3.cpu.regs[EAX], 0xFFFFFFFFu);
  EXPECT_EQ(arith(h3), CF | SF | PF | AF);
}

TEST(AluOps, SbbUsesBorrowIn) {
  CpuHarness h;
  h.code({0x19, 0xD8});  // sbb eax, ebx
  h.cpu.regs[EAX] = 0;
  h.cpu.regs[EBX] = 0;
  flags_in(h, CF);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0xFFFFFFFFu);
  EXPECT_EQ(arith(h), CF | SF | AF | PF);

  CpuHarness h2;
  h2.code({0x19, 0xD8});
  h2.cpu.regs[EAX] = 5;
  h2.cpu.regs[EBX] = 4;
  flags_in(h2, CF);
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[EAX], 0u);
  EXPECT_EQ(arith(h2), ZF | PF);

  CpuHarness h3;  // 0 - 0xFFFFFFFF - 1 = 0 with a borrow
  h3.code({0x19, 0xD8});
  h3.cpu.regs[EAX] = 0;
  h3.cpu.regs[EBX] = 0xFFFFFFFF;
  flags_in(h3, CF);
  RUN_OK(h3);
  EXPECT_EQ(h3.cpu.regs[EAX], 0u);
  EXPECT_EQ(arith(h3), CF | ZF | PF | AF);
}

TEST(AluOps, SubOverflowAndCmpDoesNotWrite) {
  CpuHarness h;
  h.code({0x83, 0xE8, 0x01});  // sub eax, 1
  h.cpu.regs[EAX] = 0x80000000;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x7FFFFFFFu);
  EXPECT_EQ(arith(h), OF | AF | PF);

  CpuHarness h2;
  h2.code({0x39, 0xCB});  // cmp ebx, ecx
  h2.cpu.regs[EBX] = 1;
  h2.cpu.regs[ECX] = 2;
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[EBX], 1u);
  EXPECT_EQ(arith(h2), CF | SF | AF | PF);

  CpuHarness h3;
  h3.code({0x3C, 0x80});  // cmp al, 0x80
  h3.cpu.regs[EAX] = 0x7F;
  RUN_OK(h3);
  EXPECT_EQ(h3.cpu.regs[EAX], 0x7Fu);
  EXPECT_EQ(arith(h3), CF | OF | SF | PF);  // 0x7F - 0x80 = 0xFF
}

TEST(AluOps, LogicClearsCarryOverflowAux) {
  CpuHarness h;
  h.code({0x21, 0xD8});  // and eax, ebx
  h.cpu.regs[EAX] = 0xF0F0F0F0;
  h.cpu.regs[EBX] = 0x0FF00FF0;
  flags_in(h, ARITH_FLAGS);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x00F000F0u);
  EXPECT_EQ(arith(h), PF);

  CpuHarness h2;
  h2.code({0x31, 0xC0,        // xor eax, eax
           0x0C, 0x80});      // or al, 0x80
  h2.cpu.regs[EAX] = 0x12345678;
  flags_in(h2, CF | OF);
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[EAX], 0x80u);
  EXPECT_EQ(arith(h2), SF);
}

TEST(AluOps, TestForms) {
  CpuHarness h;
  h.code({0x85, 0xC9});  // test ecx, ecx
  h.cpu.regs[ECX] = 0x80000000;
  flags_in(h, CF | OF | AF);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[ECX], 0x80000000u);
  EXPECT_EQ(arith(h), SF | PF);

  CpuHarness h2;
  h2.code({0xA8, 0x01});  // test al, 1
  h2.cpu.regs[EAX] = 2;
  RUN_OK(h2);
  EXPECT_EQ(arith(h2), ZF | PF);

  CpuHarness h3;
  h3.code({0xF7, 0x05, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x80});  // test dword [DATA], 0x80000000
  h3.wr32(DATA, 0x80000001);
  RUN_OK(h3);
  EXPECT_EQ(h3.rd32(DATA), 0x80000001u);
  EXPECT_EQ(arith(h3), SF | PF);
}

TEST(AluOps, MemoryForms) {
  CpuHarness h;
  h.code({0x01, 0x05, 0x00, 0x00, 0x02, 0x00,              // add [DATA], eax
          0x2B, 0x0D, 0x04, 0x00, 0x02, 0x00,              // sub ecx, [DATA+4]
          0x83, 0x05, 0x08, 0x00, 0x02, 0x00, 0xFF,        // add dword [DATA+8], -1
          0x80, 0x05, 0x0C, 0x00, 0x02, 0x00, 0x01,        // add byte [DATA+12], 1
          0x66, 0x81, 0x05, 0x10, 0x00, 0x02, 0x00, 0x01, 0x80});  // add word [DATA+16], 0x8001
  h.cpu.regs[EAX] = 0x10;
  h.cpu.regs[ECX] = 100;
  h.wr32(DATA, 0xF0);
  h.wr32(DATA + 4, 30);
  h.wr32(DATA + 8, 1);
  h.wr32(DATA + 12, 0xAABBCCFF);
  h.wr32(DATA + 16, 0x12347FFF);
  RUN_OK(h);
  EXPECT_EQ(h.rd32(DATA), 0x100u);
  EXPECT_EQ(h.cpu.regs[ECX], 70u);
  EXPECT_EQ(h.rd32(DATA + 8), 0u);
  EXPECT_EQ(h.rd32(DATA + 12), 0xAABBCC00u);
  EXPECT_EQ(h.rd32(DATA + 16), 0x12340000u);
  EXPECT_EQ(arith(h), CF | ZF | PF | AF);  // 0x7FFF + 0x8001 = 0x10000
}

TEST(AluOps, IncDecKeepCarry) {
  CpuHarness h;
  h.code({0x40});  // inc eax
  h.cpu.regs[EAX] = 0x7FFFFFFF;
  flags_in(h, CF);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x80000000u);
  EXPECT_EQ(arith(h), CF | OF | SF | AF | PF);

  CpuHarness h2;
  h2.code({0x49});  // dec ecx
  h2.cpu.regs[ECX] = 0;
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[ECX], 0xFFFFFFFFu);
  EXPECT_EQ(arith(h2), SF | AF | PF);

  CpuHarness h3;
  h3.code({0xFE, 0x05, 0x00, 0x00, 0x02, 0x00,  // inc byte [DATA]
           0x66, 0x40,                          // inc ax
           0xFE, 0xC7});                        // inc bh
  h3.wr32(DATA, 0x112233FF);
  h3.cpu.regs[EAX] = 0x1234FFFF;
  h3.cpu.regs[EBX] = 0x0000FF00;
  flags_in(h3, CF);
  RUN_OK(h3);
  EXPECT_EQ(h3.rd32(DATA), 0x11223300u);
  EXPECT_EQ(h3.cpu.regs[EAX], 0x12340000u);
  EXPECT_EQ(h3.cpu.regs[EBX], 0u);
  EXPECT_EQ(arith(h3), CF | ZF | AF | PF);

  CpuHarness h4;
  h4.code({0x66, 0x48});  // dec ax: 0x8000 -> 0x7FFF overflows
  h4.cpu.regs[EAX] = 0x8000;
  RUN_OK(h4);
  EXPECT_EQ(h4.cpu.regs[EAX], 0x7FFFu);
  EXPECT_EQ(arith(h4), OF | AF | PF);
}

TEST(AluOps, Neg) {
  CpuHarness h;
  h.code({0xF7, 0xD8});  // neg eax
  h.cpu.regs[EAX] = 0;
  flags_in(h, CF | OF);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0u);
  EXPECT_EQ(arith(h), ZF | PF);

  CpuHarness h2;
  h2.code({0xF7, 0xD8});
  h2.cpu.regs[EAX] = 0x80000000;
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[EAX], 0x80000000u);
  EXPECT_EQ(arith(h2), CF | OF | SF | PF);

  CpuHarness h3;
  h3.code({0xF6, 0x1D, 0x00, 0x00, 0x02, 0x00});  // neg byte [DATA]
  h3.wr32(DATA, 0x01);
  RUN_OK(h3);
  EXPECT_EQ(h3.rd32(DATA), 0xFFu);
  EXPECT_EQ(arith(h3), CF | SF | AF | PF);
}

TEST(AluOps, NotChangesNoFlags) {
  CpuHarness h;
  h.code({0xF7, 0xD0,                                // not eax
          0x66, 0xF7, 0x15, 0x00, 0x00, 0x02, 0x00});  // not word [DATA]
  h.cpu.regs[EAX] = 0x0F0F0F0F;
  h.wr32(DATA, 0x12340000);
  flags_in(h, CF | ZF | OF);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0xF0F0F0F0u);
  EXPECT_EQ(h.rd32(DATA), 0x1234FFFFu);
  EXPECT_EQ(arith(h), CF | ZF | OF);
}

TEST(AluOps, LockPrefix) {
  CpuHarness h;
  h.code({0xF0, 0x01, 0x05, 0x00, 0x00, 0x02, 0x00});  // lock add [DATA], eax: legal
  h.cpu.regs[EAX] = 3;
  h.wr32(DATA, 4);
  RUN_OK(h);
  EXPECT_EQ(h.rd32(DATA), 7u);

  CpuHarness h2;
  h2.code({0xF0, 0x01, 0xD8});  // lock add eax, ebx: #UD
  h2.cpu.regs[EAX] = 1;
  EXPECT_EQ(h2.run(), EXIT_HLT);
  EXPECT_EQ(h2.last_vector(), 6);
  EXPECT_EQ(h2.cpu.regs[EAX], 1u);

  CpuHarness h3;
  h3.code({0xF0, 0x39, 0x05, 0x00, 0x00, 0x02, 0x00});  // lock cmp [DATA], eax: #UD
  EXPECT_EQ(h3.run(), EXIT_HLT);
  EXPECT_EQ(h3.last_vector(), 6);
}

TEST(AluOps, RealModeSixteenBit) {
  CpuHarness h(false);
  h.code({0x01, 0xD8,        // add ax, bx (16-bit default operand size)
          0x66, 0x29, 0xD9});  // sub ecx, ebx
  h.cpu.regs[EAX] = 0xAAAAFFFF;
  h.cpu.regs[EBX] = 0x00010001;
  h.cpu.regs[ECX] = 0x00010000;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0xAAAA0000u);
  EXPECT_EQ(h.cpu.regs[ECX], 0xFFFFFFFFu);
  EXPECT_EQ(arith(h), CF | SF | AF | PF);  // 0x10000 - 0x10001
}

TEST(AluOps, ConditionAfterCmp) {
  CpuHarness h;
  h.code({0x39, 0xD8,        // cmp eax, ebx
          0x0F, 0x9C, 0xC1,  // setl cl
          0x0F, 0x92, 0xC5});  // setb ch
  h.cpu.regs[EAX] = 0xFFFFFFFF;  // -1 < 1 signed, but not below unsigned
  h.cpu.regs[EBX] = 1;
  h.cpu.regs[ECX] = 0xFFFF;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[ECX], 0x0001u);
}

}  // namespace
}  // namespace softcpu
