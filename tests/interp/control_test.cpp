// Control transfers: near/far JMP, CALL, RET, Jcc, JCXZ, LOOP*, INT*, IRET, BOUND.
// Test programs use only MOV/NOP/HLT besides the instructions under test.
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::make_desc;

constexpr uint32_t FAR_BASE = 0x40000;

// Adds to the harness GDT: 0x18 32-bit code (base FAR_BASE, limit 0xFFFF), 0x20 16-bit code
// (same base), 0x28 a 32-bit code segment that is not present.
void add_far_segments(CpuHarness& h) {
  const uint64_t extra[3] = {make_desc(FAR_BASE, 0xFFFF, 0x9B, 0x4),
                             make_desc(FAR_BASE, 0xFFFF, 0x9B, 0x0),
                             make_desc(FAR_BASE, 0xFFFF, 0x1B, 0x4)};
  h.mem.write_bytes(CpuHarness::GDT_ADDR + 3 * 8, extra, sizeof extra);
  h.cpu.gdtr.limit = 6 * 8 - 1;
}

constexpr uint32_t CODE = CpuHarness::CODE_ADDR;
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;
constexpr uint32_t STACK = CpuHarness::STACK_TOP;

// ---- near transfers, 32-bit ----------------------------------------------------------

TEST(ControlOps, NearJumpsCallsAndReturns32) {
  CpuHarness h;
  h.code({0xEB, 0x05,                          // 00: jmp +5 -> 07
          0xB8, 0x11, 0x00, 0x00, 0x00,        // 02: mov eax, 0x11 (skipped)
          0xE9, 0x05, 0x00, 0x00, 0x00,        // 07: jmp +5 -> 11
          0xB8, 0x22, 0x00, 0x00, 0x00,        // 0C: (skipped)
          0xE8, 0x11, 0x00, 0x00, 0x00,        // 11: call 0x27
          0xBA, 0x40, 0x00, 0x01, 0x00,        // 16: mov edx, CODE+0x40
          0xFF, 0xD2,                          // 1B: call edx -> 0x40
          0xFF, 0x25, 0x00, 0x00, 0x02, 0x00,  // 1D: jmp [DATA] -> 0x50
          0x90, 0x90, 0x90, 0x90,              // 23
          0xBB, 0x33, 0x00, 0x00, 0x00,        // 27: mov ebx, 0x33
          0xC3});                              // 2C: ret
  h.put(CODE + 0x40, {0xB9, 0x44, 0x00, 0x00, 0x00,  // 40: mov ecx, 0x44
                       0xC2, 0x00, 0x00});            // 45: ret 0
  h.put(CODE + 0x50, {0xBE, 0x55, 0x00, 0x00, 0x00,  // 50: mov esi, 0x55
                       0xF4});
  h.wr32(DATA, CODE + 0x50);
  h.cpu.regs[EAX] = 0;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], 0u);
  EXPECT_EQ(h.cpu.regs[EBX], 0x33u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x44u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x55u);
  EXPECT_EQ(h.cpu.eip, CODE + 0x55);
  EXPECT_EQ(h.cpu.regs[ESP], STACK);
  EXPECT_EQ(h.rd32(STACK - 4), CODE + 0x1Du);  // return address of the last call
}

TEST(ControlOps, RetImmReleasesStackBytes) {
  CpuHarness h;
  h.code({0xE8, 0x01, 0x00, 0x00, 0x00,  // call +1 -> 06
          0xF4,                          // 05
          0xC2, 0x08, 0x00});            // 06: ret 8
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.eip, CODE + 5);
  EXPECT_EQ(h.cpu.regs[ESP], STACK + 8);
}

TEST(ControlOps, CallStackFaultLeavesEspUnchanged) {
  CpuHarness h;
  // ESP = 2: the push wraps to 0xFFFFFFFE and crosses the 4 GiB limit -> #SS, whose own
  // frame faults the same way -> #DF -> triple fault. Nothing may have been committed.
  h.code({0xE8, 0x00, 0x00, 0x00, 0x00});
  h.cpu.regs[ESP] = 2;
  EXPECT_EQ(h.run(), EXIT_TRIPLE_FAULT);
  EXPECT_EQ(h.cpu.regs[ESP], 2u);
  EXPECT_EQ(h.cpu.eip, CODE);
}

