#include "vdevices/cmos_rtc.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace softcpu {
namespace {

using R = CmosRtc;
constexpr int64_t S = 1000000000;
// 2024-02-29 23:59:58 UTC, a Thursday (leap day, two seconds before a month change).
constexpr int64_t LEAP_EVE = 1709251198;
// 2000-01-01 12:00:00 UTC.
constexpr int64_t Y2K_NOON = 946728000;

struct IrqRecorder : IrqSink {
  unsigned rises = 0;
  bool level = false;
  void set_irq(unsigned, bool l) override {
    if (l && !level) ++rises;
    level = l;
  }
};

struct RtcTest : ::testing::Test {
  VirtualClock clock;
  bool manual = (clock.use_manual_time(0), true);
  IrqRecorder irq8;
  CmosRtc rtc{clock, IrqLine{&irq8, 8}, LEAP_EVE* S};

  uint8_t rd(uint8_t index) {
    rtc.io_write(0x70, 1, index);
    return static_cast<uint8_t>(rtc.io_read(0x71, 1));
  }
  void wr(uint8_t index, uint8_t value) {
    rtc.io_write(0x70, 1, index);
    rtc.io_write(0x71, 1, value);
  }
};

TEST_F(RtcTest, PowerOnRegisters) {
  EXPECT_EQ(rd(R::REG_A), 0x26);
  EXPECT_EQ(rd(R::REG_B), 0x02);
  EXPECT_EQ(rd(R::REG_C), 0x00);
  EXPECT_EQ(rd(R::REG_D), 0x80);  // VRT
}

TEST_F(RtcTest, BcdTimeAndDate) {
  EXPECT_EQ(rd(R::SECONDS), 0x58);
  EXPECT_EQ(rd(R::MINUTES), 0x59);
  EXPECT_EQ(rd(R::HOURS), 0x23);
  EXPECT_EQ(rd(R::DAY_OF_WEEK), 5);  // Thursday; 1 = Sunday
  EXPECT_EQ(rd(R::DAY_OF_MONTH), 0x29);
  EXPECT_EQ(rd(R::MONTH), 0x02);
  EXPECT_EQ(rd(R::YEAR), 0x24);
  EXPECT_EQ(rd(R::CENTURY), 0x20);
  clock.advance_to(2 * S);  // into March 1st
  EXPECT_EQ(rd(R::SECONDS), 0x00);
  EXPECT_EQ(rd(R::MINUTES), 0x00);
  EXPECT_EQ(rd(R::HOURS), 0x00);
  EXPECT_EQ(rd(R::DAY_OF_MONTH), 0x01);
  EXPECT_EQ(rd(R::MONTH), 0x03);
  EXPECT_EQ(rd(R::DAY_OF_WEEK), 6);
}

TEST_F(RtcTest, BinaryAnd12HourModes) {
  wr(R::REG_B, R::B_BINARY | R::B_24H);
  EXPECT_EQ(rd(R::SECONDS), 58);
  EXPECT_EQ(rd(R::HOURS), 23);
  EXPECT_EQ(rd(R::YEAR), 24);
  wr(R::REG_B, 0);                       // BCD, 12-hour
  EXPECT_EQ(rd(R::HOURS), 0x80 | 0x11);  // 11 PM
  clock.advance_to(2 * S);
  EXPECT_EQ(rd(R::HOURS), 0x12);  // midnight is 12 AM
  clock.advance_to(2 * S + 12 * 3600 * S);
  EXPECT_EQ(rd(R::HOURS), 0x80 | 0x12);  // noon is 12 PM
}

TEST_F(RtcTest, SetBitFreezesAndGuestTimeBecomesOffset) {
  wr(R::REG_B, R::B_SET | R::B_24H);
  clock.advance_to(5 * S);
  EXPECT_EQ(rd(R::SECONDS), 0x58);  // frozen
  wr(R::SECONDS, 0x00);
  wr(R::MINUTES, 0x00);
  wr(R::HOURS, 0x12);
  wr(R::DAY_OF_MONTH, 0x01);
  wr(R::MONTH, 0x01);
  wr(R::YEAR, 0x00);
  wr(R::CENTURY, 0x20);
  EXPECT_EQ(rd(R::SECONDS), 0x00);
  wr(R::REG_B, R::B_24H);  // time starts again from the written value
  EXPECT_EQ(rtc.unix_time(), Y2K_NOON);
  clock.advance_to(6 * S - 1);
  EXPECT_EQ(rd(R::SECONDS), 0x00);
  clock.advance_to(6 * S);
  EXPECT_EQ(rd(R::SECONDS), 0x01);
  clock.advance_to(65 * S);
  EXPECT_EQ(rd(R::MINUTES), 0x01);
  EXPECT_EQ(rd(R::SECONDS), 0x00);
  EXPECT_EQ(rtc.unix_time(), Y2K_NOON + 60);
  EXPECT_EQ(rd(R::DAY_OF_WEEK), 7);  // 2000-01-01 was a Saturday
}

TEST_F(RtcTest, SetClearsUpdateInterruptEnable) {
  wr(R::REG_B, R::B_UIE | R::B_24H);
  wr(R::REG_B, R::B_SET | R::B_UIE | R::B_24H);
  EXPECT_EQ(rd(R::REG_B), R::B_SET | R::B_24H);
}

TEST_F(RtcTest, WritingATimeRegisterWhileRunning) {
  clock.advance_to(S / 2);
  wr(R::MINUTES, 0x30);
  EXPECT_EQ(rd(R::MINUTES), 0x30);
  EXPECT_EQ(rd(R::SECONDS), 0x58);
  EXPECT_EQ(rd(R::HOURS), 0x23);
  clock.advance_to(S);  // the sub-second phase is kept: the update still falls at 1 s
  EXPECT_EQ(rd(R::SECONDS), 0x59);
}

TEST_F(RtcTest, UpdateInProgressForLast244us) {
  EXPECT_EQ(rd(R::REG_A) & R::A_UIP, 0);
  clock.advance_to(S - 245000);
  EXPECT_EQ(rd(R::REG_A) & R::A_UIP, 0);
  clock.advance_to(S - 243000);
  EXPECT_EQ(rd(R::REG_A), 0x80 | 0x26);
  clock.advance_to(S);
  EXPECT_EQ(rd(R::REG_A) & R::A_UIP, 0);
  wr(R::REG_A, 0xA6);  // UIP is read-only
  EXPECT_EQ(rd(R::REG_A), 0x26);
}

TEST_F(RtcTest, PeriodicInterruptAt1024Hz) {
  wr(R::REG_B, R::B_PIE | R::B_24H);  // rate 6 from power-on A = 0x26: 1024 Hz
  clock.advance_to(976562);           // the first period ends at 976.5625 us
  EXPECT_FALSE(irq8.level);
  clock.advance_to(976563);
  EXPECT_TRUE(irq8.level);
  EXPECT_EQ(rd(R::REG_C), R::C_IRQF | R::C_PF);
  EXPECT_FALSE(irq8.level);  // reading C lowers IRQ8
  EXPECT_EQ(rd(R::REG_C), 0);
  // Over 100 ms: boundaries at k * 976.5625 us, k = 1..102.
  unsigned handled = 1;
  for (uint64_t t = 1000000; t <= 100000000; t += 100000) {
    clock.advance_to(t);
    if (irq8.level) {
      EXPECT_EQ(rd(R::REG_C), R::C_IRQF | R::C_PF);
      ++handled;
    }
  }
  EXPECT_EQ(handled, 102u);
  EXPECT_EQ(irq8.rises, 102u);
}

TEST_F(RtcTest, PeriodicRateSelect) {
  wr(R::REG_A, 0x2F);  // rate 15: 2 Hz
  wr(R::REG_B, R::B_PIE | R::B_24H);
  unsigned handled = 0;
  for (uint64_t t = 10000000; t <= 2 * uint64_t(S); t += 10000000) {
    clock.advance_to(t);
    if (irq8.level) {
      rd(R::REG_C);
      ++handled;
    }
  }
  EXPECT_EQ(handled, 4u);
  wr(R::REG_A, 0x20);  // rate 0: no periodic interrupt
  clock.advance_to(4 * S);
  EXPECT_EQ(rd(R::REG_C) & R::C_PF, 0);
}

TEST_F(RtcTest, FlagsSetWithoutInterruptEnable) {
  clock.advance_to(S + 1);  // one update (to 23:59:59, which the zero alarm does not match)
  EXPECT_FALSE(irq8.level);
  EXPECT_EQ(rd(R::REG_C), R::C_PF | R::C_UF);  // no IRQF: nothing enabled
  EXPECT_EQ(rd(R::REG_C), 0);
}

TEST_F(RtcTest, UpdateEndedInterrupt) {
  clock.advance_to(S / 4);
  wr(R::REG_B, R::B_UIE | R::B_24H);
  clock.advance_to(S - 1);
  EXPECT_FALSE(irq8.level);
  clock.advance_to(S);
  EXPECT_TRUE(irq8.level);
  EXPECT_EQ(rd(R::REG_C), R::C_IRQF | R::C_PF | R::C_UF);
  EXPECT_EQ(rd(R::SECONDS), 0x59);
}

TEST_F(RtcTest, AlarmInterrupt) {
  // Alarm at 00:00:01 (three updates away).
  wr(R::SECONDS_ALARM, 0x01);
  wr(R::MINUTES_ALARM, 0x00);
  wr(R::HOURS_ALARM, 0x00);
  wr(R::REG_B, R::B_AIE | R::B_24H);
  clock.advance_to(2 * S);
  EXPECT_FALSE(irq8.level);
  EXPECT_EQ(rd(R::REG_C) & R::C_AF, 0);
  clock.advance_to(3 * S);
  EXPECT_TRUE(irq8.level);
  EXPECT_EQ(rd(R::REG_C), R::C_IRQF | R::C_PF | R::C_AF | R::C_UF);
  clock.advance_to(4 * S);
  EXPECT_FALSE(irq8.level);
}

TEST_F(RtcTest, AlarmDontCareMatchesEverySecond) {
  wr(R::SECONDS_ALARM, 0xC0);
  wr(R::MINUTES_ALARM, 0xFF);
  wr(R::HOURS_ALARM, 0xC5);
  wr(R::REG_B, R::B_AIE | R::B_24H);
  for (int i = 1; i <= 3; ++i) {
    clock.advance_to(uint64_t(i) * S);
    EXPECT_TRUE(irq8.level) << i;
    EXPECT_EQ(rd(R::REG_C) & (R::C_IRQF | R::C_AF), R::C_IRQF | R::C_AF);
  }
}

TEST_F(RtcTest, EnablingInterruptWithFlagPendingRaisesIrq) {
  clock.advance_to(S / 10);  // a PF happened already
  EXPECT_FALSE(irq8.level);
  wr(R::REG_B, R::B_PIE | R::B_24H);
  EXPECT_TRUE(irq8.level);
}

TEST_F(RtcTest, DividerResetHoldsTimeThenHalfSecondToFirstUpdate) {
  wr(R::REG_A, 0x76);  // DV = 111: divider chain held in reset
  clock.advance_to(10 * S);
  EXPECT_EQ(rd(R::SECONDS), 0x58);
  EXPECT_EQ(rd(R::REG_C), 0);  // no update or periodic flags while stopped
  wr(R::REG_A, 0x26);
  clock.advance_to(10 * S + S / 2 - 1);
  EXPECT_EQ(rd(R::SECONDS), 0x58);
  clock.advance_to(10 * S + S / 2);
  EXPECT_EQ(rd(R::SECONDS), 0x59);
}

TEST_F(RtcTest, RegistersCAndDAreReadOnly) {
  wr(R::REG_C, 0xF0);
  wr(R::REG_D, 0x00);
  EXPECT_EQ(rd(R::REG_C), 0);
  EXPECT_EQ(rd(R::REG_D), 0x80);
}

TEST_F(RtcTest, IndexPortAndNmiMask) {
  rtc.io_write(0x70, 1, 0x8F);
  EXPECT_TRUE(rtc.nmi_masked());
  EXPECT_EQ(rtc.index(), 0x0F);
  rtc.io_write(0x71, 1, 0x5A);
  rtc.io_write(0x70, 1, 0x0F);
  EXPECT_FALSE(rtc.nmi_masked());
  EXPECT_EQ(rtc.io_read(0x71, 1), 0x5Au);
  wr(0x7F, 0xA5);  // the last RAM byte
  EXPECT_EQ(rd(0x7F), 0xA5);
  EXPECT_EQ(rtc.get_byte(0x7F), 0xA5);
}

// A running clock given a date outside what its int64 nanoseconds hold (1678-2262): century 0
// (year 24 AD) and century 99 (year 9924). The time is clamped to 1716 / 2223 (+-8e9 s), not
// wrapped; before the clamp, seconds * 1e9 overflowed (UBSan, fuzz_platform,
// tests/fuzz/regressions/platform/ubsan-rtc-century-overflow).
TEST_F(RtcTest, OutOfRangeDatesAreClamped) {
  wr(R::CENTURY, 0x00);
  EXPECT_EQ(rd(R::CENTURY), 0x17);
  EXPECT_EQ(rd(R::YEAR), 0x16);
  EXPECT_EQ(rtc.unix_time(), -8000000000);
  wr(R::CENTURY, 0x99);
  EXPECT_EQ(rd(R::CENTURY), 0x22);
  EXPECT_EQ(rd(R::YEAR), 0x23);
  EXPECT_EQ(rtc.unix_time(), 8000000000);
  clock.advance_to(3 * S);  // the clock keeps running from there
  EXPECT_EQ(rtc.unix_time(), 8000000003);
}

TEST_F(RtcTest, ResetPinClearsEnablesAndFlags) {
  wr(R::REG_B, R::B_PIE | R::B_UIE | R::B_24H);
  clock.advance_to(S);
  EXPECT_TRUE(irq8.level);
  rtc.reset();
  EXPECT_FALSE(irq8.level);
  EXPECT_EQ(rd(R::REG_B), R::B_24H);
  EXPECT_EQ(rd(R::REG_C), 0);
  EXPECT_EQ(rd(R::SECONDS), 0x59);  // the time is kept
}

TEST_F(RtcTest, PcFieldsFor128MiBAnd2Cpus) {
  rtc.fill_pc_fields(128ull << 20, 2);
  EXPECT_EQ(rd(0x10), 0x00);
  EXPECT_EQ(rd(0x15) | rd(0x16) << 8, 640);
  // 127 MiB above 1 MiB = 130048 KiB does not fit: capped.
  EXPECT_EQ(rd(0x17) | rd(0x18) << 8, 0xFFFF);
  EXPECT_EQ(rd(0x30) | rd(0x31) << 8, 0xFFFF);
  EXPECT_EQ(rd(0x34) | rd(0x35) << 8, (128 - 16) * 16);  // 64 KiB units above 16 MiB
  EXPECT_EQ(rd(0x5B), 0);
  EXPECT_EQ(rd(0x5C), 0);
  EXPECT_EQ(rd(0x5D), 0);
  EXPECT_EQ(rd(0x5F), 1);
  EXPECT_EQ(rd(0x32), 0x20);
  EXPECT_EQ(rd(0x3D), 0x02);
  EXPECT_EQ(rd(0x38), 0x00);
  unsigned sum = 0;
  for (uint8_t i = 0x10; i <= 0x2D; ++i) sum += rd(i);
  EXPECT_EQ(rd(0x2E) << 8 | rd(0x2F), sum);
}

TEST_F(RtcTest, PcFieldsForSmallMemory) {
  rtc.fill_pc_fields(8ull << 20);
  EXPECT_EQ(rd(0x17) | rd(0x18) << 8, 7 * 1024);
  EXPECT_EQ(rd(0x30) | rd(0x31) << 8, 7 * 1024);
  EXPECT_EQ(rd(0x34) | rd(0x35) << 8, 0);
  EXPECT_EQ(rd(0x5F), 0);
}

TEST(RtcHostTime, DefaultsToHostUtc) {
  VirtualClock clock;
  CmosRtc rtc(clock);
  int64_t host = int64_t(time(nullptr));
  EXPECT_LE(std::abs(rtc.unix_time() - host), 2);
}

}  // namespace
}  // namespace softcpu
