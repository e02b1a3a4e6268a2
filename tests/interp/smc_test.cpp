#include <gtest/gtest.h>

#include "interp/tlb.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;

// A store into the same block, ahead of the executing instruction, must be seen by the
// instruction when it runs (SDM vol.3 11.6: self-modifying code).
TEST(SelfModifyingCode, StoreIntoCurrentBlockTakesEffect) {
  CpuHarness h;
  const uint32_t x = CpuHarness::CODE_ADDR + 7;  // address of the `mov al, 1` below
  h.code({0xC6, 0x05, uint8_t(x + 1), uint8_t((x + 1) >> 8), uint8_t((x + 1) >> 16), 0x00, 0x05,
          // mov byte [x+1], 5
          0xB0, 0x01});  // x: mov al, 1   (becomes mov al, 5)
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFF, 5u);
  EXPECT_GE(h.cache.counters().invalidations, 1u);
}

TEST(SelfModifyingCode, RerunAfterPatchUsesNewCode) {
  CpuHarness h;
  h.code({0xB0, 0x01});  // mov al, 1 ; hlt
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFF, 1u);
  // The guest's data write path (not the loader) patches the cached code.
  h.cpu.eip = CpuHarness::CODE_ADDR;
  write_linear<1>(h.cpu, CpuHarness::CODE_ADDR + 1, 9);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFF, 9u);
}

// Writes from outside the CPU (device DMA, the debugger) go through drop_code: the patched
// code runs, and the page's code lines no longer mark the dropped block.
TEST(SelfModifyingCode, DropCodeAfterAnOutsideWrite) {
  CpuHarness h;
  h.code({0xB0, 0x01});  // mov al, 1 ; hlt
  EXPECT_EQ(h.run(), EXIT_HLT);
  const uint32_t page = CpuHarness::CODE_ADDR / PAGE_SIZE;
  EXPECT_NE(h.cpu.mem->code_lines(page), 0u);
  const uint8_t nine = 9;
  h.cpu.mem->write_bytes(CpuHarness::CODE_ADDR + 1, &nine, 1);  // no SMC detection here
  drop_code(h.cpu, CpuHarness::CODE_ADDR + 1, 1);
  EXPECT_EQ(h.cpu.mem->code_lines(page), 0u);
  h.cpu.eip = CpuHarness::CODE_ADDR;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFF, 9u);
  drop_code(h.cpu, 0xFFFFF000u, 0x1000);  // up to the end of the address space: no overflow
}

// A device write that wraps at 4 GiB (a bus-master PRD entry at the top of the address space)
// lands at 0 too: drop_code drops the code it covers there, and indexes no page past 4 GiB
// (fuzz_platform found the out-of-bounds code-line read under ASan;
// tests/fuzz/regressions/platform/asan-drop-code-wraps-at-4g).
TEST(SelfModifyingCode, DropCodeOfARangeThatWrapsAt4GiB) {
  CpuHarness h;
  h.code({0xB0, 0x01});  // mov al, 1 ; hlt
  EXPECT_EQ(h.run(), EXIT_HLT);
  const uint32_t page = CpuHarness::CODE_ADDR / PAGE_SIZE;
  ASSERT_NE(h.cpu.mem->code_lines(page), 0u);
  drop_code(h.cpu, 0xFFFFF000u, 0x1000 + CpuHarness::CODE_ADDR + 2);  // to CODE_ADDR + 1
  EXPECT_EQ(h.cpu.mem->code_lines(page), 0u);
}

TEST(SelfModifyingCode, WritesNextToCodeDoNotInvalidate) {
  CpuHarness h;
  // mov [CODE_ADDR + 0x100], eax : same page, other 64-byte line than the code.
  const uint32_t d = CpuHarness::CODE_ADDR + 0x100;
  h.code({0xA3, uint8_t(d), uint8_t(d >> 8), uint8_t(d >> 16), 0x00});
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cache.counters().invalidations, 0u);
}

}  // namespace
}  // namespace softcpu
