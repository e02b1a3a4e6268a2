// The checks of a system description across its elements (docs/config.md, "What check-config
// checks"): references, duplicate names, memory that overlaps or exceeds the machine, devices
// given twice, interrupt routes, boot sources, priorities. Each error names the line of the
// element it is about (the `line` fields; 0 for a description built in code).
#pragma once
#include <string>
#include <vector>

#include "monitor/hv/config_file.h"
#include "monitor/hv/system_config.h"

namespace softcpu::hv {

// The highest vCPU count a partition may ask for (one xAPIC ID each, MP table entries).
constexpr unsigned kMaxVcpus = 32;
// Guest-physical memory ends here: above is the PCI/MMIO hole and the firmware.
constexpr uint64_t kGuestMemoryTop = 3ull << 30;

// Appends every problem of `c` to *errors.
void check_system_config(const SystemConfig& c, std::vector<ConfigError>* errors);

// Bytes of static memory of one partition.
uint64_t static_memory(const PartitionConfig& p);

// One line summing up a valid description: partitions, vCPUs, memory, hypervisors.
std::string describe_system(const SystemConfig& c);

// The single-guest machine of a one-partition description: the partition's MachineConfig with
// its RAM size from its static memory, which must be one range from guest-physical 0 in whole
// MiB, and at most kMaxCpus vCPUs (-smp). False with a message when the partition needs the hypervisor runner.
bool single_guest_machine(const SystemConfig& c, MachineConfig* out, std::string* error);

}  // namespace softcpu::hv
