// How the primary hypervisor runs its partitions' vCPUs on host threads. Built today: one host
// thread per partition (ThreadPerPartition), whatever the processor set says; the round-robin
// and priority schedulers that multiplex vCPUs onto a set's threads with time slices (issue
// 13's goal, issue 14's priority scheduler) come in behind this interface.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace softcpu::hv {

// What a scheduler runs: one partition's vCPU. run() returns when the partition stops
// (power-off, triple fault, an exit request); `request_stop` makes it return soon (any thread).
struct SchedulableVcpu {
  std::string name;
  std::function<int()> run;
  std::function<void()> request_stop;
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
};

// One host thread per vCPU, for as long as it runs.
class ThreadPerVcpuScheduler final : public Scheduler {
 public:
  ~ThreadPerVcpuScheduler() override;
  const char* name() const override { return "thread-per-vcpu"; }
  void start(unsigned id, SchedulableVcpu vcpu, std::function<void(int)> on_stop) override;
  void join(unsigned id) override;

 private:
  std::vector<std::thread> threads_;  // by id
};

std::unique_ptr<Scheduler> make_scheduler();

}  // namespace softcpu::hv