// ---- Jcc ---------------------------------------------------------------------------------

bool expected_cond(unsigned cc, uint32_t f) {
  bool cf = f & CF, zf = f & ZF, sf = f & SF, of = f & OF, pf = f & PF;
  bool r;
  switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf || sf != of; break;
  }
  return (cc & 1) ? !r : r;
}

TEST(ControlOps, JccAllConditionsBothForms) {
  CpuHarness h;
  const uint32_t flag_bits[5] = {CF, ZF, SF, OF, PF};
  for (unsigned form = 0; form < 2; ++form) {
    for (unsigned cc = 0; cc < 16; ++cc) {
      const uint32_t at = CODE + form * 0x400 + cc * 0x20;
      if (form == 0) {
        h.put(at, {uint8_t(0x70 + cc), 0x05,                 // jcc +5
                    0xB8, 0x01, 0x00, 0x00, 0x00, 0xF4});     // mov eax, 1; hlt
      } else {
        h.put(at, {0x0F, uint8_t(0x80 + cc), 0x05, 0x00, 0x00, 0x00,
                    0xB8, 0x01, 0x00, 0x00, 0x00, 0xF4});
      }
      const uint32_t len = form == 0 ? 2 : 6;
      for (unsigned combo = 0; combo < 32; ++combo) {
        uint32_t f = 2;
        for (unsigned b = 0; b < 5; ++b)
          if (combo & (1u << b)) f |= flag_bits[b];
        h.cpu.lz_kind = LZ_NONE;
        h.cpu.eflags = f;
        h.cpu.eip = at;
        h.cpu.regs[EAX] = 0;
        ASSERT_EQ(h.run(), EXIT_HLT);
        const bool taken = expected_cond(cc, f);
        SCOPED_TRACE(testing::Message() << "form " << form << " cc " << cc << " flags " << f);
        EXPECT_EQ(h.cpu.regs[EAX], taken ? 0u : 1u);
        EXPECT_EQ(h.cpu.eip, at + len + 5);  // both paths end at the HLT
      }
    }
  }
}

TEST(ControlOps, JccWithLazyFlagsFromSub) {
  CpuHarness h;
  h.code({0x7C, 0x05,                     // jl +5
          0xB8, 0x01, 0x00, 0x00, 0x00});  // mov eax, 1
  // Flags of 1 - 2 (32-bit): SF=1, OF=0 -> "less" is true.
  set_lazy(h.cpu, LZ_SUB, 4, 1, 2, uint32_t(1 - 2));
  h.cpu.regs[EAX] = 0;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0u);
}

TEST(ControlOps, JccWith16BitOperandSizeTruncatesTarget) {
  CpuHarness h(false);  // real mode: CS base 0x10000, IP 0
  // 00: jz rel16 (0F 84) to 0xFF00: disp = 0xFF00 - 4 wraps within 16 bits.
  h.code({0x0F, 0x84, 0xFC, 0xFE});
  h.put(0x10000 + 0xFF00, {0xB8, 0x99, 0x00, 0xF4});  // mov ax, 0x99; hlt
  h.cpu.lz_kind = LZ_NONE;
  h.cpu.eflags = 2 | ZF;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.eip, 0xFF03u);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFFFF, 0x99u);
}

// ---- JCXZ / LOOP -------------------------------------------------------------------------

TEST(ControlOps, JcxzUsesAddressSize) {
  CpuHarness h;
  h.code({0x67, 0xE3, 0x05,                // jcxz +5 (CX = 0: taken)
          0xB8, 0x01, 0x00, 0x00, 0x00,    // mov eax, 1 (skipped)
          0xE3, 0x05,                      // jecxz +5 (ECX != 0: not taken)
          0xBB, 0x02, 0x00, 0x00, 0x00});  // mov ebx, 2
  h.cpu.regs[ECX] = 0x10000;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0u);
  EXPECT_EQ(h.cpu.regs[EBX], 2u);
}

