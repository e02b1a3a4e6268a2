// The secondary hypervisor's pool of host threads (issue 14): its processor set's N threads run
// any of its partitions' vCPUs; a partition whose vCPUs all block gives its thread back, and a
// thread takes the most urgent runnable partition. Guests: tests/guest/hv/rtos_pool.c (waiters
// and a waker meeting on a shared page, tickers that sleep and spin).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "tests/hv/hv_test_util.h"
#include "monitor/hv/primary.h"
#include "monitor/hv/secondary.h"
#include "monitor/machine.h"

namespace softcpu::hv {
namespace {

using test::guest_dir;
using test::slurp;
using test::temp_file;

struct Pool {
  SystemConfig s;
  std::map<std::string, std::string> logs;  // partition -> its debug console file

  explicit Pool(unsigned threads) {
    s.hypervisors.push_back({"primary", HypervisorKind::PRIMARY, "", SchedulerKind::ROUND_ROBIN,
                             10000, {0, 255}, true, 0});
    s.hypervisors.push_back({"rt", HypervisorKind::SECONDARY, "", SchedulerKind::PRIORITY,
                             10000, {0, 255}, true, 0});
    s.hypervisors.back().processor_set = "rtset";
    s.processor_sets.push_back({"rtset", threads, 0});
    s.shared.push_back(test::shared_region("mbox", 0x1000, {}));
  }
  void add(const std::string& name, const std::string& role, unsigned priority) {
    logs[name] = temp_file(name.c_str(), 0);
    s.partitions.push_back(
        test::thin_partition(name, guest_dir() + "/rtos_pool_" + role + ".rom", logs[name], priority));
    s.shared[0].maps.push_back({name, 0x400000, 3, 0});
  }
  std::string log(const std::string& name) { return slurp(logs[name]); }
  ~Pool() {
    for (const auto& [name, path] : logs) unlink(path.c_str());
  }
};

// (A guard: scaled under ThreadSanitizer, as the guests' own, GUEST_TIME_SCALE.)
bool stopped(PrimaryHypervisor& primary, const std::string& name, double seconds = 45) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration<double>(test::guard_seconds(seconds));
  while (primary.partition(name).state() == PartitionState::RUNNING) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Eight partitions block in a wait (no timeout) on a one-thread set; a ninth wakes them one by
// one and waits until all have run: a blocked vCPU holds no host thread, or nothing after the
// first waiter could run. The pool never needed a second thread.
TEST(SecondaryPool, EightBlockedWaitersAndAWakerOnOneThread) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  Pool pool(1);
  for (unsigned k = 0; k < 8; ++k) pool.add("w" + std::to_string(k), "waiter", 20 + k);
  pool.add("waker", "waker8", 10);
  PrimaryHypervisor primary(pool.s);
  auto owned = std::make_unique<SecondaryHypervisor>(pool.s.hypervisors[1], pool.s, primary.secondary_port());
  SecondaryHypervisor& sec = *owned;
  primary.attach_secondary(std::move(owned));
  EXPECT_EQ(sec.processors(), 1u);
  for (const auto& p : pool.s.partitions) primary.start(p.name);
  ASSERT_TRUE(stopped(primary, "waker"));
  const std::string waker = pool.log("waker");
  EXPECT_NE(waker.find("waker woken=8 finished=8"), std::string::npos) << waker;
  for (unsigned k = 0; k < 8; ++k) {
    const std::string name = "w" + std::to_string(k);
    EXPECT_TRUE(stopped(primary, name, 5)) << name;
    EXPECT_NE(pool.log(name).find(" result=0 "), std::string::npos) << name << ": " << pool.log(name);
  }
  EXPECT_EQ(sec.pool_threads(), 1u);  // no hypercall waited for another thread: no extra one
}

// One thread, three partitions at priorities 10, 20, 30 that took their slots in that order
// (started one after another) and were made ready in that order by a waker above them: once
// the waker blocks, the thread runs them by priority (30, 20, 10), each to its end (no
// hypercall while it spins), not in the order they became ready.
TEST(SecondaryPool, OneThreadRunsThreePartitionsByPriority) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  Pool pool(1);
  pool.add("p10", "waiter", 10);
  pool.add("p20", "waiter", 20);
  pool.add("p30", "waiter", 30);
  pool.add("waker", "waker3", 40);
  PrimaryHypervisor primary(pool.s);
  primary.attach_secondary(
      std::make_unique<SecondaryHypervisor>(pool.s.hypervisors[1], pool.s, primary.secondary_port()));
  for (const char* name : {"p10", "p20", "p30"}) {
    primary.start(name);
    // Its slot is taken and it waits before the next one starts.
    std::this_thread::sleep_for(test::window(std::chrono::milliseconds(150)));
  }
  primary.start("waker");
  ASSERT_TRUE(stopped(primary, "waker"));
  for (const char* name : {"p10", "p20", "p30"}) EXPECT_TRUE(stopped(primary, name, 5)) << name;
  const std::string waker = pool.log("waker");
  EXPECT_NE(waker.find("waker woken=3 finished=3"), std::string::npos) << waker;
  EXPECT_NE(pool.log("p10").find("slot=0 result=0 seq=2"), std::string::npos) << pool.log("p10");
  EXPECT_NE(pool.log("p20").find("slot=1 result=0 seq=1"), std::string::npos) << pool.log("p20");
  EXPECT_NE(pool.log("p30").find("slot=2 result=0 seq=0"), std::string::npos) << pool.log("p30");
}

// Four partitions of four vCPUs each (three tickers that sleep 1 ms per round, and main) on a
// two-thread set: sixteen vCPUs, two threads, and every ticker finishes its 20 rounds.
TEST(SecondaryPool, MoreVcpusThanThreadsAllMakeProgress) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  Pool pool(2);
  for (unsigned k = 0; k < 4; ++k) pool.add("t" + std::to_string(k), "ticker", 20);
  PrimaryHypervisor primary(pool.s);
  auto owned = std::make_unique<SecondaryHypervisor>(pool.s.hypervisors[1], pool.s, primary.secondary_port());
  SecondaryHypervisor& sec = *owned;
  primary.attach_secondary(std::move(owned));
  for (const auto& p : pool.s.partitions) primary.start(p.name);
  for (unsigned k = 0; k < 4; ++k) {
    const std::string name = "t" + std::to_string(k);
    ASSERT_TRUE(stopped(primary, name)) << name;
    EXPECT_NE(pool.log(name).find("ticker rounds=60 tasks=3"), std::string::npos)
        << name << ": " << pool.log(name);
    EXPECT_EQ(sec.stats(name).vcpus_created, 3u);
  }
  EXPECT_EQ(sec.pool_threads(), 2u);
}

}  // namespace
}  // namespace softcpu::hv
