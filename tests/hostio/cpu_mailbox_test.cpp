#include "hostio/cpu_mailbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace softcpu {
namespace {

TEST(CpuMailbox, JobsPostedFromAnotherThreadRunOnDrain) {
  CpuMailbox box;
  int sum = 0;  // touched only by the draining thread
  std::thread t([&] {
    for (int k = 1; k <= 100; ++k) box.post([&sum, k] { sum += k; });
  });
  t.join();
  EXPECT_TRUE(box.has_work());
  EXPECT_EQ(box.drain(), 100u);
  EXPECT_EQ(sum, 5050);
  EXPECT_FALSE(box.has_work());
}

TEST(CpuMailbox, PostWakesAWaitBeforeItsDeadline) {
  CpuMailbox box;
  auto start = std::chrono::steady_clock::now();
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    box.post([] {});
  });
  box.wait_until(start + std::chrono::seconds(10));
  auto waited = std::chrono::steady_clock::now() - start;
  t.join();
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(box.drain(), 1u);
}

TEST(CpuMailbox, WaitEndsAtTheDeadlineWithNothingPosted) {
  CpuMailbox box;
  auto start = std::chrono::steady_clock::now();
  box.wait_until(start + std::chrono::milliseconds(15));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(15));
}

}  // namespace
}  // namespace softcpu
