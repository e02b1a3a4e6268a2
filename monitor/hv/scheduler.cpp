#include "monitor/hv/scheduler.h"

#include <algorithm>

namespace softcpu::hv {

namespace {
// How long the ticker waits for a slice it ended to end before asking again.
constexpr auto kEndRetry = std::chrono::milliseconds(2);
}  // namespace

ProcessorSetScheduler::ProcessorSetScheduler(std::string set_name, unsigned threads,
                                             uint32_t slice_us)
    : set_(std::move(set_name)), threads_(std::max(threads, 1u)),
      slice_us_(slice_us ? slice_us : 10000) {
  for (unsigned k = 0; k < threads_; ++k) workers_.emplace_back([this, k] { worker_main(k); });
  ticker_ = std::thread([this] { ticker_main(); });
}

ProcessorSetScheduler::~ProcessorSetScheduler() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  work_cv_.notify_all();
  tick_cv_.notify_all();
  for (auto& t : workers_) t.join();  // no blocking() can add one now: nothing runs
  ticker_.join();
}

// Its slice in wall time: the slice is thread time, so a gang of W threads has a W-th of it
// on each (docs/design.md "SMP partitions on a processor set": a narrow partition behind a
// gang waited the gang's whole slice while the gang took every thread of the set).
std::chrono::microseconds ProcessorSetScheduler::slice_of(const Entry& e) const {
  const uint32_t us = e.vcpu.time_slice_us ? e.vcpu.time_slice_us : slice_us_;
  return std::chrono::microseconds(us / std::clamp(e.vcpu.threads, 1u, threads_));
}

void ProcessorSetScheduler::make_ready_locked(unsigned id, Entry& e) {
  e.state = State::READY;
  e.ready_at = std::chrono::steady_clock::now();
  ready_.push_back(id);
  work_cv_.notify_one();
}

void ProcessorSetScheduler::start(unsigned id, SchedulableVcpu vcpu,
                                  std::function<void(int)> on_stop) {
  join(id);  // the last run has left
  std::lock_guard lock(mu_);
  auto e = std::make_unique<Entry>();
  e->vcpu = std::move(vcpu);
  e->on_stop = std::move(on_stop);
  Entry& ref = *e;
  entries_[id] = std::move(e);
  make_ready_locked(id, ref);
}

void ProcessorSetScheduler::join(unsigned id) {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return !entries_.count(id); });
}

void ProcessorSetScheduler::wake(unsigned id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = *it->second;
  if (e.state == State::IDLE) make_ready_locked(id, e);
  else e.woken = true;
}

SliceStats ProcessorSetScheduler::usage(unsigned id) const {
  std::lock_guard lock(mu_);
  auto it = usage_.find(id);
  SliceStats u = it == usage_.end() ? SliceStats{} : it->second;
  auto e = entries_.find(id);
  if (e != entries_.end() && e->second->state == State::RUNNING)  // the slice so far
    u.cpu_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                   e->second->slice_start).count();
  return u;
}

void ProcessorSetScheduler::blocking(bool begin) {
  std::lock_guard lock(mu_);
  if (!begin) {
    --blocked_;
    return;
  }
  ++blocked_;
  if (workers_.size() < threads_ + blocked_) {
    const unsigned k = unsigned(workers_.size());
    workers_.emplace_back([this, k] { worker_main(k); });
  }
  work_cv_.notify_all();
}

// A partition wider than the set (a configuration the primary refused) still runs, alone.
unsigned ProcessorSetScheduler::width_of(unsigned id) const {
  return std::clamp(entries_.at(id)->vcpu.threads, 1u, threads_);
}

// Under mu_: do the ready partitions need more threads than the set has free? Only then must a
// running slice end; a ready partition that a free worker is about to take preempts nobody.
bool ProcessorSetScheduler::contended_locked() const {
  const unsigned capacity = threads_ + blocked_;
  unsigned wanted = 0;
  for (unsigned id : ready_) wanted += width_of(id);
  return !ready_.empty() && wanted > (capacity > running_ ? capacity - running_ : 0u);
}

