// Partitions run side by side on their own threads: one that triple-faults or halts for good
// stops alone; the system ends when every exit_on_poweroff partition has powered off; stop,
// start and reset from the primary.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "hv_test_util.h"
#include "monitor/hv/primary.h"
#include "monitor/machine.h"

namespace softcpu::hv {
namespace {

using test::partition;
using test::wait_for;
using test::write_rom;

TEST(Partitions, ATripleFaultStopsOnlyThatPartition) {
  const std::string loop = write_rom(test::kLoopForever);
  const std::string fault = write_rom(test::kTripleFault);
  SystemConfig s;
  s.partitions.push_back(partition("looper", loop));
  s.partitions.push_back(partition("faulter", fault));
  PrimaryHypervisor hv(s);
  Partition& looper = hv.partition("looper");
  Partition& faulter = hv.partition("faulter");
  hv.start("looper");
  hv.start("faulter");
  ASSERT_TRUE(wait_for([&] { return faulter.state() != PartitionState::RUNNING; }));
  EXPECT_EQ(faulter.state(), PartitionState::FAULTED);
  EXPECT_EQ(faulter.status(), 3);
  EXPECT_EQ(looper.state(), PartitionState::RUNNING);
  // The other one still runs: its instruction count keeps growing (read through info).
  const std::string info1 = hv.info_partitions();
  EXPECT_NE(info1.find("looper"), std::string::npos);
  EXPECT_NE(info1.find("triple-faulted"), std::string::npos) << info1;
  // The faulter may fault before the looper's thread has run at all (a loaded machine): wait
  // until it has run some instructions rather than assume it.
  ASSERT_TRUE(wait_for([&] { return hv.counters(looper).instructions > 1000; }));
  hv.stop("looper");
  EXPECT_EQ(looper.state(), PartitionState::STOPPED);
  const uint64_t ran = hv.counters(looper).instructions;
  EXPECT_GT(ran, 1000u);
  // Started again, it goes on from where it stopped.
  hv.start("looper");
  ASSERT_TRUE(wait_for([&] { return hv.counters(looper).instructions > ran + 1000; }) );
  hv.stop("looper");
  // A reset faulting partition runs from the reset vector again and faults again.
  hv.reset("faulter");
  ASSERT_TRUE(wait_for([&] { return faulter.state() != PartitionState::RUNNING; }));
  EXPECT_EQ(faulter.state(), PartitionState::FAULTED);
  unlink(loop.c_str());
  unlink(fault.c_str());
}

TEST(Partitions, TheSystemEndsWhenItsExitPartitionsPowerOff) {
  const std::string halt = write_rom(test::kHaltForGood);
  const std::string loop = write_rom(test::kLoopForever);
  SystemConfig s;
  s.partitions.push_back(partition("one", halt));
  s.partitions.push_back(partition("two", halt));
  s.partitions.push_back(partition("service", loop));
  s.partitions.back().exit_on_poweroff = false;  // runs until the others are done
  PrimaryHypervisor hv(s);
  EXPECT_EQ(hv.run(), 0);
  EXPECT_EQ(hv.partition("one").state(), PartitionState::POWERED_OFF);
  EXPECT_EQ(hv.partition("two").state(), PartitionState::POWERED_OFF);
  EXPECT_EQ(hv.partition("service").state(), PartitionState::STOPPED);
  unlink(halt.c_str());
  unlink(loop.c_str());
}

TEST(Partitions, AFaultedExitPartitionIsTheSystemsStatus) {
  const std::string halt = write_rom(test::kHaltForGood);
  const std::string fault = write_rom(test::kTripleFault);
  SystemConfig s;
  s.partitions.push_back(partition("good", halt));
  s.partitions.push_back(partition("bad", fault));
  PrimaryHypervisor hv(s);
  EXPECT_EQ(hv.run(), 3);
  EXPECT_EQ(hv.partition("good").state(), PartitionState::POWERED_OFF);
  unlink(halt.c_str());
  unlink(fault.c_str());
}

// --save-on-exit in a partition (a MachineConfig set in code, as hv_two_linux's HV_SAVE): a
// save that fails fails the system's exit status, also when the partition powered off (which
// alone ends with 0) or was stopped by `quit`; a save that works changes nothing.
TEST(Partitions, AFailedSaveOnExitFailsTheSystem) {
  const std::string halt = write_rom(test::kHaltForGood);
  const std::string loop = write_rom(test::kLoopForever);
  const std::string good = test::temp_file("save", 0);
  for (const bool fails : {false, true}) {
    SystemConfig s;
    s.partitions.push_back(partition("one", halt));
    s.partitions.push_back(partition("saved", halt));
    s.partitions.back().machine.save_on_exit_path =
        fails ? "/nonexistent-softcpu-dir/saved.snap" : good;
    PrimaryHypervisor hv(s);
    EXPECT_EQ(hv.run(), fails ? 1 : 0) << (fails ? "unwritable" : "writable");
    EXPECT_EQ(hv.partition("saved").state(), PartitionState::POWERED_OFF);
    EXPECT_EQ(hv.partition("saved").machine().save_failed(), fails);
  }
  EXPECT_GT(test::slurp(good).size(), 1000u);  // the snapshot was written
  // Stopped by `quit` (a state that alone ends the system with 0).
  SystemConfig s;
  s.partitions.push_back(partition("looper", loop));
  s.partitions.back().machine.save_on_exit_path = "/nonexistent-softcpu-dir/looper.snap";
  PrimaryHypervisor hv(s);
  hv.post_command("quit", nullptr);
  EXPECT_EQ(hv.run(), 1);
  EXPECT_EQ(hv.partition("looper").state(), PartitionState::STOPPED);
  unlink(halt.c_str());
  unlink(loop.c_str());
  unlink(good.c_str());
}

TEST(Partitions, UnknownNamesAreRefused) {
  const std::string halt = write_rom(test::kHaltForGood);
  SystemConfig s;
  s.partitions.push_back(partition("one", halt));
  PrimaryHypervisor hv(s);
  EXPECT_THROW(hv.start("two"), HvError);
  EXPECT_THROW(hv.stop("two"), HvError);
  EXPECT_FALSE(hv.secondary_port().request_start("two"));
  unlink(halt.c_str());
}

}  // namespace
}  // namespace softcpu::hv
