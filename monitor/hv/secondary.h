// The secondary hypervisor (issue 14): runs the thin-guest partitions of the system on its own
// pool of host threads (its processor set's `threads` workers, apart from the primary's; a
// worker runs whichever partition has the most urgent vCPU, and a partition whose vCPUs all
// block gives its worker back) with a priority-based preemptive scheduler, and serves their
// hypercalls (docs/hypercalls.md,
// guests/include/softcpu/hypercall.h). A thin guest has no scheduler of its own: each task is a
// vCPU (a register context, monitor/hv/run_queue.h) that this hypervisor switches on the
// partition's CPU, or, with vcpus = N and vcpu_threads = "multi", on its N CPUs (processors),
// up to N tasks on as many workers at once. It sees memory only through the partitions' read-only stage-2 views and
// asks the primary to start or stop a partition (SecondaryPort); the primary starts and stops
// its partitions through the Scheduler interface.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <pthread.h>

#include "monitor/hv/run_queue.h"
#include "monitor/hv/scheduler.h"
#include "monitor/hv/secondary_port.h"
#include "monitor/hv/system_config.h"

namespace softcpu::hv {

// Per partition, for tests, `info` and the benchmark.
struct ThinStats {
  uint64_t hypercalls = 0;
  uint64_t bad_hypercalls = 0;  // returned an error for bad arguments (not -EAGAIN/-ETIMEDOUT)
  uint64_t switches = 0;        // the CPU changed to another vCPU
  uint64_t preemptions = 0;     // a running vCPU was put back on a ready list for a higher one
  uint64_t wakes = 0;           // vCPUs woken by HC_WAKE
  uint64_t timeouts = 0;
  uint64_t pi_boosts = 0;       // a holder's Tprio raised (HC_LOCK_WAIT)
  uint64_t pi_requeues = 0;     // a vCPU queued at its Tprio rather than its Prio (preempted boosted)
  uint64_t list_touches = 0;    // insertions and removals on the ready and run lists
  uint64_t vcpus_created = 0;
  unsigned live_vcpus = 0;
  // Where a timeout's latency goes (the benchmark prints these): idle sleeps toward a
  // deadline and how late the host woke the thread from them; deadlines met by spinning.
  uint64_t idle_sleeps = 0;
  uint64_t sleep_late_ns_sum = 0;
  uint64_t sleep_late_ns_max = 0;
  uint64_t spins = 0;            // idle waits that ended in a spin to the deadline
  // Timeouts made ready: how long after their deadline, and how many by the timer thread
  // (the others by the partition's own thread: idle, or polled at a kick).
  uint64_t expire_late_ns_sum = 0;
  uint64_t expire_late_ns_max = 0;
  uint64_t expired_by_timer_thread = 0;
  // Its worker raised to SCHED_FIFO by the timer thread for a due timeout that preempts (or
  // takes the worker from a less urgent partition), and SCHED_FIFO runs of its guest ended at
  // the woken vCPU's first hypercall or at a poll (docs/design.md, "Meeting a timeout").
  uint64_t rt_boosts = 0;
  uint64_t rt_drops = 0;
  // Round robin among equals (the partition's time_slice, else the hypervisor's): a running
  // vCPU that used its slice went behind an equal ready one; the partition gave its worker to
  // an equally urgent partition waiting for one.
  uint64_t rr_rotations = 0;
  uint64_t rr_yields = 0;
  // The pool: slices its workers ran of it, and their host seconds (all its processors').
  uint64_t slices = 0;
  double cpu_seconds = 0;
  // Several processors (vcpus = N, vcpu_threads = "multi"): vCPUs woken by HC_WAKE that then
  // ran on another processor than the waker's (docs/design.md "A thin partition on several
  // workers"), and slices run on its processors other than the first.
  uint64_t wakes_across_processors = 0;
  uint64_t other_processor_slices = 0;
};

class SecondaryHypervisor final : public Scheduler {
 public:
  // The partitions of `system` whose hypervisor is `config.name`; their machines get this
  // hypervisor as hypercall handler. Throws ConfigError (monitor/machine.h) for a partition
  // the port does not give a machine of.
  SecondaryHypervisor(const HypervisorConfig& config, const SystemConfig& system, SecondaryPort port);
  ~SecondaryHypervisor() override;

  const char* name() const override { return "secondary-priority"; }
  void start(unsigned id, SchedulableVcpu vcpu, std::function<void(int)> on_stop) override;
  void join(unsigned id) override;
  void wake(unsigned id) override;

