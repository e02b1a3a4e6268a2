// The primary's processor set (monitor/hv/scheduler.h): its N host threads run the partitions
// in round-robin time slices. Partitions that count (jmp $) share one thread in proportion to
// their slices; two threads run two at once; a partition halted with nothing to do takes no
// slices yet wakes for work posted to it; stop, start and reset work on a shared thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "hv_test_util.h"
#include "monitor/hv/primary.h"
#include "monitor/machine.h"

namespace softcpu::hv {
namespace {

using test::on_primary;
using test::partition;
using test::system_on_set;
using test::wait_for;
using test::write_rom;


double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_for(std::chrono::milliseconds ms) { std::this_thread::sleep_for(ms); }

TEST(ProcessorSet, ThreeCountersShareOneThreadByTheirSlices) {
  const std::string loop = write_rom(test::kLoopForever);
  // Slices of 40, 40 and 120 ms: long beside the host's own scheduling (a loaded host runs the
  // worker in bursts of a few ms, 10-20 ms apart), so each slice's share is not lost in it.
  SystemConfig s = system_on_set(1, 40000);
  s.partitions.push_back(on_primary(partition("a", loop)));
  s.partitions.push_back(on_primary(partition("b", loop)));
  s.partitions.push_back(on_primary(partition("c", loop)));
  s.partitions.back().time_slice_us = 120000;  // three times the hypervisor's 40 ms
  PrimaryHypervisor hv(s);
  const auto t0 = std::chrono::steady_clock::now();
  for (const char* n : {"a", "b", "c"}) hv.start(n);
  run_for(std::chrono::milliseconds(3000));
  std::vector<PartitionCounters> c;
  for (const char* n : {"a", "b", "c"}) c.push_back(hv.counters(hv.partition(n)));
  const double wall = seconds_since(t0);
  for (const char* n : {"a", "b", "c"}) hv.stop(n);
  double sum = 0;
  for (const auto& p : c) {
    std::printf("%s: %.3f s in %llu slices (%llu preempted), %llu instructions\n", p.name.c_str(),
                p.cpu_seconds, (unsigned long long)p.slices, (unsigned long long)p.preemptions,
                (unsigned long long)p.instructions);
    // Every one made progress and was preempted for the others, many times (13-15 times each
    // in the 3 s, with or without three busy loops on the test's core).
    EXPECT_GT(p.instructions, 10000u) << p.name;
    EXPECT_GT(p.preemptions, 5u) << p.name;
    sum += p.cpu_seconds;
  }
  // One thread: the slices never overlap (a thread per partition would give ~3x the wall).
  EXPECT_LE(sum, wall * 1.02);
  EXPECT_GT(sum, wall * 0.5);  // and the thread was busy (a loaded host takes some)
  // c's slice is three times a's and b's: it gets about three times their share of the guest
  // work (instructions). Not of the slices' wall time: on a loaded host the worker runs in
  // bursts, and a slice whose end falls while it is off its core overruns by the wait for its
  // next burst, which pulls the wall-time ratio towards 1, while a thread off its core retires
  // nothing. Measured with three busy loops pinned to the test's core (load 12-16): 10/10/30
  // ms slices gave wall ratios 1.6-2.0 (1.40 once at load 12 alone, the flaky failure);
  // 20/20/60 ms wall 0.77-2.5 (one 20 ms slice lasted 150 ms), instructions 1.6-2.6;
  // 40/40/120 ms instructions 2.2-3.0 (2.7-3.3 without the busy loops, load 12).
  auto ratio = [&](size_t x, size_t y) {
    return double(c[x].instructions) / double(std::max<uint64_t>(c[y].instructions, 1));
  };
  EXPECT_GT(ratio(2, 0), 1.6) << c[0].instructions << " " << c[2].instructions;
  EXPECT_LT(ratio(2, 0), 4.5) << c[0].instructions << " " << c[2].instructions;
  EXPECT_GT(ratio(2, 1), 1.6) << c[1].instructions << " " << c[2].instructions;
  EXPECT_LT(ratio(2, 1), 4.5) << c[1].instructions << " " << c[2].instructions;
  // a and b have equal slices: equal shares, within a quarter.
  EXPECT_NEAR(ratio(0, 1), 1.0, 0.25);
  unlink(loop.c_str());
}

TEST(ProcessorSet, TwoThreadsRunTwoPartitionsAtOnce) {
  const std::string loop = write_rom(test::kLoopForever);
  SystemConfig s = system_on_set(2, 4000);
  s.partitions.push_back(on_primary(partition("a", loop)));
  s.partitions.push_back(on_primary(partition("b", loop)));
  PrimaryHypervisor hv(s);
  const auto t0 = std::chrono::steady_clock::now();
  hv.start("a");
  hv.start("b");
  run_for(std::chrono::milliseconds(800));
  const auto a = hv.counters(hv.partition("a"));
  const auto b = hv.counters(hv.partition("b"));
  const double wall = seconds_since(t0);
  hv.stop("a");
  hv.stop("b");
  // Each has a thread of its own for the whole time: never preempted, and together more
  // thread time than the wall time (one thread could not give that).
  EXPECT_EQ(a.preemptions, 0u);
  EXPECT_EQ(b.preemptions, 0u);
  EXPECT_GT(a.cpu_seconds + b.cpu_seconds, wall * 1.5);
  EXPECT_GT(a.instructions, 10000u);
  EXPECT_GT(b.instructions, 10000u);
  unlink(loop.c_str());
}

TEST(ProcessorSet, AHaltedPartitionTakesNoSlices) {
  const std::string loop = write_rom(test::kLoopForever);
  const std::string idle = write_rom(test::kIdleForever);
  SystemConfig s = system_on_set(1, 4000);
  s.partitions.push_back(on_primary(partition("busy", loop)));
  s.partitions.push_back(on_primary(partition("idle", idle)));
  PrimaryHypervisor hv(s);
  const auto t0 = std::chrono::steady_clock::now();
  hv.start("busy");
  hv.start("idle");
  run_for(std::chrono::milliseconds(1000));
  // Work posted to the halted partition's CPU (reading its counters is a job on its CPU) wakes
  // it at once, not at its next idle timeout.
  const auto q0 = std::chrono::steady_clock::now();
  const auto i = hv.counters(hv.partition("idle"));
  const double asked = seconds_since(q0);
  const auto b = hv.counters(hv.partition("busy"));
  const double wall = seconds_since(t0);
  hv.stop("busy");
  hv.stop("idle");
  EXPECT_LT(i.instructions, 100u);  // it halted at once and stayed halted
  EXPECT_LT(i.cpu_seconds, 0.1 * wall) << i.cpu_seconds << " of " << wall;
  EXPECT_GT(b.cpu_seconds, 0.7 * wall) << b.cpu_seconds << " of " << wall;
  EXPECT_LT(asked, 0.2);
  EXPECT_GT(i.slices, 0u);
  unlink(loop.c_str());
  unlink(idle.c_str());
}

TEST(ProcessorSet, StopStartAndResetOnASharedThread) {
  const std::string loop = write_rom(test::kLoopForever);
  const std::string fault = write_rom(test::kTripleFault);
  SystemConfig s = system_on_set(1, 2000);
  s.partitions.push_back(on_primary(partition("looper", loop)));
  s.partitions.push_back(on_primary(partition("other", loop)));
  s.partitions.push_back(on_primary(partition("faulter", fault)));
  PrimaryHypervisor hv(s);
  Partition& looper = hv.partition("looper");
  Partition& faulter = hv.partition("faulter");
  for (const char* n : {"looper", "other", "faulter"}) hv.start(n);
  ASSERT_TRUE(wait_for([&] { return faulter.state() != PartitionState::RUNNING; }));
  EXPECT_EQ(faulter.state(), PartitionState::FAULTED);
  ASSERT_TRUE(wait_for([&] { return hv.counters(looper).instructions > 1000; }));
  hv.stop("looper");
  EXPECT_EQ(looper.state(), PartitionState::STOPPED);
  const uint64_t ran = hv.counters(looper).instructions;
  run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(hv.counters(looper).instructions, ran);  // stopped: no more slices
  hv.start("looper");
  ASSERT_TRUE(wait_for([&] { return hv.counters(looper).instructions > ran + 1000; }));
  hv.reset("faulter");
  ASSERT_TRUE(wait_for([&] { return faulter.state() != PartitionState::RUNNING; }));
  EXPECT_EQ(faulter.state(), PartitionState::FAULTED);
  hv.stop("looper");
  hv.stop("other");
  EXPECT_EQ(hv.partition("other").state(), PartitionState::STOPPED);
  unlink(loop.c_str());
  unlink(fault.c_str());
}

TEST(ProcessorSet, TheSystemEndsOnASharedThread) {
  const std::string halt = write_rom(test::kHaltForGood);
  const std::string loop = write_rom(test::kLoopForever);
  SystemConfig s = system_on_set(1, 1000);
  s.partitions.push_back(on_primary(partition("one", halt)));
  s.partitions.push_back(on_primary(partition("service", loop)));
  s.partitions.back().exit_on_poweroff = false;
  s.partitions.push_back(on_primary(partition("two", halt)));
  PrimaryHypervisor hv(s);
  EXPECT_EQ(hv.run(), 0);
  EXPECT_EQ(hv.partition("one").state(), PartitionState::POWERED_OFF);
  EXPECT_EQ(hv.partition("two").state(), PartitionState::POWERED_OFF);
  EXPECT_EQ(hv.partition("service").state(), PartitionState::STOPPED);
  unlink(halt.c_str());
  unlink(loop.c_str());
}

}  // namespace
}  // namespace softcpu::hv
