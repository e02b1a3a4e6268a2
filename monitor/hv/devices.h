// A partition's devices (docs/config.md): which PC devices it is given follows from its disks
// (the IDE channel each is on), its serial port and its debug consoles; each routable device
// has an interrupt route (the file's, or its PC/AT line). The rest of the PC's devices are
// concealed from it: the view its Machine is built with (MachineConfig::view).
#pragma once
#include "monitor/hv/system_config.h"
#include "monitor/machine_config.h"

namespace softcpu::hv {

// Add to p->devices what its disks, serial port (`has_serial`, or a backend other than
// "none") and debug consoles give it, and to p->irq_routes the PC/AT line of each routable
// device without a route (marked implied). Idempotent: the TOML reader calls it, and the
// primary again for partitions built in code.
void assign_devices(PartitionConfig* p, bool has_serial);

// The firmware view of the partition's devices: the ones it is given and their routes. (Its
// memory view is its RAM at guest-physical 0: Machine's PhysicalMemory::ram_size().)
DeviceView device_view(const PartitionConfig& p);

}  // namespace softcpu::hv
