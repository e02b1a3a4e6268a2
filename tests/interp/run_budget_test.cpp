// The run loop's budget: deliveries use it up too, so run() returns to the monitor even when
// the guest never retires an instruction (found by the random-ROM fuzzer, tests/fuzz).
#include <gtest/gtest.h>

#include "interp/interrupts.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu::test {
namespace {

// Real mode: #UD's IVT entry points at a UD2, so every instruction faults and none retires.
// Before the fix run() never returned and the machine ignored its --timeout.
TEST(RunBudget, FaultLoopReturnsToTheMonitor) {
  CpuHarness h(false);
  const uint32_t ud2_at = 0x3000;
  h.put(ud2_at, {0x0F, 0x0B});
  h.wr32(6 * 4, ud2_at);  // 0000:3000
  h.code({0x0F, 0x0B});
  const uint64_t icount0 = h.cpu.icount;
  EXPECT_EQ(h.interp.run(1000), EXIT_BUDGET);
  EXPECT_EQ(h.cpu.icount, icount0);
  EXPECT_EQ(h.interp.counters().exceptions_by_vector[6], 1000u);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0u);
  EXPECT_EQ(h.cpu.eip, ud2_at);
}

struct AlwaysIntc : InterruptAcknowledge {
  int acks = 0;
  int acknowledge() override {
    ++acks;
    return 20;
  }
};

// A trap gate keeps IF = 1, so an INTR that stays asserted is taken again before the
// handler's first instruction (SDM vol.3 6.12.1.2): no instruction ever retires.
TEST(RunBudget, InterruptStormThroughTrapGateReturnsToTheMonitor) {
  CpuHarness h;
  AlwaysIntc intc;
  cpu_set_interrupt_controller(h.cpu, &intc);
  const uint64_t gate = gate_desc(0x08, 0x3000, 0xF, 0);  // 32-bit trap gate
  h.mem.write_bytes(0x400 + 20 * 8, &gate, 8);
  h.code({0x90});
  materialize_flags(h.cpu);
  h.cpu.eflags |= IF;
  cpu_set_intr(h.cpu, true);
  EXPECT_EQ(h.interp.run(500), EXIT_BUDGET);
  EXPECT_EQ(intc.acks, 500);
  EXPECT_EQ(h.interp.counters().interrupts, 500u);
  EXPECT_EQ(h.cpu.regs[ESP], CpuHarness::STACK_TOP - 500 * 12);
}

}  // namespace
}  // namespace softcpu::test
