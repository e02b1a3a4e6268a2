#include "monitor/hv/scheduler.h"

#include <algorithm>

namespace softcpu::hv {

namespace {
// How long the ticker waits for a slice it ended to end before asking again.
constexpr auto kEndRetry = std::chrono::milliseconds(2);
// The shortest slice worth starting ahead of the first in line (it ends when that one could
// start; a shorter one would be mostly hand-over).
constexpr auto kMinPass = std::chrono::milliseconds(2);
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
  retime_locked();
}

// Under mu_, whenever the set's contention may have changed (a partition queued or started, a
// slice ended, a thread lent or taken back, a blocked thread): a running slice ends at its
// slice_end while a ready partition cannot get a thread (or when it was recalled), and has no
// end otherwise, as a partition alone on a thread. So a slice that began while others waited
// runs on once they have all started (say on a thread its gang lent), and one that began
// alone is timed as soon as someone waits for it, without waiting for the ticker.
void ProcessorSetScheduler::retime_locked() {
  const bool contended = contended_locked();
  for (auto& [id, ptr] : entries_) {
    Entry& e = *ptr;
    if (e.state != State::RUNNING) continue;
    const SteadyTime end = contended || e.recalled ? e.slice_end : SteadyTime::max();
    if (end == e.end_set) continue;
    e.end_set = end;
    if (e.vcpu.set_end) e.vcpu.set_end(end);  // atomics only: fine under mu_
  }
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

void ProcessorSetScheduler::recheck(unsigned id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second->vcpu.recheck_idle) return;
  Entry& e = *it->second;
  if (e.state != State::IDLE) {
    e.recheck = e.state == State::RUNNING;  // (a ready one runs anyway)
    return;
  }
  const SteadyTime at = e.vcpu.recheck_idle(std::chrono::steady_clock::now());
  if (at < e.wake_at) {
    e.wake_at = at;
    tick_cv_.notify_one();  // the ticker waits for the earliest wake time
  }
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
    retime_locked();
    return;
  }
  ++blocked_;
  if (workers_.size() < threads_ + blocked_) {
    const unsigned k = unsigned(workers_.size());
    workers_.emplace_back([this, k] { worker_main(k); });
  }
  work_cv_.notify_all();
  retime_locked();
}

void ProcessorSetScheduler::thread_use(unsigned id, bool idle) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second->state != State::RUNNING) return;
  Entry& e = *it->second;
  if (idle) {
    if (e.lent >= width_of(id)) return;
    ++e.lent;
    ++lent_;
    --running_;
    ++usage_[id].lends;
    work_cv_.notify_all();  // a thread is free for the others
    retime_locked();
    return;
  }
  if (!e.lent) return;
  --e.lent;
  --lent_;
  ++running_;
  // The vCPU runs at once (its gang's IPIs and spinlocks need it now); the set is over its
  // threads until a borrower's slice has ended.
  if (running_ > threads_ + blocked_) recall_one_locked(id);
  retime_locked();
}

// Under mu_: ends the slice of one partition that runs on a lent thread (or, if none is marked
// so, because the set's threads changed hands since, of the one that started last).
void ProcessorSetScheduler::recall_one_locked(unsigned lender) {
  Entry* pick = nullptr;
  for (auto& [id, ptr] : entries_) {
    Entry& e = *ptr;
    if (id == lender || e.state != State::RUNNING || e.recalled || e.lent) continue;
    if (!pick || (e.borrowed && !pick->borrowed) ||
        (e.borrowed == pick->borrowed && e.slice_start > pick->slice_start))
      pick = &e;
  }
  if (!pick) return;
  pick->recalled = true;
  pick->recalled_at = std::chrono::steady_clock::now();
  pick->slice_end = pick->recalled_at;  // the ticker asks again until it has ended
  pick->vcpu.end_slice();               // atomics only: fine under mu_
  tick_cv_.notify_one();
}

