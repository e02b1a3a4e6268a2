#include "vdevices/local_apic.h"

#include <gtest/gtest.h>

#include <vector>

#include "vdevices/ioapic.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {
namespace {

using A = LocalApic;
constexpr uint32_t BASE = LocalApic::DEFAULT_BASE;

// Stands in for the 8259: answers the INTA cycle with a fixed vector and counts the cycles.
struct FakePic : InterruptAcknowledge {
  int vector = 0x08;
  int acks = 0;
  int acknowledge() override {
    ++acks;
    return vector;
  }
};

struct LocalApicTest : ::testing::Test {
  VirtualClock clock;
  FakePic pic;
  LocalApic apic{clock, &pic};
  std::vector<bool> intr_events;
  int nmis = 0;
  std::vector<uint8_t> eois;

  LocalApicTest() {
    clock.use_manual_time(0);
    apic.set_intr_output([this](bool level) { intr_events.push_back(level); });
    apic.set_nmi_output([this] { ++nmis; });
    apic.set_eoi_broadcast([this](uint8_t v) { eois.push_back(v); });
  }
  uint32_t rd(uint32_t off) { return apic.mmio_read(BASE + off, 4); }
  void wr(uint32_t off, uint32_t v) { apic.mmio_write(BASE + off, 4, v); }
  void enable(uint8_t spurious = 0xFF) { wr(A::REG_SVR, A::SVR_ENABLE | spurious); }
  void eoi() { wr(A::REG_EOI, 0); }
  uint32_t esr() {
    wr(A::REG_ESR, 0);  // latch errors seen since the last write (SDM 11.5.3)
    return rd(A::REG_ESR);
  }
};

TEST_F(LocalApicTest, ResetValues) {
  // SDM 11.4.7.1 power-up state.
  EXPECT_EQ(rd(A::REG_ID), 0u);
  EXPECT_EQ(rd(A::REG_VERSION), 0x00050014u);
  // Max LVT entry (bits 16-23) is the number of LVT entries minus one.
  EXPECT_EQ((rd(A::REG_VERSION) >> 16) & 0xFF, A::LVT_COUNT - 1);
  EXPECT_EQ(rd(A::REG_TPR), 0u);
  EXPECT_EQ(rd(A::REG_PPR), 0u);
  EXPECT_EQ(rd(A::REG_APR), 0u);
  EXPECT_EQ(rd(A::REG_LDR), 0u);
  EXPECT_EQ(rd(A::REG_DFR), 0xFFFFFFFFu);
  EXPECT_EQ(rd(A::REG_SVR), 0xFFu);
  EXPECT_EQ(rd(A::REG_ESR), 0u);
  EXPECT_EQ(rd(A::REG_ICR_LOW), 0u);
  EXPECT_EQ(rd(A::REG_ICR_HIGH), 0u);
  for (uint32_t off = A::REG_LVT_TIMER; off <= A::REG_LVT_ERROR; off += 0x10)
    EXPECT_EQ(rd(off), A::LVT_MASKED) << std::hex << off;
  for (uint32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(rd(A::REG_ISR + i * 0x10), 0u);
    EXPECT_EQ(rd(A::REG_TMR + i * 0x10), 0u);
    EXPECT_EQ(rd(A::REG_IRR + i * 0x10), 0u);
  }
  EXPECT_EQ(rd(A::REG_TIMER_INITIAL), 0u);
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 0u);
  EXPECT_EQ(rd(A::REG_TIMER_DIVIDE), 0u);
  EXPECT_FALSE(apic.software_enabled());
  EXPECT_TRUE(apic.globally_enabled());
}

