#include "vdevices/pci_bus.h"

#include "hostio/state_stream.h"

#include "vdevices/port_mask.h"

namespace softcpu {

void PciBus::attach(unsigned slot, unsigned function, PciDevice* dev) {
  devices_[slot * NUM_FUNCTIONS + function] = dev;
}

void PciBus::reset() {
  address_ = 0;
  reset_control_ = 0;
  for (PciDevice* dev : devices_)
    if (dev) dev->reset();
}

PciDevice* PciBus::selected() const {
  if (!(address_ & 0x80000000u)) return nullptr;
  if ((address_ >> 16) & 0xFF) return nullptr;  // only bus 0 exists
  return devices_[(address_ >> 8) & 0xFF];      // device 15..11 and function 10..8
}

uint32_t PciBus::config_read(unsigned slot, unsigned function, uint8_t offset,
                             unsigned size) const {
  PciDevice* dev = device_at(slot, function);
  return dev ? dev->config_read(offset, size) : port_size_mask(size);
}

void PciBus::config_write(unsigned slot, unsigned function, uint8_t offset, unsigned size,
                          uint32_t value) {
  if (PciDevice* dev = device_at(slot, function)) dev->config_write(offset, size, value);
}

uint32_t PciBus::io_read(uint16_t port, unsigned size) {
  if (port == CONFIG_ADDRESS && size == 4) return address_;
  if (port == RESET_CONTROL && size == 1) return reset_control_;
  if (port >= CONFIG_DATA && port < CONFIG_DATA + 4) {
    PciDevice* dev = selected();
    unsigned offset = (address_ & 0xFC) + (port & 3);
    // An access running past 0xCFF is cut at the dword (no device does that on purpose).
    unsigned fit = 4 - (port & 3);
    if (!dev) return port_size_mask(size);
    uint32_t value = dev->config_read(static_cast<uint8_t>(offset), size < fit ? size : fit);
    return size <= fit ? value : value | (port_size_mask(size) & ~port_size_mask(fit));
  }
  // Byte and word accesses to 0xCF8..0xCFB are ordinary I/O with nothing behind them.
  return port_size_mask(size);
}

void PciBus::io_write(uint16_t port, unsigned size, uint32_t value) {
  if (port == CONFIG_ADDRESS && size == 4) {
    address_ = value & 0x80FFFFFCu;  // bits 30..24 reserved, 1..0 read as zero
    return;
  }
  if (port == RESET_CONTROL && size == 1) {
    reset_control_ = static_cast<uint8_t>(value & 0x0E);
    if ((value & 0x04) && on_reset_request) on_reset_request((value & 0x02) != 0);
    return;
  }
  if (port >= CONFIG_DATA && port < CONFIG_DATA + 4) {
    PciDevice* dev = selected();
    if (!dev) return;
    unsigned offset = (address_ & 0xFC) + (port & 3);
    unsigned fit = 4 - (port & 3);
    dev->config_write(static_cast<uint8_t>(offset), size < fit ? size : fit, value);
  }
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void PciBus::visit_state(A& a) {
  a(address_, reset_control_);
}

void PciBus::save_state(StateWriter& w) const { const_cast<PciBus*>(this)->visit_state(w); }

void PciBus::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
