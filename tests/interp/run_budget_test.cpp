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
  EXPECT_EQ(h.interp.counters().exceptions_by_vector[6], 1001u);  // more than the budget
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
  EXPECT_EQ(intc.acks, 501);
  EXPECT_EQ(h.interp.counters().interrupts, 501u);
  EXPECT_EQ(h.cpu.regs[ESP], CpuHarness::STACK_TOP - 501 * 12);
}

// REP STOSD into unassigned memory takes the slow path for every element; each pause after
// 16384 elements used to count as one instruction, so run(100000) did 1.6 G stores (minutes)
// before the monitor could look at --timeout (random ROM seed 94). Now a pause uses up
// kResumeCharge (4096) of the budget.
TEST(RunBudget, SlowRepStringChunksUseUpTheBudget) {
  CpuHarness h;
  h.cpu.regs[EDI] = 0xE0000000;  // unassigned: never in the soft TLB
  h.cpu.regs[ECX] = 0xFFFFFFFF;
  h.code({0xF3, 0xAB});  // rep stosd
  EXPECT_EQ(h.interp.run(100000), EXIT_BUDGET);
  const uint64_t stores = 0xFFFFFFFFull - h.cpu.regs[ECX];
  EXPECT_EQ(stores % 16384, 0u);
  EXPECT_GE(stores, 16384u);
  EXPECT_LE(stores, (100000 / 4096 + 1) * 16384u);
  EXPECT_EQ(h.cpu.eip, CpuHarness::CODE_ADDR);  // on the REP, to resume it
}

}  // namespace
}  // namespace softcpu::test