TEST_F(LocalApicTest, WritableBitsAndReadOnlyRegisters) {
  wr(A::REG_VERSION, 0);
  EXPECT_EQ(rd(A::REG_VERSION), A::VERSION);
  wr(A::REG_ID, 0x05000000);
  EXPECT_EQ(rd(A::REG_ID), 0u);
  wr(A::REG_TPR, 0x1FF);
  EXPECT_EQ(rd(A::REG_TPR), 0xFFu);
  wr(A::REG_LDR, 0x12345678);
  EXPECT_EQ(rd(A::REG_LDR), 0x12000000u);
  wr(A::REG_DFR, 0);  // cluster model; bits 0-27 stay ones
  EXPECT_EQ(rd(A::REG_DFR), 0x0FFFFFFFu);
  wr(A::REG_ICR_HIGH, 0xFFFFFFFF);
  EXPECT_EQ(rd(A::REG_ICR_HIGH), 0xFF000000u);
  wr(A::REG_TIMER_DIVIDE, 0xFFFFFFFF);
  EXPECT_EQ(rd(A::REG_TIMER_DIVIDE), 0xBu);
  // Narrow writes are ignored; narrow reads see part of the register.
  apic.mmio_write(BASE + A::REG_TPR, 1, 0x20);
  EXPECT_EQ(rd(A::REG_TPR), 0xFFu);
  EXPECT_EQ(apic.mmio_read(BASE + A::REG_VERSION + 2, 1), 0x05u);
  // While software-disabled the LVT mask bits cannot be cleared (SDM 11.4.7.2).
  wr(A::REG_LVT_LINT0, 0x700);
  EXPECT_EQ(rd(A::REG_LVT_LINT0), 0x10700u);
  enable();
  // LINT0: vector, delivery mode, polarity, trigger, mask; not delivery status or remote IRR.
  wr(A::REG_LVT_LINT0, 0xFFFFFFFF);
  EXPECT_EQ(rd(A::REG_LVT_LINT0), 0x1A7FFu);
  wr(A::REG_LVT_TIMER, 0xFFFFFFFF);  // no TSC-deadline mode (bit 18)
  EXPECT_EQ(rd(A::REG_LVT_TIMER), 0x300FFu);
  wr(A::REG_LVT_ERROR, 0xFFFFFFFF);
  EXPECT_EQ(rd(A::REG_LVT_ERROR), 0x100FFu);
  wr(A::REG_LVT_TIMER, 0x31);
  // Clearing the software enable masks every LVT.
  wr(A::REG_SVR, 0xFF);
  EXPECT_EQ(rd(A::REG_LVT_TIMER), 0x10031u);
  EXPECT_EQ(rd(A::REG_LVT_LINT0), 0x1A7FFu);
}

TEST_F(LocalApicTest, IrrIsrEoiOrder) {
  enable();
  apic.accept(0x31, false);
  apic.accept(0x52, false);
  apic.accept(0x40, false);
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(rd(A::REG_IRR + 0x10), (1u << (0x31 - 32)));
  EXPECT_EQ(apic.acknowledge(), 0x52);
  EXPECT_TRUE(apic.isr_bit(0x52));
  EXPECT_FALSE(apic.irr_bit(0x52));
  EXPECT_EQ(rd(A::REG_ISR + 0x20), 1u << (0x52 - 64));
  EXPECT_EQ(rd(A::REG_PPR), 0x50u);
  // 0x40 and 0x31 are of lower classes than the one in service.
  EXPECT_FALSE(apic.intr_level());
  apic.accept(0x61, false);  // a higher class nests
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(apic.acknowledge(), 0x61);
  EXPECT_EQ(rd(A::REG_PPR), 0x60u);
  eoi();  // ends 0x61, the highest in service
  EXPECT_FALSE(apic.isr_bit(0x61));
  EXPECT_TRUE(apic.isr_bit(0x52));
  EXPECT_EQ(rd(A::REG_PPR), 0x50u);
  EXPECT_FALSE(apic.intr_level());
  eoi();
  EXPECT_EQ(rd(A::REG_PPR), 0u);
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(apic.acknowledge(), 0x40);
  eoi();
  EXPECT_EQ(apic.acknowledge(), 0x31);
  eoi();
  EXPECT_FALSE(apic.intr_level());
  EXPECT_TRUE(eois.empty());  // all edge-triggered: no EOI broadcast
  // Every change of INTR was reported, alternating.
  ASSERT_FALSE(intr_events.empty());
  for (size_t i = 1; i < intr_events.size(); ++i) EXPECT_NE(intr_events[i], intr_events[i - 1]);
  EXPECT_FALSE(intr_events.back());
}

