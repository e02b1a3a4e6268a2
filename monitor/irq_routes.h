// The interrupt routing table of one PC (a partition's or the single guest's): each interrupt
// output of a device the guest owns is wired to one GSI of that PC's own interrupt
// controllers (IOAPIC pin GSI and, below 16, 8259 IRQ GSI), and counted. A device the guest
// does not own has no route: its output goes nowhere. The devices every guest has (PIT/HPET,
// RTC, i8042, SCI, FPU error) keep their PC/AT lines outside this table.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "monitor/machine_config.h"
#include "vdevices/irq.h"

namespace softcpu {

// The PC/AT ISA IRQ of a routable device's output: ide0 -> 14, ide1 -> 15, com1 -> 4; -1 for
// an unknown device or output.
int pc_at_irq(const std::string& device, unsigned source);

// GSIs no device route may take: the lines of the devices the VMM keeps for every guest
// (0/2 PIT and HPET, 1 keyboard, 8 RTC, 9 ACPI SCI, 12 mouse, 13 FPU error; 2 is also the
// 8259 cascade). Returns the holder's name, or nullptr when the GSI is free to route.
const char* reserved_gsi_holder(unsigned gsi);
constexpr unsigned kNumGsis = 24;  // the IOAPIC's inputs

// An ISA IRQ delivered on another GSI than its own: announced to the guest by an ACPI
// interrupt source override (ACPI 1.0b 5.2.10.8) and the MP table's I/O interrupt entry
// (MP 1.4 4.3.4).
struct IsaIrqOverride {
  uint8_t isa_irq;
  uint8_t gsi;
};

// The routes a view asks for, completed with the PC/AT line of every owned output the view
// does not route, or an error message (unknown device, a device not owned, a reserved or out
// of range GSI, a GSI or an output routed twice).
std::vector<IrqRouteSpec> effective_irq_routes(const DeviceView& view, std::string* error);

class IrqRouteTable final : public IrqSink {
 public:
  // `gsi_sink` receives set_irq(gsi, level).
  explicit IrqRouteTable(IrqSink& gsi_sink) : gsi_(gsi_sink) {}
  // Add a route; the returned line is what the device drives.
  IrqLine add(const IrqRouteSpec& route);
  void set_irq(unsigned route, bool level) override;  // CPU thread

  struct Entry {
    IrqRouteSpec route;
    uint64_t asserted;  // rising edges delivered to the GSI
  };
  std::vector<Entry> entries() const;  // any thread
  std::vector<IsaIrqOverride> overrides() const;

 private:
  struct Route {
    IrqRouteSpec spec;
    bool level = false;
    std::atomic<uint64_t> asserted{0};
  };
  IrqSink& gsi_;
  std::vector<std::unique_ptr<Route>> routes_;
};

// `info irq-routes`: a header line, then one line per route ("ide0 0 -> gsi 14 (8259 IRQ 14,
// IOAPIC pin 14) asserted N"), each prefixed with `prefix` (a partition's name).
std::string format_irq_routes(const std::vector<IrqRouteTable::Entry>& entries,
                              const std::string& prefix = "");

}  // namespace softcpu