void ProcessorSetScheduler::worker_main(unsigned) {
  std::unique_lock lock(mu_);
  for (;;) {
    // In order: the first ready partition waits for as many free threads as it takes (a
    // wide one is not passed over for ever by narrow ones).
    work_cv_.wait(lock, [&] {
      return quit_ ||
             (!ready_.empty() && running_ + width_of(ready_.front()) <= threads_ + blocked_);
    });
    if (quit_) return;
    const unsigned id = ready_.front();
    const unsigned width = width_of(id);
    running_ += width;
    ready_.pop_front();
    Entry& e = *entries_.at(id);  // stays until this thread erases it
    e.state = State::RUNNING;
    e.woken = false;
    const SteadyTime t0 = std::chrono::steady_clock::now();
    {
      SliceStats& u = usage_[id];
      const double waited = std::chrono::duration<double>(t0 - e.ready_at).count();
      u.wait_seconds += waited;
      u.max_wait_seconds = std::max(u.max_wait_seconds, waited);
    }
    e.slice_start = t0;
    e.slice_end = t0 + slice_of(e);
    // With others waiting for a thread the slice ends by itself at its time (the ticker may
    // wake late on a loaded host); otherwise it runs on until the ticker sees someone who
    // cannot get a thread.
    const SteadyTime end = contended_locked() ? e.slice_end : SteadyTime::max();
    tick_cv_.notify_one();
    lock.unlock();
    if (!e.begun) {
      e.vcpu.begin();
      e.begun = true;
    }
    const SliceResult r = e.vcpu.slice(end);
    const SteadyTime t1 = std::chrono::steady_clock::now();
    int status = 0;
    if (r.kind == SliceResult::STOPPED) {
      status = e.vcpu.end(r.status);
      e.on_stop(status);  // outside mu_: it takes the hypervisor's locks
    }
    lock.lock();
    const bool contended = contended_locked();  // someone waits for this thread
    running_ -= width;
    work_cv_.notify_all();  // places on the set are free (after an extra worker's turn)
    SliceStats& u = usage_[id];
    ++u.slices;
    u.cpu_seconds += std::chrono::duration<double>(t1 - t0).count();
    switch (r.kind) {
      case SliceResult::STOPPED:
        entries_.erase(id);
        done_cv_.notify_all();
        break;
      case SliceResult::PREEMPTED:
        if (contended) ++u.preemptions;  // else it just goes on
        make_ready_locked(id, e);
        break;
      case SliceResult::IDLE:
        ++u.idle_ends;
        if (e.woken) {  // something arrived meanwhile: look again at once
          make_ready_locked(id, e);
        } else {
          e.state = State::IDLE;
          e.wake_at = r.wake;
          tick_cv_.notify_one();
        }
        break;
    }
  }
}

// Ends the slices that are over while others wait (one alone runs on: its slice is extended)
// and queues idle partitions whose wake time has come.
void ProcessorSetScheduler::ticker_main() {
  std::unique_lock lock(mu_);
  while (!quit_) {
    const SteadyTime now = std::chrono::steady_clock::now();
    SteadyTime next = SteadyTime::max();
    for (auto& [id, ptr] : entries_) {
      Entry& e = *ptr;
      if (e.state == State::RUNNING) {
        if (e.slice_end <= now) {
          if (!contended_locked()) {  // nobody waits for a thread: it runs on
            e.slice_end = now + slice_of(e);
          } else {
            // Asked again after kEndRetry if the slice has not ended by then: a request made
            // while the worker was still starting the slice (begin(), which starts a gang's
            // vCPU threads) is forgotten when the machine's slice begins, and the gang then ran
            // on with the others waiting (seen under TSan: one 1.5 s slice).
            e.vcpu.end_slice();  // atomics only: fine under mu_
            e.slice_end = now + kEndRetry;
          }
        }
        next = std::min(next, e.slice_end);
      } else if (e.state == State::IDLE) {
        if (e.wake_at <= now) make_ready_locked(id, e);
        else next = std::min(next, e.wake_at);
      }
    }
    if (next == SteadyTime::max()) tick_cv_.wait(lock);
    else tick_cv_.wait_until(lock, next);
  }
}

}  // namespace softcpu::hv