// Under mu_. In FIFO order the first ready partition starts when as many threads as it takes
// are free. When it cannot, a narrower one behind it that fits may start instead, but only
// until the time the first could start anyway (when enough running slices have ended: they end
// at their slice_end, since the first waiting makes the set contended), so the first is not
// delayed by it and cannot be passed over for ever.
int ProcessorSetScheduler::pick_locked(SteadyTime now, SteadyTime& end) const {
  end = SteadyTime::max();
  if (ready_.empty()) return -1;
  const unsigned capacity = threads_ + blocked_;
  const unsigned free = capacity > running_ ? capacity - running_ : 0;
  const unsigned first = width_of(ready_.front());
  if (first <= free) return 0;
  if (ready_.size() < 2 || !free) return -1;
  std::vector<std::pair<SteadyTime, unsigned>> ends;  // running slices: end, threads freed
  for (const auto& [id, ptr] : entries_)
    if (ptr->state == State::RUNNING) ends.emplace_back(ptr->slice_end, width_of(id) - ptr->lent);
  std::sort(ends.begin(), ends.end());
  unsigned got = free;
  SteadyTime at = now;
  for (const auto& [t, w] : ends) {
    if (got >= first) break;
    got += w;
    at = t;
  }
  if (got < first || at < now + kMinPass) return -1;
  for (size_t k = 1; k < ready_.size(); ++k)
    if (width_of(ready_[k]) <= free) {
      end = at;
      return int(k);
    }
  return -1;
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
    // In order, but a partition that fits may start ahead of a wider first one until that
    // one could start (pick_locked).
    int k = -1;
    SteadyTime pass_end{};
    work_cv_.wait(lock, [&] {
      return quit_ || (k = pick_locked(std::chrono::steady_clock::now(), pass_end)) >= 0;
    });
    if (quit_) return;
    const unsigned id = ready_[size_t(k)];
    const unsigned width = width_of(id);
    // Only free because a gang lent it: the gang takes it back when its vCPU wakes.
    const bool on_loan = running_ + lent_ + width > threads_ + blocked_;
    running_ += width;
    ready_.erase(ready_.begin() + k);
    Entry& e = *entries_.at(id);  // stays until this thread erases it
    e.state = State::RUNNING;
    e.woken = false;
    e.recheck = false;
    e.borrowed = on_loan;
    e.recalled = false;
    const SteadyTime t0 = std::chrono::steady_clock::now();
    {
      SliceStats& u = usage_[id];
      const double waited = std::chrono::duration<double>(t0 - e.ready_at).count();
      u.wait_seconds += waited;
      u.max_wait_seconds = std::max(u.max_wait_seconds, waited);
      if (k > 0) ++u.passes;
      if (on_loan) ++u.borrowed_slices;
    }
    e.slice_start = t0;
    e.slice_end = std::min(t0 + slice_of(e), pass_end);
    // With others waiting for a thread the slice ends by itself at its time (the ticker may
    // wake late on a loaded host); otherwise it runs on until someone cannot get a thread
    // (retime_locked, the ticker). One started ahead of the first in line has that one
    // waiting, so it ends at its time (pass_end) unless the first no longer waits.
    retime_locked();
    const SteadyTime end = e.end_set;
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
    running_ -= width - e.lent;
    lent_ -= e.lent;
    e.lent = 0;
    work_cv_.notify_all();  // places on the set are free (after an extra worker's turn)
    SliceStats& u = usage_[id];
    ++u.slices;
    if (r.empty) ++u.empty_slices;
    u.cpu_seconds += std::chrono::duration<double>(t1 - t0).count();
    if (e.recalled) {
      ++u.recalls;
      u.max_recall_seconds = std::max(
          u.max_recall_seconds, std::chrono::duration<double>(t1 - e.recalled_at).count());
    }
    e.recalled = e.borrowed = false;
    switch (r.kind) {
      case SliceResult::STOPPED:
        entries_.erase(id);
        done_cv_.notify_all();
        retime_locked();
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
          if (e.recheck)  // a deadline came closer while it ran (recheck)
            e.wake_at = std::min(e.wake_at, e.vcpu.recheck_idle(std::chrono::steady_clock::now()));
          tick_cv_.notify_one();
          retime_locked();
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
          if (!e.recalled && !contended_locked()) {  // nobody waits for a thread: it runs on
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
        if (e.wake_at <= now && e.vcpu.recheck_idle) e.wake_at = e.vcpu.recheck_idle(now);
        if (e.wake_at <= now) make_ready_locked(id, e);
        else next = std::min(next, e.wake_at);
      }
    }
    if (next == SteadyTime::max()) tick_cv_.wait(lock);
    else tick_cv_.wait_until(lock, next);
  }
}

}  // namespace softcpu::hv
