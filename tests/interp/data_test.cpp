#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;

TEST(DataOps, MovFormsIn32BitMode) {
  CpuHarness h;
  h.code({0xB8, 0x78, 0x56, 0x34, 0x12,        // mov eax, 0x12345678
          0x89, 0x05, 0x00, 0x00, 0x02, 0x00,  // mov [0x20000], eax
          0x8A, 0x1D, 0x01, 0x00, 0x02, 0x00,  // mov bl, [0x20001]
          0x88, 0xDF,                          // mov bh, bl
          0xA1, 0x00, 0x00, 0x02, 0x00});      // mov eax, [0x20000] (moffs)
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x20000), 0x12345678u);
  EXPECT_EQ(h.cpu.regs[EBX] & 0xFFFF, 0x5656u);
  EXPECT_EQ(h.cpu.regs[EAX], 0x12345678u);
  EXPECT_EQ(h.last_vector(), -1);
}

TEST(DataOps, SegmentLimitFaultInRealMode) {
  CpuHarness h(false);
  h.code({0x8B, 0x87, 0xFF, 0xFF});  // mov ax, [bx+0xFFFF] with BX=1 wraps to 0: no fault
  h.cpu.regs[EBX] = 1;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
}

}  // namespace
}  // namespace softcpu