TEST_F(LocalApicTest, SameClassDoesNotNest) {
  enable();
  apic.accept(0x55, false);
  EXPECT_EQ(apic.acknowledge(), 0x55);
  apic.accept(0x5A, false);  // same class as the one in service: waits for the EOI
  EXPECT_FALSE(apic.intr_level());
  eoi();
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(apic.acknowledge(), 0x5A);
}

TEST_F(LocalApicTest, TprMasksLowerClassesAndSpuriousVector) {
  enable(0xEF);
  wr(A::REG_TPR, 0x50);
  apic.accept(0x55, false);
  EXPECT_FALSE(apic.intr_level());  // class 5 is not above TPR class 5
  EXPECT_EQ(rd(A::REG_PPR), 0x50u);
  apic.accept(0x65, false);
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(rd(A::REG_APR), 0x60u);  // the IRR class beats TPR's
  wr(A::REG_TPR, 0x70);
  EXPECT_FALSE(apic.intr_level());
  // INTA after the request was masked: the spurious vector, and nothing goes in service.
  EXPECT_EQ(apic.acknowledge(), 0xEF);
  EXPECT_EQ(rd(A::REG_ISR + 0x60), 0u);
  EXPECT_TRUE(apic.irr_bit(0x65));
  wr(A::REG_TPR, 0);
  EXPECT_EQ(apic.acknowledge(), 0x65);
}

TEST_F(LocalApicTest, SpuriousWhenNothingPending) {
  enable(0x3F);
  EXPECT_FALSE(apic.intr_level());
  EXPECT_EQ(apic.acknowledge(), 0x3F);
  for (uint32_t i = 0; i < 8; ++i) EXPECT_EQ(rd(A::REG_ISR + i * 0x10), 0u);
  eoi();  // EOI with nothing in service does nothing
  EXPECT_EQ(rd(A::REG_PPR), 0u);
  EXPECT_EQ(pic.acks, 0);
}

TEST_F(LocalApicTest, SoftwareDisabledLatchesButDoesNotInterrupt) {
  apic.accept(0x40, false);
  EXPECT_TRUE(apic.irr_bit(0x40));
  EXPECT_FALSE(apic.intr_level());
  enable();
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(apic.acknowledge(), 0x40);
}

TEST_F(LocalApicTest, TimerOneShot) {
  enable();
  wr(A::REG_TIMER_DIVIDE, 0x3);  // divide by 16: 16 bus ticks of 10 ns per count
  wr(A::REG_LVT_TIMER, 0x30);
  wr(A::REG_TIMER_INITIAL, 1000);
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 1000u);
  const uint64_t ns_per_count = 16 * A::NS_PER_BUS_TICK;
  clock.advance_to(100 * ns_per_count);
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 900u);
  clock.advance_to(100 * ns_per_count + ns_per_count - 1);  // not a whole count more
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 900u);
  clock.advance_to(1000 * ns_per_count - 1);
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 1u);
  EXPECT_FALSE(apic.irr_bit(0x30));
  clock.advance_to(1000 * ns_per_count);
  EXPECT_TRUE(apic.irr_bit(0x30));
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 0u);
  EXPECT_EQ(apic.acknowledge(), 0x30);
  eoi();
  clock.advance_by(10 * 1000 * ns_per_count);  // one shot: no second interrupt
  EXPECT_FALSE(apic.irr_bit(0x30));
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 0u);
  EXPECT_EQ(rd(A::REG_TIMER_INITIAL), 1000u);
}

