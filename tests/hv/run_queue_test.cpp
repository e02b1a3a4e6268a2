// The secondary hypervisor's per-priority lists (monitor/hv/run_queue.h): the highest ready
// level across the bitmap's words, FIFO within a level, head insertion for a preempted vCPU,
// run lists kept apart from ready lists, and every insertion and removal counted.
#include <gtest/gtest.h>

#include "monitor/hv/run_queue.h"

namespace softcpu::hv {
namespace {

TEST(RunQueue, HighestReadyLevelAcrossWords) {
  RunQueue q;
  VcpuBlock a, b, c;
  EXPECT_EQ(q.highest_ready(), -1);
  q.push_ready(&a, 3, false);
  q.push_ready(&b, 200, false);
  q.push_ready(&c, 64, false);
  EXPECT_EQ(q.highest_ready(), 200);
  q.remove(&b);
  EXPECT_EQ(q.highest_ready(), 64);
  q.remove(&c);
  EXPECT_EQ(q.highest_ready(), 3);
  q.remove(&a);
  EXPECT_EQ(q.highest_ready(), -1);
  EXPECT_EQ(q.touches, 6u);
}

TEST(RunQueue, FifoWithinALevelAndHeadForThePreempted) {
  RunQueue q;
  VcpuBlock a, b, c;
  q.push_ready(&a, 10, false);
  q.push_ready(&b, 10, false);
  EXPECT_EQ(q.first_ready(10), &a);
  q.push_ready(&c, 10, true);  // preempted: goes first
  EXPECT_EQ(q.first_ready(10), &c);
  q.remove(&c);
  q.remove(&a);
  EXPECT_EQ(q.first_ready(10), &b);
  EXPECT_EQ(q.highest_ready(), 10);
}

TEST(RunQueue, RunListsAreNotReady) {
  RunQueue q;
  VcpuBlock a, b;
  q.push_run(&a, 50);
  EXPECT_EQ(q.highest_ready(), -1);
  EXPECT_TRUE(a.on_run);
  q.push_ready(&b, 50, false);
  q.remove(&a);  // leaving the run list keeps the ready one
  EXPECT_EQ(q.highest_ready(), 50);
  EXPECT_EQ(q.first_ready(50), &b);
  EXPECT_EQ(a.level, -1);
  q.remove(&a);  // on no list: nothing, not counted
  EXPECT_EQ(q.touches, 3u);
}

}  // namespace
}  // namespace softcpu::hv
