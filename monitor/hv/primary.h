// The primary hypervisor: owns machine memory, builds every partition of a SystemConfig (a
// Machine each, with its own devices), programs their stage-2 tables (the only code that can:
// Stage2Table's mutators and PhysicalMemory's Stage2Key are its alone), starts, stops and
// resets them, lends and takes back dynamic memory, and decides when the system ends.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "monitor/hv/machine_memory.h"
#include "monitor/hv/partition.h"
#include "monitor/hv/partition_stats.h"
#include "monitor/hv/scheduler.h"
#include "monitor/hv/secondary_port.h"
#include "monitor/hv/stage2.h"
#include "monitor/hv/system_config.h"

namespace softcpu::hv {

// A request the primary refuses (unknown partition, not enough memory to lend, ...).
struct HvError {
  std::string message;
};

class PrimaryHypervisor {
 public:
  // Builds machine memory and every partition (stopped). Throws ConfigError (monitor/machine.h)
  // for a system that cannot be built: no RAM at guest-physical 0, overlapping regions, more
  // memory than the machine has, a partition's own configuration errors.
  explicit PrimaryHypervisor(const SystemConfig& config);
  ~PrimaryHypervisor();
  PrimaryHypervisor(const PrimaryHypervisor&) = delete;
  PrimaryHypervisor& operator=(const PrimaryHypervisor&) = delete;


  size_t partition_count() const { return partitions_.size(); }
  Partition& partition(size_t k) { return *partitions_[k]; }
  Partition& partition(const std::string& name);  // throws HvError
  const MachineMemory& machine_memory() const { return memory_; }

  // Partition control (any thread but a partition's own).
  void start(const std::string& name);
  void stop(const std::string& name);  // waits until it has stopped
  void reset(const std::string& name);  // stop, PC reset (RAM kept), start again

  // Stage-2 programming. The partition must be stopped or the change is made on its CPU
  // thread between instructions; unmapping or narrowing drops its TLB and the cached code of
  // the page first.
  void map(Partition& p, uint32_t guest_page, uint32_t machine_page, uint8_t perms);
  void unmap(Partition& p, uint32_t guest_page);

  // Dynamic memory: move `bytes` (whole pages) of `from`'s dynamic regions into free pages of
  // `to`'s dynamic regions; each page is unmapped in `from` (its TLB and code dropped) and
  // zeroed before `to` maps it. take_back returns the last `bytes` lent from `from` to `to`:
  // unmapped in `to` (TLB entries and decoded/translated code dropped), zeroed, and mapped
  // again where they were in `from`. Both return the bytes moved; HvError when fewer pages
  // than asked are available (nothing moves then).
  uint64_t lend(const std::string& from, const std::string& to, uint64_t bytes);
  uint64_t take_back(const std::string& from, const std::string& to, uint64_t bytes);

  // Start every partition, wait until each `exit_on_poweroff` partition has stopped by itself
  // (powered off, faulted, exited: one stopped by a command waits to be started again), then
  // stop the rest; meanwhile run the posted monitor commands on this thread. Returns 0 when
  // all of those powered off (or `quit` ended it); else the status of the first (in
  // configuration order) that did not (a triple fault is 3, as for the single guest). A
  // partition whose --save-on-exit save failed (Machine::save_failed) makes a 0 into 1.
  int run();

  // Monitor commands (monitor/hv/commands.h), from any thread: run() executes `line` on its
  // thread and passes the answer to `reply` (may be empty) there (a command posted before run()
  // waits for it); once run() has returned, `reply` gets "the system is not running" at once.
  void post_command(std::string line, std::function<void(const std::string&)> reply);
  // `quit`: run() stops every partition and returns (any thread; asked before run(), run()
  // stops them as soon as it has started them).
  void request_quit();

  // `info partitions`: a header and one line per partition (name, state, status, vCPUs,
  // memory, stage-2 pages, violations, instructions).
  std::string info_partitions();
  // Exact counters: each partition's are read on its CPU thread (Machine::run_on_cpu_thread),
  // or directly when it is stopped. Not from a partition's own CPU thread.
  PartitionCounters counters(Partition& p, bool with_machine_json = false);
  std::vector<PartitionCounters> all_counters(bool with_machine_json = false);

  // `info irq-routes`: every partition's interrupt routing table, one line per route (the
  // partition, the device's output, the GSI of the partition's own IOAPIC and 8259 it goes
  // to, and the edges asserted on it so far). Devices a partition is not given have no route.
  std::string info_irq_routes();

  // The read-only interface the secondary hypervisor gets.
  SecondaryPort secondary_port();
  // The secondary hypervisor (monitor/hv/secondary.h): partitions whose hypervisor is of
  // kind secondary start and stop through it; the primary still decides when. Owned here.
  void attach_secondary(std::unique_ptr<Scheduler> secondary);
  bool on_secondary(const Partition& p) const;
  // The primary's scheduler: its processor set's threads and slices (docs/config.md).
  const Scheduler& scheduler() const { return *scheduler_; }

 private:
  void build_partition(const PartitionConfig& pc, unsigned id);
  // A partition scheduled by both hypervisors ([partition.secondary], docs/config.md).
  void check_split(const PartitionConfig& pc) const;  // throws ConfigError
  bool on_secondary_config(const PartitionConfig& pc) const;
  VcpuCounters vcpu_counters(Partition& p, unsigned k);
  static void wake_hook(void* partition);  // Machine::set_wake_hook
  static void recheck_hook(void* partition);  // Machine::set_recheck_hook (split partitions)
  void map_now(Partition& p, uint32_t guest_page, uint32_t machine_page, uint8_t perms);
  void unmap_now(Partition& p, uint32_t guest_page);
  void on_stopped(Partition& p, int status);
  uint32_t pool_page(const std::string& pool);  // a free page of the pool, or UINT32_MAX
  // A partition's gdb stub: forward the primary's commands and wait (parked) for the answer.
  std::string gdb_command(Partition& p, std::string_view cmd, bool* handled);
  bool system_done() const;  // under mu_: run() may end

  SystemConfig config_;
  MachineMemory memory_;
  // The primary's processor set (make_primary_scheduler), before partitions_: it outlives the
  // machines, whose CPU mailboxes wake it (Partition::wake_hook) until they are destroyed.
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  struct Pool {
    std::string name;
    std::vector<uint32_t> free;  // machine pages not yet handed to a dynamic region
  };
  std::vector<Pool> pools_;
  struct Shared {
    std::string name;
    uint32_t first;  // machine page: the region is contiguous
  };
  std::vector<Shared> shared_;  // by index in config_.shared
  std::unique_ptr<Scheduler> secondary_;  // after partitions_: goes first (reset by ~PrimaryHypervisor)
  Scheduler& scheduler_for(const Partition& p);
  std::mutex mu_;  // partition state changes; lend/take_back
  std::condition_variable stopped_cv_;  // a partition stopped, a command came, quit
  struct PendingCommand {
    std::string line;
    std::function<void(const std::string&)> reply;
  };
  std::deque<PendingCommand> commands_;  // under mu_
  bool finished_ = false;                // under mu_: run() has returned; commands are refused
  bool quit_ = false;                    // under mu_
};

}  // namespace softcpu::hv
