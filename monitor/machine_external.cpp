// A vCPU of a threaded machine that another scheduler runs on its own threads (docs/design.md
// "A partition on both hypervisors"): the secondary hypervisor's workers run the vCPUs a
// partition of the primary gives it, while CPU 0 and the rest run on the primary's processor
// set. The loop is the application processor thread's (machine_threads.cpp), cut into slices.
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "monitor/vcpu_sync.h"

namespace softcpu {

namespace {

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

Machine::SliceEnd Machine::run_external_slice(unsigned index) {
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
    const ApPass pass = ap_pass(index, out.status);
    if (pass == ApPass::STOP) {  // the run ends, or the machine must (CPU 0's thread ends it)
      out.kind = SliceEnd::STOPPED;
      break;
    }
    if (pass == ApPass::IDLE) {  // a kick from here on calls the wake hook
      out.kind = SliceEnd::IDLE;
      out.wake = std::chrono::steady_clock::now() + kExternalPoll;
      break;
    }
    // A device may have news for CPU 0's thread, which may be idle between its own slices.
    if (pass == ApPass::EXITED) mailbox_.wake();
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
