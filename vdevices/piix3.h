// Intel 82371SB PIIX3 (datasheet 290550): function 0 is the PCI-to-ISA bridge (8086:7000),
// function 1 the IDE controller (8086:7010) with bus master DMA. Both sit in one PCI slot
// (slot 1 on the i440FX machine QEMU's SeaBIOS expects).
#pragma once
#include <array>
#include <cstdint>
#include <functional>

#include "vdevices/ide_controller.h"
#include "vdevices/irq.h"
#include "vdevices/pci_device.h"

namespace softcpu {

class StateReader;
class StateWriter;

// PCI-to-ISA bridge, function 0. It routes the four PCI interrupt lines PIRQA..D to ISA IRQs
// through PIRQRC[A:D] (0x60..0x63, 82371SB 2.2.10: bit 7 disables the route, bits 3..0 give
// the IRQ). As an IrqSink it takes PCI devices' INTx levels on input slot * 4 + (pin - 1) and
// drives the routed ISA IRQ of `isa` (level, shared: the IRQ is high while any routed source is).
class Piix3Isa final : public PciDevice, public IrqSink {
 public:
  static constexpr uint16_t VENDOR = 0x8086, DEVICE = 0x7000;
  static constexpr uint8_t PIRQRC = 0x60;  // ..0x63
  static constexpr unsigned NUM_PIRQS = 4;

  Piix3Isa();
  void reset() override;

  // ISA IRQ that PIRQ n (0 = A .. 3 = D) is routed to, or -1 if disabled or invalid.
  int route_pirq(unsigned n) const;
  // PIRQ a slot's INTx pin (1 = INTA .. 4 = INTD) is wired to: the barber-pole swizzle QEMU
  // and SeaBIOS's i440FX tables use, (pin - 1 + slot - 1) mod 4.
  static unsigned pirq_for(unsigned slot, unsigned pin) { return (pin + slot - 2) & 3; }
  static unsigned intx_input(unsigned slot, unsigned pin) { return slot * 4 + (pin - 1); }

  // Where routed PCI interrupts go (the machine's ISA IRQ router, both PICs/IOAPIC).
  void set_isa_sink(IrqSink* isa) { isa_ = isa; }
  void set_irq(unsigned input, bool level) override;
  // Called after any PIRQRC write, e.g. for the machine to refresh its ELCR/IOAPIC view.
  std::function<void()> on_route_change;

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const override;
  void load_state(StateReader& r) override;
 protected:
  void config_written(uint8_t offset, unsigned size, uint32_t old) override;

 private:
  void deliver();

  IrqSink* isa_ = nullptr;
  std::array<bool, 32 * 4> intx_{};  // level of each slot's INTA..INTD
  std::array<bool, 16> isa_level_{};  // what we last drove on each ISA IRQ
};

// IDE function 1: legacy-mode ATA ports (always decoded, as QEMU does; IDETIM's decode-enable
// bit is only stored), bus master registers behind BAR4 (16 I/O ports), IDE timing registers
// IDETIM 0x40..0x43 and SIDETIM 0x44 stored. COMMAND's bus master bit gates DMA.
class Piix3Ide final : public PciDevice {
 public:
  static constexpr uint16_t VENDOR = 0x8086, DEVICE = 0x7010;
  static constexpr unsigned BM_BAR = 4;

  // The controller must outlive this function. Map bus_master() where BAR4 says, through the
  // BarChangeHandler (set_bar_change_handler).
  explicit Piix3Ide(IdeController& ide);
  void reset() override;
  IdeController& controller() { return ide_; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const override;
  void load_state(StateReader& r) override;
 protected:
  void config_written(uint8_t offset, unsigned size, uint32_t old) override;

 private:
  IdeController& ide_;
};

}  // namespace softcpu