  bool schedules(const std::string& partition) const;
  ThinStats stats(const std::string& partition);
  // A vCPU of a partition of the primary that this hypervisor schedules ([partition.secondary],
  // docs/design.md "A partition on both hypervisors"): its slices here (zeros if not ours).
  ThinStats vcpu_stats(const std::string& partition, unsigned vcpu);
  // Where HC_CONSOLE_WRITE goes (default: stdout, unbuffered).
  void set_console(std::function<void(const std::string& partition, std::string_view text)> out);
  // Whether the timer thread runs SCHED_FIFO (the host allowed it).
  bool timer_realtime() const { return timer_realtime_.load(); }
  // Its processor set's threads: the pool's workers, how many of its partitions run guest
  // code at once (the rest wait, highest priority first). Without a set: as many as it has
  // partitions.
  unsigned processors() const { return processors_; }
  // Host threads the pool has made: processors(), plus one for each hypercall that had to wait
  // for another thread while no worker was free (blocking_locked).
  unsigned pool_threads() {
    std::lock_guard lock(mu_);
    return unsigned(workers_.size());
  }

  class Thin;  // one partition's vCPUs, run queue and hypercalls (secondary.cpp)

 private:
  friend class Thin;
  // A worker of the pool; `rt`: it runs SCHED_FIFO now (set by itself for a spin, or by the
  // timer thread's boost). Changed only under rt_mu, with the system call (set_worker_rt), so
  // a boost and a drop cannot cross and leave it SCHED_FIFO unrecorded; never under mu_.
  struct Worker {
    pthread_t thread{};
    std::atomic<bool> rt{false};
    std::mutex rt_mu;
  };
  static void set_worker_rt(Worker& w, bool on);
  void add_split_vcpus(const PartitionConfig& pc);
  void add_processor(const PartitionConfig& pc, Thin& lead, unsigned k);
  void attach_external(Thin* t, bool wake);
  void timer_main();
  void worker_main();
  Thin* pick_locked();
  void offer_locked(Thin* t, bool boost = false);
  void boost_locked(Thin* t);
  void raise_boosts_unlocking(std::unique_lock<std::mutex>& lock);
  void blocking_locked(bool begin);
  void poke_workers();  // any thread, no lock needed
  static void wake_hook(void* thin);
  void watch_deadlines_locked();
  void idle_wait_locked(std::unique_lock<std::mutex>& lock, uint64_t until, Thin* owner,
                        Worker& self);
  void poke_timer_locked();  // timeouts_ or a partition's idleness changed: the timer looks again
  uint64_t timer_deadline_locked() const;
  void expire_due_locked(uint64_t now, bool timer_thread = false);
  void meet_machine_deadlines_locked(uint64_t now);
  uint64_t now_ns() const;

  HypervisorConfig config_;
  SecondaryPort port_;
  // The pool (under mu_): `processors_` workers run partitions' slices (one more for each
  // hypercall that waits for another thread, blocked_), running_ of them now, idle_workers_
  // waiting for work. work_seq_ counts pokes (ends an idle worker's spin).
  unsigned processors_ = 1;
  unsigned running_ = 0;
  unsigned blocked_ = 0;
  unsigned idle_workers_ = 0;
  std::vector<std::thread> workers_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;  // a partition's run ended (join)
  std::atomic<uint64_t> work_seq_{0};
  uint64_t worker_spin_ns_ = 50'000;  // the idle workers' spin window (adapts)
  std::vector<std::unique_ptr<Thin>> thins_;
  std::map<unsigned, std::thread> threads_;  // by partition id: only one not ours (none)
  std::mutex threads_mu_;
  std::mutex mu_;                            // every vCPU, list and wait queue
  std::function<void(const std::string&, std::string_view)> console_;
  // Blocked vCPUs with a timeout, by deadline (the owner Thin and the vCPU).
  std::set<std::tuple<uint64_t, Thin*, VcpuBlock*>> timeouts_;
  std::multimap<uint64_t, std::pair<Thin*, VcpuBlock*>> waiters_;  // by word key
  uint64_t wait_seq_ = 0;
  uint64_t slice_seq_ = 0;  // under mu_: numbers the pool's slice ends (round robin)
  std::thread timer_;
  std::atomic<bool> timer_realtime_{false};
  std::condition_variable timer_cv_;
  uint64_t timer_next_ = UINT64_MAX;       // under mu_: the deadline the timer thread waits for
  std::atomic<uint64_t> timer_seq_{0};     // poke_timer_locked() count: ends the timer's spin
  uint64_t timer_spin_ns_ = 50'000;        // the timer thread's spin window (timer thread only)
  std::vector<Worker*> boosts_;            // under mu_: workers the timer thread is to raise
  // Under mu_: every worker's record, kept until the hypervisor is destroyed (the timer thread
  // may still raise one after it let mu_ go, while that worker ends).
  std::vector<std::unique_ptr<Worker>> worker_records_;
  bool quit_ = false;
  struct Request {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::vector<Request> requests_;  // HC_PARTITION_REQUEST answered by the primary
  std::mutex requests_mu_;
};

}  // namespace softcpu::hv
