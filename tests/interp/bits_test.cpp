// BT BTS BTR BTC, BSF BSR, SETcc, CMOVcc, BSWAP.
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::flags_in;
using test::arith;
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;

TEST(BitOps, BtRegisterForms) {
  CpuHarness h;
  h.code({0x0F, 0xBA, 0xE0, 0x05});  // bt eax, 5
  h.cpu.regs[EAX] = 0x20;
  flags_in(h, ZF | SF | OF | PF | AF);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x20u);
  EXPECT_EQ(arith(h), CF | ZF | SF | OF | PF | AF);  // only CF changes

  CpuHarness h2;
  h2.code({0x0F, 0xA3, 0xC8});  // bt eax, ecx: offset 37 mod 32 = 5
  h2.cpu.regs[EAX] = 0x20;
  h2.cpu.regs[ECX] = 37;
  RUN_OK(h2);
  EXPECT_EQ(arith(h2), CF);

  CpuHarness h3;
  h3.code({0x0F, 0xBA, 0xE8, 0x03,          // bts eax, 3
           0x0F, 0xBA, 0xF3, 0x1F,          // btr ebx, 31
           0x0F, 0xBA, 0xF9, 0x00,          // btc ecx, 0
           0x66, 0x0F, 0xBA, 0xFA, 0x11});  // btc dx, 17 -> bit 1
  h3.cpu.regs[EAX] = 0;
  h3.cpu.regs[EBX] = 0x80000001;
  h3.cpu.regs[ECX] = 1;
  h3.cpu.regs[EDX] = 0xFFFF0000;
  flags_in(h3, CF);
  RUN_OK(h3);
  EXPECT_EQ(h3.cpu.regs[EAX], 8u);
  EXPECT_EQ(h3.cpu.regs[EBX], 1u);
  EXPECT_EQ(h3.cpu.regs[ECX], 0u);
  EXPECT_EQ(h3.cpu.regs[EDX], 0xFFFF0002u);
  EXPECT_EQ(arith(h3), 0u);  // bit 1 of DX was 0
}

TEST(BitOps, BtMemoryRegisterOffsetIsSigned) {
  CpuHarness h;
  h.code({0x0F, 0xA3, 0x0D, 0x00, 0x00, 0x02, 0x00,   // bt [DATA], ecx (35: dword +4, bit 3)
          0x0F, 0x92, 0xC0,                         // setb al
          0x0F, 0xAB, 0x15, 0x04, 0x00, 0x02, 0x00,   // bts [DATA+4], edx (-1: dword -4, bit 31)
          0x0F, 0x92, 0xC4,                         // setb ah
          0x66, 0x0F, 0xB3, 0x1D, 0x0A, 0x00, 0x02, 0x00,  // btr word [DATA+10], bx (-16)
          0x0F, 0x92, 0xC1,                         // setb cl
          0x0F, 0xBA, 0x25, 0x0C, 0x00, 0x02, 0x00, 0x21});  // bt dword [DATA+12], 33 -> bit 1
  h.wr32(DATA, 0);
  h.wr32(DATA + 4, 8);
  h.wr32(DATA + 8, 0xFFFF);
  h.wr32(DATA + 12, 2);
  h.cpu.regs[ECX] = 35;
  h.cpu.regs[EDX] = 0xFFFFFFFF;
  h.cpu.regs[EBX] = 0x1234FFF0;  // BX = -16: the upper half of EBX is ignored
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFFFF, 0x0001u);  // bt: set; bts: bit 31 of [DATA] was clear
  EXPECT_EQ(h.rd32(DATA), 0x80000000u);
  EXPECT_EQ(h.rd32(DATA + 8), 0xFFFEu);          // word at DATA+8, bit 0
  EXPECT_EQ(h.cpu.regs[ECX] & 0xFF, 1u);
  EXPECT_EQ(arith(h), CF);
}

TEST(BitOps, BtLock) {
  CpuHarness h;
  h.code({0xF0, 0x0F, 0xAB, 0x0D, 0x00, 0x00, 0x02, 0x00});  // lock bts [DATA], ecx
  h.cpu.regs[ECX] = 4;
  RUN_OK(h);
  EXPECT_EQ(h.rd32(DATA), 0x10u);

  CpuHarness h2;
  h2.code({0xF0, 0x0F, 0xA3, 0x0D, 0x00, 0x00, 0x02, 0x00});  // lock bt [DATA], ecx: #UD
  EXPECT_EQ(h2.run(), EXIT_HLT);
  EXPECT_EQ(h2.last_vector(), 6);
}

