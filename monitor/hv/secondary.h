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
  // Of the others, those its busy worker met itself at a deadline it aimed its runs at
  // (Thin::aim_budget_locked), and the runs of guest code it shortened for that.
  uint64_t expired_aimed = 0;
  uint64_t aimed_runs = 0;
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
  // The pool: slices its workers ran of it, and their host seconds (all its processors'); and
  // of those slices, the ones that ran guest code but retired no instruction (a vCPU of the
  // primary's taken while halted with nothing to deliver: an empty look).
  uint64_t slices = 0;
  double cpu_seconds = 0;
  uint64_t empty_slices = 0;
  // Several processors (vcpus = N, vcpu_threads = "multi"): vCPUs woken by HC_WAKE that then
  // ran on another processor than the waker's (docs/design.md "A thin partition on several
  // workers"), and slices run on its processors other than the first.
  uint64_t wakes_across_processors = 0;
  uint64_t other_processor_slices = 0;
};

// One timeout's way from its deadline to the woken vCPU's first hypercall, for finding where
// the wake-to-run tail comes from (SecondaryHypervisor::trace_wakes; bench/hv_wake_bench
// prints the slowest 1 %). Times are ns after the deadline (negative: before it); kNone: that
// step did not happen on this path.
struct WakeTrace {
  static constexpr int64_t kNone = INT64_MIN;
  enum By : uint8_t {
    IDLE_WORKER,   // an idle worker that waited for it (slept, then spun)
    TIMER_THREAD,  // the timer thread, for a partition a worker runs (kicked) or none does
    POLL,          // the partition's own worker, in a poll or hypercall
  };
  By by = POLL;
  unsigned prio = 0;            // the woken vCPU's
  bool rt_at_dispatch = false;  // the worker ran SCHED_FIFO when it switched to the vCPU
  bool rt_at_expiry = false;    // the partition's worker (if any) ran SCHED_FIFO at the expiry
  bool on_worker = false;       // a worker held the vCPU's partition at the expiry
  bool spun = false;            // the sleeper (idle worker or timer thread) spun to the deadline
  bool raised = false;          // TIMER_THREAD: it raised the busy worker early for this one
  // TIMER_THREAD: when it first took this deadline as the next to meet (a sleeper's wait
  // that leaves it pokes it; the deadline is known from that hypercall on).
  int64_t seen = kNone;
  int64_t slept_until = kNone;  // the sleeper's sleep before the spin ended (its wait returned)
  int64_t spin_from = kNone;    // its spin began (after its raise to SCHED_FIFO)
  int64_t spin_to = kNone;      // its spin ended (the deadline came, or a poke)
  int64_t locked = kNone;       // it had the hypervisor's lock again after the spin
  int64_t expired = kNone;      // the vCPU made ready
  int64_t dispatched = kNone;   // the vCPU loaded into its CPU
  int64_t ran = kNone;          // its first hypercall began: the wake-to-run latency
  uint64_t window = 0;          // the sleeper's spin window then
  // The worker that ran the vCPU, from before the deadline (the idle worker's wait, or the
  // timer thread's raise of the busy worker) to `ran`, by its /proc schedstat: how long the
  // host kept it waiting for a core while runnable, and how long it was neither on a core nor
  // waiting (the wall time less both: the VM's vCPU taken by its host, i.e. steal; known only
  // when the worker did not sleep after the mark: from its spin, or from the raise). -1: not
  // known.
  int64_t run_delay = -1;
  int64_t stolen = -1;
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
  // Whether the timer thread runs SCHED_FIFO (the host allowed it); waits (up to a second) for
  // the timer thread to have tried.
  bool timer_realtime() const;
  // Record the way of each timeout (WakeTrace), up to `capacity` of them (0: off, the default).
  // Off the fast path: a clock read per hypercall and a map look-up per dispatch while on.
  void trace_wakes(size_t capacity);
  std::vector<WakeTrace> wake_traces();
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
  // HC_WAKE (and HC_TIME_NS) for a partition of the primary that shares a region with one of
  // ours (secondary_waker.cpp).
  class Waker;

