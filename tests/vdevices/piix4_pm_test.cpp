#include "vdevices/piix4_pm.h"

#include <gtest/gtest.h>

#include <vector>

#include "vdevices/pci_bus.h"

namespace softcpu {
namespace {

struct LevelRecorder : IrqSink {
  void set_irq(unsigned line, bool level) override {
    this->line = line;
    this->level = level;
    ++changes;
  }
  unsigned line = 99;
  bool level = false;
  int changes = 0;
};

struct Piix4PmTest : ::testing::Test {
  Piix4PmTest() : pm(clock, IrqLine{&sci, 9}) {
    clock.use_manual_time();
    bus.attach(1, 3, &pm);
    pm.set_pm_io_change_handler([this](bool was, uint16_t old_base, bool now, uint16_t base) {
      changes.push_back({was, old_base, now, base});
    });
    pm.set_power_off_handler([this] { ++power_offs; });
    bus.reset();
    changes.clear();
  }
  void enable_at(uint16_t base) {
    bus.config_write(1, 3, Piix4Pm::PMBA, 4, base | 1u);
    bus.config_write(1, 3, Piix4Pm::PMREGMISC, 1, 1);
  }
  struct Change {
    bool was;
    uint16_t old_base;
    bool now;
    uint16_t base;
  };
  VirtualClock clock;
  LevelRecorder sci;
  PciBus bus;
  Piix4Pm pm;
  std::vector<Change> changes;
  int power_offs = 0;
};

TEST_F(Piix4PmTest, IdentityAndPmbaRegister) {
  EXPECT_EQ(bus.config_read(1, 3, 0, 4), 0x71138086u);
  EXPECT_EQ(bus.config_read(1, 3, PciDevice::REVISION, 4) >> 8, 0x068000u);
  // PMBA: 64-byte granularity, bit 0 (I/O space indicator) reads 1.
  EXPECT_EQ(bus.config_read(1, 3, Piix4Pm::PMBA, 4), 1u);
  bus.config_write(1, 3, Piix4Pm::PMBA, 4, 0xFFFFFFFF);
  EXPECT_EQ(bus.config_read(1, 3, Piix4Pm::PMBA, 4), 0x0000FFC1u);
  // SeaBIOS skips its SMM setup when DEVACTB.APMC_EN is already set (no SMM here).
  EXPECT_TRUE(bus.config_read(1, 3, Piix4Pm::DEVACTB, 4) & (1u << 25));
}

TEST_F(Piix4PmTest, IoSpaceFollowsPmbaAndPmregmisc) {
  bus.config_write(1, 3, Piix4Pm::PMBA, 4, 0x601);
  EXPECT_TRUE(changes.empty());  // PMREGMISC.PMIOSE still off
  bus.config_write(1, 3, Piix4Pm::PMREGMISC, 1, 1);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].was);
  EXPECT_TRUE(changes[0].now);
  EXPECT_EQ(changes[0].base, 0x600);
  bus.config_write(1, 3, Piix4Pm::PMBA, 4, 0xB001);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(changes[1].was);
  EXPECT_EQ(changes[1].old_base, 0x600);
  EXPECT_EQ(changes[1].base, 0xB000);
  bus.reset();  // reset unmaps
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_FALSE(changes[2].now);
}

TEST_F(Piix4PmTest, PmTimerRunsAt3579545HzAndWraps24Bits) {
  enable_at(0x600);
  const uint32_t t0 = pm.io_read(0x608, 4);
  clock.advance_by(1000000000);  // one second
  const uint32_t t1 = pm.io_read(0x608, 4);
  EXPECT_EQ((t1 - t0) & 0xFFFFFF, 3579545u);
  // 2^24 ticks take about 4.687 s; the count stays within 24 bits.
  clock.advance_by(4000000000ull);
  EXPECT_LT(pm.io_read(0x608, 4), 1u << 24);
  EXPECT_EQ(pm.io_read(0x608, 4), pm.pm_timer());
}

