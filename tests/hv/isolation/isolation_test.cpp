// Isolation attack: partition A fills its RAM with a marker; partition B, in the same
// process, reads every dword of its own RAM and three of every page it can address beyond
// it, and programs its IDE bus-master DMA to copy memory at addresses it names (A's RAM
// lies there in A's address space) to its disk and reads the sectors back. B finds no
// marker; its stage-2 violation counter shows the attempts. The guests are
// tests/guest/hv/hv_fill.c and hv_scan.c, run by the real CPU and devices.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "monitor/hv/primary.h"
#include "monitor/machine.h"
#include "tests/hv/hv_test_util.h"

namespace softcpu::hv {
namespace {

using test::guest_dir;
using test::slurp;
using test::temp_file;

constexpr uint32_t kMarker = 0x5AA5C33C;

// The partitions' timeout (test::guest_partition; B's control run ran past 50 s under
// ThreadSanitizer at load 24, still scanning, before it was a guard_seconds).
const double kTimeout = test::guard_seconds(50);

void wait_stopped(Partition& p) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration<double>(kTimeout + 5);
  while (p.state() == PartitionState::RUNNING && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

TEST(Isolation, PartitionBFindsNoneOfAsMarker) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const std::string out_a = temp_file("a_con", 0), out_b = temp_file("b_con", 0);
  const std::string disk = temp_file("b_disk", 1 << 20);
  SystemConfig s;
  s.partitions.push_back(test::guest_partition("a", guest_dir() + "/hv_fill.rom", 4u << 20, out_a));
  s.partitions.push_back(test::guest_partition("b", guest_dir() + "/hv_scan.rom", 2u << 20, out_b));
  s.partitions[1].machine.drives.push_back({disk, 0, true, false});
  PrimaryHypervisor hv(s);
  Partition& a = hv.partition("a");
  Partition& b = hv.partition("b");

  hv.start("a");
  wait_stopped(a);
  ASSERT_EQ(a.state(), PartitionState::EXITED) << slurp(out_a);
  ASSERT_EQ(a.status(), 1) << slurp(out_a);
  // The marker is really in machine memory, in A's pages above 1 MiB.
  uint32_t v = 0;
  std::memcpy(&v, hv.machine_memory().base() + *a.stage2().translate(0x300000), 4);
  EXPECT_EQ(v, kMarker);

  hv.start("b");
  wait_stopped(b);
  const std::string log = slurp(out_b);
  EXPECT_EQ(b.state(), PartitionState::EXITED) << log;
  EXPECT_EQ(b.status(), 1) << "B found A's marker:\n" << log;
  EXPECT_NE(log.find("hits 0"), std::string::npos) << log;
  EXPECT_NE(log.find("dma out 5"), std::string::npos) << log;  // the engine ran every time
  // Every page B probed beyond its RAM, and every DMA byte it named there, is a violation.
  EXPECT_GT(b.stage2_violations(), 3u * ((0xFEC00000u - (2u << 20)) / 4096));
  EXPECT_EQ(a.stage2_violations(), 0u);
  std::fprintf(stderr, "B: %s", log.c_str());
  std::fprintf(stderr, "%s", hv.info_partitions().c_str());

  // The control: the primary maps one of A's pages into B at 3 MiB (beyond B's RAM). Run
  // again, B's search finds the marker there: it is the stage-2 table that kept it out.
  hv.map(b, 0x300, a.stage2().lookup(0x300)->machine_page, S2_RW);
  hv.reset("b");
  wait_stopped(b);
  const std::string log2 = slurp(out_b).substr(log.size());
  EXPECT_EQ(b.status(), (2 << 1) | 1) << log2;
  EXPECT_NE(log2.find("marker at 300000"), std::string::npos) << log2;
  unlink(out_a.c_str());
  unlink(out_b.c_str());
  unlink(disk.c_str());
}

}  // namespace
}  // namespace softcpu::hv
