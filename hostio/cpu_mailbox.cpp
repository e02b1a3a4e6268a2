#include "hostio/cpu_mailbox.h"

namespace softcpu {

void CpuMailbox::post(Job job) {
  void (*notify)(void*);
  void* ctx;
  void (*listener)(void*);
  void* listener_ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
    notify = notify_;
    ctx = notify_ctx_;
    listener = post_listener_;
    listener_ctx = post_listener_ctx_;
  }
  cv_.notify_one();
  if (listener) listener(listener_ctx);  // it decides who else hears of it
  else if (notify) notify(ctx);
}

void CpuMailbox::wake() {
  void (*notify)(void*);
  void* ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    notify = notify_;
    ctx = notify_ctx_;
  }
  cv_.notify_one();
  if (notify) notify(ctx);
}

void CpuMailbox::rouse() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void CpuMailbox::set_notify(void (*notify)(void*), void* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  notify_ = notify;
  notify_ctx_ = ctx;
}

void CpuMailbox::set_post_listener(void (*listener)(void*), void* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  post_listener_ = listener;
  post_listener_ctx_ = ctx;
}

size_t CpuMailbox::drain() {
  std::vector<Job> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs.swap(jobs_);
    woken_ = false;
  }
  for (Job& j : jobs) j();
  return jobs.size();
}

void CpuMailbox::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline, [this] { return !jobs_.empty() || woken_; });
  woken_ = false;
}

bool CpuMailbox::has_work() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !jobs_.empty();
}

}  // namespace softcpu