TEST_F(LocalApicTest, TimerDivideValues) {
  enable();
  // Divide configuration bits 3,1,0 (SDM figure 11-10).
  const struct { uint32_t config; uint64_t divider; } cases[] = {
      {0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xA, 128}, {0xB, 1}};
  for (const auto& c : cases) {
    wr(A::REG_TIMER_DIVIDE, c.config);
    wr(A::REG_TIMER_INITIAL, 100000);
    clock.advance_by(50 * c.divider * A::NS_PER_BUS_TICK);
    EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 100000u - 50) << "config " << c.config;
  }
}

TEST_F(LocalApicTest, TimerPeriodic) {
  enable();
  wr(A::REG_TIMER_DIVIDE, 0xB);  // divide by 1: 10 ns per count
  wr(A::REG_LVT_TIMER, A::LVT_TIMER_PERIODIC | 0x40);
  wr(A::REG_TIMER_INITIAL, 100);  // a period of 1000 ns
  clock.advance_to(250);
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 75u);
  for (int period = 1; period <= 3; ++period) {
    clock.advance_to(1000u * period - 1);
    EXPECT_FALSE(apic.irr_bit(0x40)) << period;
    clock.advance_to(1000u * period);
    EXPECT_TRUE(apic.irr_bit(0x40)) << period;
    EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 100u);  // reloaded
    EXPECT_EQ(apic.acknowledge(), 0x40);
    eoi();
  }
  clock.advance_to(3500);
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 50u);
  wr(A::REG_TIMER_INITIAL, 0);  // stops the timer
  clock.advance_to(10000);
  EXPECT_FALSE(apic.irr_bit(0x40));
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 0u);
}

// The timer observer (a vCPU another scheduler runs meets its own timer with it: docs/design.md
// "A partition on both hypervisors") hears the deadline after every change: armed, moved by a
// new divider, fired (one-shot: none left; periodic: the next), stopped, reset.
TEST_F(LocalApicTest, TimerObserverSeesEveryDeadlineChange) {
  std::vector<uint64_t> seen;
  apic.set_timer_observer([this, &seen](uint64_t d) {
    EXPECT_EQ(d, clock.deadline(0)) << "the clock's deadline (its first timer is the APIC's)";
    seen.push_back(d);
  });
  const uint64_t NEVER = VirtualClock::NEVER;
  enable();
  wr(A::REG_TIMER_DIVIDE, 0xB);  // divide by 1: 10 ns per count
  wr(A::REG_LVT_TIMER, 0x40);    // one-shot
  wr(A::REG_TIMER_INITIAL, 100);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), 1000u);
  wr(A::REG_TIMER_DIVIDE, 0x0);  // divide by 2 while counting: 100 counts of 20 ns
  EXPECT_EQ(seen.back(), 2000u);
  clock.advance_to(2000);
  EXPECT_TRUE(apic.irr_bit(0x40));
  EXPECT_EQ(seen.back(), NEVER) << "a one-shot timer that fired has no deadline left";
  wr(A::REG_LVT_TIMER, A::LVT_TIMER_PERIODIC | 0x41);
  wr(A::REG_TIMER_INITIAL, 50);  // a period of 1000 ns from 2000
  EXPECT_EQ(seen.back(), 3000u);
  clock.advance_to(3000);
  EXPECT_EQ(seen.back(), 4000u) << "a periodic timer that fired is re-armed";
  wr(A::REG_TIMER_INITIAL, 0);
  EXPECT_EQ(seen.back(), NEVER);
  wr(A::REG_TIMER_INITIAL, 10);
  EXPECT_EQ(seen.back(), 3200u);
  const size_t before = seen.size();
  apic.reset();
  ASSERT_GT(seen.size(), before);
  EXPECT_EQ(seen.back(), NEVER);
}

TEST_F(LocalApicTest, MaskedTimerCountsWithoutInterrupt) {
  enable();
  wr(A::REG_TIMER_DIVIDE, 0xB);
  wr(A::REG_LVT_TIMER, A::LVT_MASKED | 0x40);
  wr(A::REG_TIMER_INITIAL, 10);
  clock.advance_to(50);
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 5u);
  clock.advance_to(200);
  EXPECT_EQ(rd(A::REG_TIMER_CURRENT), 0u);
  EXPECT_FALSE(apic.irr_bit(0x40));
  EXPECT_FALSE(apic.intr_level());
}

