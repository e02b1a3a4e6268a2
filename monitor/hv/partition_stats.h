// Statistics per partition and per vCPU, as the primary hypervisor gathers them (on each
// partition's CPU thread, so the counts are exact: PrimaryHypervisor::counters) and as
// `info partitions`, `stats` and `--stats` with several partitions print them (text for people,
// one JSON object of schema "softcpu-system-stats" for programs; docs/stats.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace softcpu::hv {

inline constexpr const char kSystemStatsSchema[] = "softcpu-system-stats";
// 1: the first. 2: `wait_seconds`, `max_wait_seconds`, `passes`, `borrowed_slices`,
// `recalls`, `max_recall_seconds` and `lends` per partition (docs/stats.md).
inline constexpr int kSystemStatsSchemaVersion = 2;

struct VcpuCounters {
  unsigned index = 0;
  uint64_t instructions = 0;
  uint64_t exits = 0;       // exits to the monitor (Machine::monitor_exits)
  uint64_t interrupts = 0;  // external interrupts and NMIs delivered
  // Who schedules it and on which processor set (a partition on both hypervisors runs some
  // vCPUs on the secondary's set); empty for a system built without hypervisors.
  std::string hypervisor;
  std::string processor_set;
};

struct PartitionCounters {
  std::string name;
  std::string state;           // state_name()
  int status = 0;              // of its last run
  unsigned vcpus = 1;
  uint64_t memory_bytes = 0;   // guest-physical memory mapped by its stage-2 table
  uint32_t stage2_pages = 0;
  uint64_t stage2_violations = 0;
  double run_seconds = 0;      // wall time its vCPUs ran (every start to stop, summed)
  // Its processor set's threads (the primary's scheduler; 0 for the secondary's partitions):
  // host time in its slices, slices run, and slices ended by the time limit.
  double cpu_seconds = 0;
  uint64_t slices = 0;
  uint64_t preemptions = 0;
  // Ready but waiting for a thread of the set: in all, and the longest wait.
  double wait_seconds = 0;
  double max_wait_seconds = 0;
  // Slices started ahead of a wider partition first in line; slices on a thread a gang lent,
  // those ended because the gang took it back, and the longest hand-back; as a gang, threads
  // lent (hv::SliceStats).
  uint64_t passes = 0;
  uint64_t borrowed_slices = 0;
  uint64_t recalls = 0;
  double max_recall_seconds = 0;
  uint64_t lends = 0;
  uint64_t instructions = 0;   // sums over the vCPUs
  uint64_t exits = 0;
  uint64_t interrupts = 0;
  std::vector<VcpuCounters> per_vcpu;
  std::string machine_json;    // the partition machine's whole registry (StatsRegistry::json)
};

// The `info partitions` table: a header and one row per partition.
std::string partitions_table(const std::vector<PartitionCounters>& parts);
// The --stats text report of a system: per partition, then per vCPU.
std::string system_stats_text(const std::vector<PartitionCounters>& parts);
// One JSON object on one line: {"schema", "version", "partitions": [{..., "vcpus": [...],
// "machine": {the partition's softcpu-stats object}}]}.
std::string system_stats_json(const std::vector<PartitionCounters>& parts);

}  // namespace softcpu::hv
