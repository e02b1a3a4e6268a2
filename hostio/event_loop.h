// The host I/O thread: one libuv loop running on its own std::thread. Other threads hand it
// work with post(); everything that touches uv handles runs on that thread.
#pragma once
#include <uv.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace softcpu {

class EventLoop {
 public:
  // Initializes the loop and starts the thread. Throws std::runtime_error if libuv fails.
  EventLoop();
  // Same as shutdown().
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Queue fn to run on the loop thread. Functions run in the order they were posted (across
  // all posting threads, in the order they took the queue lock). Thread-safe, never blocks for
  // long. Returns false (and drops fn) once shutdown has begun.
  bool post(std::function<void()> fn);

  // Run fn on the loop thread and wait until it has returned. Runs fn inline when called on the
  // loop thread. Returns false without running fn once shutdown has begun.
  bool run_sync(const std::function<void()>& fn);

  // True on the loop thread (inside a posted function or a uv callback).
  bool in_loop_thread() const;

  // The uv loop, for backends that create handles. Touch it only on the loop thread.
  uv_loop_t* uv() { return &loop_; }

  // Stop the loop: functions already posted still run, then every handle still open is closed
  // (with no close callback), the loop runs until it is empty, and the thread is joined.
  // Idempotent; must not be called on the loop thread. Objects that own uv handles on this loop
  // should be destroyed before it (they then close their handles themselves).
  void shutdown();

 private:
  static void on_async(uv_async_t* handle);
  void thread_main();
  void drain();

  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  std::thread thread_;
  std::thread::id thread_id_;

  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_; no posts accepted once set
  bool joined_ = false;                      // touched only by the shutting-down thread
  std::mutex shutdown_mutex_;                // serializes concurrent shutdown() calls
};

}  // namespace softcpu