TEST_F(LocalApicTest, LevelEoiBroadcastReachesIoapic) {
  Ioapic ioapic([this](const ApicMessage& m) { apic.receive(m); });
  apic.set_eoi_broadcast([&](uint8_t v) {
    eois.push_back(v);
    ioapic.eoi(v);
  });
  enable();
  auto io_wr = [&](uint8_t reg, uint32_t v) {
    ioapic.mmio_write(Ioapic::DEFAULT_BASE + Ioapic::IOREGSEL, 4, reg);
    ioapic.mmio_write(Ioapic::DEFAULT_BASE + Ioapic::IOWIN, 4, v);
  };
  io_wr(Ioapic::REG_REDTBL + 2 * 10 + 1, 0);               // physical destination 0
  io_wr(Ioapic::REG_REDTBL + 2 * 10, (1u << 15) | 0x41);  // level, fixed, unmasked
  ioapic.set_irq(10, true);
  EXPECT_TRUE(apic.irr_bit(0x41));
  EXPECT_EQ(rd(A::REG_TMR + 0x20), 1u << 1);  // the TMR bit says level-triggered
  EXPECT_TRUE(ioapic.entry(10) & Ioapic::RTE_REMOTE_IRR);
  EXPECT_EQ(apic.acknowledge(), 0x41);
  // Still asserted at EOI: the IOAPIC clears remote IRR and sends again.
  eoi();
  EXPECT_EQ(eois, (std::vector<uint8_t>{0x41}));
  EXPECT_TRUE(apic.irr_bit(0x41));
  EXPECT_TRUE(ioapic.entry(10) & Ioapic::RTE_REMOTE_IRR);
  EXPECT_EQ(apic.acknowledge(), 0x41);
  ioapic.set_irq(10, false);
  eoi();
  EXPECT_EQ(eois.size(), 2u);
  EXPECT_FALSE(apic.irr_bit(0x41));
  EXPECT_FALSE(ioapic.entry(10) & Ioapic::RTE_REMOTE_IRR);
  EXPECT_FALSE(apic.intr_level());
}

TEST_F(LocalApicTest, VirtualWireWhileSoftwareDisabled) {
  apic.set_lint0(true);  // the 8259 raises INTR
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(apic.acknowledge(), 0x08);
  EXPECT_EQ(pic.acks, 1);
  apic.set_lint0(false);
  EXPECT_FALSE(apic.intr_level());
  // Software-enabled with LINT0 masked: the 8259 is cut off.
  enable();
  apic.set_lint0(true);
  EXPECT_FALSE(apic.intr_level());
  // LINT0 as unmasked ExtINT (virtual wire mode A): it passes again.
  wr(A::REG_LVT_LINT0, APIC_DM_EXTINT << 8);
  EXPECT_TRUE(apic.intr_level());
  pic.vector = 0x70;
  EXPECT_EQ(apic.acknowledge(), 0x70);
  // ExtINT wins over a pending fixed interrupt (it bypasses the priority logic).
  apic.accept(0x90, false);
  EXPECT_EQ(apic.acknowledge(), 0x70);
  apic.set_lint0(false);
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(apic.acknowledge(), 0x90);
}

TEST_F(LocalApicTest, GlobalDisableMakesApicInvisible) {
  enable();
  wr(A::REG_TPR, 0x30);
  apic.set_global_enable(false);
  EXPECT_EQ(rd(A::REG_VERSION), 0xFFFFFFFFu);
  wr(A::REG_SVR, 0x1FF);  // ignored
  apic.set_lint0(true);
  EXPECT_TRUE(apic.intr_level());
  EXPECT_EQ(apic.acknowledge(), 0x08);
  apic.set_lint1(true);  // LINT1 is the NMI pin
  EXPECT_EQ(nmis, 1);
  EXPECT_FALSE(apic.receive(ApicMessage{0x40, APIC_DM_FIXED, false, 0, false}));
  // Re-enabled: power-up state.
  apic.set_global_enable(true);
  EXPECT_EQ(rd(A::REG_TPR), 0u);
  EXPECT_EQ(rd(A::REG_SVR), 0xFFu);
}