// Each iteration of the loop body "call $+5" pushes 4 bytes: iterations = (top - ESP) / 4.
struct LoopCase {
  uint8_t opcode;
  uint32_t flags;
  uint32_t ecx;
  unsigned iterations;
  uint32_t ecx_after;
};

TEST(ControlOps, LoopVariantsWith16BitAddressSize) {
  const LoopCase cases[] = {
      {0xE2, 2, 0xABCD0003, 3, 0xABCD0000},       // loop: CX counts, ECX high half kept
      {0xE1, 2 | ZF, 0xABCD0004, 4, 0xABCD0000},  // loope, ZF=1: until CX = 0
      {0xE1, 2, 0xABCD0004, 1, 0xABCD0003},       // loope, ZF=0: stops at once
      {0xE0, 2, 0x00000005, 5, 0x00000000},       // loopne, ZF=0
      {0xE0, 2 | ZF, 0x00000005, 1, 0x00000004},  // loopne, ZF=1
      {0xE2, 2, 0xFFFF0001, 1, 0xFFFF0000},
  };
  for (const LoopCase& lc : cases) {
    CpuHarness h;
    h.code({0xE8, 0x00, 0x00, 0x00, 0x00,  // 00: call $+5
            0x67, lc.opcode, 0xF8});       // 05: loop(e/ne) cx, 00
    h.cpu.lz_kind = LZ_NONE;
    h.cpu.eflags = lc.flags;
    h.cpu.regs[ECX] = lc.ecx;
    SCOPED_TRACE(testing::Message() << "opcode " << int(lc.opcode) << " ecx " << lc.ecx);
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ((STACK - h.cpu.regs[ESP]) / 4, lc.iterations);
    EXPECT_EQ(h.cpu.regs[ECX], lc.ecx_after);
    EXPECT_EQ(h.cpu.eip, CODE + 8);
  }
}

TEST(ControlOps, LoopInRealMode) {
  CpuHarness h(false);
  h.code({0xE8, 0x00, 0x00,  // 00: call $+3
                0xE2, 0xFB});      // 03: loop 00
  h.cpu.regs[ECX] = 0x77770004;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ECX], 0x77770000u);
  EXPECT_EQ(h.cpu.regs[ESP], 0xFFF0u - 4 * 2);
  EXPECT_EQ(h.last_vector(), -1);
}

// ---- far transfers, protected mode ---------------------------------------------------------

TEST(ControlOps, FarJumpToSecondCodeSegment) {
  CpuHarness h;
  add_far_segments(h);
  h.code({0xEA, 0x00, 0x01, 0x00, 0x00, 0x18, 0x00});  // jmp 0x18:0x100
  h.put(FAR_BASE + 0x100, {0xB8, 0x78, 0x56, 0x34, 0x12, 0xF4});
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x18);
  EXPECT_EQ(h.cpu.seg[CS].base, FAR_BASE);
  EXPECT_EQ(h.cpu.seg[CS].limit, 0xFFFFu);
  EXPECT_EQ(h.cpu.eip, 0x105u);
  EXPECT_EQ(h.cpu.regs[EAX], 0x12345678u);
}

TEST(ControlOps, FarJumpThroughMemoryAndInto16BitCode) {
  CpuHarness h;
  add_far_segments(h);
  // jmp far [DATA] (m16:32) -> 0x20:0x200, 16-bit code that jumps back with 66 EA.
  h.code({0xFF, 0x2D, 0x00, 0x00, 0x02, 0x00});
  h.wr32(DATA, 0x200);
  h.wr32(DATA + 4, 0x20);
  h.put(FAR_BASE + 0x200, {0xB8, 0x34, 0x12,                                   // mov ax, 0x1234
                            0x66, 0xEA, 0x40, 0x00, 0x01, 0x00, 0x08, 0x00});  // jmp 0x08:CODE+0x40
  h.put(CODE + 0x40, {0xF4});
  h.cpu.regs[EAX] = 0xFFFF0000;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], 0xFFFF1234u);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x08);
  EXPECT_EQ(h.cpu.eip, CODE + 0x40);
  EXPECT_TRUE(code32(h.cpu));
}

