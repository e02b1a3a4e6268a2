#include "monitor/hv/devices.h"

#include <cstdio>

namespace softcpu::hv {

void assign_devices(PartitionConfig* p, bool has_serial) {
  auto add = [&](const std::string& name, unsigned gsi, unsigned line) {
    bool known = false;
    for (const std::string& d : p->devices) known |= d == name;
    if (!known) p->devices.push_back(name);
    if (gsi == ~0u) return;
    for (const IrqRouteConfig& r : p->irq_routes)
      if (r.device == name) return;
    p->irq_routes.push_back({name, 0, gsi, true, line});
  };
  for (size_t k = 0; k < p->machine.drives.size(); ++k) {
    const unsigned channel = p->machine.drives[k].index / 2;
    add(channel ? "ide1" : "ide0", channel ? 15 : 14, p->lines["disk." + std::to_string(k)]);
  }
  if (has_serial || p->machine.serial != "none") add("com1", 4, p->lines["serial"]);
  for (size_t k = 0; k < p->machine.debugcons.size(); ++k) {
    char name[24];
    std::snprintf(name, sizeof name, "debugcon@0x%x", p->machine.debugcons[k].port);
    add(name, ~0u, 0);
  }
}

DeviceView device_view(const PartitionConfig& p) {
  DeviceView v;
  v.all = false;
  for (const std::string& d : p.devices)
    if (d == "ide0" || d == "ide1" || d == "com1") v.assigned.push_back(d);
  for (const IrqRouteConfig& r : p.irq_routes) v.irq_routes.push_back({r.device, r.source, r.gsi});
  return v;
}

}  // namespace softcpu::hv
