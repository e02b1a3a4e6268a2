#include "vdevices/ioapic.h"

#include <gtest/gtest.h>

#include <vector>

namespace softcpu {
namespace {

using I = Ioapic;
constexpr uint32_t BASE = Ioapic::DEFAULT_BASE;

struct IoapicTest : ::testing::Test {
  std::vector<ApicMessage> sent;
  Ioapic io{[this](const ApicMessage& m) { sent.push_back(m); }};

  uint32_t rd(uint8_t reg) {
    io.mmio_write(BASE + I::IOREGSEL, 4, reg);
    return io.mmio_read(BASE + I::IOWIN, 4);
  }
  void wr(uint8_t reg, uint32_t v) {
    io.mmio_write(BASE + I::IOREGSEL, 4, reg);
    io.mmio_write(BASE + I::IOWIN, 4, v);
  }
  void program(unsigned pin, uint32_t low, uint8_t dest = 0) {
    wr(static_cast<uint8_t>(I::REG_REDTBL + 2 * pin + 1), uint32_t(dest) << 24);
    wr(static_cast<uint8_t>(I::REG_REDTBL + 2 * pin), low);
  }
};

constexpr uint32_t LEVEL = 1u << 15, MASKED = 1u << 16;

TEST_F(IoapicTest, IdentificationRegisters) {
  EXPECT_EQ(rd(I::REG_VERSION), 0x00170011u);
  EXPECT_EQ(((rd(I::REG_VERSION) >> 16) & 0xFF) + 1, I::NUM_PINS);
  EXPECT_EQ(rd(I::REG_ID), 0u);
  wr(I::REG_ID, 0xFFFFFFFF);
  EXPECT_EQ(rd(I::REG_ID), 0x0F000000u);  // ID is bits 24-27
  EXPECT_EQ(rd(I::REG_ARB), 0x0F000000u);
  wr(I::REG_VERSION, 0);
  EXPECT_EQ(rd(I::REG_VERSION), I::VERSION);
  // IOREGSEL reads back; byte reads of IOWIN see parts of the register.
  io.mmio_write(BASE, 1, I::REG_VERSION);
  EXPECT_EQ(io.mmio_read(BASE, 1), 1u);
  EXPECT_EQ(io.mmio_read(BASE + I::IOWIN + 2, 1), 0x17u);
  EXPECT_EQ(rd(0x40), 0u);  // past the table
}

TEST_F(IoapicTest, RedirectionTableReadWrite) {
  for (unsigned pin = 0; pin < I::NUM_PINS; ++pin) {
    EXPECT_EQ(rd(static_cast<uint8_t>(I::REG_REDTBL + 2 * pin)), MASKED) << pin;
    EXPECT_EQ(rd(static_cast<uint8_t>(I::REG_REDTBL + 2 * pin + 1)), 0u) << pin;
  }
  // Delivery status (12) and remote IRR (14) are read-only, bits 17-31 and 32-55 reserved.
  wr(I::REG_REDTBL + 2 * 5, 0xFFFFFFFF);
  wr(I::REG_REDTBL + 2 * 5 + 1, 0xFFFFFFFF);
  EXPECT_EQ(rd(I::REG_REDTBL + 2 * 5), 0x1AFFFu);
  EXPECT_EQ(rd(I::REG_REDTBL + 2 * 5 + 1), 0xFF000000u);
  EXPECT_EQ(io.entry(5), 0xFF000000'0001AFFFull);
  program(7, 0x0000A931, 0x12);  // level, logical, lowest priority, active low, vector 0x31
  EXPECT_EQ(io.entry(7), 0x12000000'0000A931ull);
  EXPECT_EQ(io.entry(6), MASKED);  // neighbours untouched
  io.reset();
  EXPECT_EQ(io.entry(7), MASKED);
}

TEST_F(IoapicTest, MaskedPinsSendNothing) {
  io.set_irq(3, true);
  io.set_irq(3, false);
  program(4, LEVEL | MASKED | 0x44);
  io.set_irq(4, true);
  EXPECT_TRUE(sent.empty());
  // An edge entry unmasked while its pin is high: the edge was lost.
  program(3, MASKED | 0x33);
  io.set_irq(3, true);
  program(3, 0x33);
  EXPECT_TRUE(sent.empty());
  // A level entry unmasked while asserted sends at once.
  program(4, LEVEL | 0x44);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].vector, 0x44);
  EXPECT_TRUE(sent[0].level);
  io.set_irq(99, true);  // no such pin
  EXPECT_EQ(sent.size(), 1u);
}

TEST_F(IoapicTest, EdgeTriggeredSendsOnRisingEdge) {
  program(1, 0x31);
  io.set_irq(1, true);
  io.set_irq(1, true);  // still high: no new edge
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].vector, 0x31);
  EXPECT_FALSE(sent[0].level);
  EXPECT_FALSE(io.entry(1) & I::RTE_REMOTE_IRR);
  io.set_irq(1, false);
  EXPECT_EQ(sent.size(), 1u);
  io.set_irq(1, true);
  EXPECT_EQ(sent.size(), 2u);
  io.eoi(0x31);  // EOIs do not concern edge entries
  EXPECT_EQ(sent.size(), 2u);
}

