// A vCPU of a threaded machine that another scheduler runs on its own threads (docs/design.md
// "A partition on both hypervisors"): the secondary hypervisor's workers run the vCPUs a
// partition of the primary gives it, while CPU 0 and the rest run on the primary's processor
// set. The loop is the application processor thread's (machine_threads.cpp), cut into slices.
#include <cstdio>

#include "interp/interrupts.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "monitor/vcpu_sync.h"

namespace softcpu {

namespace {

// Instructions between looks at the slice's end, work and stop (a kick ends a run sooner).
constexpr uint64_t kExternalBudget = 100000;
// An idle slice's wake time when no kick comes first.
constexpr auto kExternalPoll = std::chrono::milliseconds(50);

}  // namespace

void Machine::set_external_vcpu(unsigned index, ExternalVcpu hooks) {
  if (!sync_ || index == 0 || index > aps_.size())
    throw ConfigError{"vCPU " + std::to_string(index) + " cannot be scheduled outside the "
                      "machine: it needs an application processor of a machine with threads "
                      "on (vcpu_threads = \"multi\")"};
  Vcpu& v = *aps_[index - 1];
  v.hooks = std::move(hooks);
  if (!v.external) {
    v.external = true;
    sync_->set_free(index);
  }
}

void Machine::end_external_slice(unsigned index) {
  aps_.at(index - 1)->external_end.store(true, std::memory_order_release);
  sync_->kick(index);
}

Machine::SliceEnd Machine::run_external_slice(unsigned index) {
  Vcpu& v = *aps_.at(index - 1);
  Cpu& c = v.cpu;
  // The scheduler's threads run other machines too: these are thread-locals, set for the slice
  // and put back to a lone CPU 0's values after it.
  VcpuSync::set_current(int(index));
  platform_->set_current_cpu(index);
  SliceEnd out{SliceEnd::PREEMPTED, 0, {}};
  int status = 0;
  for (;;) {
    if (threads_stop_.load()) {
      out.kind = SliceEnd::STOPPED;
      break;
    }
    if (v.external_end.exchange(false, std::memory_order_acq_rel)) break;  // PREEMPTED
    sync_->exec_start(index);
    if (threads_stop_.load()) {
      sync_->exec_end(index);
      out.kind = SliceEnd::STOPPED;
      break;
    }
    sync_->begin_pass(index);
    if (v.wait_for_sipi || (c.halted && !cpu_interrupt_deliverable(c))) {
      v.halted_for_good = v.wait_for_sipi || !(c.eflags & IF);
      sync_->exec_end(index);
      // A kick from here on calls the wake hook: the scheduler runs the vCPU again.
      out.kind = SliceEnd::IDLE;
      out.wake = std::chrono::steady_clock::now() + kExternalPoll;
      break;
    }
    v.halted_for_good = false;
    const ExitReason r = v.interp->run(kExternalBudget);
    ++v.exits[r];
    const bool go_on = r == EXIT_REQUEST || r == EXIT_BUDGET ||
                       finish_exit_threaded(index, c, v.tsc_offset, r, status);
    sync_->exec_end(index);
    if (!go_on) {  // the machine stops (a triple fault): CPU 0's thread ends the run
      out.kind = SliceEnd::STOPPED;
      out.status = status;
      break;
    }
    // A device may have news for CPU 0's thread, which may be idle between its own slices.
    if (r != EXIT_REQUEST && r != EXIT_BUDGET) mailbox_.wake();
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