TEST(ControlOps, FarCallAndReturn32) {
  CpuHarness h;
  add_far_segments(h);
  h.code({0x9A, 0x00, 0x01, 0x00, 0x00, 0x18, 0x00});  // call 0x18:0x100; hlt at +7
  h.put(FAR_BASE + 0x100, {0xB8, 0x01, 0x00, 0x00, 0x00,  // mov eax, 1
                            0xCA, 0x04, 0x00});            // retf 4
  h.cpu.regs[ESP] = STACK - 4;                             // one argument dword
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], 1u);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x08);
  EXPECT_EQ(h.cpu.eip, CODE + 7);
  EXPECT_EQ(h.cpu.regs[ESP], STACK);
  EXPECT_EQ(h.rd32(STACK - 8), 0x08u);      // CS, zero-extended
  EXPECT_EQ(h.rd32(STACK - 12), CODE + 7);  // return EIP
}

TEST(ControlOps, FarCallThroughMemoryInto16BitCodeAndBack) {
  CpuHarness h;
  add_far_segments(h);
  h.code({0xFF, 0x1D, 0x00, 0x00, 0x02, 0x00});  // call far [DATA]; hlt at +6
  h.wr32(DATA, 0x300);
  h.wr32(DATA + 4, 0x20);
  h.put(FAR_BASE + 0x300, {0xBB, 0xCD, 0xAB,  // mov bx, 0xABCD (16-bit code)
                            0x66, 0xCB});      // o32 retf
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EBX] & 0xFFFF, 0xABCDu);
  EXPECT_EQ(h.cpu.eip, CODE + 6);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x08);
  EXPECT_EQ(h.cpu.regs[ESP], STACK);
}

TEST(ControlOps, FarJumpBeyondTargetLimitIsGp0) {
  CpuHarness h;
  add_far_segments(h);
  h.code({0xEA, 0x00, 0x00, 0x01, 0x00, 0x18, 0x00});  // jmp 0x18:0x10000 (limit 0xFFFF)
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_GP);
  EXPECT_EQ(h.pushed_error(), 0u);
  EXPECT_EQ(h.pushed_eip_after_error(), CODE);
  EXPECT_EQ(h.pushed_cs_after_error(), 0x08u);
}

TEST(ControlOps, NearJumpBeyondCsLimitIsGp0) {
  CpuHarness h;
  add_far_segments(h);
  h.code({0xEA, 0x00, 0x01, 0x00, 0x00, 0x18, 0x00});           // jmp 0x18:0x100
  h.put(FAR_BASE + 0x100, {0xB8, 0x00, 0x00, 0x01, 0x00,       // mov eax, 0x10000
                            0xFF, 0xE0});                       // jmp eax -> #GP(0)
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_GP);
  EXPECT_EQ(h.pushed_error(), 0u);
  EXPECT_EQ(h.pushed_eip_after_error(), 0x105u);
  EXPECT_EQ(h.pushed_cs_after_error(), 0x18u);
}

TEST(ControlOps, NearCallAndRetBeyondCsLimitAreGp0) {
  {
    CpuHarness h;
    add_far_segments(h);
    h.code({0xEA, 0x00, 0x01, 0x00, 0x00, 0x18, 0x00});
    h.put(FAR_BASE + 0x100, {0xE8, 0xFB, 0xFE, 0x00, 0x00});  // call 0x10000
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.pushed_eip_after_error(), 0x100u);
    // Nothing was pushed by the faulting CALL: the frame sits right below the top.
    EXPECT_EQ(h.cpu.regs[ESP], STACK - 16);
  }
  {
    CpuHarness h;
    add_far_segments(h);
    h.code({0xEA, 0x00, 0x01, 0x00, 0x00, 0x18, 0x00});
    h.put(FAR_BASE + 0x100, {0xC3});  // ret to 0x20000
    h.cpu.regs[ESP] = STACK - 4;
    h.wr32(STACK - 4, 0x20000);
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.pushed_eip_after_error(), 0x100u);
    EXPECT_EQ(h.cpu.regs[ESP], STACK - 4 - 16);  // RET did not pop
  }
}

