// One partition: a whole PC (Machine with its own devices and CPU) whose RAM is its stage-2
// mappings into machine memory. Built, started, stopped and reset by the primary hypervisor
// (monitor/hv/primary.h); others read its state.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "monitor/hv/stage2.h"
#include "monitor/hv/system_config.h"

namespace softcpu {
class Machine;
class PhysicalMemory;
}  // namespace softcpu

namespace softcpu::hv {

class Scheduler;

enum class PartitionState : uint8_t {
  STOPPED,      // built or stopped by the primary; `partition start` runs it
  RUNNING,
  POWERED_OFF,  // the guest powered off (ACPI S5) or halted for good
  FAULTED,      // triple fault
  EXITED,       // debug-exit port, timeout or instruction limit: see status()
};
const char* state_name(PartitionState s);

class Partition {
 public:
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;
  ~Partition();

  const std::string& name() const { return config_.name; }
  const PartitionConfig& config() const { return config_; }
  unsigned id() const { return id_; }
  PartitionState state() const { return state_.load(); }
  int status() const { return status_.load(); }  // of the last run
  Stage2View stage2() const { return Stage2View(*table_); }
  Machine& machine() { return *machine_; }
  uint64_t stage2_violations() const;  // with it stopped; running: PrimaryHypervisor::counters

 private:
  friend class PrimaryHypervisor;
  explicit Partition(const PartitionConfig& config, unsigned id);

  // A page of a dynamic region: the machine page it was given at start (its home) or lent.
  struct Loan {
    unsigned borrower;        // partition id
    uint32_t lender_page;     // guest page in the lender
    uint32_t borrower_page;   // guest page in the borrower
    uint32_t machine_page;
  };

  PartitionConfig config_;
  unsigned id_;
  std::unique_ptr<Stage2Table> table_;
  PhysicalMemory* mem_ = nullptr;  // owned by machine_
  std::unique_ptr<Machine> machine_;
  std::atomic<PartitionState> state_{PartitionState::STOPPED};
  std::atomic<int> status_{0};
  std::atomic<bool> stop_requested_{false};
  // Stopped at the request of a guest (the secondary's partition_request), not by a monitor
  // command: it does not wait to be started again, so the system may end without it.
  std::atomic<bool> stopped_by_guest_{false};
  std::vector<Loan> loans_;  // pages this partition lent out, in lending order
  // The primary's processor set, which its CPU mailbox wakes when it idles (null: secondary).
  Scheduler* wake_scheduler_ = nullptr;
  // Wall time its vCPU ran: the runs that ended, and the start of the current one (under the
  // primary's mutex).
  double run_seconds_ = 0;
  std::chrono::steady_clock::time_point run_started_{};
};

}  // namespace softcpu::hv
