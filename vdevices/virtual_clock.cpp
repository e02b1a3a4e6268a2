#include "vdevices/virtual_clock.h"

#include <time.h>

namespace softcpu {

VirtualClock::VirtualClock() { host_base_ = host_ns(); }

uint64_t VirtualClock::host_ns() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

uint64_t VirtualClock::now_ns() const {
  uint64_t t = icount_   ? skipped_ + (*icount_ << shift_)
               : manual_ ? manual_now_
               : paused_ ? frozen_
                         : host_ns() - host_base_;
  if (t < last_) t = last_;
  last_ = t;
  return t;
}

void VirtualClock::use_manual_time(uint64_t start_ns) {
  manual_ = true;
  manual_now_ = start_ns;
  last_ = start_ns;
}

void VirtualClock::advance_to(uint64_t ns) {
  for (;;) {
    // Stop at each deadline on the way so a timer sees the time it asked for.
    uint64_t next = next_deadline();
    if (next > ns) break;
    if (next > manual_now_) manual_now_ = next;
    run_due();
  }
  if (ns > manual_now_) manual_now_ = ns;
}

void VirtualClock::use_instruction_time(const uint64_t* icount, unsigned shift) {
  // From manual time, continue from it; from host time, start at 0 (the host's reading so
  // far would make every run start at a different time).
  const uint64_t now = manual_ ? now_ns() : 0;
  last_ = now;
  icount_ = icount;
  shift_ = shift;
  const uint64_t counted = *icount << shift;
  skipped_ = now > counted ? now - counted : 0;
  manual_ = false;
  paused_ = false;
}

uint64_t VirtualClock::icount_at(uint64_t ns) const {
  const uint64_t now = now_ns();
  if (ns <= now) return *icount_;
  const uint64_t unit = uint64_t(1) << shift_;
  const uint64_t ahead = ns - now;
  return *icount_ + ahead / unit + (ahead % unit != 0);
}

void VirtualClock::skip_to(uint64_t ns) {
  const uint64_t now = now_ns();
  if (ns > now) skipped_ += ns - now;
}

void VirtualClock::pause() {
  if (manual_ || icount_ || paused_) return;
  frozen_ = now_ns();
  paused_ = true;
}

void VirtualClock::resume() {
  if (manual_ || icount_ || !paused_) return;
  host_base_ = host_ns() - frozen_;
  paused_ = false;
}

void VirtualClock::restore_now(uint64_t ns) {
  manual_now_ = ns;
  frozen_ = ns;
  host_base_ = host_ns() - ns;
  last_ = ns;
}

VirtualClock::TimerId VirtualClock::create_timer(std::function<void(uint64_t)> fire) {
  timers_.push_back(Timer{std::move(fire), NEVER});
  return TimerId(timers_.size() - 1);
}

void VirtualClock::arm(TimerId id, uint64_t deadline_ns) { timers_[id].deadline = deadline_ns; }

void VirtualClock::cancel(TimerId id) { timers_[id].deadline = NEVER; }

uint64_t VirtualClock::next_deadline(uint64_t skip) const {
  uint64_t next = NEVER;
  for (const Timer& t : timers_)
    if (t.deadline < next && !(skip & owner_bit(t.owner))) next = t.deadline;
  return next;
}

void VirtualClock::run_due() {
  const uint64_t now = now_ns();
  for (;;) {
    Timer* due = nullptr;
    for (Timer& t : timers_)
      if (t.deadline <= now && (!due || t.deadline < due->deadline)) due = &t;
    if (!due) return;
    due->deadline = NEVER;  // one shot: the callback may re-arm
    due->fire(now);
  }
}

}  // namespace softcpu
