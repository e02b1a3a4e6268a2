// Work handed from the host I/O thread (libuv callbacks: disk completions, serial input,
// debugger packets) to the CPU thread, which owns all device state. post() is thread-safe;
// the CPU thread drains the box between interpreter runs, and sleeps in wait_until() while
// the guest is halted, so a posted job wakes a halted guest at once.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

namespace softcpu {

class CpuMailbox {
 public:
  using Job = std::function<void()>;

  void post(Job job);       // any thread
  void wake();              // any thread: end a wait_until() without a job
  void rouse();             // any thread: the same, without calling `notify` (set_notify)
  // CPU thread: run the jobs posted so far. Returns how many ran.
  size_t drain();
  // CPU thread: sleep until something is posted, wake() is called, or `deadline`.
  void wait_until(std::chrono::steady_clock::time_point deadline);
  bool has_work() const;
  // `notify(ctx)` is called after every post() and wake(), on the poster's thread and outside
  // the box's lock (a processor set's scheduler learns that an idle CPU has work).
  void set_notify(void (*notify)(void*), void* ctx);
  // `listener(ctx)` is called after every post() (not wake()) instead of `notify`, on the
  // poster's thread and outside the box's lock: a job (a disk completion) that another thread
  // than the CPU thread may run, and the listener decides whether the CPU thread's scheduler
  // must hear of it (a machine with external vCPUs, monitor/machine_external.cpp).
  void set_post_listener(void (*listener)(void*), void* ctx);

 private:
  void (*notify_)(void*) = nullptr;  // under mu_
  void* notify_ctx_ = nullptr;
  void (*post_listener_)(void*) = nullptr;  // under mu_
  void* post_listener_ctx_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> jobs_;
  bool woken_ = false;
};

}  // namespace softcpu
