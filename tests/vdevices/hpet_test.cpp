#include "vdevices/hpet.h"

#include <gtest/gtest.h>

#include "irq_lines.h"

#include <map>

namespace softcpu {
namespace {

using test::Lines;  // irq_lines.h

struct ManualClock : VirtualClock {
  ManualClock() { use_manual_time(0); }
};

constexpr uint32_t BASE = Hpet::DEFAULT_BASE;
constexpr uint32_t T0 = 0x100, T1 = 0x120, T2 = 0x140;  // timer register blocks
constexpr uint64_t US = 1000;                           // ns

struct HpetTest : ::testing::Test {
  ManualClock clock;
  Lines isa, ioapic;
  Hpet hpet{clock, &isa, &ioapic};

  uint32_t rd(uint32_t off) { return hpet.mmio_read(BASE + off, 4); }
  void wr(uint32_t off, uint32_t v) { hpet.mmio_write(BASE + off, 4, v); }
  uint64_t counter() { return rd(0xF0) | uint64_t(rd(0xF4)) << 32; }
  void enable(bool legacy = false) { wr(0x10, 1 | (legacy ? 2 : 0)); }
};

TEST_F(HpetTest, CapabilitiesAndPeriod) {
  // REV_ID 1, NUM_TIM_CAP 2 (three timers), 64-bit counter, legacy route capable, vendor 8086.
  EXPECT_EQ(rd(0x000), 0x8086A201u);
  EXPECT_EQ(rd(0x004), 10'000'000u);  // 10 ns in femtoseconds: 100 MHz
  EXPECT_EQ(hpet.mmio_read(BASE + 2, 2), 0x8086u);
  EXPECT_EQ(hpet.mmio_read(BASE + 1, 1), 0xA2u);
  wr(0x000, 0);  // read-only
  EXPECT_EQ(rd(0x000), 0x8086A201u);
  // Each timer: periodic and 64-bit capable, no FSB, routable to IOAPIC pins 16-23.
  for (uint32_t t : {T0, T1, T2}) {
    EXPECT_EQ(rd(t), 0x30u);
    EXPECT_EQ(rd(t + 4), 0x00FF0000u);
    EXPECT_EQ(rd(t + 8), 0xFFFFFFFFu);  // comparators reset to all ones
    EXPECT_EQ(rd(t + 12), 0xFFFFFFFFu);
  }
  EXPECT_EQ(rd(0x160), 0u);  // no fourth timer
  EXPECT_EQ(rd(0x400), 0u);  // past the block
}

TEST_F(HpetTest, CounterRunsOnlyWhenEnabledAt100MHz) {
  clock.advance_by(5 * US);
  EXPECT_EQ(counter(), 0u);
  enable();
  clock.advance_by(1 * US);
  EXPECT_EQ(counter(), 100u);
  clock.advance_by(15);  // 1.5 ticks
  EXPECT_EQ(counter(), 101u);
  wr(0x10, 0);  // halt
  clock.advance_by(1 * US);
  EXPECT_EQ(counter(), 101u);
  wr(0xF0, 0xFFFFFFF0);  // 64-bit counter written while halted, in halves
  wr(0xF4, 0x7);
  EXPECT_EQ(counter(), 0x7FFFFFFF0ull);
  enable();
  clock.advance_by(200);  // 20 ticks: carries into the upper half
  EXPECT_EQ(counter(), 0x800000004ull);
  EXPECT_EQ(rd(0x10), 1u);
  wr(0x10, 0xFFFFFFFF);  // only ENABLE_CNF and LEG_RT_CNF exist
  EXPECT_EQ(rd(0x10), 3u);
}

TEST_F(HpetTest, OneShotEdgeOnIoapicPin) {
  wr(T2, (20u << 9) | Hpet::TN_INT_ENB);
  EXPECT_EQ(rd(T2), (20u << 9) | 0x34u);
  wr(T2 + 8, 1000);
  wr(T2 + 12, 0);
  enable();
  EXPECT_EQ(clock.next_deadline(), 10 * US);  // one clock timer at the match
  clock.advance_to(10 * US - 1);
  EXPECT_EQ(ioapic.rises[20], 0u);
  clock.advance_to(10 * US);
  EXPECT_EQ(ioapic.rises[20], 1u);
  EXPECT_FALSE(ioapic.level[20]);  // a pulse
  EXPECT_EQ(rd(0x20), 0u);          // edge timers leave the status bit alone
  clock.advance_by(100'000 * US);   // a 64-bit one-shot does not come back
  EXPECT_EQ(ioapic.rises[20], 1u);
  EXPECT_EQ(rd(T2 + 8), 1000u);     // nor does its comparator move
  EXPECT_EQ(clock.next_deadline(), VirtualClock::NEVER);
  EXPECT_EQ(isa.rises[0] + isa.rises[8], 0u);
}

TEST_F(HpetTest, OneShotInThePastWaitsForTheWrap32) {
  wr(T1, (17u << 9) | Hpet::TN_INT_ENB | Hpet::TN_32BIT);
  wr(0xF0, 0x200);
  wr(T1 + 8, 0x100);  // already passed
  EXPECT_EQ(rd(T1 + 12), 0u);  // 32-bit mode: no upper half
  enable();
  clock.advance_by(1000 * US);
  EXPECT_EQ(ioapic.rises[17], 0u);
  // 2.3.9.2.1: it matches again when the low 32 bits come round: 2^32 - 0x100 ticks later.
  const uint64_t wrap_ns = ((1ull << 32) - 0x100) * 10;
  clock.advance_to(wrap_ns - 1);
  EXPECT_EQ(ioapic.rises[17], 0u);
  clock.advance_to(wrap_ns);
  EXPECT_EQ(ioapic.rises[17], 1u);
  EXPECT_EQ(counter(), 0x100000100ull);  // the main counter itself is 64 bits
}

TEST_F(HpetTest, PeriodicAsLinuxProgramsIt) {
  // arch/x86/kernel/hpet.c: counter halted, comparator = now + delta with VAL_SET, then the
  // period alone, then the counter started.
  wr(T0, Hpet::TN_INT_ENB | Hpet::TN_PERIODIC | Hpet::TN_VAL_SET | Hpet::TN_32BIT | (16u << 9));
  EXPECT_TRUE(rd(T0) & Hpet::TN_VAL_SET);
  wr(T0 + 8, 1000);
  EXPECT_FALSE(rd(T0) & Hpet::TN_VAL_SET);  // cleared by the comparator write
  wr(T0 + 8, 500);                           // the period only
  EXPECT_EQ(rd(T0 + 8), 1000u);
  enable();
  clock.advance_to(10 * US);
  EXPECT_EQ(ioapic.rises[16], 1u);
  EXPECT_EQ(rd(T0 + 8), 1500u);
  clock.advance_to(15 * US);
  clock.advance_to(20 * US);
  EXPECT_EQ(ioapic.rises[16], 3u);
  EXPECT_EQ(rd(T0 + 8), 2500u);
  // Interrupt off: no clock timer runs for it, yet its comparator has moved when read.
  wr(T0, rd(T0) & ~uint32_t(Hpet::TN_INT_ENB));
  EXPECT_EQ(clock.next_deadline(), VirtualClock::NEVER);
  clock.advance_to(100 * US);
  EXPECT_EQ(rd(T0 + 8), 10500u);
  EXPECT_EQ(ioapic.rises[16], 3u);
  wr(T0, rd(T0) | Hpet::TN_INT_ENB);
  clock.advance_to(203 * US);  // matches at 105 us, 110 us, ... 200 us
  EXPECT_EQ(ioapic.rises[16], 3u + 20);
  EXPECT_EQ(rd(T0 + 8), 20500u);
}

TEST_F(HpetTest, PeriodicComparatorWithoutValSetKeepsTheAccumulator) {
  wr(T0, Hpet::TN_INT_ENB | Hpet::TN_PERIODIC | (16u << 9));
  wr(T0 + 8, 300);  // periodic, no VAL_SET: the period; the comparator stays all ones
  EXPECT_EQ(rd(T0 + 8), 0xFFFFFFFFu);
  wr(T0, rd(T0) | Hpet::TN_VAL_SET);
  wr(T0 + 8, 100);
  wr(T0, rd(T0) | Hpet::TN_VAL_SET);
  wr(T0 + 12, 0);  // the upper half too (the 4-step 64-bit sequence)
  EXPECT_EQ(rd(T0 + 8), 100u);
  EXPECT_EQ(rd(T0 + 12), 0u);
  enable();
  clock.advance_to(1 * US);
  EXPECT_EQ(ioapic.rises[16], 1u);
  EXPECT_EQ(rd(T0 + 8), 200u);  // the period is the last value written: 100
  clock.advance_to(2 * US);
  EXPECT_EQ(ioapic.rises[16], 2u);
}

TEST_F(HpetTest, LevelStatusHoldsLineUntilCleared) {
  wr(T1, (18u << 9) | Hpet::TN_LEVEL | Hpet::TN_INT_ENB);
  wr(T1 + 8, 50);
  wr(T1 + 12, 0);
  enable();
  clock.advance_to(500);
  EXPECT_EQ(rd(0x20), 2u);  // timer 1's status bit
  EXPECT_TRUE(ioapic.level[18]);
  wr(0x20, 1);  // other bits: no effect
  EXPECT_TRUE(ioapic.level[18]);
  wr(0x20, 2);  // write 1 to clear
  EXPECT_EQ(rd(0x20), 0u);
  EXPECT_FALSE(ioapic.level[18]);
  EXPECT_EQ(ioapic.rises[18], 1u);
  // Interrupt disabled: the status bit is still set by a match, the line stays low.
  wr(T1, (18u << 9) | Hpet::TN_LEVEL);
  wr(0xF0, 0);
  wr(0xF4, 0);
  clock.advance_by(1 * US);
  EXPECT_EQ(rd(0x20), 2u);
  EXPECT_FALSE(ioapic.level[18]);
  // Enabling the interrupt with the bit set raises the line; halting the HPET drops it.
  wr(T1, (18u << 9) | Hpet::TN_LEVEL | Hpet::TN_INT_ENB);
  EXPECT_TRUE(ioapic.level[18]);
  wr(0x10, 0);
  EXPECT_FALSE(ioapic.level[18]);
  EXPECT_EQ(rd(0x20), 2u);
}

TEST_F(HpetTest, RouteOutsideCapabilityIsNotTaken) {
  wr(T2, (21u << 9));
  EXPECT_EQ((rd(T2) >> 9) & 0x1F, 21u);
  wr(T2, (5u << 9));  // pin 5 is not in Tn_INT_ROUTE_CAP
  EXPECT_EQ((rd(T2) >> 9) & 0x1F, 21u);
  wr(T2, 0xFFFFFFFF);  // read-only and unsupported bits stay as they are
  EXPECT_EQ(rd(T2) & ~(0x1Fu << 9), 0x17Eu);  // level, enb, periodic, caps, valset, 32-bit
  EXPECT_EQ(rd(T2 + 4), 0x00FF0000u);
  EXPECT_EQ(rd(T2 + 0x10), 0u);  // FSB route: not offered
}

TEST_F(HpetTest, LegacyReplacementRoutesTimers0And1AndCutsPitAndRtc) {
  hpet.set_irq(0, true);  // the PIT passes through while the route is off
  hpet.set_irq(0, false);
  EXPECT_EQ(isa.rises[0], 1u);
  hpet.set_irq(8, true);  // the RTC holds IRQ8 until its register C is read
  EXPECT_TRUE(isa.level[8]);

  wr(T0, Hpet::TN_INT_ENB | (16u << 9));
  wr(T0 + 8, 100);
  wr(T0 + 12, 0);
  wr(T1, Hpet::TN_INT_ENB | (17u << 9));
  wr(T1 + 8, 200);
  wr(T1 + 12, 0);
  enable(true);
  EXPECT_TRUE(hpet.legacy_mode());
  EXPECT_FALSE(isa.level[8]);  // the RTC is cut off
  hpet.set_irq(0, true);       // ... and the PIT
  hpet.set_irq(0, false);
  EXPECT_EQ(isa.rises[0], 1u);

  clock.advance_to(1 * US);  // timer 0 -> IRQ0
  EXPECT_EQ(isa.rises[0], 2u);
  clock.advance_to(2 * US);  // timer 1 -> IRQ8
  EXPECT_EQ(isa.rises[8], 2u);
  EXPECT_EQ(ioapic.rises[16] + ioapic.rises[17], 0u);  // not their own routes

  wr(0x10, 1);  // legacy route off: the RTC's held level is back
  EXPECT_TRUE(isa.level[8]);
  EXPECT_EQ(isa.rises[8], 3u);
}

TEST_F(HpetTest, LevelTimerOnLegacyRoute) {
  wr(T0, Hpet::TN_INT_ENB | Hpet::TN_LEVEL);
  wr(T0 + 8, 10);
  wr(T0 + 12, 0);
  enable(true);
  clock.advance_to(100);
  EXPECT_TRUE(isa.level[0]);
  wr(0x20, 1);
  EXPECT_FALSE(isa.level[0]);
}

TEST_F(HpetTest, ResetHaltsAndRestoresDefaults) {
  wr(T0, Hpet::TN_INT_ENB | Hpet::TN_PERIODIC | Hpet::TN_VAL_SET | (16u << 9));
  wr(T0 + 8, 100);
  enable(true);
  clock.advance_by(10 * US);
  hpet.reset();
  EXPECT_EQ(rd(0x10), 0u);
  EXPECT_EQ(counter(), 0u);
  EXPECT_EQ(rd(T0), 0x30u);
  EXPECT_EQ(rd(T0 + 8), 0xFFFFFFFFu);
  EXPECT_EQ(clock.next_deadline(), VirtualClock::NEVER);
  hpet.set_irq(8, true);  // the pass-through works again
  EXPECT_TRUE(isa.level[8]);
}

TEST_F(HpetTest, UnconnectedSinksAreSafe) {
  Hpet lone(clock, nullptr, nullptr);
  lone.mmio_write(BASE + T0, 4, Hpet::TN_INT_ENB | Hpet::TN_LEVEL);
  lone.mmio_write(BASE + T0 + 8, 4, 1);
  lone.mmio_write(BASE + T0 + 12, 4, 0);
  lone.mmio_write(BASE + 0x10, 4, 3);
  clock.advance_by(1 * US);
  EXPECT_EQ(lone.interrupt_status(), 1u);
  lone.set_irq(3, true);  // not an input: ignored
}

}  // namespace
}  // namespace softcpu
