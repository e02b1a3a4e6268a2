// Data-movement group: MOVSX/MOVZX, XCHG, XADD, CMPXCHG, CMPXCHG8B, LEA, CBW..CDQ,
// LAHF/SAHF, flag instructions, XLAT, NOP forms, LOCK legality, moffs in 16-bit code.
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;

TEST(DataMore, MovzxMovsx) {
  CpuHarness h;
  h.cpu.regs[ECX] = 0x12345680;  // CL = 0x80
  h.cpu.regs[EDX] = 0xAAAAAAAA;
  h.cpu.regs[EBP] = 0xBBBBBBBB;
  h.wr32(0x20000, 0x00008001);
  h.code({0x0F, 0xB6, 0xC1,                                // movzx eax, cl
          0x0F, 0xBE, 0xD9,                                // movsx ebx, cl
          0x66, 0x0F, 0xBE, 0xD1,                          // movsx dx, cl
          0x0F, 0xB7, 0x35, 0x00, 0x00, 0x02, 0x00,        // movzx esi, word [0x20000]
          0x0F, 0xBF, 0x3D, 0x00, 0x00, 0x02, 0x00,        // movsx edi, word [0x20000]
          0x66, 0x0F, 0xBE, 0x2D, 0x00, 0x00, 0x02, 0x00,  // movsx bp, byte [0x20000]
          0x0F, 0xB6, 0xCD});                              // movzx ecx, ch
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0x80u);
  EXPECT_EQ(h.cpu.regs[EBX], 0xFFFFFF80u);
  EXPECT_EQ(h.cpu.regs[EDX], 0xAAAAFF80u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x8001u);
  EXPECT_EQ(h.cpu.regs[EDI], 0xFFFF8001u);
  EXPECT_EQ(h.cpu.regs[EBP], 0xBBBB0001u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x56u);
}

TEST(DataMore, XchgForms) {
  CpuHarness h;
  h.cpu.regs[EAX] = 1;
  h.cpu.regs[ECX] = 2;
  h.cpu.regs[EBX] = 0x33;
  h.cpu.regs[EDX] = 0x5555AAAA;
  h.wr32(0x20004, 0x44);
  h.code({0x91,                                // xchg eax, ecx
          0x87, 0x1D, 0x04, 0x00, 0x02, 0x00,  // xchg [0x20004], ebx
          0x86, 0xE0,                          // xchg ah, al
          0x66, 0x92,                          // xchg ax, dx
          0xF0, 0x87, 0x0D, 0x04, 0x00, 0x02, 0x00});  // lock xchg [0x20004], ecx
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], 0x0000AAAAu);
  EXPECT_EQ(h.cpu.regs[EDX], 0x55550200u);
  EXPECT_EQ(h.cpu.regs[EBX], 0x44u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x33u);
  EXPECT_EQ(h.rd32(0x20004), 1u);
}

TEST(DataMore, XaddMemoryAndSameRegister) {
  CpuHarness h;
  h.wr32(0x20008, 0xFFFFFFFF);
  h.cpu.regs[EAX] = 1;
  h.cpu.regs[ECX] = 0x40000000;
  h.code({0x0F, 0xC1, 0x05, 0x08, 0x00, 0x02, 0x00,  // xadd [0x20008], eax
          0x9F,                                      // lahf
          0x0F, 0xC1, 0xC9});                        // xadd ecx, ecx
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x20008), 0u);
  // EAX = old memory value; AH = SF:ZF:0:AF:0:PF:1:CF = 0 1 0 1 0 1 1 1.
  EXPECT_EQ(h.cpu.regs[EAX], 0xFFFF57FFu);
  EXPECT_EQ(h.cpu.regs[ECX], 0x80000000u);
  EXPECT_EQ(h.flags() & ARITH_FLAGS, OF | SF | PF);
}

TEST(DataMore, Xadd8BitHighRegisters) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0x00007F01;  // AH = 0x7F, AL = 0x01
  h.code({0x0F, 0xC0, 0xC4});    // xadd ah, al: AL = 0x7F, AH = 0x80
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0x0000807Fu);
  EXPECT_EQ(h.flags() & ARITH_FLAGS, OF | SF | AF);
}

TEST(DataMore, CmpxchgMatch) {
  CpuHarness h;
  h.cpu.regs[EAX] = 5;
  h.cpu.regs[ECX] = 9;
  h.wr32(0x2000C, 5);
  h.code({0x0F, 0xB1, 0x0D, 0x0C, 0x00, 0x02, 0x00});  // cmpxchg [0x2000C], ecx
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x2000C), 9u);
  EXPECT_EQ(h.cpu.regs[EAX], 5u);
  EXPECT_EQ(h.flags() & ARITH_FLAGS, ZF | PF);
}

