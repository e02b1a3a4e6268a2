// PCI bus 0 behind configuration mechanism #1 (PCI Local Bus spec 3.0, 3.2.2.3.2):
// CONFIG_ADDRESS at 0xCF8 (dword accesses only; bit 31 enables, bus 23..16, device 15..11,
// function 10..8, register 7..2) and CONFIG_DATA at 0xCFC..0xCFF (byte, word or dword at
// register + (port & 3)). Functions that are absent, or on another bus, read all ones.
// Byte accesses to 0xCF9 reach the PIIX3 reset control register (82371SB 4.1.1, RC).
#pragma once
#include <array>
#include <cstdint>
#include <functional>

#include "vdevices/io_device.h"
#include "vdevices/pci_device.h"

namespace softcpu {

class StateReader;
class StateWriter;

class PciBus final : public IoDevice {
 public:
  static constexpr uint16_t CONFIG_ADDRESS = 0xCF8;
  static constexpr uint16_t RESET_CONTROL = 0xCF9;
  static constexpr uint16_t CONFIG_DATA = 0xCFC;
  static constexpr uint16_t FIRST_PORT = 0xCF8;
  static constexpr unsigned NUM_PORTS = 8;  // attach the bus at 0xCF8..0xCFF
  static constexpr unsigned NUM_SLOTS = 32, NUM_FUNCTIONS = 8;

  const char* name() const override { return "pci-bus"; }

  // Put `dev` at bus 0, slot.function. The device must outlive the bus.
  void attach(unsigned slot, unsigned function, PciDevice* dev);
  PciDevice* device_at(unsigned slot, unsigned function) const {
    return devices_[slot * NUM_FUNCTIONS + function];
  }

  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // Clears CONFIG_ADDRESS and resets every attached function.
  void reset() override;

  // Direct configuration access (firmware setup, tests). Absent functions read all ones.
  uint32_t config_read(unsigned slot, unsigned function, uint8_t offset, unsigned size) const;
  void config_write(unsigned slot, unsigned function, uint8_t offset, unsigned size,
                    uint32_t value);

  // A write to 0xCF9 with RST_CPU (bit 2) set asks for a reset; `hard` is SRST (bit 1), a full
  // system reset rather than a CPU-only INIT. Unset: the write is only stored.
  std::function<void(bool hard)> on_reset_request;

  uint32_t config_address() const { return address_; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  PciDevice* selected() const;

  std::array<PciDevice*, NUM_SLOTS * NUM_FUNCTIONS> devices_{};
  uint32_t address_ = 0;
  uint8_t reset_control_ = 0;
};

}  // namespace softcpu
