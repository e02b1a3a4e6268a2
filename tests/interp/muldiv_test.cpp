// MUL, IMUL (1/2/3 operands), DIV, IDIV: results, CF/OF, and #DE.
// SF/ZF/AF/PF after MUL/IMUL are undefined in the SDM; we expect Intel P6 behaviour, as Bochs
// models it (SF/ZF/PF from the low half of the product, AF = 0); DIV/IDIV leave the flags
// unchanged.
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::flags_in;
using test::arith;
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;

struct Regs {
  uint32_t eax, edx, flags;
};
Regs run_regs(std::initializer_list<uint8_t> code, uint32_t eax, uint32_t edx, uint32_t ecx,
              uint32_t fin = 0, int expect_vector = -1) {
  CpuHarness h;
  h.code(code);
  h.cpu.regs[EAX] = eax;
  h.cpu.regs[EDX] = edx;
  h.cpu.regs[ECX] = ecx;
  flags_in(h, fin);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), expect_vector);
  return {h.cpu.regs[EAX], h.cpu.regs[EDX], arith(h)};
}

#define EXPECT_REGS(r, a, d, f)        \
  do {                                 \
    Regs r_ = (r);                     \
    EXPECT_EQ(r_.eax, uint32_t(a));    \
    EXPECT_EQ(r_.edx, uint32_t(d));    \
    EXPECT_EQ(r_.flags, uint32_t(f));  \
  } while (0)

TEST(MulDivOps, MulOneOperand) {
  // mul ecx
  EXPECT_REGS(run_regs({0xF7, 0xE1}, 0xFFFFFFFF, 0, 0xFFFFFFFF), 1, 0xFFFFFFFE, CF | OF);
  EXPECT_REGS(run_regs({0xF7, 0xE1}, 3, 0x1234, 5, ZF | AF), 15, 0, PF);
  EXPECT_REGS(run_regs({0xF7, 0xE1}, 0, 0x1234, 5, SF), 0, 0, ZF | PF);  // ZF from EAX
  // ZF and SF look at the low half only: 0x10000 * 0x10000 has EAX = 0, EDX = 1
  EXPECT_REGS(run_regs({0xF7, 0xE1}, 0x10000, 0, 0x10000), 0, 1, CF | OF | ZF | PF);
  // mul cl: AX = AL * CL, DX untouched
  EXPECT_REGS(run_regs({0xF6, 0xE1}, 0xAAAA0080, 0x1234, 2), 0xAAAA0100, 0x1234,
              CF | OF | ZF | PF);  // ZF/PF from AL = 0, not AX
  // mul cx
  EXPECT_REGS(run_regs({0x66, 0xF7, 0xE1}, 0x5555FFFF, 0x77770000, 2), 0x5555FFFE, 0x77770001,
              CF | OF | SF);
}

TEST(MulDivOps, ImulOneOperand) {
  // imul ecx: -1 * -1 = 1
  EXPECT_REGS(run_regs({0xF7, 0xE9}, 0xFFFFFFFF, 0, 0xFFFFFFFF), 1, 0, 0);
  // imul ecx: -2 * 3 = -6 fits: EDX is the sign extension
  EXPECT_REGS(run_regs({0xF7, 0xE9}, 0xFFFFFFFE, 0, 3), 0xFFFFFFFA, 0xFFFFFFFF, SF | PF);
  // imul ecx: 0x40000000 * 2 = 2^31 does not fit
  EXPECT_REGS(run_regs({0xF7, 0xE9}, 0x40000000, 0, 2), 0x80000000, 0, CF | OF | SF | PF);
  // imul cl: -128 * -1 = 128 does not fit in AL
  EXPECT_REGS(run_regs({0xF6, 0xE9}, 0x80, 0, 0xFF), 0x0080, 0, CF | OF | SF);
  // imul cx: -1 * 0x7FFF
  EXPECT_REGS(run_regs({0x66, 0xF7, 0xE9}, 0xFFFF, 0, 0x7FFF), 0x8001, 0xFFFF, SF);
}

TEST(MulDivOps, ImulTwoAndThreeOperands) {
  // imul eax, ecx
  EXPECT_REGS(run_regs({0x0F, 0xAF, 0xC1}, 0x7FFFFFFF, 0, 2), 0xFFFFFFFE, 0, CF | OF | SF);
  // imul eax, ecx, -2 (6B: sign-extended imm8)
  EXPECT_REGS(run_regs({0x6B, 0xC1, 0xFE}, 0, 0, 3), 0xFFFFFFFA, 0, SF | PF);
  // imul ax, cx, 0x1000 (69 with imm16)
  EXPECT_REGS(run_regs({0x66, 0x69, 0xC1, 0x00, 0x10}, 0x12345678, 0, 0x10), 0x12340000, 0,
              CF | OF | ZF | PF);  // ZF from the truncated result
  // imul eax, ecx, 0x80000000 with ECX = -1: 2^31 overflows
  EXPECT_REGS(run_regs({0x69, 0xC1, 0x00, 0x00, 0x00, 0x80}, 0, 0, 0xFFFFFFFF), 0x80000000, 0,
              CF | OF | SF | PF);
  // imul ebx, [DATA]
  CpuHarness h;
  h.code({0x0F, 0xAF, 0x1D, 0x00, 0x00, 0x02, 0x00});
  h.wr32(DATA, 0xFFFFFFFD);  // -3
  h.cpu.regs[EBX] = 7;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EBX], 0xFFFFFFEBu);  // -21
  EXPECT_EQ(arith(h), SF | PF);
}