TEST(DataMore, CmpxchgMismatchLoadsAccumulator) {
  CpuHarness h;
  h.cpu.regs[EAX] = 6;
  h.cpu.regs[ECX] = 1;
  h.wr32(0x2000C, 9);
  h.code({0x0F, 0xB1, 0x0D, 0x0C, 0x00, 0x02, 0x00});  // cmpxchg [0x2000C], ecx
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x2000C), 9u);
  EXPECT_EQ(h.cpu.regs[EAX], 9u);
  // 6 - 9 = 0xFFFFFFFD: borrow, negative, AF (6 < 9 in the low nibble).
  EXPECT_EQ(h.flags() & ARITH_FLAGS, CF | SF | AF);
}

TEST(DataMore, Cmpxchg8BitRegisters) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0x11;
  h.cpu.regs[EBX] = 0x22;
  h.cpu.regs[EDX] = 0x33;
  h.code({0x0F, 0xB0, 0xD3,    // cmpxchg bl, dl: AL != BL -> AL = 0x22
          0x0F, 0xB0, 0xD3});  // cmpxchg bl, dl: AL == BL -> BL = 0x33
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0x22u);
  EXPECT_EQ(h.cpu.regs[EBX], 0x33u);
  EXPECT_TRUE(h.flags() & ZF);
}

TEST(DataMore, CmpxchgMismatchStillWritesDestination) {
  // P6 writes the destination back on a mismatch: a read-only segment faults and EAX stays.
  CpuHarness h;
  h.cpu.seg[FS].attrs &= ~SA_WRITABLE;
  refresh_segment_ranges(h.cpu, h.cpu.seg[FS]);
  h.cpu.regs[EAX] = 6;
  h.wr32(0x2000C, 9);
  h.code({0x64, 0x0F, 0xB1, 0x0D, 0x0C, 0x00, 0x02, 0x00});  // fs cmpxchg [0x2000C], ecx
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 13);
  EXPECT_EQ(h.cpu.regs[EAX], 6u);
}

TEST(DataMore, Cmpxchg8bMatchThenMismatch) {
  CpuHarness h;
  h.cpu.regs[EDX] = 0x11111111;
  h.cpu.regs[EAX] = 0x22222222;
  h.cpu.regs[ECX] = 0xAAAAAAAA;
  h.cpu.regs[EBX] = 0xBBBBBBBB;
  h.wr32(0x20010, 0x22222222);
  h.wr32(0x20014, 0x11111111);
  h.cpu.eflags = 2 | CF | SF;
  h.code({0x0F, 0xC7, 0x0D, 0x10, 0x00, 0x02, 0x00});  // cmpxchg8b [0x20010]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x20010), 0xBBBBBBBBu);
  EXPECT_EQ(h.rd32(0x20014), 0xAAAAAAAAu);
  EXPECT_EQ(h.flags() & ARITH_FLAGS, CF | SF | ZF);  // only ZF changes

  h.cpu.eip = CpuHarness::CODE_ADDR + 0x100;  // fresh code: EIP stays at the HLT
  h.code({0x0F, 0xC7, 0x0D, 0x10, 0x00, 0x02, 0x00});  // again: EDX:EAX no longer matches
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0xBBBBBBBBu);
  EXPECT_EQ(h.cpu.regs[EDX], 0xAAAAAAAAu);
  EXPECT_EQ(h.rd32(0x20010), 0xBBBBBBBBu);
  EXPECT_EQ(h.flags() & ARITH_FLAGS, CF | SF);
}

TEST(DataMore, Cmpxchg8bRegisterOperandIsUd) {
  CpuHarness h;
  h.code({0x0F, 0xC7, 0xCB});  // cmpxchg8b with mod = 3
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 6);
}

TEST(DataMore, LeaOperandAndAddressSizes) {
  CpuHarness h;
  h.cpu.regs[ECX] = 0x1000;
  h.cpu.regs[EDX] = 0x20;
  h.cpu.regs[EDI] = 0xDDDD1234;
  h.cpu.regs[EBX] = 0x1234FFF0;
  h.cpu.regs[ESI] = 0x10;
  h.code({0x8D, 0x84, 0x91, 0x00, 0x01, 0x00, 0x00,        // lea eax, [ecx+edx*4+0x100]
          0x66, 0x8D, 0xBC, 0x91, 0x00, 0x00, 0x01, 0x00,  // lea di, [ecx+edx*4+0x10000]
          0x67, 0x8D, 0x68, 0x10,                          // a16 lea ebp, [bx+si+0x10]
          0x66, 0x67, 0x8D, 0x50, 0xE0});                  // a16 lea dx, [bx+si-0x20]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0x1180u);
  EXPECT_EQ(h.cpu.regs[EDI], 0xDDDD1080u);  // 32-bit address truncated to 16 bits
  EXPECT_EQ(h.cpu.regs[EBP], 0x10u);        // 16-bit address (wrapped) zero-extended
  EXPECT_EQ(h.cpu.regs[EDX], 0xFFE0u);
}

