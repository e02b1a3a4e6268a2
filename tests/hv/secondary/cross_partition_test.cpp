// Two thin partitions of the secondary hypervisor (tests/guest/hv/rtos_shared.c, roles a and
// b) share a page mapped at a different guest-physical base in each: b waits on a word of it,
// a wakes it through its own address (the secondary keys waiters by machine address). Then a
// lends b dynamic memory by hypercall and b gives it back (HC_MEM_LEND / HC_MEM_RETURN, the
// primary's lend/take_back): each side reads all ones once a page is gone (its TLB entry was
// dropped) and zeros where the other had written. a's bad calls return errors, counted.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/hv/hv_config_util.h"
#include "tests/hv/hv_test_util.h"
#include "monitor/hv/primary.h"
#include "monitor/hv/secondary.h"
#include "monitor/machine.h"

namespace softcpu::hv {
namespace {

using test::guest_dir;
using test::slurp;
using test::temp_file;

PartitionConfig thin(const std::string& name, const std::string& debugcon, uint32_t dyn_base) {
  PartitionConfig p =
      test::thin_partition(name, guest_dir() + "/rtos_shared_" + name + ".rom", debugcon, 10);
  p.memory.push_back({dyn_base, 0x10000, true, "dyn", 0});
  return p;
}

void wait_stopped(Partition& p, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (p.state() == PartitionState::RUNNING && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

TEST(CrossPartition, WaitWakeThroughASharedPageAndLendingByHypercall) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const std::string log_a = temp_file("cross_a", 0), log_b = temp_file("cross_b", 0);
  SystemConfig s;
  s.hypervisors.push_back({"primary", HypervisorKind::PRIMARY, "", SchedulerKind::ROUND_ROBIN,
                           10000, {0, 255}, true, 0});
  s.hypervisors.push_back({"rt", HypervisorKind::SECONDARY, "", SchedulerKind::PRIORITY, 10000,
                           {0, 255}, true, 0});
  s.pools.push_back({"dyn", 0x10000, 0});  // all of it goes to a's dynamic region at start
  s.partitions.push_back(thin("a", log_a, 0x01000000));
  s.partitions.push_back(thin("b", log_b, 0x02000000));
  s.shared.push_back(test::shared_region("mbox", 0x1000, {{"a", 0x400000, 3, 0}, {"b", 0x600000, 3, 0}}));

  PrimaryHypervisor primary(s);
  auto owned = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
  SecondaryHypervisor& sec = *owned;
  primary.attach_secondary(std::move(owned));
  // The two partitions' words are different guest-physical addresses of one machine page.
  const auto ma = primary.partition("a").stage2().translate(0x400004);
  const auto mb = primary.partition("b").stage2().translate(0x600004);
  ASSERT_TRUE(ma && mb);
  EXPECT_EQ(*ma, *mb);

  primary.start("b");
  primary.start("a");
  wait_stopped(primary.partition("a"), 45);
  wait_stopped(primary.partition("b"), 10);
  const std::string a = "\n" + slurp(log_a), b = "\n" + slurp(log_b);
  SCOPED_TRACE("a:" + a + "\nb:" + b);
  EXPECT_EQ(primary.partition("a").state(), PartitionState::STOPPED);
  EXPECT_EQ(primary.partition("b").state(), PartitionState::STOPPED);
  EXPECT_NE(a.find("\ndone a\n"), std::string::npos);
  EXPECT_NE(b.find("\ndone b\n"), std::string::npos);
  // 1. b was woken (0, not -EAGAIN or -ETIMEDOUT) by a's wake of one waiter; it read a's note
  //    through its own mapping, and its dynamic region was empty at first (all ones).
  EXPECT_NE(a.find("\ncross_wake woken=1\n"), std::string::npos);
  EXPECT_NE(b.find("\ncross_wait result=0 note=1234abcd unmapped=ffffffff\n"), std::string::npos);
  // 2. a's page: zero, its marker, gone once lent (all ones), zero once given back. b found
  //    the lent pages zeroed, wrote them, and lost them when it gave them back.
  EXPECT_NE(a.find("\nlend before=0 seen=a5c3a5c3 lent=0 after_lend=ffffffff wait=0 b_result=0 "
                   "after_return=0\n"), std::string::npos);
  EXPECT_NE(b.find("\nborrow nonzero=0 wrote=5a5a5a5a back=0 after_back=ffffffff\n"),
            std::string::npos);
  // 3. -ENOENT, -EINVAL (not whole pages), -ENOMEM (more than it has), -ENOMEM (nothing lent
  //    to take back), -EINVAL (itself), -EINVAL (bad how): all counted.
  EXPECT_NE(a.find("\nmem_errors -2 -22 -12 -12 -22 -22\n"), std::string::npos);
  EXPECT_EQ(sec.stats("a").bad_hypercalls, 6u);
  EXPECT_EQ(sec.stats("b").bad_hypercalls, 0u);
  EXPECT_GE(sec.stats("b").wakes, 1u);
  // Everything lent came back: a has its 16 dynamic pages again, b none.
  EXPECT_EQ(primary.partition("a").stage2().mapped_pages(), 512u + 16u + 1u);
  EXPECT_EQ(primary.partition("b").stage2().mapped_pages(), 512u + 1u);
  unlink(log_a.c_str());
  unlink(log_b.c_str());
}

// A waker in a partition of the primary (docs/design.md "A waker in a partition of the
// primary", issue 14: waiters and wakers may be in different partitions when the word is in
// memory both can map). "w" is an ordinary guest on the primary's one-thread set
// (tests/guest/hv/primary_waker.c), "b" a thin partition of the secondary on its own set
// (rtos_pool.c's waiter); a shared page at 0x400000 in both. b blocks on its slot's word with no
// timeout; w wakes it with HC_WAKE, the one hypercall besides HC_TIME_NS that the secondary
// serves a partition of the primary because it shares a region with one of its own, and waits
// for b to finish. Before, VMCALL in w was #UD (it had no handler) and b waited for ever.
// `split`: w has 2 vCPUs on threads and vCPU 1, on the secondary at 20, makes the calls
// (primary_waker_ap.rom) from the secondary's worker; b, at 30, takes that worker when woken.
void waker_wakes_a_thin_waiter(bool split) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const std::string log_w = temp_file("waker_w", 0), log_b = temp_file("waker_b", 0);
  SystemConfig s = test::system_on_set(1, 10000);
  s.processor_sets.push_back({"rtset", 1, 0});
  s.hypervisors.push_back(test::secondary_rt("rtset"));
  PartitionConfig w = test::on_primary(test::partition(
      "w", guest_dir() + (split ? "/primary_waker_ap.rom" : "/primary_waker.rom"), 4u << 20));
  w.machine.debugcons.push_back({0xE9, log_w});
  if (split) {
    w.vcpus = 2;
    w.machine.smp_threads = true;
    w.split = test::split_vcpu(1, 20);
  }
  s.partitions.push_back(w);
  s.partitions.push_back(test::thin_partition("b", guest_dir() + "/rtos_pool_waiter.rom", log_b,
                                              split ? 30 : 10));
  s.shared.push_back(test::shared_region("mbox", 0x1000, {{"w", 0x400000, 3, 0}, {"b", 0x400000, 3, 0}}));
  PrimaryHypervisor primary(s);
  auto owned = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
  SecondaryHypervisor& sec = *owned;
  primary.attach_secondary(std::move(owned));
  primary.run();  // until both have ended
  const std::string wl = "\n" + slurp(log_w), bl = "\n" + slurp(log_b);
  SCOPED_TRACE("w:" + wl + "\nb:" + bl);
  EXPECT_EQ(primary.partition("w").status(), 1);
  // b was woken (0: not -ETIMEDOUT; it had no timeout) and finished; w saw one woken.
  EXPECT_NE(bl.find("\nwaiter slot=0 result=0 seq=0\n"), std::string::npos);
  EXPECT_NE(wl.find("\nprimary_waker woken=1 "), std::string::npos);
  EXPECT_NE(wl.find(" finished=1\n"), std::string::npos);
  // The time moves; a wait is refused (-ENOSYS), a bad word too (-EINVAL, -EFAULT), counted.
  EXPECT_NE(wl.find("\nprimary_errors time=1 wait=-38 unaligned=-22 unmapped=-14\n"),
            std::string::npos);
  const ThinStats ws = sec.stats("w");
  EXPECT_EQ(ws.bad_hypercalls, 3u);
  EXPECT_GE(ws.hypercalls, 6u);  // >= 1 wake, 2 times, 3 refused
  EXPECT_EQ(sec.stats("b").wakes, 1u);
  if (split) {
    EXPECT_GT(sec.vcpu_stats("w", 1).slices, 0u);  // vCPU 1 ran on the secondary
  }
  unlink(log_w.c_str());
  unlink(log_b.c_str());
}

TEST(CrossPartition, AWakerOnThePrimarysSetWakesAThinWaiter) { waker_wakes_a_thin_waiter(false); }

TEST(CrossPartition, ASplitVcpuOfAPrimaryPartitionWakesAThinWaiter) {
  waker_wakes_a_thin_waiter(true);
}

}  // namespace
}  // namespace softcpu::hv
