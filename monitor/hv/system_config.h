// A whole system as `softcpu run --config FILE` describes it (docs/config.md): processor sets,
// the hypervisors and the partitions. The single-guest command line is the one-partition case.
// Plain data: monitor/hv/config_file.* fills it from TOML and checks it; the primary
// hypervisor (monitor/hv/primary.*) builds the partitions from it. Every element keeps the line
// of the file it came from (0 when built in code) so later checks can name it.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "monitor/machine_config.h"

namespace softcpu::hv {

// A processor set: host threads that run vCPUs.
struct ProcessorSetConfig {
  std::string name;
  unsigned threads = 1;
  unsigned line = 0;
};

enum class HypervisorKind { PRIMARY, SECONDARY };
enum class SchedulerKind { ROUND_ROBIN, PRIORITY };

struct HypervisorConfig {
  std::string name;
  HypervisorKind kind = HypervisorKind::PRIMARY;
  std::string processor_set;               // a ProcessorSetConfig name
  SchedulerKind scheduler = SchedulerKind::ROUND_ROBIN;
  uint32_t time_slice_us = 10000;          // round robin slice
  // Priorities its partitions may use, inclusive (the priority scheduler's levels).
  std::pair<unsigned, unsigned> priority_range{0, 255};
  // Secondary: lazy priority inheritance on lock words (docs/hypercalls.md); off to compare.
  bool priority_inheritance = true;
  unsigned line = 0;
};

// A range of a partition's guest-physical space. Static regions are backed at start; a dynamic
// region is address space the partition may receive pages into from `pool` (lending).
struct MemoryRegionConfig {
  uint64_t guest_base = 0;                 // page aligned
  uint64_t size = 0;                       // page aligned, > 0
  bool dynamic = false;
  std::string pool;                        // dynamic only: the pool's name
  unsigned line = 0;
};

// A named pool of machine memory that partitions lend from and return to.
struct MemoryPoolConfig {
  std::string name;
  uint64_t size = 0;
  unsigned line = 0;
};

// Where a shared region appears in one partition: at its own guest-physical base, with its own
// rights (the bits of monitor/hv/stage2.h: 1 read, 2 write, 4 execute; read is always there).
struct SharedMapConfig {
  std::string partition;                   // a PartitionConfig name
  uint64_t guest_base = 0;                 // page aligned
  uint8_t perms = 3;                       // "rw"
  unsigned line = 0;
};

// Machine memory mapped into two or more partitions' stage-2 tables (the same machine pages in
// each): a mailbox, the words of cross-partition wait/wake (docs/hypercalls.md). Zeroed at
// start; announced to each guest as reserved memory (docs/config.md).
struct SharedRegionConfig {
  std::string name;
  uint64_t size = 0;                       // page aligned, > 0
  std::vector<SharedMapConfig> maps;
  unsigned line = 0;
};

// An interrupt source of an assigned device routed to an input of the owner's interrupt
// controller (IOAPIC pin / 8259 IRQ line).
struct IrqRouteConfig {
  std::string device;                      // e.g. "ide0", "com1"
  unsigned source = 0;                     // the device's interrupt output (usually 0)
  unsigned gsi = 0;                        // the partition's IOAPIC input
  bool implied = false;                    // not in the file: the device's PC/AT line
  unsigned line = 0;
};

// A partition of the primary scheduled by both hypervisors ([partition.secondary],
// docs/config.md): these vCPUs (never 0, which services the devices) run on the secondary's
// processor set under its priority scheduler; the others run on the primary's set. One
// machine, one stage-2 table; start, stop and reset stay the primary's.
struct SplitConfig {
  std::string hypervisor;                  // the secondary ("": the system's only one)
  std::vector<unsigned> vcpus;             // indices 1..vcpus-1, each once
  std::optional<unsigned> priority;        // default: the lowest of the secondary's priorities
  unsigned line = 0;
  std::map<std::string, unsigned> lines;   // "vcpus", "priority", "hypervisor"
};

// What a partition boots from: SeaBIOS and its disks, a kernel loaded directly, or a raw ROM.
enum class BootSource { NONE, DISK, KERNEL, BIOS };

struct PartitionConfig {
  std::string name;
  std::string hypervisor;                  // a HypervisorConfig name
  unsigned vcpus = 1;
  // Boot (disk / kernel+initrd+append / bios), disks, serial backend, timeout, jit...: the same
  // choices the single-guest command line makes. machine.ram_mib is derived from `memory`.
  MachineConfig machine;
  std::vector<MemoryRegionConfig> memory;
  std::vector<std::string> devices;        // assigned device names ("ide0", "com1", ...)
  std::vector<IrqRouteConfig> irq_routes;
  std::optional<unsigned> priority;        // priority scheduler only
  std::optional<std::pair<unsigned, unsigned>> priority_range;  // levels it may use
  std::optional<uint32_t> time_slice_us;   // overrides the hypervisor's slice
  bool exit_on_poweroff = true;            // the system exits when this partition powers off
  std::optional<SplitConfig> split;        // some vCPUs on the secondary hypervisor
  BootSource boot = BootSource::NONE;
  // The line each option came from, for messages about it: "vcpus", "boot", "serial", "gdb",
  // "priority", "disk.N" (machine.drives[N]), "debugcon.N" (machine.debugcons[N]). A key
  // absent here is the partition's own line.
  std::map<std::string, unsigned> lines;
  unsigned line = 0;
};

struct SystemConfig {
  std::string source;                      // the file it came from ("" when built in code)
  uint64_t machine_memory = 0;             // bytes of machine memory the primary owns
  std::string monitor;                     // "tcp:ADDR:PORT": the primary's monitor console
  unsigned monitor_line = 0;
  std::vector<ProcessorSetConfig> processor_sets;
  std::vector<HypervisorConfig> hypervisors;
  std::vector<MemoryPoolConfig> pools;
  std::vector<SharedRegionConfig> shared;
  std::vector<PartitionConfig> partitions;
};

// The secondary hypervisor that schedules some of `p`'s vCPUs ([partition.secondary]: the one
// it names, else the system's only secondary), or nullptr.
inline const HypervisorConfig* split_hypervisor(const SystemConfig& c, const PartitionConfig& p) {
  if (!p.split) return nullptr;
  for (const HypervisorConfig& h : c.hypervisors)
    if (h.kind == HypervisorKind::SECONDARY &&
        (p.split->hypervisor.empty() || h.name == p.split->hypervisor))
      return &h;
  return nullptr;
}

// Whether partition `a` maps a [[shared]] region that a partition of hypervisor `hv` maps too
// (a word both can address: a waker of `a` may wake a waiter there, docs/design.md "A waker in
// a partition of the primary").
inline bool shares_a_region_with(const SystemConfig& c, const std::string& a, const std::string& hv) {
  for (const SharedRegionConfig& r : c.shared) {
    bool mine = false, theirs = false;
    for (const SharedMapConfig& m : r.maps) {
      if (m.partition == a) mine = true;
      else
        for (const PartitionConfig& q : c.partitions)
          if (q.name == m.partition && q.hypervisor == hv) theirs = true;
    }
    if (mine && theirs) return true;
  }
  return false;
}

}  // namespace softcpu::hv
