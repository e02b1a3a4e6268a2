// How a hypervisor runs its partitions' vCPUs on host threads. The primary's scheduler is a
// processor set's pool (ProcessorSetScheduler): the set's N host threads run its partitions in
// round-robin time slices; a partition with several vCPUs is scheduled as one unit: its vCPUs
// take turns inside its slice, like -smp on one thread, or (vcpu_threads = "multi") each takes
// one of the set's threads for the slice (docs/design.md "SMP partitions on a processor set").
// The secondary hypervisor (monitor/hv/secondary.h) is another Scheduler, with its own priority
// scheduling.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitor/hv/partition_stats.h"  // SliceStats

namespace softcpu::hv {

using SteadyTime = std::chrono::steady_clock::time_point;

// How a slice of a partition's run ended (Machine::SliceEnd).
struct SliceResult {
  enum Kind : uint8_t { PREEMPTED, IDLE, STOPPED } kind = STOPPED;
  int status = 0;   // STOPPED: the run's status before end()
  SteadyTime wake{};  // IDLE: nothing to run before this (or a wake(id))
  bool empty = false;  // its vCPUs on the set retired no instruction (SliceStats::empty_slices)
};

// What a scheduler runs: one partition (all its vCPUs). Whole, on a thread of its own: run()
// returns when the partition stops (power-off, triple fault, an exit request). In slices (a
// processor set's pool): begin() once, slice(end) until it returns STOPPED, then end(status),
// which gives the final status; slice(end) returns by itself once `end` has passed (looked at
// between interpreter runs), and end_slice() (any thread) makes it return at the next block
// boundary. If set_end is given, the scheduler calls it with the slice's end before slice()
// and may call it again while the slice runs (any thread, atomics only): the slice ends at the
// last time set, and slice() takes its end from there, not from its argument.
// request_stop() makes either form stop soon (any thread).
struct SchedulableVcpu {
  std::string name;
  std::function<int()> run;
  std::function<void()> request_stop;
  std::function<void()> begin;
  std::function<SliceResult(SteadyTime end)> slice;  // end: max() = until end_slice()
  std::function<int(int)> end;
  std::function<void()> end_slice;
  std::function<void(SteadyTime end)> set_end;  // max(): no end but end_slice()
  // Optional: an idle partition's wake time, looked at again when it comes (any thread, under
  // the scheduler's lock: atomics only). A later time keeps it idle until then: another
  // scheduler met meanwhile the deadlines it was to wake for (a partition on both hypervisors,
  // Machine::recheck_idle).
  std::function<SteadyTime(SteadyTime now)> recheck_idle;
  uint32_t time_slice_us = 0;  // 0: the scheduler's
  // Host threads it runs on at once while it has the processor: 1, or its vCPU count for a
  // partition with vcpu_threads = "multi" (gang: a slice starts only when that many of the
  // set's threads are free; its vCPUs run on threads of the machine's own, the set counts them).
  unsigned threads = 1;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual const char* name() const = 0;
  // Start running `vcpu`; `on_stop(status)` is called (on a scheduler thread) when run() has
  // returned. `vcpu` stays valid until join(id).
  virtual void start(unsigned id, SchedulableVcpu vcpu, std::function<void(int)> on_stop) = 0;
  // Wait until vCPU `id` (stopped or stopping) has left its thread; no-op if not started.
  virtual void join(unsigned id) = 0;
  // Something may have become runnable in partition `id` (a job posted to its CPU, an exit
  // request): an idle one is queued again. Any thread.
  virtual void wake(unsigned) {}
  // Partition `id`'s wake time may have come closer (SchedulableVcpu::recheck_idle): an idle
  // one asks recheck_idle again now, one that runs does so at its idle end. Any thread.
  virtual void recheck(unsigned) {}
  virtual SliceStats usage(unsigned) const { return {}; }
  // On a thread running a partition: it is about to wait for another thread (a gdb stub's
  // command that the primary answers, maybe with a job on another partition of the set), and
  // after. Meanwhile the set may run its other partitions on an extra thread.
  virtual void blocking(bool) {}
  // On a thread of partition `id`'s slice (Machine::set_thread_use_hook): one of its vCPUs
  // stops using its host thread (idle: halted with nothing to deliver) or uses it again.
  virtual void thread_use(unsigned /*id*/, bool /*idle*/) {}
};

// A processor set: `threads` host threads that run the started partitions round-robin, each
// for its time slice (SchedulableVcpu::time_slice_us, else `slice_us`) while others wait; a
// partition alone on a thread is not interrupted. Whether a running slice must end at its time
// is re-evaluated whenever that can change (retime_locked): timed while a ready partition
// cannot get a thread, untimed (extended a slice at a time) while none waits. Slices are thread time: a partition that
// takes W threads at once (gang) runs 1/W of its slice on each, so every partition gets the
// same thread time per turn and one waiting behind a gang waits a W-th of the slice. A
// partition whose guest halts (HLT, nothing to deliver) leaves the thread at once and is
// queued again at its next timer or when wake(id) is called. A ticker thread ends slices
// (end_slice) and wakes idle partitions whose time came. A partition blocked on another thread
// (blocking()) does not hold up the set: an extra worker runs the others meanwhile.
// Two exceptions to strict FIFO fill threads a gang would leave empty: a partition that fits
// may start ahead of a wider one first in line that cannot start yet, until the time that one
// could start (so it is not delayed); and the thread of a gang's halted vCPU (thread_use) is
// lent to the others until the vCPU runs again, when the borrower's slice is ended.
class ProcessorSetScheduler final : public Scheduler {
 public:
  ProcessorSetScheduler(std::string set_name, unsigned threads, uint32_t slice_us);
  ~ProcessorSetScheduler() override;  // every started partition must have stopped (join)
  const char* name() const override { return "round-robin"; }
  void start(unsigned id, SchedulableVcpu vcpu, std::function<void(int)> on_stop) override;
  void join(unsigned id) override;
  void wake(unsigned id) override;
  void recheck(unsigned id) override;
  SliceStats usage(unsigned id) const override;
  void blocking(bool begin) override;
  void thread_use(unsigned id, bool idle) override;
  unsigned threads() const { return threads_; }
  const std::string& set_name() const { return set_; }