struct BadFarCase {
  uint16_t selector;
  int vector;
  uint32_t error;
};

TEST(ControlOps, FarJumpDescriptorChecks) {
  const BadFarCase cases[] = {
      {0x0000, VEC_GP, 0},     // null
      {0x0010, VEC_GP, 0x10},  // data segment
      {0x0080, VEC_GP, 0x80},  // beyond the GDT limit
      {0x0028, VEC_NP, 0x28},  // not present
      {0x001B, VEC_GP, 0x18},  // RPL 3 > CPL 0 on non-conforming code
      {0x000C, VEC_GP, 0x0C},  // LDT selector with no LDT (TI stays in the error code)
  };
  for (const BadFarCase& bc : cases) {
    CpuHarness h;
    add_far_segments(h);
    h.code({0xEA, 0x00, 0x01, 0x00, 0x00, uint8_t(bc.selector), uint8_t(bc.selector >> 8)});
    SCOPED_TRACE(testing::Message() << "selector " << bc.selector);
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), bc.vector);
    EXPECT_EQ(h.pushed_error(), bc.error);
    EXPECT_EQ(h.pushed_eip_after_error(), CODE);
  }
}

TEST(ControlOps, FarReturnToOuterRingIsGpForNow) {
  CpuHarness h;
  add_far_segments(h);
  h.code({0xCB});  // retf
  h.cpu.regs[ESP] = STACK - 8;
  h.wr32(STACK - 8, 0x100);
  h.wr32(STACK - 4, 0x1B);  // RPL 3
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_GP);
  EXPECT_EQ(h.pushed_error(), 0x18u);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x08);
}

TEST(ControlOps, FarCallStackFaultLeavesStateUnchanged) {
  CpuHarness h;
  add_far_segments(h);
  // An expand-down SS with limit 0x1003 (valid offsets 0x1004 and up) and ESP = 0x100A: the
  // CS slot (0x1006) fits, the EIP slot (0x1002) does not. Nothing may be written.
  const uint64_t ss_desc = make_desc(0x60000, 0x1003, 0x97, 0x4);
  h.mem.write_bytes(CpuHarness::GDT_ADDR + 6 * 8, &ss_desc, 8);
  h.cpu.gdtr.limit = 7 * 8 - 1;
  h.code({0x9A, 0x00, 0x01, 0x00, 0x00, 0x18, 0x00});
  cache_from_descriptor(h.cpu, h.cpu.seg[SS], 0x30, ss_desc);
  update_mode(h.cpu);
  h.cpu.regs[ESP] = 0x100A;
  h.wr32(0x60000 + 0x1006, 0xDEADBEEF);
  // #SS, then its own frame faults on the same stack -> #DF -> triple fault; the CALL must
  // not have committed CS, EIP or ESP.
  EXPECT_EQ(h.run(), EXIT_TRIPLE_FAULT);
  EXPECT_EQ(h.cpu.regs[ESP], 0x100Au);
  EXPECT_EQ(h.cpu.eip, CODE);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x08);
  EXPECT_EQ(h.rd32(0x60000 + 0x1006), 0xDEADBEEFu);
}

// ---- far transfers, real mode ------------------------------------------------------------

TEST(ControlOps, RealModeFarCallRetfAndNear16) {
  CpuHarness h(false);
  h.code({0x9A, 0x00, 0x03, 0x00, 0x10,  // 00: call 0x1000:0x0300
                0xE8, 0x06, 0x00,              // 05: call 0x000E
                0xEA, 0x00, 0x04, 0x00, 0x10,  // 08: jmp 0x1000:0x0400
                0xF4,                          // 0D
                0xBA, 0x22, 0x22,              // 0E: mov dx, 0x2222
                0xC3});                        // 11: ret
  h.put(0x10300, {0xB8, 0x11, 0x11,   // mov ax, 0x1111
                   0xCA, 0x02, 0x00});  // retf 2
  h.put(0x10400, {0xF4});
  h.cpu.regs[ESP] = 0xFFEE;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFFFF, 0x1111u);
  EXPECT_EQ(h.cpu.regs[EDX] & 0xFFFF, 0x2222u);
  EXPECT_EQ(h.cpu.eip, 0x400u);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x1000);
  EXPECT_EQ(h.cpu.regs[ESP], 0xFFF0u);
  EXPECT_EQ(h.rd16(0x1FFEC), 0x1000);  // CS pushed by the far call
  EXPECT_EQ(h.rd16(0x1FFEA), 0x0005);  // IP pushed by the far call
}

