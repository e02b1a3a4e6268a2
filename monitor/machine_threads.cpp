// --accel tcg,thread=multi: the machine's CPUs on parallel host threads (docs/design.md "SMP
// vCPUs on host threads"; QEMU's MTTCG). CPU 0 runs on the thread that calls run(), which
// also services the devices (timers, host I/O, the serial port); CPUs 1..N-1 each on a thread
// of their own. Device models stay single-threaded behind the big lock (bql_).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <optional>

#include "interp/interrupts.h"
#include "interp/segments.h"
#include "monitor/hypercall.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "monitor/script_runner.h"
#include "monitor/vcpu_sync.h"

namespace softcpu {

namespace {

// Instructions a vCPU runs between looks at its work queue, exit and stop requests (a kick
// ends a run sooner).
constexpr uint64_t kThreadBudget = 100000;
// Longest sleep of a waiting vCPU thread (a kick wakes it at once).
constexpr auto kApWait = std::chrono::milliseconds(50);
// Longest sleep of CPU 0's thread while another CPU runs: a timer another CPU armed through
// the APIC page while this thread slept fires at most this late.
constexpr auto kCpu0IdleCap = std::chrono::milliseconds(2);

}  // namespace

void Machine::setup_threads() {
  sync_ = std::make_unique<VcpuSync>(*mem_);
  mem_->track_code_per_cpu(config_.cpus);
  mem_->set_device_lock(&bql_);
  interp_->set_attention(&kicked_);
  sync_->add_cpu(cpu_, &kicked_, [this] { mailbox_.wake(); });
  for (auto& v : aps_) {
    v->interp->set_attention(&v->kicked);
    // A vCPU another scheduler runs (machine_external.cpp) is woken through it.
    sync_->add_cpu(v->cpu, &v->kicked, [this, vp = v.get()] {
      if (vp->external) {
        if (vp->hooks.wake) vp->hooks.wake();
      } else if (cpu0_off_.load()) {
        // Held with CPU 0 between the primary's slices (a partition that has a split vCPU,
        // whose thread or the loop thread raised something for this one): the primary runs
        // them again (as CPU 0's own kick does).
        mailbox_.wake();
      }
    });
  }
  auto wrap = [this](Cpu& c) {
    locked_acks_.push_back(std::make_unique<LockedAcknowledge>(c.intc, bql_));
    cpu_set_interrupt_controller(c, locked_acks_.back().get());
  };
  wrap(cpu_);
  for (auto& v : aps_) wrap(v->cpu);
  platform_->set_threaded(
      [this](unsigned k) {
        // A CPU's own thread needs no kick: the run loop looks at Cpu::events.
        if (int(k) != VcpuSync::current()) sync_->kick(k);
      },
      [this](const std::function<void(Cpu&)>& fn, bool reset_drops) {
        sync_->each(fn, reset_drops ? VcpuSync::Work::DROPPED_BY_RESET
                                    : VcpuSync::Work::KEPT_BY_RESET);
      });
}

// CPU 0's thread only.
void Machine::reset_exclusive(unsigned index) {
  sync_->start_exclusive(index, false);
  {
    std::lock_guard hold(bql_);
    system_reset();
  }
  sync_->end_exclusive(index, false);
}

bool Machine::finish_exit_threaded(unsigned index, Cpu& c, uint64_t& tsc_offset, ExitReason r,
                                   int& status) {
  bool reset = false;
  {
    std::lock_guard hold(bql_);
    const bool ok = r != EXIT_TRIPLE_FAULT &&
                    (!(r >= EXIT_IO && r <= EXIT_HLT) || run_trapped(c, tsc_offset, index));
    if (!ok) {
      if (index) std::fprintf(stderr, "softcpu: CPU %u:\n", index);
      report_triple_fault(c);
      if (!config_.reset_on_triple_fault) {
        status = 3;
        request_exit(3);
        return false;
      }
      std::fprintf(stderr, "softcpu: resetting the machine (--on-triple-fault=reset)\n");
      reset_requested_ = true;
      if (index) aps_[index - 1]->wait_for_sipi = true;  // it runs nothing more until the reset
    }
    reset = reset_requested_;
  }
  // The reset is CPU 0's thread's to do (it reads its CPU outside the big lock): another CPU
  // kicks it, and it resets at its next pass (run_threads), with every CPU out of guest code.
  if (reset) {
    if (index == 0) reset_exclusive(0);
    else sync_->kick(0);
  }
  return true;
}

// One pass of application processor `index` on the calling thread (its own, or the scheduler's
// that runs it: machine_external.cpp). From exec_start to exec_end this thread alone touches
// its CPU; outside, an exclusive section (a reset on CPU 0's thread) may.
Machine::ApPass Machine::ap_pass(unsigned index, int& status) {
  Vcpu& v = *aps_[index - 1];
  Cpu& c = v.cpu;
  sync_->exec_start(index);
  if (threads_stop_.load()) {  // released from a hold to end
    sync_->exec_end(index);
    return ApPass::STOP;
  }
  sync_->begin_pass(index);
  if (v.wait_for_sipi || (c.halted && !cpu_interrupt_deliverable(c))) {
    v.halted_for_good = v.wait_for_sipi || !(c.eflags & IF);
    if (!v.external) report_thread_use(v.lent, true);  // inside the slice: CPU 0 holds us after
    sync_->exec_end(index);
    return ApPass::IDLE;
  }
  v.halted_for_good = false;
  if (!v.external) report_thread_use(v.lent, false);  // before guest code: the set takes it back
  const ExitReason r = v.interp->run(kThreadBudget);
  ++v.exits[r];
  // A thin partition's processor (set_hypercall_handler(index, ...)): its hypercall (outside
  // the big lock) and the handler's poll run before exec_end, where no exclusive section (a
  // reset, the primary's jobs on CPU 0's side) touches this CPU. No hypercall waits for one.
  HypercallHandler* hc = v.hypercalls;
  const bool vmcall = r == EXIT_VMCALL && hc;
  if (vmcall) hypercall_threaded(c, *hc);
  const bool go_on = r == EXIT_REQUEST || r == EXIT_BUDGET || vmcall ||
                     finish_exit_threaded(index, c, v.tsc_offset, r, status);
  if (go_on && hc) hc->poll(c);
  sync_->exec_end(index);
  if (!go_on) return ApPass::STOP;
  // An external vCPU's HLT has no news for CPU 0's thread (which does not wait for it either).
  const bool quiet = r == EXIT_REQUEST || r == EXIT_BUDGET || vmcall || (v.external && r == EXIT_HLT);
  return quiet ? ApPass::RAN : ApPass::EXITED;
}

void Machine::hypercall_threaded(Cpu& c, HypercallHandler& handler) {
  c.exit_reason = EXIT_NONE;
  ++c.icount;  // retired, as execute_trapped counts the instructions it runs
  handler.hypercall(c);
}

void Machine::ap_thread(unsigned index) {
  VcpuSync::set_current(int(index));
  platform_->set_current_cpu(index);
  Vcpu& v = *aps_[index - 1];
  int status = 0;
  while (!threads_stop_.load()) {
    const ApPass pass = ap_pass(index, status);
    if (pass == ApPass::STOP) break;
    if (pass == ApPass::IDLE) {
      v.waiting = true;
      if (!threads_stop_.load()) sync_->wait(index, kApWait);
      v.waiting = false;
      continue;
    }
    if (pass == ApPass::EXITED && cpu0_idle_.load(std::memory_order_relaxed))
      mailbox_.wake();  // a device may have news for CPU 0's thread
  }
}

void Machine::start_ap_threads() {
  threads_stop_ = false;
  sync_->hold(true);  // nothing runs before the first slice (none of them runs yet)
  for (size_t k = 0; k < aps_.size(); ++k)
    if (!aps_[k]->external)
      aps_[k]->thread = std::thread([this, k] { ap_thread(unsigned(k + 1)); });
  for (auto& v : aps_)  // their scheduler runs them from now on (machine_external.cpp)
    if (v->external && v->hooks.start) v->hooks.start();
}

void Machine::stop_ap_threads() {
  threads_stop_ = true;
  sync_->hold(false);  // a held thread leaves exec_start and sees the stop
  for (unsigned k = 1; k <= aps_.size(); ++k) sync_->kick(k);
  for (auto& v : aps_)
    if (v->thread.joinable()) v->thread.join();
  end_external_io();
  for (auto& v : aps_)
    if (v->external && v->hooks.stop) v->hooks.stop();
}

bool Machine::any_ap_runnable() const {
  for (size_t k = 0; k < aps_.size(); ++k) {
    const Vcpu& v = *aps_[k];
    if (v.external) continue;  // not held; its own scheduler runs it
    if (sync_->has_work(unsigned(k + 1))) return true;
    if (!v.wait_for_sipi && !(v.cpu.halted && !cpu_interrupt_deliverable(v.cpu))) return true;
  }
  return false;
}

void Machine::run_cpu_jobs_held() {
  if (!cpu_jobs_pending_.exchange(false)) return;
  if (std::any_of(aps_.begin(), aps_.end(), [](const auto& v) { return v->external; })) {
    // A vCPU of another scheduler is not held: every CPU out of guest code, as for a reset.
    sync_->start_exclusive(0, false);
    run_cpu_jobs();
    sync_->end_exclusive(0, false);
    return;
  }
  sync_->hold(true);
  run_cpu_jobs();
  sync_->hold(false);
}

// CPU 0's loop with threads on: between two of its runs it services the devices (under the
// big lock) for every CPU. `sliced` (a processor set): it returns PREEMPTED at end_slice() or
// at the slice's end (set_slice_end), IDLE when every CPU is halted with nothing to deliver
// (CPUs 1..N-1 are held then, as between any two slices), STOPPED when the run is over (the
// threads joined).
Machine::SliceEnd Machine::run_slice_threads(bool sliced) {
  // The set's worker threads take turns: this one is CPU 0's for the slice.
  VcpuSync::set_current(0);
  platform_->set_current_cpu(0);
  const std::chrono::steady_clock::time_point* deadline =
      rs_.has_deadline ? &rs_.deadline : nullptr;
  if (sliced) slice_over_.store(false, std::memory_order_relaxed);
  // A slice starts with every vCPU on its thread (the set counts the gang's whole width); the
  // others are held since the last slice's end (before run_cpu_jobs_held, which releases them:
  // TSan saw that race), so their flags are ours. One whose thread sleeps with nothing to run
  // lends it at once (else only when its sleep ends, up to kApWait into the slice); if it has
  // work after all, it takes the thread back before it runs. (These reports are made on this
  // thread, CPU 0's, for the others.)
  cpu0_lent_ = false;
  for (auto& v : aps_) {
    v->lent = false;
    if (sliced && !v->external && v->waiting.load()) report_thread_use(v->lent, true);
  }
  run_cpu_jobs_held();
  cpu0_slice_edge(false);  // this thread services the devices again (external vCPUs)
  sync_->hold(false);  // the other CPUs run while this slice does
  SliceEnd out{SliceEnd::STOPPED, 0, {}};
  int status = 0;
  for (;;) {
    take_stop_signal();
    if (int requested = exit_status_.load(); requested >= 0) {
      status = requested;
      break;
    }
    if (deadline && std::chrono::steady_clock::now() >= *deadline) {
      std::fprintf(stderr, "softcpu: timeout after %g seconds; stopping the guest at %04x:%08x\n",
                   *config_.timeout_seconds, cpu_.seg[CS].selector, cpu_.eip);
      status = 124;
      break;
    }
    if (sliced && (slice_over_.load(std::memory_order_relaxed) || slice_ended())) {
      out.kind = SliceEnd::PREEMPTED;
      break;
    }
    uint64_t budget = kThreadBudget;
    // --insn-limit counts CPU 0, as with one thread.
    if (config_.insn_limit &&
        !within_insn_limit(cpu_.icount - rs_.icount_start, budget, status))
      break;
    sync_->begin_pass(0);
    run_cpu_jobs_held();
    bool reset = false;
    {
      std::lock_guard hold(bql_);
      service_devices();
      reset = reset_requested_;
    }
    if (reset) {  // a device asked (from a host callback, or another CPU's I/O), or a triple fault
      reset_exclusive(0);
      continue;
    }
    if (cpu_.halted && !cpu_interrupt_deliverable(cpu_)) {
      bool others_done = true, others_waiting = true;
      for (auto& v : aps_) {
        others_done = others_done && v->halted_for_good;
        // One another scheduler runs does not keep this thread: it is not held either.
        others_waiting = others_waiting && (v->halted_for_good || v->waiting || v->external);
      }
      if (!(cpu_.eflags & IF) && others_done) {
        std::fprintf(stderr, "softcpu: guest halted with interrupts disabled at %04x:%08x; "
                     "stopping\n", cpu_.seg[CS].selector, cpu_.eip);
        powered_off_ = true;
        status = 0;
        break;
      }
      if (sliced && others_waiting) {
        // Every CPU halted: the set's thread is not spent waiting. Hold the others, look
        // again (an interrupt may have reached one meanwhile), and give the thread up.
        sync_->hold(true);
        if (!any_ap_runnable() && !mailbox_.has_work() && !cpu_jobs_pending_.load()) {
          ++idle_waits_;
          SliceEnd idle{SliceEnd::IDLE, 0, {}};
          {
            std::lock_guard hold(bql_);
            const auto until = deadline ? std::optional(*deadline) : std::nullopt;
            // With a split vCPU no look every kIdleSleep: what is CPU 0's reaches it without
            // one (its deadlines are in the wake time; an interrupt for it, a job, an exit or
            // a reset request kicks it, i.e. wakes the mailbox, which queues the partition;
            // host I/O is served while it is off its slice, host_io_news; a device deadline a
            // split vCPU arms meanwhile re-times it, publish_device_due). docs/design.md
            // "Waking the primary only for what is its".
            idle.wake = idle_wake(until, true, !has_external_);
            if (has_external_)  // (machine_external.cpp, recheck_idle)
              own_wake_.store(idle_wake(until, false, false).time_since_epoch().count(),
                              std::memory_order_relaxed);
          }
          cpu0_slice_edge(true);  // external vCPUs meet the device deadlines meanwhile
          return idle;
        }
        sync_->hold(false);
        continue;
      }
      // As idle(): until the next device timer, host input, a kick or the deadline.
      auto wake = std::chrono::steady_clock::now() +
                  (others_done ? std::chrono::milliseconds(50) : kCpu0IdleCap);
      {
        std::lock_guard hold(bql_);
        const uint64_t next = clock_.next_deadline(split_timers_);  // (as idle_wake)
        if (next != VirtualClock::NEVER) {
          const uint64_t now = clock_.now_ns();
          wake = std::min(wake, std::chrono::steady_clock::now() +
                                    std::chrono::nanoseconds(next > now ? next - now : 0));
        }
        if (script_)
          wake = std::min(wake, std::chrono::steady_clock::now() +
                                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(std::min(script_->wake_in(), 1.0))));
      }
      if (deadline) wake = std::min(wake, *deadline);
      if (sliced) wake = std::min(wake, slice_end());
      if (sliced) report_thread_use(cpu0_lent_, true);  // another CPU runs on; this one waits
      cpu0_idle_ = true;
      if (!mailbox_.has_work() && !kicked_.load() && !cpu_jobs_pending_.load())
        mailbox_.wait_until(wake);
      cpu0_idle_ = false;
      ++idle_waits_;
      continue;
    }
    if (sliced) report_thread_use(cpu0_lent_, false);
    sync_->exec_start(0);
    const ExitReason r = interp_->run(budget);
    sync_->exec_end(0);
    ++exits_[r];
    // A thin partition's first processor: as ap_pass, but after exec_end, as CPU 0's exits
    // are (only this thread, or the worker that holds the partition between its slices,
    // touches CPU 0).
    if (hypercalls_) {
      if (r == EXIT_VMCALL) hypercall_threaded(cpu_, *hypercalls_);
      else if (r != EXIT_REQUEST && r != EXIT_BUDGET &&
               !finish_exit_threaded(0, cpu_, tsc_offset_, r, status))
        break;
      hypercalls_->poll(cpu_);
      continue;
    }
    if (r == EXIT_REQUEST || r == EXIT_BUDGET) continue;
    if (!finish_exit_threaded(0, cpu_, tsc_offset_, r, status)) break;
  }
  if (out.kind != SliceEnd::STOPPED) {
    sync_->hold(true);  // until the next slice
    cpu0_slice_edge(true);
    return out;
  }
  stop_ap_threads();
  // A CPU that stopped the machine (triple fault with --on-triple-fault exit) set the status.
  if (int requested = exit_status_.load(); requested >= 0 && status == 0) status = requested;
  out.status = status;
  return out;
}

}  // namespace softcpu
