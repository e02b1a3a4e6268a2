// A vCPU of a threaded machine that another scheduler runs on its own threads (docs/design.md
// "A partition on both hypervisors"): the secondary hypervisor's workers run the vCPUs a
// partition of the primary gives it, while CPU 0 and the rest run on the primary's processor
// set. The loop is the application processor thread's (machine_threads.cpp), cut into slices.
#include "monitor/big_lock_assert.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "monitor/vcpu_sync.h"

namespace softcpu {

namespace {

// An idle slice's wake time when no kick or deadline comes first.
constexpr auto kExternalPoll = std::chrono::milliseconds(50);

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
  if (v.hooks.deadline && !has_external_) {
    has_external_ = true;
    // A disk completion may interrupt it while CPU 0's thread has no slice (host_io_news).
    mailbox_.set_post_listener([](void* m) { static_cast<Machine*>(m)->host_io_news(); }, this);
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

void Machine::publish_device_due() {
  SOFTCPU_ASSERT_BIG_LOCK();
  device_due_.store(cpu0_off_ ? steady_deadline(clock_.next_deadline()) : INT64_MAX,
                    std::memory_order_release);
}

// CPU 0's thread, at the edges of its slices (machine_threads.cpp), not holding the big lock.
void Machine::cpu0_slice_edge(bool off) {
  if (!has_external_) return;
  {
    std::lock_guard hold(bql_);
    cpu0_off_ = off;
    publish_device_due();
  }
  if (off) {
    for (auto& v : aps_)
      if (v->external && v->hooks.deadline) v->hooks.deadline();
    // Host I/O that came after this thread last served it: the split vCPUs serve it now.
    // (cpu0_off_ above and io_news_ here, io_news_ then cpu0_off_ in host_io_news: both
    // seq_cst, so one side or the other sees the news.)
    if (io_news_.load()) kick_split_vcpus();
  }
}

void Machine::host_io_news() {
  io_news_.store(true);
  std::lock_guard lock(io_mu_);
  if (cpu0_off_.load()) kick_split_vcpus();  // else CPU 0's thread serves it in its slice
}

// CPU 0's thread, from stop_ap_threads, no lock held: the run is over, no more kicks from
// host_io_news.
void Machine::end_external_io() {
  if (!has_external_) return;
  std::lock_guard hold(bql_);
  std::lock_guard lock(io_mu_);
  cpu0_off_ = false;
  publish_device_due();
}

void Machine::kick_split_vcpus() {
  for (size_t k = 0; k < aps_.size(); ++k)
    if (aps_[k]->external && aps_[k]->hooks.deadline) sync_->kick(unsigned(k + 1));
}

void Machine::serve_host_io() {
  SOFTCPU_ASSERT_BIG_LOCK();
  io_news_.store(false);  // before the drain: news from here on is served again
  mailbox_.drain();       // disk completions (with threads on, the box holds nothing else)
  platform_->poll();      // COM1's input
}

void Machine::fire_external_timers(Vcpu& v) {
  // Host I/O while CPU 0's thread has no slice (in a slice it serves it itself).
  const bool io = io_news_.load() && cpu0_off_.load();
  const int64_t due = std::min(v.timer_due.load(std::memory_order_acquire),
                               device_due_.load(std::memory_order_acquire));
  // (The clock is read only if a deadline is set.)
  if (!io && (due == INT64_MAX || due > steady_now_ns())) return;
  std::lock_guard hold(bql_);
  if (io) serve_host_io();  // (CPU 0's thread may have served it meanwhile: then nothing new)
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
      // At its next deadline at the latest (a deadline already past: at once, and the next
      // pass fires it).
      const auto due = std::chrono::steady_clock::time_point(
          std::chrono::nanoseconds(external_deadline(index)));
      out.wake = std::min(std::chrono::steady_clock::now() + kExternalPoll, due);
      break;
    }
    if (pass == ApPass::EXITED) {
      // Its I/O may have armed a device timer (CPU 0's thread off its slice does not see it).
      if (cpu0_off_.load(std::memory_order_acquire)) {
        std::lock_guard hold(bql_);
        publish_device_due();
      }
      // A device may have news for CPU 0's thread, which may be idle between its own slices.
      mailbox_.wake();
    }
  }
  VcpuSync::set_current(-1);
  platform_->set_current_cpu(0);
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