TEST(ControlOps, RealModeNearJumpWrapsAt64K) {
  CpuHarness h(false);
  h.code({0xE9, 0xFD, 0xFE});  // jmp rel16: 3 + 0xFEFD = 0xFF00
  h.put(0x1FF00, {0xB8, 0x42, 0x00, 0xF4});
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.eip, 0xFF03u);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFFFF, 0x42u);
}

// ---- INT / IRET --------------------------------------------------------------------------

TEST(ControlOps, RealModeIntAndIretRoundTrip) {
  CpuHarness h(false);
  const uint32_t ivt = 0x0200u | (0x1000u << 16);  // vector 0x40 -> 1000:0200
  h.mem.write_bytes(0x40 * 4, &ivt, 4);
  h.code({0xCD, 0x40,           // int 0x40
                0xBB, 0x78, 0x56});   // mov bx, 0x5678
  h.put(0x10200, {0xB8, 0x34, 0x12,  // mov ax, 0x1234
                   0xCF});            // iret
  h.cpu.lz_kind = LZ_NONE;
  h.cpu.eflags = 2 | IF | CF;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFFFF, 0x1234u);
  EXPECT_EQ(h.cpu.regs[EBX] & 0xFFFF, 0x5678u);
  EXPECT_EQ(h.cpu.regs[ESP], 0xFFF0u);
  EXPECT_EQ(h.cpu.eip, 5u);
  EXPECT_EQ(h.flags(), 2u | IF | CF);
  EXPECT_EQ(h.rd16(0x1FFEE), 2 | IF | CF);  // FLAGS image
  EXPECT_EQ(h.rd16(0x1FFEC), 0x1000);       // CS
  EXPECT_EQ(h.rd16(0x1FFEA), 0x0002);       // IP after INT
}

TEST(ControlOps, RealModeIretdKeepsVmAndLoadsFlags) {
  CpuHarness h(false);
  h.code({0x66, 0xCF});  // iretd
  h.cpu.regs[ESP] = 0xFFF0 - 12;
  const uint32_t frame[3] = {0x0100, 0x1000, 0x00263ED7u | VM};  // EIP, CS, EFLAGS
  h.mem.write_bytes(0x10000 + 0xFFF0 - 12, frame, 12);
  h.put(0x10100, {0xF4});
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.eip, 0x100u);
  EXPECT_EQ(h.cpu.regs[ESP], 0xFFF0u);
  // 0x257FD5 mask: VM/VIF/VIP stay 0, reserved bits 3, 5, 15 stay 0.
  EXPECT_EQ(h.flags(), (0x00263ED7u & 0x257FD5u) | 2u);
}

TEST(ControlOps, ProtectedModeIntAndIretdRoundTrip) {
  CpuHarness h;
  // 32-bit interrupt gate for vector 0x40 -> CODE+0x200 (IDT limit extended).
  const uint32_t off = CODE + 0x200;
  const uint32_t lo = (0x08u << 16) | (off & 0xFFFF), hi = (off & 0xFFFF0000u) | 0x8E00;
  h.wr32(0x400 + 0x40 * 8, lo);
  h.wr32(0x400 + 0x40 * 8 + 4, hi);
  h.cpu.idtr.limit = 0x41 * 8 - 1;
  h.code({0xCD, 0x40,                     // int 0x40
          0xBB, 0x78, 0x56, 0x00, 0x00});  // mov ebx, 0x5678
  h.put(off, {0xB8, 0x34, 0x12, 0x00, 0x00,  // mov eax, 0x1234
               0xCF});                        // iretd
  h.cpu.lz_kind = LZ_NONE;
  h.cpu.eflags = 2 | IF | ZF;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], 0x1234u);
  EXPECT_EQ(h.cpu.regs[EBX], 0x5678u);
  EXPECT_EQ(h.cpu.regs[ESP], STACK);
  EXPECT_EQ(h.flags(), 2u | IF | ZF);
  EXPECT_EQ(h.rd32(STACK - 4), 2u | IF | ZF);
  EXPECT_EQ(h.rd32(STACK - 8), 0x08u);
  EXPECT_EQ(h.rd32(STACK - 12), CODE + 2);
}