// F3 0F BC/BD (TZCNT/LZCNT on BMI1/ABM parts) run as BSF/BSR on a P6: the REP prefix is
// ignored. Linux's __ffs() is "rep; bsf"; TZCNT would give 32 and CF=1 for a zero source.
TEST(BitOps, RepBsfRunsAsBsfWithoutBmi1) {
  CpuHarness h;
  h.code({0xF3, 0x0F, 0xBC, 0xC1,    // rep bsf eax, ecx
          0xF3, 0x0F, 0xBD, 0xDA});  // rep bsr ebx, edx
  h.cpu.regs[ECX] = 0x00010000;
  h.cpu.regs[EDX] = 0x00000300;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 16u);
  EXPECT_EQ(h.cpu.regs[EBX], 9u);

  CpuHarness h2;
  h2.code({0xF3, 0x0F, 0xBC, 0xC1});  // zero source: BSF leaves EAX, sets ZF, CF clear
  h2.cpu.regs[EAX] = 0x1234;
  h2.cpu.regs[ECX] = 0;
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[EAX], 0x1234u);
  EXPECT_EQ(arith(h2) & (ZF | CF), ZF);
}

TEST(BitOps, BsfBsr) {
  CpuHarness h;
  h.code({0x0F, 0xBC, 0xC1});  // bsf eax, ecx
  h.cpu.regs[ECX] = 0x80;
  flags_in(h, ARITH_FLAGS);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 7u);
  EXPECT_EQ(arith(h), 0u);

  CpuHarness h2;
  // bsf eax, ecx with ECX = 0: EAX unchanged, ZF set, the other flags kept (Intel P6, Bochs)
  h2.code({0x0F, 0xBC, 0xC1});
  h2.cpu.regs[EAX] = 0x1234;
  h2.cpu.regs[ECX] = 0;
  flags_in(h2, CF | SF | OF);
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[EAX], 0x1234u);
  EXPECT_EQ(arith(h2), CF | SF | OF | ZF);

  CpuHarness h2b;  // the same for bsr r16 with AF and PF set before
  h2b.code({0x66, 0x0F, 0xBD, 0xC1});
  h2b.cpu.regs[EAX] = 0xAAAA5555;
  h2b.cpu.regs[ECX] = 0xFFFF0000;
  flags_in(h2b, AF | PF);
  RUN_OK(h2b);
  EXPECT_EQ(h2b.cpu.regs[EAX], 0xAAAA5555u);
  EXPECT_EQ(arith(h2b), AF | PF | ZF);

  CpuHarness h3;
  h3.code({0x0F, 0xBD, 0xC1,          // bsr eax, ecx
           0x66, 0x0F, 0xBD, 0xDA});  // bsr bx, dx
  h3.cpu.regs[ECX] = 0x00F00000;
  h3.cpu.regs[EBX] = 0xFFFFFFFF;
  h3.cpu.regs[EDX] = 0xFFFF0001;
  RUN_OK(h3);
  EXPECT_EQ(h3.cpu.regs[EAX], 23u);
  EXPECT_EQ(h3.cpu.regs[EBX], 0xFFFF0000u);
  EXPECT_EQ(arith(h3), PF);

  CpuHarness h4;
  h4.code({0x0F, 0xBD, 0x05, 0x00, 0x00, 0x02, 0x00});  // bsr eax, [DATA]
  h4.wr32(DATA, 0x80000001);
  RUN_OK(h4);
  EXPECT_EQ(h4.cpu.regs[EAX], 31u);
  EXPECT_EQ(arith(h4), 0u);
}

