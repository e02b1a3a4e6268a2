// Guest time and device timers. Guest time is in nanoseconds, starts at 0 and never goes
// back. By default it follows the host's monotonic clock while the machine runs (pause()
// freezes it, e.g. while a debugger holds the guest); tests switch it to manual time and
// advance it by hand. Timers fire on the CPU thread when the machine calls run_due().
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

  // Snapshots: guest time continues from `ns` (it may go back, to a saved machine's time);
  // timers keep their deadlines (devices re-arm theirs from their saved state).
  void restore_now(uint64_t ns);

  // The earliest armed deadline, or NEVER.
  uint64_t next_deadline() const;
  // Fire every timer whose deadline is <= now_ns(), in deadline order.
  void run_due();

 private:
  struct Timer {
    std::function<void(uint64_t)> fire;
    uint64_t deadline = NEVER;
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
