// vCPUs on parallel host threads (docs/design.md "SMP vCPUs on host threads"): how the
// threads of one machine's CPUs meet. Each CPU has a kick (its interpreter's attention flag:
// the run returns at the next block boundary), a queue of work to run on its own thread
// between runs (QEMU's async_run_on_cpu), and a place in the exclusive-section protocol
// (QEMU's cpu_exec_start/end, start/end_exclusive).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "interp/cpu.h"
#include "interp/interrupts.h"
#include "interp/smp.h"

namespace softcpu {

class PhysicalMemory;

class VcpuSync {
 public:
  explicit VcpuSync(PhysicalMemory& mem);
  ~VcpuSync();
  VcpuSync(const VcpuSync&) = delete;
  VcpuSync& operator=(const VcpuSync&) = delete;

  // CPU `cpu` (index = its position): `attention` is its interpreter's attention flag, `wake`
  // wakes its thread where it waits with nothing to run. Sets cpu.smp. Before threads start.
  void add_cpu(Cpu& cpu, std::atomic<uint8_t>* attention, std::function<void()> wake);
  unsigned size() const { return unsigned(cpus_.size()); }

  // Any thread: make CPU k's run return at its next block boundary and wake its thread.
  void kick(unsigned k);
  // What a PC reset does with work still queued for a CPU (drop_reset_work): a cache job
  // (code invalidation, TLB drops, a flush) stays, since RAM and the decoded code outlive the
  // reset; an interprocessor message or a chipset state change (INIT, STARTUP, the A20 gate)
  // is dropped, because the reset puts the CPU in its own state (an AP waits for a SIPI, SDM
  // vol.3 8.4.1) and a message sent before it must not reach the CPU after it.
  enum class Work : uint8_t { KEPT_BY_RESET, DROPPED_BY_RESET };
  // Any thread: run fn on CPU k's thread between two of its runs (in posting order); kicks it.
  void post(unsigned k, std::function<void(Cpu&)> fn, Work w = Work::KEPT_BY_RESET);
  // fn on every CPU: the calling thread's own CPU at once, the others posted.
  void each(const std::function<void(Cpu&)>& fn, Work w = Work::KEPT_BY_RESET);
  // A PC reset: drop every CPU's queued DROPPED_BY_RESET work. While no other CPU is between
  // exec_start and exec_end (an exclusive section, a hold, or the threads joined).
  void drop_reset_work();
  // CPU k's thread, outside guest code: clear its kick, then run what was posted.
  void begin_pass(unsigned k);
  // CPU k's thread, nothing to run: wait until kicked (or `timeout`).
  void wait(unsigned k, std::chrono::milliseconds timeout);

  // Around each interpreter run of CPU k (never holding the big lock): exec_start waits
  // while another CPU is in an exclusive section.
  void exec_start(unsigned k);
  void exec_end(unsigned k);
  // Every other CPU out of guest code until end_exclusive. `inside`: the caller is CPU k in
  // its run (a locked instruction); otherwise between runs (a reset). Never holding the big
  // lock: a CPU inside guest code may be waiting for it.
  void start_exclusive(unsigned k, bool inside);
  void end_exclusive(unsigned k, bool inside);
  // A partition between its slices (docs/design.md "SMP partitions on a processor set"):
  // hold(true), called by CPU 0's thread between its runs, waits until every other CPU is out
  // of guest code (kicking those inside) and keeps them out, as an exclusive section does,
  // until hold(false). Exclusive sections still work meanwhile. Never holding the big lock.
  void hold(bool on);
  // CPU k is scheduled by someone else (Machine::set_external_vcpu): hold() neither waits for
  // it nor keeps it out; exclusive sections still do. Before threads start.
  void set_free(unsigned k);
  // CPU k has work posted that it has not run yet.
  bool has_work(unsigned k) const;

  // The thread's CPU index (-1: not a vCPU thread).
  static int current();
  static void set_current(int k);

  // The scratch page and hooks of CPU k (interp/smp.h).
  SmpHooks& hooks(unsigned k);

 private:
  struct PerCpu;
  PhysicalMemory& mem_;
  std::vector<std::unique_ptr<PerCpu>> cpus_;
  std::mutex mu_;  // exclusive-section state
  std::condition_variable cv_;
  unsigned running_ = 0;  // CPUs inside exec_start .. exec_end
  bool exclusive_ = false;
  bool held_ = false;  // hold(true): no CPU enters guest code
};

// Interrupt acknowledge (INTA) from a vCPU thread reaches the local APIC and the 8259, which
// are devices: under the big lock.
class LockedAcknowledge final : public InterruptAcknowledge {
 public:
  LockedAcknowledge(InterruptAcknowledge* inner, BigLock& lock) : inner_(inner), lock_(lock) {}
  int acknowledge() override {
    if (lock_.held_by_me()) return inner_->acknowledge();
    std::lock_guard hold(lock_);
    return inner_->acknowledge();
  }

 private:
  InterruptAcknowledge* inner_;
  BigLock& lock_;
};

}  // namespace softcpu
