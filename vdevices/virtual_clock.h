// Guest time and device timers. Guest time is in nanoseconds, starts at 0 and never goes
// back. By default it follows the host's monotonic clock while the machine runs (pause()
// freezes it, e.g. while a debugger holds the guest); tests switch it to manual time and
// advance it by hand; deterministic runs (--deterministic) switch it to instruction time,
// where it follows the count of retired instructions and never reads the host clock.
// Timers fire on the CPU thread when the machine calls run_due().
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "hostio/state_stream.h"

namespace softcpu {

class VirtualClock {
 public:
  using TimerId = unsigned;
  static constexpr uint64_t NEVER = UINT64_MAX;

  VirtualClock();

  uint64_t now_ns() const;

  // Manual time (unit tests, deterministic runs): now_ns() returns what was set.
  void use_manual_time(uint64_t start_ns = 0);
  // Manual time only: move time forward to `ns` (never back), firing due timers on the way.
  void advance_to(uint64_t ns);
  void advance_by(uint64_t ns) { advance_to(now_ns() + ns); }

  // Instruction time (--deterministic, --icount SHIFT): guest time = 2^shift ns per retired
  // instruction (*icount, the CPU's counter) plus the time skipped by skip_to(). Readings
  // continue from manual time, or start at 0 from host time.
  void use_instruction_time(const uint64_t* icount, unsigned shift);
  bool instruction_time() const { return icount_ != nullptr; }
  unsigned icount_shift() const { return shift_; }
  // Instruction time only: the instruction count at which guest time reaches `ns` (the
  // current count if it has), so the run loop can stop exactly at a timer's deadline.
  uint64_t icount_at(uint64_t ns) const;
  // Instruction time only: the CPU is idle (HLT); jump guest time forward to `ns` without
  // retiring instructions (QEMU's icount with sleep=off). Timers are not fired here.
  void skip_to(uint64_t ns);
  uint64_t skipped_ns() const { return skipped_; }

  // Host time only: stop and restart the clock (time spent paused is not guest time).
  void pause();
  void resume();

  // A timer calls `fire(now_ns)` once per arm() when guest time reaches its deadline.
  // Periodic devices re-arm from the callback.
  TimerId create_timer(std::function<void(uint64_t now_ns)> fire);
  void arm(TimerId id, uint64_t deadline_ns);
  void cancel(TimerId id);
  bool armed(TimerId id) const { return timers_[id].deadline != NEVER; }
  uint64_t deadline(TimerId id) const { return timers_[id].deadline; }

  // Whose a timer is, for next_deadline(skip): 0 (the default) the machine's devices (PIT,
  // HPET, RTC, ...), k + 1 CPU k's own (its local APIC timer). A machine whose vCPUs are run by
  // different schedulers asks each for the deadlines it meets (docs/design.md "A partition on
  // both hypervisors"). Owners past 63 share bit 63 of a skip set.
  void set_owner(TimerId id, unsigned owner) { timers_[id].owner = owner; }
  static constexpr uint64_t owner_bit(unsigned owner) { return 1ull << (owner < 63 ? owner : 63); }
  static constexpr uint64_t CPU_OWNERS = ~uint64_t(1);  // every CPU's timers, no device's (owner 0)

  // Snapshots: guest time continues from `ns` (it may go back, to a saved machine's time);
  // timers keep their deadlines (devices re-arm theirs from their saved state).
  void restore_now(uint64_t ns);

  // The earliest armed deadline, or NEVER; `skip`: not of the timers whose owner_bit is in it.
  uint64_t next_deadline(uint64_t skip = 0) const;
  // Fire every timer whose deadline is <= now_ns(), in deadline order.
  void run_due();

 private:
  struct Timer {
    std::function<void(uint64_t)> fire;
    uint64_t deadline = NEVER;
    unsigned owner = 0;  // set_owner
  };
  uint64_t host_ns() const;

  std::vector<Timer> timers_;
  bool manual_ = false;
  uint64_t manual_now_ = 0;
  // Host mode: guest time = host_ns() - host_base_ while running; frozen_ while paused.
  uint64_t host_base_ = 0;
  bool paused_ = false;
  uint64_t frozen_ = 0;
  mutable uint64_t last_ = 0;  // guarantees monotonic readings
  // Instruction time: now = skipped_ + (*icount_ << shift_).
  const uint64_t* icount_ = nullptr;
  unsigned shift_ = 0;
  uint64_t skipped_ = 0;
};

// Snapshots: a device timer as its deadline (NEVER: not armed); loading re-arms or cancels it.
inline void state_timer(StateWriter& w, VirtualClock& clock, VirtualClock::TimerId id) {
  w(clock.deadline(id));
}
inline void state_timer(StateReader& r, VirtualClock& clock, VirtualClock::TimerId id) {
  uint64_t deadline = 0;
  r(deadline);
  if (deadline == VirtualClock::NEVER) clock.cancel(id); else clock.arm(id, deadline);
}

}  // namespace softcpu