TEST_F(LocalApicTest, Lint1Nmi) {
  enable();
  apic.set_lint1(true);  // LINT1 masked after reset
  apic.set_lint1(false);
  EXPECT_EQ(nmis, 0);
  wr(A::REG_LVT_LINT1, APIC_DM_NMI << 8);
  apic.set_lint1(true);
  EXPECT_EQ(nmis, 1);
  apic.set_lint1(true);  // no new edge
  EXPECT_EQ(nmis, 1);
  apic.set_lint1(false);
  apic.set_lint1(true);
  EXPECT_EQ(nmis, 2);
  EXPECT_FALSE(apic.intr_level());
}

TEST_F(LocalApicTest, SelfIpi) {
  enable();
  wr(A::REG_ICR_LOW, (1u << 18) | 0x45);  // "self" shorthand, fixed
  EXPECT_TRUE(apic.irr_bit(0x45));
  wr(A::REG_ICR_HIGH, 0);  // physical destination 0 = us
  wr(A::REG_ICR_LOW, 0x46);
  EXPECT_TRUE(apic.irr_bit(0x46));
  EXPECT_EQ(rd(A::REG_ICR_LOW) & (1u << 12), 0u);  // delivery status: idle
  wr(A::REG_ICR_HIGH, 1u << 24);  // another CPU: nobody there
  wr(A::REG_ICR_LOW, 0x47);
  EXPECT_FALSE(apic.irr_bit(0x47));
  wr(A::REG_ICR_LOW, (3u << 18) | 0x48);  // all excluding self
  EXPECT_FALSE(apic.irr_bit(0x48));
  wr(A::REG_ICR_LOW, (2u << 18) | 0x49);  // all including self
  EXPECT_TRUE(apic.irr_bit(0x49));
  // INIT and SIPI to the others are ignored.
  wr(A::REG_ICR_LOW, (3u << 18) | (APIC_DM_INIT << 8) | (1u << 14));
  wr(A::REG_ICR_LOW, (3u << 18) | (APIC_DM_STARTUP << 8) | 0x10);
  EXPECT_EQ(nmis, 0);
  wr(A::REG_ICR_LOW, (1u << 18) | (APIC_DM_NMI << 8));
  EXPECT_EQ(nmis, 1);
  // A fixed IPI with a vector below 16 is a send error.
  EXPECT_EQ(esr(), 0u);
  wr(A::REG_ICR_LOW, (1u << 18) | 0x05);
  EXPECT_EQ(esr(), A::ESR_SEND_ILLEGAL_VECTOR);
  EXPECT_EQ(esr(), 0u);  // the next write clears it
}

TEST_F(LocalApicTest, ErrorsAndErrorInterrupt) {
  enable();
  wr(A::REG_LVT_ERROR, 0xFE);
  EXPECT_EQ(rd(0x010), 0u);  // reserved register
  EXPECT_TRUE(apic.irr_bit(0xFE));
  EXPECT_EQ(esr(), A::ESR_ILLEGAL_REGISTER);
  apic.accept(0x0F, false);  // vectors 0-15 are illegal
  EXPECT_FALSE(apic.irr_bit(0x0F));
  EXPECT_EQ(esr(), A::ESR_RECEIVE_ILLEGAL_VECTOR);
}