TEST_F(Piix4PmTest, SciIsLevelOfEnabledStatus) {
  enable_at(0x600);
  pm.raise_event(Piix4Pm::PWRBTN);
  EXPECT_FALSE(sci.level);  // not enabled yet
  EXPECT_TRUE(pm.io_read(0x600, 2) & Piix4Pm::PWRBTN);
  pm.io_write(0x602, 2, Piix4Pm::PWRBTN);
  EXPECT_TRUE(sci.level);
  EXPECT_EQ(sci.line, 9u);
  pm.io_write(0x600, 2, Piix4Pm::PWRBTN);  // write one to clear
  EXPECT_FALSE(sci.level);
  EXPECT_FALSE(pm.io_read(0x600, 2) & Piix4Pm::PWRBTN);
}

TEST_F(Piix4PmTest, TimerOverflowRaisesSciWhenEnabled) {
  enable_at(0x600);
  pm.io_write(0x602, 2, Piix4Pm::TMROF);
  EXPECT_FALSE(sci.level);
  // Bit 23 toggles after 2^23 ticks = 2.343 s.
  clock.advance_by(2300000000ull);
  EXPECT_FALSE(sci.level);
  clock.advance_by(100000000ull);
  EXPECT_TRUE(sci.level);
  EXPECT_TRUE(pm.io_read(0x600, 2) & Piix4Pm::TMROF);
  pm.io_write(0x600, 2, Piix4Pm::TMROF);
  EXPECT_FALSE(sci.level);
}

TEST_F(Piix4PmTest, SlpEnWithSoftOffTypePowersOff) {
  enable_at(0x600);
  // SLP_TYP alone does nothing; SLP_EN with another type (S1 = 1 here) does nothing.
  pm.io_write(0x604, 2, Piix4Pm::SCI_EN | 1 << Piix4Pm::SLP_TYP_SHIFT);
  pm.io_write(0x604, 2, Piix4Pm::SCI_EN | 1 << Piix4Pm::SLP_TYP_SHIFT | Piix4Pm::SLP_EN);
  EXPECT_EQ(power_offs, 0);
  pm.io_write(0x604, 2, Piix4Pm::SCI_EN | Piix4Pm::SLP_TYP_SOFT_OFF << Piix4Pm::SLP_TYP_SHIFT |
                            Piix4Pm::SLP_EN);
  EXPECT_EQ(power_offs, 1);
  EXPECT_FALSE(pm.io_read(0x604, 2) & Piix4Pm::SLP_EN);  // write-only bit
}

TEST_F(Piix4PmTest, AcpiEnableThroughSmiCommandPort) {
  enable_at(0x600);
  EXPECT_FALSE(pm.io_read(0x604, 2) & Piix4Pm::SCI_EN);
  pm.apm_ports().io_write(Piix4Pm::APM_CNT_PORT, 1, Piix4Pm::ACPI_ENABLE);
  EXPECT_TRUE(pm.io_read(0x604, 2) & Piix4Pm::SCI_EN);
  pm.apm_ports().io_write(Piix4Pm::APM_CNT_PORT, 1, Piix4Pm::ACPI_DISABLE);
  EXPECT_FALSE(pm.io_read(0x604, 2) & Piix4Pm::SCI_EN);
  // APMS is a scratch byte.
  pm.apm_ports().io_write(Piix4Pm::APM_STS_PORT, 1, 0x5A);
  EXPECT_EQ(pm.apm_ports().io_read(Piix4Pm::APM_STS_PORT, 1), 0x5Au);
}

TEST_F(Piix4PmTest, DwordWriteAtStatusCoversStatusAndEnable) {
  enable_at(0x600);
  pm.raise_event(Piix4Pm::RTC);
  pm.io_write(0x600, 4, uint32_t(Piix4Pm::RTC) << 16);  // enable RTC, clear nothing
  EXPECT_EQ(pm.pm1_en(), Piix4Pm::RTC);
  EXPECT_TRUE(sci.level);
  EXPECT_EQ(pm.io_read(0x600, 4) >> 16, uint32_t(Piix4Pm::RTC));
}

}  // namespace
}  // namespace softcpu
