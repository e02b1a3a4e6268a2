#include "vdevices/virtual_clock.h"

#include <gtest/gtest.h>

#include <vector>

namespace softcpu {
namespace {

TEST(VirtualClock, ManualTimeFiresTimersInDeadlineOrderAtTheirTime) {
  VirtualClock clock;
  clock.use_manual_time(100);
  std::vector<std::pair<int, uint64_t>> fired;
  auto a = clock.create_timer([&](uint64_t now) { fired.push_back({1, now}); });
  auto b = clock.create_timer([&](uint64_t now) { fired.push_back({2, now}); });
  clock.arm(a, 500);
  clock.arm(b, 300);
  EXPECT_EQ(clock.next_deadline(), 300u);
  clock.advance_to(1000);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0], (std::pair<int, uint64_t>{2, 300}));
  EXPECT_EQ(fired[1], (std::pair<int, uint64_t>{1, 500}));
  EXPECT_EQ(clock.now_ns(), 1000u);
  EXPECT_FALSE(clock.armed(a));
  EXPECT_EQ(clock.next_deadline(), VirtualClock::NEVER);
}

TEST(VirtualClock, PeriodicTimerReArmsFromItsCallback) {
  VirtualClock clock;
  clock.use_manual_time();
  int ticks = 0;
  VirtualClock::TimerId t = 0;
  t = clock.create_timer([&](uint64_t now) {
    ++ticks;
    clock.arm(t, now + 1000);
  });
  clock.arm(t, 1000);
  clock.advance_to(10500);
  EXPECT_EQ(ticks, 10);
  clock.cancel(t);
  clock.advance_by(5000);
  EXPECT_EQ(ticks, 10);
}

// A machine whose vCPUs have different schedulers asks for the deadlines each meets
// (docs/design.md "A partition on both hypervisors"): the devices' and CPU 0's for the
// primary, the devices' alone for a split vCPU's, whose own timer it keeps itself.
TEST(VirtualClock, NextDeadlineSkipsTheTimersOfTheOwnersAskedTo) {
  VirtualClock clock;
  clock.use_manual_time();
  auto device = clock.create_timer([](uint64_t) {});
  auto cpu0 = clock.create_timer([](uint64_t) {});
  auto cpu1 = clock.create_timer([](uint64_t) {});
  auto cpu70 = clock.create_timer([](uint64_t) {});
  clock.set_owner(cpu0, 1);
  clock.set_owner(cpu1, 2);
  clock.set_owner(cpu70, 71);  // past 63: bit 63
  clock.arm(device, 400);
  clock.arm(cpu0, 300);
  clock.arm(cpu1, 100);
  clock.arm(cpu70, 200);
  EXPECT_EQ(clock.next_deadline(), 100u);
  EXPECT_EQ(clock.next_deadline(VirtualClock::owner_bit(2)), 200u);
  EXPECT_EQ(clock.next_deadline(VirtualClock::owner_bit(2) | VirtualClock::owner_bit(71)), 300u);
  EXPECT_EQ(clock.next_deadline(VirtualClock::owner_bit(2) | VirtualClock::owner_bit(63)), 300u);
  EXPECT_EQ(clock.next_deadline(VirtualClock::CPU_OWNERS), 400u);
  clock.cancel(device);
  EXPECT_EQ(clock.next_deadline(VirtualClock::CPU_OWNERS), VirtualClock::NEVER);
  EXPECT_EQ(clock.next_deadline(VirtualClock::owner_bit(0)), 100u);
  // Firing does not look at owners: every due timer fires.
  int fired = 0;
  auto late = clock.create_timer([&](uint64_t) { ++fired; });
  clock.set_owner(late, 5);
  clock.arm(late, 50);
  clock.advance_to(1000);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(clock.next_deadline(), VirtualClock::NEVER);
}

TEST(VirtualClock, HostTimeIsMonotonicAndPauseFreezesIt) {
  VirtualClock clock;
  uint64_t a = clock.now_ns();
  uint64_t b = clock.now_ns();
  EXPECT_LE(a, b);
  clock.pause();
  uint64_t frozen = clock.now_ns();
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, nullptr);
  EXPECT_EQ(clock.now_ns(), frozen);
  clock.resume();
  nanosleep(&ts, nullptr);
  uint64_t later = clock.now_ns();
  EXPECT_GT(later, frozen);
  EXPECT_LT(later - frozen, 1000000000u);  // the paused 2 ms are not counted twice
}

// --deterministic: guest time is 2^shift ns per retired instruction plus idle skips; the host
// clock is never read, so sleeping on the host does not move it.
TEST(VirtualClock, InstructionTimeFollowsTheCountAndSkips) {
  VirtualClock clock;
  uint64_t icount = 0;
  clock.use_manual_time(1000);
  clock.use_instruction_time(&icount, 2);  // 4 ns per instruction, continuing from 1000 ns
  EXPECT_EQ(clock.now_ns(), 1000u);
  icount = 10;
  EXPECT_EQ(clock.now_ns(), 1040u);
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, nullptr);
  EXPECT_EQ(clock.now_ns(), 1040u);
  clock.pause();  // no effect: the debugger does not stop instruction time
  icount = 11;
  EXPECT_EQ(clock.now_ns(), 1044u);
  // The count at which a deadline is reached, rounding up to a whole instruction.
  EXPECT_EQ(clock.icount_at(1044), 11u);
  EXPECT_EQ(clock.icount_at(1045), 12u);
  EXPECT_EQ(clock.icount_at(1048), 12u);
  EXPECT_EQ(clock.icount_at(10), 11u);
  int fired = 0;
  auto t = clock.create_timer([&](uint64_t now) { ++fired; EXPECT_EQ(now, 5000u); });
  clock.arm(t, 5000);
  clock.skip_to(5000);  // HLT: time jumps to the deadline without instructions
  EXPECT_EQ(clock.now_ns(), 5000u);
  EXPECT_EQ(fired, 0);
  clock.run_due();
  EXPECT_EQ(fired, 1);
  clock.skip_to(100);  // never back
  EXPECT_EQ(clock.now_ns(), 5000u);
  icount = 12;
  EXPECT_EQ(clock.now_ns(), 5004u);
}

}  // namespace
}  // namespace softcpu