TEST_F(IoapicTest, LevelTriggeredWithRemoteIrr) {
  program(9, LEVEL | 0x59);
  io.set_irq(9, true);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].level);
  EXPECT_TRUE(io.entry(9) & I::RTE_REMOTE_IRR);
  EXPECT_EQ(rd(I::REG_REDTBL + 2 * 9) & (1u << 14), 1u << 14);
  io.set_irq(9, true);  // remote IRR holds further messages
  EXPECT_EQ(sent.size(), 1u);
  io.eoi(0x60);  // another vector
  EXPECT_EQ(sent.size(), 1u);
  EXPECT_TRUE(io.entry(9) & I::RTE_REMOTE_IRR);
  io.eoi(0x59);  // still asserted: sent again
  EXPECT_EQ(sent.size(), 2u);
  EXPECT_TRUE(io.entry(9) & I::RTE_REMOTE_IRR);
  io.set_irq(9, false);
  io.eoi(0x59);
  EXPECT_EQ(sent.size(), 2u);
  EXPECT_FALSE(io.entry(9) & I::RTE_REMOTE_IRR);
  // Writing the entry cannot clear remote IRR of a level entry.
  io.set_irq(9, true);
  EXPECT_EQ(sent.size(), 3u);
  program(9, LEVEL | 0x59);
  EXPECT_TRUE(io.entry(9) & I::RTE_REMOTE_IRR);
  EXPECT_EQ(sent.size(), 3u);
}

TEST_F(IoapicTest, MessageFields) {
  // Logical destination 0x0C, lowest priority, vector 0x70.
  program(2, (1u << 11) | (APIC_DM_LOWEST << 8) | 0x70, 0x0C);
  io.set_irq(2, true);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].vector, 0x70);
  EXPECT_EQ(sent[0].delivery_mode, APIC_DM_LOWEST);
  EXPECT_TRUE(sent[0].logical);
  EXPECT_EQ(sent[0].dest, 0x0C);
  // A level NMI entry is not EOIed, so it sets no remote IRR and acts on edges.
  program(3, LEVEL | (APIC_DM_NMI << 8));
  io.set_irq(3, true);
  io.set_irq(3, true);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].delivery_mode, APIC_DM_NMI);
  EXPECT_FALSE(io.entry(3) & I::RTE_REMOTE_IRR);
}

TEST_F(IoapicTest, Polarity) {
  // Default: levels are logical, the polarity bit is only stored.
  program(16, LEVEL | (1u << 13) | 0x90);
  io.set_irq(16, true);
  EXPECT_EQ(sent.size(), 1u);
  io.set_irq(16, false);
  io.eoi(0x90);
  EXPECT_EQ(sent.size(), 1u);
  // Electrical levels: an active-low pin is asserted while low.
  io.set_electrical_levels(true);
  program(17, MASKED | (1u << 13) | 0x91);
  io.set_irq(17, true);  // idle (high)
  program(17, (1u << 13) | 0x91);
  EXPECT_EQ(sent.size(), 1u);
  io.set_irq(17, false);  // falling electrical edge = asserted
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].vector, 0x91);
  io.set_irq(17, true);
  EXPECT_EQ(sent.size(), 2u);
}

}  // namespace
}  // namespace softcpu
