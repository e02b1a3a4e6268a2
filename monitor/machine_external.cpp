// A vCPU of a threaded machine that another scheduler runs on its own threads (docs/design.md
// "A partition on both hypervisors"): the secondary hypervisor's workers run the vCPUs a
// partition of the primary gives it, while CPU 0 and the rest run on the primary's processor
// set. The loop is the application processor thread's (machine_threads.cpp), cut into slices.
#include "interp/interrupts.h"
#include "monitor/big_lock_assert.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "monitor/vcpu_sync.h"

namespace softcpu {

namespace {

// An idle slice's wake time, when no kick or deadline comes first, of a processor whose kicks
// call no wake hook (a thin partition's, secondary.cpp add_processor).
constexpr auto kExternalPoll = std::chrono::milliseconds(50);
// How long after a device deadline CPU 0's idle thread leaves it to a split vCPU's worker
// (recheck_idle): that worker spins to it and fires it within microseconds when it runs.
constexpr int64_t kDeviceGraceNs = 200000;

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Machine::set_external_vcpu(unsigned index, ExternalVcpu hooks) {
  if (!sync_ || index == 0 || index > aps_.size())
    throw ConfigError{"vCPU " + std::to_string(index) + " cannot be scheduled outside the "
                      "machine: it needs an application processor of a machine with threads "
                      "on (vcpu_threads = \"multi\")"};
  Vcpu& v = *aps_[index - 1];
  v.hooks = std::move(hooks);
  // Its scheduler meets its deadlines (a split vCPU of the secondary's; not a thin partition's
  // processor, whose guest has no timers of this kind).
  if (v.hooks.deadline) {
    // CPU 0's thread does not wait for its APIC timer (idle_wake). (Each CPU's own bit.)
    static_assert(kMaxCpus < 63, "VirtualClock::owner_bit shares bit 63 between owners");
    split_timers_ |= VirtualClock::owner_bit(index + 1);
    if (!has_external_) {
      has_external_ = true;
      // A disk completion may be for it while CPU 0's thread has no slice (host_io_news), which
      // then wakes the primary (the wake hook) only if it is for CPU 0.
      mailbox_.set_post_listener([](void* m) { static_cast<Machine*>(m)->host_io_news(); }, this);
    }
  }
  if (!v.external) {
    v.external = true;
    sync_->set_free(index);
    // Its APIC timer is met by its own scheduler (run_external_slice), not by CPU 0's thread,
    // which may be off its slice or asleep for up to kCpu0IdleCap (machine_threads.cpp).
    platform_->set_apic_timer_observer(index, [this, &v, index](uint64_t deadline) {
      const int64_t due = steady_deadline(deadline);
      if (due >= v.timer_due.exchange(due, std::memory_order_acq_rel) || !v.hooks.deadline) return;
      // Armed by the vCPU itself: its scheduler hears of it after the pass, and only if the
      // vCPU goes on running (an idle end carries the deadline as its wake time). A poke here
      // woke the secondary's real-time timer thread, which took the core from this one.
      if (VcpuSync::current() == int(index)) v.deadline_moved = true;
      else v.hooks.deadline();
    });
  }
}

// (Also from a reset of the stopped machine, which holds no lock: the APIC's observer.)
int64_t Machine::steady_deadline(uint64_t deadline_ns) {
  if (deadline_ns == VirtualClock::NEVER) return INT64_MAX;
  const uint64_t now = clock_.now_ns();
  return steady_now_ns() + int64_t(deadline_ns > now ? deadline_ns - now : 0);
}

std::chrono::steady_clock::time_point Machine::recheck_idle() const {
  const int64_t own = own_wake_.load(std::memory_order_relaxed);
  const int64_t device = device_due_.load(std::memory_order_acquire);
  const int64_t at = device == INT64_MAX ? own : std::min(own, device + kDeviceGraceNs);
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(at));
}

void Machine::publish_device_due() {
  SOFTCPU_ASSERT_BIG_LOCK();
  // The devices' timers only: each CPU's own (its local APIC timer) is met by its scheduler
  // (CPU 0's and the other threads' of the machine by the primary's idle wake, a split
  // vCPU's by its timer_due).
  const int64_t due =
      cpu0_off_ ? steady_deadline(clock_.next_deadline(VirtualClock::CPU_OWNERS)) : INT64_MAX;
  const int64_t before = device_due_.exchange(due, std::memory_order_acq_rel);
  // Closer than before while CPU 0's thread is off its slice: a split vCPU (or the loop
  // thread's host I/O) armed it, and CPU 0's idle wake time, which has no 50 ms look any more
  // (machine_threads.cpp), was computed without it: its scheduler looks again (recheck_idle),
  // so one that the split vCPU's worker does not meet is still served by CPU 0's thread
  // kDeviceGraceNs late. (CPU 0's own slice edge publishes before the slice's idle end
  // reaches the scheduler, which then keeps the request for that end: Scheduler::recheck.)
  if (due < before && recheck_hook_) recheck_hook_(recheck_ctx_);
}

void Machine::tell_split_deadlines() {
  for (auto& v : aps_)
    if (v->external && v->hooks.deadline) v->hooks.deadline();
}

// CPU 0's thread, at the edges of its slices (machine_threads.cpp), not holding the big lock.
void Machine::cpu0_slice_edge(bool off) {
  if (!has_external_) return;
  bool for_cpu0 = false;
  {
    std::lock_guard hold(bql_);
    cpu0_off_ = off;
    // Host I/O that came after this thread last served it (host_io_news saw it in a slice):
    // served now, what it raises kicks whom it is for. (cpu0_off_ stored, then io_news_ read
    // here; io_news_ stored, then cpu0_off_ read in host_io_news; all seq_cst: one side or the
    // other serves it.) An interrupt for CPU 0 kicks nobody on its own thread: looked at here.
    if (off && io_news_.load()) {
      serve_host_io();
      for_cpu0 = cpu_interrupt_deliverable(cpu_);
    }
    publish_device_due();
  }
  if (off) {
    tell_split_deadlines();
    if (for_cpu0) mailbox_.wake();  // the primary runs the partition again
  }
}

void Machine::host_io_news() {
  io_news_.store(true);
  // (A failed disk request's completion is posted by the thread that issued it, under the big
  // lock: CPU 0's thread serves it.)
  if (bql_.held_by_me()) {
    mailbox_.wake();
    return;
  }
  if (cpu0_off_.load()) {
    std::lock_guard hold(bql_);
    if (cpu0_off_.load()) {  // (end_external_io clears it under the big lock at the run's end)
      const int64_t due = device_due_.load(std::memory_order_relaxed);
      serve_host_io();
      publish_device_due();
      if (device_due_.load(std::memory_order_relaxed) < due) tell_split_deadlines();
      return;
    }
  }
  mailbox_.rouse();  // CPU 0's thread serves it in its slice (it may sleep in an idle wait)
}

// CPU 0's thread, from stop_ap_threads, no lock held: the run is over, host_io_news serves no
// more (no kick from it reaches a split vCPU's hooks after their stop).
void Machine::end_external_io() {
  if (!has_external_) return;
  std::lock_guard hold(bql_);
  cpu0_off_ = false;
  publish_device_due();
}

void Machine::serve_host_io() {
  SOFTCPU_ASSERT_BIG_LOCK();
  io_news_.store(false);  // before the drain: news from here on is served again
  mailbox_.drain();       // disk completions (with threads on, the box holds nothing else)
  platform_->poll();      // COM1's input
}

void Machine::fire_external_timers(Vcpu& v) {
  const int64_t due = std::min(v.timer_due.load(std::memory_order_acquire),
                               device_due_.load(std::memory_order_acquire));
  // (The clock is read only if a deadline is set.)
  if (due == INT64_MAX || due > steady_now_ns()) return;
  std::lock_guard hold(bql_);
  clock_.run_due();  // (CPU 0's thread may have fired them meanwhile: then nothing is due)
  publish_device_due();
}

void Machine::start_external_vcpu(unsigned index) {
  aps_.at(index - 1)->wait_for_sipi = false;
}

void Machine::set_hypercall_handler(unsigned index, HypercallHandler* handler) {
  if (index == 0) hypercalls_ = handler;
  else aps_.at(index - 1)->hypercalls = handler;
}

void Machine::kick(unsigned index) {
  if (index == 0 || !sync_) kick();
  else sync_->kick(index);
}

void Machine::end_external_slice(unsigned index) {
  aps_.at(index - 1)->external_end.store(true, std::memory_order_release);
  sync_->kick(index);
}

Machine::SliceEnd Machine::run_external_slice(unsigned index,
                                              const std::function<void()>& after_pass) {
  Vcpu& v = *aps_.at(index - 1);
  // The scheduler's threads run other machines too: these are thread-locals, set for the slice
  // and put back to a lone CPU 0's values after it.
  VcpuSync::set_current(int(index));
  platform_->set_current_cpu(index);
  SliceEnd out{SliceEnd::PREEMPTED, 0, {}};
  const uint64_t icount0 = v.cpu.icount;
  for (;;) {
    if (threads_stop_.load()) {
      out.kind = SliceEnd::STOPPED;
      break;
    }
    if (v.external_end.exchange(false, std::memory_order_acq_rel)) break;  // PREEMPTED
    fire_external_timers(v);
    const ApPass pass = ap_pass(index, out.status);
    if (after_pass) after_pass();
    if (v.deadline_moved) {
      v.deadline_moved = false;
      if (pass != ApPass::IDLE && pass != ApPass::STOP && v.hooks.deadline) v.hooks.deadline();
    }
    if (pass == ApPass::STOP) {  // the run ends, or the machine must (CPU 0's thread ends it)
      out.kind = SliceEnd::STOPPED;
      break;
    }
    if (pass == ApPass::IDLE) {  // a kick from here on calls the wake hook
      out.kind = SliceEnd::IDLE;
      // At its next deadline (a deadline already past: at once, and the next pass fires it).
      // With none, a split vCPU waits for a kick: no look every 50 ms (the AP thread's
      // kApWait), since all that is its own reaches it without one: an interrupt, an IPI,
      // INIT/SIPI, work posted to it, an exclusive section and the run's end kick it
      // (VcpuSync::kick calls hooks.wake), a timer of its own moves timer_due and a device's
      // device_due_, each told through hooks.deadline. docs/design.md "A partition on both
      // hypervisors".
      const int64_t due = external_deadline(index);
      out.wake = due == INT64_MAX ? std::chrono::steady_clock::time_point::max()
                                  : std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due));
      if (!v.hooks.wake)
        out.wake = std::min(out.wake, std::chrono::steady_clock::now() + kExternalPoll);
      break;
    }
    if (pass == ApPass::EXITED) {
      // Its I/O may have armed a device timer (CPU 0's thread off its slice does not see it).
      if (cpu0_off_.load(std::memory_order_acquire)) {
        std::lock_guard hold(bql_);
        publish_device_due();
      }
      // A device timer it armed: CPU 0's thread, asleep in its slice, looks at its wake time
      // again (off its slice, it waits for nothing of the devices': device_due_ above). An
      // interrupt it raised for CPU 0 kicked CPU 0 already, which also queues the partition.
      if (cpu0_idle_.load(std::memory_order_relaxed)) mailbox_.rouse();
    }
  }
  VcpuSync::set_current(-1);
  platform_->set_current_cpu(0);
  out.empty = v.cpu.icount == icount0;  // woken for nothing of its own
  return out;
}

uint64_t Machine::monitor_exits(unsigned index) const {
  if (index == 0) return monitor_exits();
  const Vcpu& v = *aps_.at(index - 1);
  uint64_t n = 0;
  for (unsigned r = EXIT_IO; r < EXIT_COUNT; ++r) n += v.exits[r];
  return n;
}

uint64_t Machine::interrupts_delivered(unsigned index) const {
  if (index == 0) return interrupts_delivered();
  return aps_.at(index - 1)->interp->counters().interrupts;
}

}  // namespace softcpu