TEST(MulDivOps, DivUnsigned) {
  // div ecx: 0x1_00000000 / 2
  EXPECT_REGS(run_regs({0xF7, 0xF1}, 0, 1, 2, CF | ZF), 0x80000000, 0, CF | ZF);
  // div ecx: 100 / 7
  EXPECT_REGS(run_regs({0xF7, 0xF1}, 100, 0, 7), 14, 2, 0);
  // div cl: 259 / 2 -> AL = 0x81, AH = 1
  EXPECT_REGS(run_regs({0xF6, 0xF1}, 0xAAAA0103, 0x55, 2), 0xAAAA0181, 0x55, 0);
  // div cx: 0x0001_0000 / 0x10
  EXPECT_REGS(run_regs({0x66, 0xF7, 0xF1}, 0x12340000, 0x56780001, 0x10), 0x12341000,
              0x56780000, 0);
  // div dword [DATA]
  CpuHarness h;
  h.code({0xF7, 0x35, 0x00, 0x00, 0x02, 0x00});
  h.wr32(DATA, 10);
  h.cpu.regs[EAX] = 0xFFFFFFFF;
  h.cpu.regs[EDX] = 9;
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0xFFFFFFFFu);  // (10 * 2^32 - 1) / 10
  EXPECT_EQ(h.cpu.regs[EDX], 9u);
}

TEST(MulDivOps, DivFaults) {
  // divide by zero
  EXPECT_REGS(run_regs({0xF7, 0xF1}, 5, 0, 0, 0, 0), 5, 0, 0);
  EXPECT_REGS(run_regs({0xF6, 0xF1}, 5, 0, 0, 0, 0), 5, 0, 0);
  // quotient overflow: 0x2_00000000 / 2
  EXPECT_REGS(run_regs({0xF7, 0xF1}, 0, 2, 2, 0, 0), 0, 2, 0);
  // div cl: 0x200 / 2 = 0x100 does not fit in AL
  EXPECT_REGS(run_regs({0xF6, 0xF1}, 0x200, 0, 2, 0, 0), 0x200, 0, 0);
}

TEST(MulDivOps, IdivSigned) {
  // idiv ecx: -7 / 2 = -3 rem -1 (truncation toward zero)
  EXPECT_REGS(run_regs({0xF7, 0xF9}, 0xFFFFFFF9, 0xFFFFFFFF, 2), 0xFFFFFFFD, 0xFFFFFFFF, 0);
  // idiv ecx: 7 / -2 = -3 rem 1
  EXPECT_REGS(run_regs({0xF7, 0xF9}, 7, 0, 0xFFFFFFFE), 0xFFFFFFFD, 1, 0);
  // idiv cl: -128 / 1 = -128 fits
  EXPECT_REGS(run_regs({0xF6, 0xF9}, 0xFF80, 0, 1), 0x0080, 0, 0);
  // idiv cx: -32768 / 2 = -16384
  EXPECT_REGS(run_regs({0x66, 0xF7, 0xF9}, 0x8000, 0xFFFF, 2), 0xC000, 0, 0);
  // the most negative quotient that fits: 0xFFFFFFFF_00000000 / 2 = 0x80000000
  EXPECT_REGS(run_regs({0xF7, 0xF9}, 0, 0xFFFFFFFF, 2), 0x80000000, 0, 0);
}

TEST(MulDivOps, IdivFaults) {
  // most negative / -1
  EXPECT_REGS(run_regs({0xF7, 0xF9}, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0), 0x80000000,
              0xFFFFFFFF, 0);
  EXPECT_REGS(run_regs({0xF6, 0xF9}, 0xFF80, 0, 0xFF, 0, 0), 0xFF80, 0, 0);
  EXPECT_REGS(run_regs({0x66, 0xF7, 0xF9}, 0x8000, 0xFFFF, 0xFFFF, 0, 0), 0x8000, 0xFFFF, 0);
  // 128 / 1 does not fit in AL
  EXPECT_REGS(run_regs({0xF6, 0xF9}, 0x0080, 0, 1, 0, 0), 0x0080, 0, 0);
  // 2^31 / 1 does not fit
  EXPECT_REGS(run_regs({0xF7, 0xF9}, 0x80000000, 0, 1, 0, 0), 0x80000000, 0, 0);
  // by zero
  EXPECT_REGS(run_regs({0xF7, 0xF9}, 1, 0, 0, 0, 0), 1, 0, 0);
}

TEST(MulDivOps, LockIsUndefined) {
  CpuHarness h;
  h.code({0xF0, 0xF7, 0x25, 0x00, 0x00, 0x02, 0x00});  // lock mul dword [DATA]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 6);
}

}  // namespace
}  // namespace softcpu