TEST(BitOps, Setcc) {
  CpuHarness h;
  h.code({0x39, 0xD8,                                // cmp eax, ebx (1 - 2)
          0x0F, 0x9C, 0xC1,                          // setl cl
          0x0F, 0x92, 0xC5,                          // setb ch
          0x0F, 0x94, 0x05, 0x00, 0x00, 0x02, 0x00,  // setz [DATA]
          0x0F, 0x9F, 0xC2,                          // setg dl
          0x0F, 0x93, 0xC6,                          // setae dh
          0x0F, 0x96, 0xC3,                          // setbe bl
          0x0F, 0x98, 0xC7});                        // sets bh
  h.cpu.regs[EAX] = 1;
  h.cpu.regs[EBX] = 2;
  h.cpu.regs[ECX] = 0xFFFF0000;
  h.cpu.regs[EDX] = 0x0000FFFF;
  h.wr32(DATA, 0xAAAAAAAA);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[ECX], 0xFFFF0101u);
  EXPECT_EQ(h.rd32(DATA), 0xAAAAAA00u);
  EXPECT_EQ(h.cpu.regs[EDX], 0u);
  EXPECT_EQ(h.cpu.regs[EBX], 0x0101u);

  CpuHarness h2;  // signed overflow: 0x80000000 - 1
  h2.code({0x83, 0xF8, 0x01,   // cmp eax, 1
           0x0F, 0x9C, 0xC1,   // setl cl (SF != OF)
           0x0F, 0x90, 0xC5,   // seto ch
           0x0F, 0x9A, 0xC2,   // setp dl
           0x0F, 0x9E, 0xC6,   // setle dh
           0x0F, 0x97, 0xC3}); // seta bl
  h2.cpu.regs[EAX] = 0x80000000;
  RUN_OK(h2);
  EXPECT_EQ(h2.cpu.regs[ECX] & 0xFFFF, 0x0101u);
  EXPECT_EQ(h2.cpu.regs[EDX] & 0xFFFF, 0x0101u);
  EXPECT_EQ(h2.cpu.regs[EBX] & 0xFF, 1u);
}

TEST(BitOps, Cmovcc) {
  CpuHarness h;
  h.code({0x85, 0xD2,                                // test edx, edx (ZF = 1)
          0x0F, 0x44, 0xC1,                          // cmovz eax, ecx
          0x0F, 0x45, 0xD9,                          // cmovnz ebx, ecx
          0x66, 0x0F, 0x44, 0xF1,                    // cmovz si, cx
          0x0F, 0x44, 0x3D, 0x00, 0x00, 0x02, 0x00,  // cmovz edi, [DATA]
          0x0F, 0x4F, 0x2D, 0x00, 0x00, 0x02, 0x00}); // cmovg ebp, [DATA] (false)
  h.cpu.regs[EDX] = 0;
  h.cpu.regs[ECX] = 0x12345678;
  h.cpu.regs[EBX] = 0xBBBBBBBB;
  h.cpu.regs[ESI] = 0xAAAAAAAA;
  h.cpu.regs[EBP] = 0xCCCCCCCC;
  h.wr32(DATA, 0xDEADBEEF);
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x12345678u);
  EXPECT_EQ(h.cpu.regs[EBX], 0xBBBBBBBBu);
  EXPECT_EQ(h.cpu.regs[ESI], 0xAAAA5678u);
  EXPECT_EQ(h.cpu.regs[EDI], 0xDEADBEEFu);
  EXPECT_EQ(h.cpu.regs[EBP], 0xCCCCCCCCu);
}

TEST(BitOps, CmovReadsMemoryWhenFalse) {
  // Real mode, 32-bit address beyond the 64 KiB limit: #GP even though the condition is false.
  CpuHarness h(false);
  h.code({0x66, 0x67, 0x0F, 0x45, 0x03});  // cmovnz eax, [ebx]
  h.cpu.regs[EBX] = 0x10000;
  h.cpu.regs[EAX] = 0x1111;
  flags_in(h, ZF);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 13);
  EXPECT_EQ(h.cpu.regs[EAX], 0x1111u);
}

TEST(BitOps, Bswap) {
  CpuHarness h;
  h.code({0x0F, 0xC8,          // bswap eax
          0x0F, 0xCF,          // bswap edi
          0x66, 0x0F, 0xC9});  // bswap cx (undefined: low word cleared)
  h.cpu.regs[EAX] = 0x12345678;
  h.cpu.regs[EDI] = 0x000000FF;
  h.cpu.regs[ECX] = 0x12345678;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x78563412u);
  EXPECT_EQ(h.cpu.regs[EDI], 0xFF000000u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x12340000u);
}

}  // namespace
}  // namespace softcpu
