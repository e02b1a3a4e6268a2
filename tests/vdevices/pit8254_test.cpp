#include "vdevices/pit8254.h"

#include <gtest/gtest.h>

#include "vdevices/port61.h"

namespace softcpu {
namespace {

// Counts rising edges on an IRQ input, as the edge-triggered PIC sees them.
struct EdgeCounter : IrqSink {
  unsigned rises = 0;
  bool level = false;
  void set_irq(unsigned, bool l) override {
    if (l && !level) ++rises;
    level = l;
  }
};

// Guest time of CLK tick t at 1193182 Hz (first nanosecond at which the tick has happened).
uint64_t ns_for_tick(uint64_t t) { return (t * 1000000000ull + 1193181) / 1193182; }

struct PitTest : ::testing::Test {
  VirtualClock clock;
  EdgeCounter irq0;
  Pit8254 pit{clock, IrqLine{&irq0, 0}};

  PitTest() { clock.use_manual_time(0); }

  uint8_t in(uint16_t port) { return static_cast<uint8_t>(pit.io_read(port, 1)); }
  void out(uint16_t port, uint8_t v) { pit.io_write(port, 1, v); }
  void at_tick(uint64_t t) { clock.advance_to(ns_for_tick(t)); }
  // Program `channel` in `mode` with a 16-bit count, LSB then MSB.
  void program(unsigned channel, unsigned mode, uint16_t count, bool bcd = false) {
    out(0x43, uint8_t((channel << 6) | 0x30 | (mode << 1) | (bcd ? 1 : 0)));
    out(uint16_t(0x40 + channel), uint8_t(count));
    out(uint16_t(0x40 + channel), uint8_t(count >> 8));
  }
  uint16_t latched_count(unsigned channel) {
    out(0x43, uint8_t(channel << 6));  // counter latch command
    uint16_t lo = in(uint16_t(0x40 + channel));
    return uint16_t(lo | (in(uint16_t(0x40 + channel)) << 8));
  }
  uint8_t status(unsigned channel) {
    out(0x43, uint8_t(0xE0 | (2u << channel)));  // read-back: status only
    return in(uint16_t(0x40 + channel));
  }
};

TEST(PitClock, TickConversion) {
  EXPECT_EQ(Pit8254::tick_at(0), 0u);
  EXPECT_EQ(Pit8254::tick_at(1000000000), 1193182u);
  EXPECT_EQ(Pit8254::tick_at(1000000), 1193u);  // 1193.182 ticks in 1 ms
  EXPECT_EQ(Pit8254::time_of_tick(1), 839u);    // 838.1 ns, rounded up
  EXPECT_EQ(Pit8254::tick_at(Pit8254::time_of_tick(12345)), 12345u);
  EXPECT_EQ(Pit8254::tick_at(Pit8254::time_of_tick(12345) - 1), 12344u);
}

TEST_F(PitTest, Mode2CountsDownAndReloads) {
  program(0, 2, 1193);  // written at tick 0, loaded at tick 1
  // 100 us = 119.3 ticks: 118 clocks after the load.
  clock.advance_to(100000);
  EXPECT_EQ(latched_count(0), 1193 - 118);
  EXPECT_TRUE(pit.out(0));
  // 1 ms = tick 1193: 1192 clocks after the load, the count is 1 and OUT is low for that clock.
  clock.advance_to(1000000);
  EXPECT_EQ(latched_count(0), 1);
  EXPECT_FALSE(pit.out(0));
  at_tick(1194);  // reloaded with N, OUT high again
  EXPECT_EQ(latched_count(0), 1193);
  EXPECT_TRUE(pit.out(0));
  at_tick(1194 + 10);
  EXPECT_EQ(latched_count(0), 1183);
}

TEST_F(PitTest, Mode2PulsesIrq0EveryPeriod) {
  program(0, 2, 1193);
  unsigned after_program = irq0.rises;  // OUT went from low (unprogrammed) to high
  EXPECT_EQ(after_program, 1u);
  // Rising edges at ticks 1 + 1193k: the tenth at tick 11931 = 9.9993 ms, the eleventh at
  // 10.9993 ms.
  clock.advance_to(10000000);
  EXPECT_EQ(irq0.rises - after_program, 10u);
  EXPECT_FALSE(irq0.level);  // pulses, not a held level
  clock.advance_to(11000000);
  EXPECT_EQ(irq0.rises - after_program, 11u);
}

TEST_F(PitTest, Mode3SquareWaveEvenCount) {
  program(0, 3, 1000);
  // Even N: high for N/2 clocks counting N, N-2, ...; then low for N/2 clocks.
  at_tick(1 + 100);
  EXPECT_EQ(latched_count(0), 1000 - 200);
  EXPECT_TRUE(pit.out(0));
  at_tick(1 + 499);
  EXPECT_TRUE(pit.out(0));
  EXPECT_EQ(latched_count(0), 2);
  at_tick(1 + 500);
  EXPECT_FALSE(pit.out(0));
  EXPECT_EQ(latched_count(0), 1000);
  at_tick(1 + 999);
  EXPECT_FALSE(pit.out(0));
  at_tick(1 + 1000);
  EXPECT_TRUE(pit.out(0));
}

TEST_F(PitTest, Mode3SquareWaveOddCount) {
  program(2, 3, 5);
  pit.set_gate(2, true);  // gate rising edge reloads on the next clock
  const uint64_t load = Pit8254::tick_at(clock.now_ns()) + 1;
  // Odd N: N-1 loaded, down by two; high for (N+1)/2 = 3 clocks, low for 2.
  const bool expect_out[] = {true, true, true, false, false, true, true, true, false, false};
  const uint16_t expect_count[] = {4, 2, 0, 4, 2, 4, 2, 0, 4, 2};
  for (unsigned d = 0; d < 10; ++d) {
    at_tick(load + d);
    EXPECT_EQ(pit.out(2), expect_out[d]) << "clock " << d;
    EXPECT_EQ(pit.current_count(2), expect_count[d]) << "clock " << d;
  }
}

TEST_F(PitTest, Mode3IrqOnceEveryPeriod) {
  program(0, 3, 1193);
  const unsigned base = irq0.rises;
  clock.advance_to(10000000);
  EXPECT_EQ(irq0.rises - base, 10u);
}

TEST_F(PitTest, Mode0InterruptOnTerminalCount) {
  program(0, 0, 100);
  EXPECT_FALSE(pit.out(0));
  at_tick(100);  // 99 clocks after the load: count 1
  EXPECT_EQ(latched_count(0), 1);
  EXPECT_FALSE(pit.out(0));
  EXPECT_EQ(irq0.rises, 0u);
  at_tick(101);  // N+1 clocks after the write: OUT goes high
  EXPECT_TRUE(pit.out(0));
  EXPECT_EQ(irq0.rises, 1u);
  at_tick(102);  // the count wraps and keeps going; OUT stays high
  EXPECT_EQ(latched_count(0), 0xFFFF);
  clock.advance_to(10000000);
  EXPECT_EQ(irq0.rises, 1u);
}

TEST_F(PitTest, Mode0FirstByteStopsCounting) {
  program(0, 0, 10);
  at_tick(50);
  EXPECT_TRUE(pit.out(0));
  out(0x40, 0x20);  // LSB of a new count: counting stops, OUT low at once
  EXPECT_FALSE(pit.out(0));
  at_tick(60);
  out(0x40, 0x00);  // MSB: count 0x20 loads at tick 61
  at_tick(61 + 0x20 - 1);
  EXPECT_FALSE(pit.out(0));
  at_tick(61 + 0x20);
  EXPECT_TRUE(pit.out(0));
}

TEST_F(PitTest, Mode4SoftwareStrobe) {
  program(0, 4, 10);
  EXPECT_TRUE(pit.out(0));
  const unsigned base = irq0.rises;  // the control word raised OUT from its reset level
  at_tick(10);
  EXPECT_TRUE(pit.out(0));
  at_tick(11);  // count reaches 0: OUT low for one clock
  EXPECT_FALSE(pit.out(0));
  EXPECT_EQ(irq0.rises, base);
  at_tick(12);
  EXPECT_TRUE(pit.out(0));
  EXPECT_EQ(irq0.rises, base + 1);
}

TEST_F(PitTest, Mode1OneShotNeedsGateTrigger) {
  program(2, 1, 100);
  EXPECT_TRUE(pit.out(2));
  at_tick(500);
  EXPECT_TRUE(pit.out(2));  // no trigger yet
  pit.set_gate(2, true);    // trigger at tick 500
  EXPECT_TRUE(pit.out(2));  // OUT falls on the next clock
  at_tick(501);
  EXPECT_FALSE(pit.out(2));
  EXPECT_EQ(pit.current_count(2), 100);
  at_tick(501 + 99);
  EXPECT_FALSE(pit.out(2));
  EXPECT_EQ(pit.current_count(2), 1);
  at_tick(501 + 100);
  EXPECT_TRUE(pit.out(2));
  // Retrigger: gate low then high starts a new pulse.
  pit.set_gate(2, false);
  pit.set_gate(2, true);
  at_tick(501 + 101);
  EXPECT_FALSE(pit.out(2));
}

TEST_F(PitTest, Mode5HardwareStrobe) {
  program(2, 5, 3);
  pit.set_gate(2, true);  // trigger at tick 0, loaded at tick 1
  at_tick(3);
  EXPECT_TRUE(pit.out(2));
  at_tick(4);
  EXPECT_FALSE(pit.out(2));
  at_tick(5);
  EXPECT_TRUE(pit.out(2));
}

TEST_F(PitTest, Mode2GateLowHoldsAndRisingEdgeReloads) {
  pit.set_gate(2, true);
  program(2, 2, 50);
  at_tick(21);  // 20 clocks after the load
  EXPECT_EQ(pit.current_count(2), 30);
  pit.set_gate(2, false);
  at_tick(100);
  EXPECT_EQ(pit.current_count(2), 30);  // stopped
  EXPECT_TRUE(pit.out(2));
  pit.set_gate(2, true);
  at_tick(101);
  EXPECT_EQ(pit.current_count(2), 50);  // reloaded on the clock after the edge
  at_tick(105);
  EXPECT_EQ(pit.current_count(2), 46);
}

TEST_F(PitTest, Mode0GateLowSuspends) {
  program(2, 0, 50);  // gate 2 is low: loaded but not counting
  at_tick(40);
  EXPECT_EQ(pit.current_count(2), 50);
  pit.set_gate(2, true);
  at_tick(50);
  EXPECT_EQ(pit.current_count(2), 40);
  pit.set_gate(2, false);
  at_tick(1000);
  EXPECT_EQ(pit.current_count(2), 40);
  pit.set_gate(2, true);
  at_tick(1039);  // 49 clocks counted in all
  EXPECT_EQ(pit.current_count(2), 1);
  EXPECT_FALSE(pit.out(2));
  at_tick(1040);
  EXPECT_EQ(pit.current_count(2), 0);
  EXPECT_TRUE(pit.out(2));
}

TEST_F(PitTest, NewMode2CountTakesEffectAtEndOfPeriod) {
  program(0, 2, 100);
  at_tick(31);  // 30 clocks into the first period
  out(0x40, 10);
  out(0x40, 0);
  at_tick(50);
  EXPECT_EQ(latched_count(0), 100 - 49);  // still the old period
  at_tick(101);                           // the period ends at tick 101: new count loaded
  EXPECT_EQ(latched_count(0), 10);
  at_tick(105);
  EXPECT_EQ(latched_count(0), 6);
  at_tick(111);
  EXPECT_EQ(latched_count(0), 10);
}

TEST_F(PitTest, CounterLatchHoldsUntilRead) {
  program(0, 2, 1000);
  at_tick(11);
  out(0x43, 0x00);  // latch: 990
  at_tick(500);
  out(0x43, 0x00);  // ignored: the first latch has not been read
  EXPECT_EQ(in(0x40), 990 & 0xFF);
  at_tick(600);
  EXPECT_EQ(in(0x40), 990 >> 8);
  // Unlatched reads follow the counter.
  EXPECT_EQ(latched_count(0), 1000 - 599);
}

TEST_F(PitTest, LsbOnlyAndMsbOnlyAccess) {
  out(0x43, 0x14);  // channel 0, LSB only, mode 2
  out(0x40, 0x80);
  at_tick(1 + 0x10);
  EXPECT_EQ(in(0x40), 0x80 - 0x10);
  EXPECT_EQ(in(0x40), 0x80 - 0x10);  // every read is the LSB
  out(0x43, 0x24);                   // MSB only: count 0x0300
  out(0x40, 0x03);
  const uint64_t load = Pit8254::tick_at(clock.now_ns()) + 1;
  at_tick(load + 0x100);
  EXPECT_EQ(in(0x40), 0x02);
}

TEST_F(PitTest, ReadBackStatusAndCount) {
  program(0, 2, 1000);  // control word 0x34
  // Status: OUT=1, NULL COUNT=1 (not loaded until the next clock), RW=3, mode 2, binary.
  EXPECT_EQ(status(0), 0x80 | 0x40 | 0x34);
  at_tick(1);
  EXPECT_EQ(status(0), 0x80 | 0x34);
  at_tick(101);
  out(0x43, 0xC2);  // latch count and status of channel 0
  at_tick(200);
  EXPECT_EQ(in(0x40), 0xB4);  // status first
  EXPECT_EQ(in(0x40), (1000 - 100) & 0xFF);
  EXPECT_EQ(in(0x40), (1000 - 100) >> 8);
  // Mode 0 before terminal count: OUT low in the status.
  program(1, 0, 5);
  at_tick(203);
  EXPECT_EQ(status(1), 0x30);  // OUT low, count loaded, RW=3, mode 0
}

TEST_F(PitTest, BcdCounting) {
  program(0, 2, 0x1000, true);  // 1000 decimal
  at_tick(1 + 100);
  EXPECT_EQ(latched_count(0), 0x0900);
  at_tick(1 + 987);
  EXPECT_EQ(latched_count(0), 0x0013);
  program(1, 0, 0, true);  // 0 = 10000 in BCD
  const uint64_t load = Pit8254::tick_at(clock.now_ns()) + 1;
  at_tick(load + 1);
  EXPECT_EQ(latched_count(1), 0x9999);
}

TEST_F(PitTest, CountZeroIs65536) {
  program(0, 2, 0);
  EXPECT_EQ(latched_count(0), 0);
  at_tick(2);
  EXPECT_EQ(latched_count(0), 0xFFFF);
  // 18.2 Hz: 65536 ticks per period, so in one second 18 rises.
  unsigned base = irq0.rises;
  clock.advance_to(1000000000);
  EXPECT_EQ(irq0.rises - base, 18u);
}

TEST_F(PitTest, ReprogrammingStopsIrq) {
  program(0, 2, 1193);
  clock.advance_to(2500000);
  const unsigned rises = irq0.rises;
  out(0x43, 0x30);  // mode 0, waiting for a count: OUT low, no edges
  clock.advance_to(20000000);
  EXPECT_EQ(irq0.rises, rises);
  EXPECT_FALSE(pit.out(0));
}

TEST_F(PitTest, Port61GateAndOut2) {
  Port61 port61{pit, clock};
  program(2, 0, 20);
  EXPECT_EQ(port61.io_read(0x61, 1) & 0x21, 0x00);
  port61.io_write(0x61, 1, 0x03);  // gate 2 on, speaker data on
  EXPECT_TRUE(pit.gate(2));
  EXPECT_TRUE(port61.speaker_enabled());
  EXPECT_EQ(port61.io_read(0x61, 1) & 0x0F, 0x03);
  const uint64_t t = Pit8254::tick_at(clock.now_ns());
  at_tick(t + 21);
  EXPECT_EQ(port61.io_read(0x61, 1) & 0x20, 0x20);  // OUT2 after terminal count
  port61.io_write(0x61, 1, 0x00);
  EXPECT_FALSE(pit.gate(2));
}

TEST_F(PitTest, Port61RefreshToggles) {
  Port61 port61{pit, clock};
  clock.advance_to(1000);
  uint8_t a = port61.io_read(0x61, 1) & 0x10;
  clock.advance_by(15085);
  uint8_t b = port61.io_read(0x61, 1) & 0x10;
  clock.advance_by(15085);
  uint8_t c = port61.io_read(0x61, 1) & 0x10;
  EXPECT_NE(a, b);
  EXPECT_EQ(a, c);
}

}  // namespace
}  // namespace softcpu