TEST_F(LocalApicTest, DestinationMatching) {
  enable();
  wr(A::REG_LDR, 0x01000000);  // flat model, logical ID bit 0
  ApicMessage m{0x50, APIC_DM_FIXED, true, 0x01, false};
  EXPECT_TRUE(apic.receive(m));
  m.dest = 0x02;
  EXPECT_FALSE(apic.receive(m));
  m.dest = 0xFF;
  EXPECT_TRUE(apic.receive(m));
  m.logical = false;
  m.dest = 0;
  EXPECT_TRUE(apic.receive(m));
  m.dest = 3;
  EXPECT_FALSE(apic.receive(m));
  // Cluster model: cluster 2, member bit 0.
  wr(A::REG_DFR, 0x0FFFFFFF);
  wr(A::REG_LDR, 0x21000000);
  m.logical = true;
  m.dest = 0x21;
  EXPECT_TRUE(apic.receive(m));
  m.dest = 0x11;
  EXPECT_FALSE(apic.receive(m));
  m.dest = 0xF1;  // all clusters
  EXPECT_TRUE(apic.receive(m));
  m.dest = 0x22;
  EXPECT_FALSE(apic.receive(m));
  // An ExtINT message takes its vector from the 8259.
  m = ApicMessage{0, APIC_DM_EXTINT, false, 0, false};
  EXPECT_TRUE(apic.receive(m));
  EXPECT_TRUE(apic.intr_level());
  pic.vector = 0x20;
  EXPECT_EQ(apic.acknowledge(), 0x20);
}

// -smp: the ID register, and what an ICR write hands to the APIC bus (SDM 11.6.1).
TEST_F(LocalApicTest, IdAndIpiBusMessages) {
  apic.set_id(3);
  EXPECT_EQ(rd(A::REG_ID), 3u << 24);
  std::vector<std::pair<ApicMessage, unsigned>> sent;
  apic.set_ipi_bus([&](LocalApic& from, const ApicMessage& m, unsigned shorthand) {
    EXPECT_EQ(&from, &apic);
    sent.push_back({m, shorthand});
  });
  enable();
  wr(A::REG_ICR_HIGH, 1u << 24);
  wr(A::REG_ICR_LOW, 0x4500);  // INIT, assert, physical, to APIC 1
  wr(A::REG_ICR_LOW, 0x8500);  // INIT level de-assert
  wr(A::REG_ICR_LOW, 0x4608);  // STARTUP vector 8
  wr(A::REG_ICR_LOW, 0xC0041); // fixed 0x41, all excluding self
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].first.delivery_mode, APIC_DM_INIT);
  EXPECT_FALSE(sent[0].first.deassert);
  EXPECT_EQ(sent[0].first.dest, 1);
  EXPECT_TRUE(sent[1].first.deassert);
  EXPECT_EQ(sent[2].first.delivery_mode, APIC_DM_STARTUP);
  EXPECT_EQ(sent[2].first.vector, 8);
  EXPECT_EQ(sent[3].second, 3u);
  EXPECT_EQ(sent[3].first.vector, 0x41);
  wr(A::REG_ICR_LOW, 0x0005);  // fixed vector 5: illegal, never sent
  EXPECT_EQ(sent.size(), 4u);
  EXPECT_EQ(esr() & A::ESR_SEND_ILLEGAL_VECTOR, A::ESR_SEND_ILLEGAL_VECTOR);
}

TEST_F(LocalApicTest, InitAndStartupReachTheCpuDeassertDoesNot) {
  apic.set_id(1);
  int inits = 0;
  std::vector<uint8_t> sipis;
  apic.set_init_output([&] { ++inits; });
  apic.set_startup_output([&](uint8_t v) { sipis.push_back(v); });
  ApicMessage m;
  m.delivery_mode = APIC_DM_INIT;
  m.dest = 1;
  EXPECT_TRUE(apic.receive(m));
  m.deassert = true;
  EXPECT_TRUE(apic.receive(m));
  EXPECT_EQ(inits, 1);
  m = ApicMessage{};
  m.delivery_mode = APIC_DM_STARTUP;
  m.vector = 0x9F;
  m.dest = 0;  // APIC 0: not us
  EXPECT_FALSE(apic.receive(m));
  m.dest = 1;
  EXPECT_TRUE(apic.receive(m));
  EXPECT_EQ(sipis, std::vector<uint8_t>{0x9F});
}

}  // namespace
}  // namespace softcpu