TEST(DataMore, LeaDoesNotAccessMemory) {
  CpuHarness h;
  h.cpu.seg[DS].limit = 0xFFF;
  refresh_segment_ranges(h.cpu, h.cpu.seg[DS]);
  h.cpu.regs[ECX] = 0x80000000;
  h.code({0x8D, 0x41, 0x10});  // lea eax, [ecx+0x10]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], 0x80000010u);
}

TEST(DataMore, RealModeLea) {
  CpuHarness h(false);
  h.cpu.regs[EBX] = 0xFFFF0001;
  h.cpu.regs[ESI] = 0;
  h.cpu.regs[EAX] = 0x77770000;
  h.cpu.regs[ECX] = 0;
  h.code({0x8D, 0x40, 0x10,          // lea ax, [bx+si+0x10]
          0x66, 0x8D, 0x48, 0xFE});  // lea ecx, [bx+si-2]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0x77770011u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x0000FFFFu);
}

TEST(DataMore, SignExtensionsOfAccumulator) {
  CpuHarness h;
  h.cpu.regs[EDX] = 0x11110000;
  h.code({0xB8, 0x80, 0x56, 0x34, 0x12,  // mov eax, 0x12345680
          0x66, 0x98,                    // cbw
          0xA3, 0x00, 0x00, 0x02, 0x00,  // mov [0x20000], eax
          0x98,                          // cwde
          0xA3, 0x04, 0x00, 0x02, 0x00,  // mov [0x20004], eax
          0x66, 0x99,                    // cwd
          0x89, 0x15, 0x08, 0x00, 0x02, 0x00,  // mov [0x20008], edx
          0x99,                          // cdq
          0x89, 0x15, 0x0C, 0x00, 0x02, 0x00,  // mov [0x2000C], edx
          0xB8, 0x7F, 0x00, 0x00, 0x00,  // mov eax, 0x7F
          0x99,                          // cdq
          0x66, 0x98});                  // cbw
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x20000), 0x1234FF80u);
  EXPECT_EQ(h.rd32(0x20004), 0xFFFFFF80u);
  EXPECT_EQ(h.rd32(0x20008), 0x1111FFFFu);
  EXPECT_EQ(h.rd32(0x2000C), 0xFFFFFFFFu);
  EXPECT_EQ(h.cpu.regs[EDX], 0u);
  EXPECT_EQ(h.cpu.regs[EAX], 0x7Fu);
}

TEST(DataMore, RealModeCbwCwd) {
  CpuHarness h(false);
  h.cpu.regs[EAX] = 0xABCD00F0;
  h.cpu.regs[EDX] = 0x99990000;
  h.code({0x98,    // cbw
          0x99});  // cwd
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0xABCDFFF0u);
  EXPECT_EQ(h.cpu.regs[EDX], 0x9999FFFFu);
}

TEST(DataMore, LahfSahfAndFlagInstructions) {
  CpuHarness h;
  h.cpu.eflags = 2 | OF;
  h.code({0xF9,        // stc
          0x9F,        // lahf
          0x88, 0xE3,  // mov bl, ah
          0xB4, 0xD5,  // mov ah, 0xD5
          0x9E,        // sahf
          0xF5,        // cmc
          0xFD});      // std
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX] & 0xFF, 0x03u);
  EXPECT_EQ(h.flags(), 2u | OF | SF | ZF | AF | PF | DF);

  h.cpu.eip = CpuHarness::CODE_ADDR + 0x100;  // fresh code: EIP stays at the HLT
  h.code({0xF9,   // stc
          0xF8,   // clc
          0xFC,   // cld
          0xF5,   // cmc
          0x9F});  // lahf
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.flags(), 2u | OF | SF | ZF | AF | PF | CF);
  EXPECT_EQ((h.cpu.regs[EAX] >> 8) & 0xFF, 0xD7u);
}