 private:
  enum class State : uint8_t { READY, RUNNING, IDLE };
  struct Entry {
    SchedulableVcpu vcpu;
    std::function<void(int)> on_stop;
    State state = State::READY;
    bool begun = false;   // begin() has run (by the worker that holds it)
    bool woken = false;   // wake(id) while it ran: an idle end queues it again
    bool recheck = false;  // recheck(id) while it ran: an idle end asks recheck_idle
    SteadyTime slice_start{}, slice_end{}, wake_at{};
    SteadyTime ready_at{};  // queued in ready_ (SliceStats::wait_seconds)
    unsigned lent = 0;      // RUNNING gang: its threads lent to the set now (thread_use)
    bool borrowed = false;  // RUNNING: started on a lent thread
    bool recalled = false;  // RUNNING: its slice must end, a lender wants its thread back
    SteadyTime recalled_at{};
    // The end its slices have now (vcpu.set_end, by retime_locked); min(): not set yet.
    SteadyTime end_set = SteadyTime::min();
  };
  void worker_main(unsigned index);
  void ticker_main();
  void make_ready_locked(unsigned id, Entry& e);
  std::chrono::microseconds slice_of(const Entry& e) const;
  // Under mu_: the ready_ index of the partition to start now, or -1; `end` is set to the
  // latest time a partition started ahead of the first in line may run.
  int pick_locked(SteadyTime now, SteadyTime& end) const;
  void recall_one_locked(unsigned lender);
  void retime_locked();

  std::string set_;
  unsigned threads_;
  uint32_t slice_us_;
  // Threads the entries on workers take now (their widths less their lent threads; under mu_).
  // Above threads_ + blocked_ only for the moment between a gang taking a lent thread back and
  // its borrower's slice ending.
  unsigned running_ = 0;
  unsigned lent_ = 0;  // of the set's threads, lent by gangs now (sum of Entry::lent)
  unsigned width_of(unsigned id) const;  // under mu_: its threads, at most the set's
  bool contended_locked() const;  // under mu_: more ready than free threads
  unsigned blocked_ = 0;  // of those, waiting in blocking(true): threads_ + blocked_ may run
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // ready_ got an entry, or quit
  std::condition_variable done_cv_;  // an entry left (join)
  std::condition_variable tick_cv_;  // a slice began, a partition went idle, or quit
  std::map<unsigned, std::unique_ptr<Entry>> entries_;  // started and not yet stopped
  std::deque<unsigned> ready_;                          // round-robin order
  std::map<unsigned, SliceStats> usage_;                // by id, kept after a stop
  bool quit_ = false;
  std::vector<std::thread> workers_;  // threads_, and one more per blocking() at once
  std::thread ticker_;
};

}  // namespace softcpu::hv
