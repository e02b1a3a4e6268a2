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
// `recalls`, `max_recall_seconds` and `lends` per partition (docs/stats.md). 3: `empty_slices`.
inline constexpr int kSystemStatsSchemaVersion = 3;

// What a partition got of its processor set (the primary's ProcessorSetScheduler::usage),
// summed over its runs. One list, X(type, name), in the order the reports give them: it makes
// the fields of SliceStats (and so of PartitionCounters), the rows of the text report and the
// fields of the JSON (docs/stats.md has their meanings, for people reading the reports).
//   cpu_seconds          host time in its slices on the set's threads
//   slices               slices run (a slice ends preempted, idle or stopped)
//   empty_slices         of them those in which its vCPUs on the set retired no instruction
//                        (woken for something that turned out not to be theirs)
//   preemptions          slices ended at their time limit with others waiting
//   wait_seconds         ready and waiting for a thread of the set (from being queued,
//   max_wait_seconds     preempted or woken, to its next slice): the total, the longest wait
//   passes               slices started ahead of a wider partition that was first in line and
//                        could not start (each ends by the time that one could have started:
//                        ProcessorSetScheduler::pick_locked)
//   borrowed_slices      slices started on a thread that a gang lent (a gang's vCPU halted),
//   recalls              of them those ended early because the gang took the thread back,
//   max_recall_seconds   and the longest time from that request to the slice's end
//   lends                as a gang: times one of its vCPUs left its thread to the set
#define SOFTCPU_SLICE_STATS(X)  \
  X(double, cpu_seconds)        \
  X(uint64_t, slices)           \
  X(uint64_t, empty_slices)     \
  X(uint64_t, preemptions)      \
  X(double, wait_seconds)       \
  X(double, max_wait_seconds)   \
  X(uint64_t, passes)           \
  X(uint64_t, borrowed_slices)  \
  X(uint64_t, recalls)          \
  X(double, max_recall_seconds) \
  X(uint64_t, lends)

struct SliceStats {
#define SOFTCPU_SLICE_STAT(type, name) type name = 0;
  SOFTCPU_SLICE_STATS(SOFTCPU_SLICE_STAT)
#undef SOFTCPU_SLICE_STAT
  // Slices ended because the guest halted with nothing to do (counted, not reported).
  uint64_t idle_ends = 0;
};

// Calls f(name, value) for each reported field of `s`, in the list's order.
template <typename F>
void for_each_slice_stat(const SliceStats& s, F&& f) {
#define SOFTCPU_SLICE_STAT(type, name) f(#name, double(s.name));
  SOFTCPU_SLICE_STATS(SOFTCPU_SLICE_STAT)
#undef SOFTCPU_SLICE_STAT
}

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

// The scheduler's figures are its SliceStats (0 for the secondary's partitions).
struct PartitionCounters : SliceStats {
  std::string name;
  std::string state;           // state_name()
  int status = 0;              // of its last run
  unsigned vcpus = 1;
  uint64_t memory_bytes = 0;   // guest-physical memory mapped by its stage-2 table
  uint32_t stage2_pages = 0;
  uint64_t stage2_violations = 0;
  double run_seconds = 0;      // wall time its vCPUs ran (every start to stop, summed)
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
