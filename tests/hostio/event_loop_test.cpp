#include "hostio/event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace softcpu {
namespace {

TEST(EventLoop, PostRunsInOrderOnLoopThread) {
  EventLoop loop;
  std::vector<int> order;  // touched only on the loop thread until run_sync returns
  std::atomic<bool> all_on_loop{true};
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(loop.post([&, i] {
      if (!loop.in_loop_thread()) all_on_loop = false;
      order.push_back(i);
    }));
  }
  EXPECT_FALSE(loop.in_loop_thread());
  ASSERT_TRUE(loop.run_sync([] {}));  // everything posted before has run
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
  EXPECT_TRUE(all_on_loop);
}

TEST(EventLoop, PerThreadOrderWithManyPosters) {
  EventLoop loop;
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<std::vector<int>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) loop.post([&, t, i] { seen[t].push_back(i); });
    });
  for (auto& th : threads) th.join();
  loop.run_sync([] {});
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(seen[t][i], i);
  }
}

TEST(EventLoop, RunSyncInlineOnLoopThreadAndPropagatesExceptions) {
  EventLoop loop;
  int value = 0;
  loop.run_sync([&] { loop.run_sync([&] { value = 7; }); });  // nested: runs inline
  EXPECT_EQ(value, 7);
  EXPECT_THROW(loop.run_sync([] { throw std::runtime_error("boom"); }), std::runtime_error);
  // A throwing posted function does not stop the loop.
  loop.post([] { throw std::runtime_error("ignored"); });
  EXPECT_TRUE(loop.run_sync([&] { value = 8; }));
  EXPECT_EQ(value, 8);
}

TEST(EventLoop, ShutdownRunsPendingWorkThenRejectsPosts) {
  std::atomic<int> ran{0};
  EventLoop loop;
  std::promise<void> gate;
  auto gate_future = gate.get_future().share();
  loop.post([gate_future] { gate_future.wait(); });  // hold the loop so the rest queue up
  for (int i = 0; i < 100; ++i) loop.post([&] { ++ran; });
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gate.set_value();
  });
  loop.shutdown();
  releaser.join();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_FALSE(loop.post([&] { ++ran; }));
  EXPECT_FALSE(loop.run_sync([&] { ++ran; }));
  EXPECT_EQ(ran.load(), 100);
  loop.shutdown();  // idempotent; the destructor calls it again
}

TEST(EventLoop, ShutdownClosesHandlesLeftOpen) {
  EventLoop loop;
  auto* timer = new uv_timer_t;
  loop.run_sync([&] {
    uv_timer_init(loop.uv(), timer);
    uv_timer_start(timer, [](uv_timer_t*) {}, 1000000, 1000000);
  });
  loop.shutdown();  // must return although the timer is active
  delete timer;
}

TEST(EventLoop, ManyLoopsStartAndStop) {
  for (int i = 0; i < 50; ++i) {
    EventLoop loop;
    if (i % 2) loop.post([] {});
  }
}

}  // namespace
}  // namespace softcpu
