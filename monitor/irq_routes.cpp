#include "monitor/irq_routes.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace softcpu {

int pc_at_irq(const std::string& device, unsigned source) {
  if (source != 0) return -1;  // each of these devices has one interrupt output
  if (device == "ide0") return 14;
  if (device == "ide1") return 15;
  if (device == "com1") return 4;
  return -1;
}

const char* reserved_gsi_holder(unsigned gsi) {
  switch (gsi) {
    case 0: return "the PIT/HPET timer";
    case 1: return "the keyboard controller";
    case 2: return "the PIT (IOAPIC pin 2) and the 8259 cascade";
    case 8: return "the RTC";
    case 9: return "the ACPI SCI";
    case 12: return "the PS/2 mouse";
    case 13: return "the FPU error line";
    default: return nullptr;
  }
}

std::vector<IrqRouteSpec> effective_irq_routes(const DeviceView& view, std::string* error) {
  static const char* const kRoutable[] = {"ide0", "ide1", "com1"};
  auto owned = [&](const std::string& d) {
    return view.all || std::find(view.assigned.begin(), view.assigned.end(), d) != view.assigned.end();
  };
  std::vector<IrqRouteSpec> out;
  for (const IrqRouteSpec& r : view.irq_routes) {
    const std::string what = "interrupt " + std::to_string(r.source) + " of '" + r.device + "'";
    if (pc_at_irq(r.device, 0) < 0) {
      *error = "cannot route " + what + ": the routable devices are ide0, ide1 and com1";
      return {};
    }
    if (pc_at_irq(r.device, r.source) < 0) {
      *error = "cannot route " + what + ": the device has only interrupt 0";
      return {};
    }
    if (!owned(r.device)) {
      *error = "cannot route " + what + ": the guest does not own the device";
      return {};
    }
    if (r.gsi >= kNumGsis) {
      *error = "cannot route " + what + " to gsi " + std::to_string(r.gsi) + ": expected 0-23";
      return {};
    }
    if (const char* holder = reserved_gsi_holder(r.gsi)) {
      *error = "cannot route " + what + " to gsi " + std::to_string(r.gsi) + ": it is " + holder +
               "'s, kept by the VMM for every guest";
      return {};
    }
    for (const IrqRouteSpec& o : out) {
      if (o.device == r.device && o.source == r.source) {
        *error = what + " is routed twice";
        return {};
      }
      if (o.gsi == r.gsi) {
        *error = "gsi " + std::to_string(r.gsi) + " is routed twice ('" + o.device + "' and '" +
                 r.device + "')";
        return {};
      }
    }
    out.push_back(r);
  }
  // Owned outputs without a route keep their PC/AT line (unless another route took it).
  for (const char* d : kRoutable) {
    if (!owned(d)) continue;
    if (std::any_of(out.begin(), out.end(), [&](const IrqRouteSpec& r) { return r.device == d; }))
      continue;
    const unsigned gsi = unsigned(pc_at_irq(d, 0));
    for (const IrqRouteSpec& o : out) {
      if (o.gsi == gsi) {
        *error = "gsi " + std::to_string(gsi) + " is routed twice ('" + o.device + "' and '" + d +
                 "', on its PC/AT line)";
        return {};
      }
    }
    out.push_back({d, 0, gsi});
  }
  return out;
}

IrqLine IrqRouteTable::add(const IrqRouteSpec& route) {
  auto r = std::make_unique<Route>();
  r->spec = route;
  routes_.push_back(std::move(r));
  return IrqLine{this, unsigned(routes_.size() - 1)};
}

void IrqRouteTable::set_irq(unsigned route, bool level) {
  Route& r = *routes_[route];
  if (level && !r.level) r.asserted.fetch_add(1, std::memory_order_relaxed);
  r.level = level;
  gsi_.set_irq(r.spec.gsi, level);
}

std::vector<IrqRouteTable::Entry> IrqRouteTable::entries() const {
  std::vector<Entry> out;
  for (const auto& r : routes_) out.push_back({r->spec, r->asserted.load(std::memory_order_relaxed)});
  return out;
}

std::vector<IsaIrqOverride> IrqRouteTable::overrides() const {
  std::vector<IsaIrqOverride> out;
  for (const auto& r : routes_) {
    const int irq = pc_at_irq(r->spec.device, r->spec.source);
    if (irq >= 0 && unsigned(irq) != r->spec.gsi) out.push_back({uint8_t(irq), uint8_t(r->spec.gsi)});
  }
  return out;
}

std::string format_irq_routes(const std::vector<IrqRouteTable::Entry>& entries,
                              const std::string& prefix) {
  std::string out;
  char line[192];
  for (const auto& e : entries) {
    char pic[16] = "-";
    if (e.route.gsi < 16) std::snprintf(pic, sizeof pic, "IRQ %u", e.route.gsi);
    std::snprintf(line, sizeof line, "%s%-6s %u -> gsi %-2u  8259 %-7s IOAPIC pin %-2u  asserted %" PRIu64 "\n",
                  prefix.c_str(), e.route.device.c_str(), e.route.source, e.route.gsi, pic,
                  e.route.gsi, e.asserted);
    out += line;
  }
  if (entries.empty()) out = prefix + "(no device interrupts routed)\n";
  return out;
}

}  // namespace softcpu