TEST(DataMore, XlatWithAndWithoutOverride) {
  CpuHarness h;
  for (unsigned k = 0; k < 256; ++k) {
    uint8_t v = uint8_t(k ^ 0x5A);
    h.mem.write_bytes(0x20000 + k, &v, 1);
  }
  h.mem.write_bytes(0x20110, "\x99", 1);
  h.cpu.seg[FS].base = 0x100;
  h.cpu.regs[EBX] = 0x20000;
  h.cpu.regs[EAX] = 0x12345610;
  h.code({0xD7,          // xlatb: AL = [0x20010]
          0x88, 0xC1,    // mov cl, al
          0xB0, 0x10,    // mov al, 0x10
          0x64, 0xD7});  // fs xlatb: AL = FS:[0x20010] = linear 0x20110
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ECX] & 0xFF, 0x4Au);
  EXPECT_EQ(h.cpu.regs[EAX], 0x12345699u);
}

TEST(DataMore, RealModeXlatUsesBx) {
  CpuHarness h(false);
  h.mem.write_bytes(0x10103, "\x42", 1);
  h.cpu.regs[EBX] = 0xFFFF0100;
  h.cpu.regs[EAX] = 0x03;
  h.code({0xD7});  // xlatb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0x42u);
}

TEST(DataMore, NopFormsTouchNothing) {
  CpuHarness h;
  h.cpu.seg[DS].limit = 0xFFF;
  refresh_segment_ranges(h.cpu, h.cpu.seg[DS]);
  h.cpu.regs[EAX] = 0x10000000;
  h.cpu.eflags = 2 | CF;
  h.code({0x90,                                      // nop
          0x66, 0x90,                                // xchg ax, ax
          0x0F, 0x1F, 0x80, 0x00, 0x10, 0x00, 0x00,  // nop dword [eax+0x1000]
          0x0F, 0x1F, 0x00,                          // nop dword [eax]
          0xF3, 0x90});                              // pause
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], 0x10000000u);
  EXPECT_EQ(h.flags(), 2u | CF);
}

TEST(DataMore, LockOnNonLockableIsUd) {
  CpuHarness h;
  h.cpu.regs[ECX] = 0x20000;
  h.code({0xF0, 0x89, 0x01});  // lock mov [ecx], eax
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 6);

  CpuHarness g;
  g.code({0xF0, 0x0F, 0xC1, 0xC1});  // lock xadd ecx, eax (register destination)
  EXPECT_EQ(g.run(), EXIT_HLT);
  EXPECT_EQ(g.last_vector(), 6);

  CpuHarness k;
  k.cpu.regs[ECX] = 0x20000;
  k.cpu.regs[EAX] = 3;
  k.wr32(0x20000, 4);
  k.code({0xF0, 0x0F, 0xC1, 0x01});  // lock xadd [ecx], eax: legal
  EXPECT_EQ(k.run(), EXIT_HLT);
  EXPECT_EQ(k.last_vector(), -1);
  EXPECT_EQ(k.rd32(0x20000), 7u);
  EXPECT_EQ(k.cpu.regs[EAX], 4u);
}

TEST(DataMore, RealModeMoffsAndImmediates) {
  CpuHarness h(false);
  h.wr32(0x18000, 0x5678);
  h.cpu.regs[EAX] = 0xFFFF0000;
  h.code({0xA1, 0x00, 0x80,  // mov ax, [0x8000]
          0xA2, 0x02, 0x80,  // mov [0x8002], al
          0xA0, 0x01, 0x80,  // mov al, [0x8001]
          0xA3, 0x04, 0x80,  // mov [0x8004], ax
          0xC7, 0x06, 0x06, 0x80, 0x34, 0x12,  // mov word [0x8006], 0x1234
          0xBB, 0xCD, 0xAB});                  // mov bx, 0xABCD
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0xFFFF5656u);
  EXPECT_EQ(h.rd8(0x18002), 0x78u);
  EXPECT_EQ(h.rd32(0x18004), 0x12345656u);
  EXPECT_EQ(h.cpu.regs[EBX] & 0xFFFF, 0xABCDu);
}

TEST(DataMore, MoffsWithSegmentOverrideAndAddressSize) {
  CpuHarness h;
  h.cpu.seg[GS].base = 0x1000;
  h.wr32(0x21000, 0xFEEDF00D);
  h.wr32(0x1234, 0x600DD00D);
  h.code({0x65, 0xA1, 0x00, 0x00, 0x02, 0x00,  // mov eax, gs:[0x20000]
          0x67, 0x8B, 0x0E, 0x34, 0x12});      // a16 mov ecx, [0x1234]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0xFEEDF00Du);
  EXPECT_EQ(h.cpu.regs[ECX], 0x600DD00Du);
}

}  // namespace
}  // namespace softcpu