// IRET with NT=1 returns to the task in the back link; TR was never loaded, so the link is
// the null selector: #TS(0) (SDM vol.3 7.3, IRET in vol.2).
TEST(ControlOps, ProtectedModeIretWithNtAndNullBackLinkIsTs) {
  CpuHarness h;
  h.code({0xCF});
  h.cpu.lz_kind = LZ_NONE;
  h.cpu.eflags = 2 | NT;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_TS);
  EXPECT_EQ(h.pushed_error(), 0u);
}

TEST(ControlOps, IntoTrapsOnlyWithOverflow) {
  {
    CpuHarness h;
    h.code({0xCE});  // into, OF = 0
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), -1);
    EXPECT_EQ(h.cpu.eip, CODE + 1);
  }
  {
    CpuHarness h;
    h.code({0xCE});
    h.cpu.lz_kind = LZ_NONE;
    h.cpu.eflags = 2 | OF;
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_OF);
    EXPECT_EQ(h.pushed_eip(), CODE + 1);  // a trap: the return address follows INTO
  }
  {
    CpuHarness h;  // OF from lazy flags: 0x7FFFFFFF + 1
    h.code({0xCE});
    set_lazy(h.cpu, LZ_ADD, 4, 0x7FFFFFFF, 1, 0x80000000u);
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_OF);
  }
}

TEST(ControlOps, Int3AndInt1) {
  {
    CpuHarness h;
    h.code({0x90, 0xCC});
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_BP);
    EXPECT_EQ(h.pushed_eip(), CODE + 2);
  }
  {
    CpuHarness h;
    h.code({0xF1});
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_DB);
    EXPECT_EQ(h.pushed_eip(), CODE + 1);
  }
}

TEST(ControlOps, RealModeIntNThroughHarnessStub) {
  CpuHarness h(false);
  h.code({0xCD, 0x07});  // int 7 -> stub stores 7
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 7);
  EXPECT_EQ(h.rd16(0x1FFEA), 2);  // IP after INT
}

// ---- BOUND -------------------------------------------------------------------------------

TEST(ControlOps, BoundRaisesBrOutOfRange) {
  const struct { uint32_t eax; int vector; } cases[] = {
      {15, -1}, {10, -1}, {20, -1}, {21, VEC_BR}, {9, VEC_BR}, {0xFFFFFFFF, VEC_BR}};
  for (const auto& bc : cases) {
    CpuHarness h;
    h.code({0x62, 0x05, 0x00, 0x00, 0x02, 0x00});  // bound eax, [DATA]
    h.wr32(DATA, 10);
    h.wr32(DATA + 4, 20);
    h.cpu.regs[EAX] = bc.eax;
    SCOPED_TRACE(testing::Message() << "eax " << bc.eax);
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), bc.vector);
    if (bc.vector == VEC_BR) {
      EXPECT_EQ(h.pushed_eip(), CODE);  // a fault
    }
  }
}

TEST(ControlOps, Bound16IsSigned) {
  CpuHarness h;
  h.code({0x66, 0x62, 0x05, 0x00, 0x00, 0x02, 0x00});  // bound ax, [DATA]
  h.wr32(DATA, 0x0005FFF0);                             // lower -16, upper 5
  h.cpu.regs[EAX] = 0x1234FFF8;                         // ax = -8
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
}

}  // namespace
}  // namespace softcpu