 private:
  friend class Thin;
  friend class Waker;
  // A worker of the pool; `rt`: it runs SCHED_FIFO now (set by itself for a spin, or by the
  // timer thread's boost). Changed only under rt_mu, with the system call (set_worker_rt), so
  // a boost and a drop cannot cross and leave it SCHED_FIFO unrecorded; never under mu_.
  struct Worker {
    pthread_t thread{};
    std::atomic<bool> rt{false};
    std::mutex rt_mu;
    // Tracing (under mu_): its thread id and /proc schedstat (opened when first read); its
    // last idle wait toward a deadline (WakeTrace's times, absolute ns); its schedstat read
    // before the deadline `mark_for` (0: none).
    int tid = 0;
    int schedstat = -1;
    uint64_t waited_for = 0, slept_until = 0, spin_from = 0, spin_to = 0, locked = 0, window = 0;
    uint64_t mark_for = 0;
    bool mark_asleep = false;  // the mark was taken before a sleep (stolen is not known)
    struct SchedStat {
      uint64_t at = 0, on_core = 0, waiting = 0;  // ns
    } mark;
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
  void expire_due_locked(uint64_t now, bool timer_thread = false, const Worker* idle = nullptr);
  // Tracing (under mu_): the worker's host time on a core and waiting for one, so far
  // (/proc schedstat); false: not known.
  bool schedstat_locked(Worker& w, Worker::SchedStat* out);
  void mark_locked(Worker& w, uint64_t deadline, bool asleep = false) {
    w.mark_for = schedstat_locked(w, &w.mark) ? deadline : 0;
    w.mark_asleep = asleep;
  }
  void trace_ran_locked(const VcpuBlock* self, uint64_t entered, Worker* w);
  void meet_machine_deadlines_locked(uint64_t now);
  uint64_t now_ns() const;
  // The word at guest-physical `addr` through `view`: its bytes and its key (the machine
  // address); nullptr with *err SC_EINVAL (unaligned) or SC_EFAULT (not readable there).
  const uint8_t* word_at(const Stage2View& view, uint32_t addr, uint64_t* key, int* err) const;
  // HC_WAKE: up to `max_n` waiters on the word `key`, in any partition, highest Tprio first and
  // FIFO within one, made ready (a woken vCPU of `waker`'s partition is left for the caller to
  // place; processor `waker_ap` noted); the number woken.
  size_t wake_waiters_locked(uint64_t key, uint32_t max_n, Thin* waker, unsigned waker_ap);

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
  std::vector<std::unique_ptr<Waker>> wakers_;  // made in the constructor, then fixed
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
  std::atomic<bool> timer_tried_{false};
  std::condition_variable timer_cv_;
  uint64_t timer_next_ = UINT64_MAX;       // under mu_: the deadline the timer thread waits for
  std::atomic<uint64_t> timer_seq_{0};     // poke_timer_locked() count: ends the timer's spin
  uint64_t timer_spin_ns_ = 50'000;        // the timer thread's spin window (timer thread only)
  std::vector<Worker*> boosts_;            // under mu_: workers the timer thread is to raise
  // Under mu_: every worker's record, kept until the hypervisor is destroyed (the timer thread
  // may still raise one after it let mu_ go, while that worker ends).
  std::vector<std::unique_ptr<Worker>> worker_records_;
  // Tracing (under mu_; trace_on_ also read without it): timeouts made ready whose vCPU has
  // not yet made its first hypercall, the finished traces, and the timer thread's last sleep
  // and spin toward `timer_trace_for_`.
  std::atomic<bool> trace_on_{false};
  size_t trace_cap_ = 0;
  std::map<const VcpuBlock*, std::pair<uint64_t, WakeTrace>> trace_pending_;
  std::vector<WakeTrace> traces_;
  uint64_t timer_seen_for_ = 0, timer_seen_ = 0;  // (timer thread, under mu_)
  uint64_t timer_trace_for_ = 0, timer_slept_until_ = 0, timer_spin_from_ = 0, timer_spin_to_ = 0,
           timer_locked_ = 0;
  bool quit_ = false;
  struct Request {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::vector<Request> requests_;  // HC_PARTITION_REQUEST answered by the primary
  std::mutex requests_mu_;
};

}  // namespace softcpu::hv
