#include "vdevices/pci_device.h"

#include "hostio/state_stream.h"

#include <cstring>

namespace softcpu {

PciDevice::PciDevice(const char* name, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint8_t revision, uint8_t header_type)
    : name_(name) {
  init_reg16(VENDOR_ID, vendor);
  init_reg16(DEVICE_ID, device);
  init_reg16(COMMAND, 0, CMD_IO | CMD_MEMORY | CMD_BUS_MASTER | CMD_SERR | CMD_INTX_DISABLE);
  // STATUS: error bits 15..11 and 8 are write-one-to-clear (spec 6.2.3); DEVSEL medium timing.
  init_reg16(STATUS, 0x0200);
  set_w1c(STATUS + 1, 0xF9);
  init_reg8(REVISION, revision);
  init_reg8(PROG_IF, static_cast<uint8_t>(class_code));
  init_reg8(SUBCLASS, static_cast<uint8_t>(class_code >> 8));
  init_reg8(CLASS, static_cast<uint8_t>(class_code >> 16));
  init_reg8(CACHE_LINE, 0, 0xFF);
  init_reg8(LATENCY, 0, 0xFF);
  init_reg8(HEADER_TYPE, header_type);
  init_reg8(INTERRUPT_LINE, 0, 0xFF);
  std::memcpy(config_, reset_, sizeof config_);
}

void PciDevice::init_reg8(uint8_t offset, uint8_t value, uint8_t write_mask) {
  reset_[offset] = config_[offset] = value;
  wmask_[offset] = write_mask;
}

void PciDevice::init_reg16(uint8_t offset, uint16_t value, uint16_t write_mask) {
  init_reg8(offset, static_cast<uint8_t>(value), static_cast<uint8_t>(write_mask));
  init_reg8(offset + 1, static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(write_mask >> 8));
}

void PciDevice::init_reg32(uint8_t offset, uint32_t value, uint32_t write_mask) {
  init_reg16(offset, static_cast<uint16_t>(value), static_cast<uint16_t>(write_mask));
  init_reg16(offset + 2, static_cast<uint16_t>(value >> 16),
             static_cast<uint16_t>(write_mask >> 16));
}

void PciDevice::define_bar(unsigned bar, BarKind kind, uint32_t size) {
  bar_kind_[bar] = kind;
  bar_size_[bar] = size;
  uint8_t offset = static_cast<uint8_t>(BAR0 + 4 * bar);
  if (kind == BarKind::IO) {
    // Bit 0 = 1 marks I/O space. Bits 31..16 are writable as on QEMU's PIIX: SeaBIOS sizes a
    // BAR as ~(read-back & ~3) + 1, which would be huge if they read back zero; the port
    // decode still uses the low 16 bits only.
    init_reg32(offset, 0x1, ~(size - 1) & 0xFFFFFFFCu);
  } else if (kind == BarKind::MEMORY) {
    init_reg32(offset, 0x0, ~(size - 1) & 0xFFFFFFF0u);  // 32-bit, not prefetchable
  } else {
    init_reg32(offset, 0, 0);
  }
}

uint32_t PciDevice::config_read(uint8_t offset, unsigned size) const {
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i)
    value |= static_cast<uint32_t>(config_[(offset + i) & 0xFF]) << (8 * i);
  return value;
}

void PciDevice::config_write(uint8_t offset, unsigned size, uint32_t value) {
  uint32_t old = 0;
  bool bar_or_command = false;
  for (unsigned i = 0; i < size; ++i) {
    unsigned at = (offset + i) & 0xFF;
    uint8_t byte = static_cast<uint8_t>(value >> (8 * i));
    uint8_t prev = config_[at];
    old |= static_cast<uint32_t>(prev) << (8 * i);
    uint8_t next = static_cast<uint8_t>((prev & ~wmask_[at]) | (byte & wmask_[at]));
    next = static_cast<uint8_t>(next & ~(byte & w1c_[at]));
    config_[at] = next;
    if (at == COMMAND || (at >= BAR0 && at < BAR0 + 4 * NUM_BARS)) bar_or_command = true;
  }
  if (bar_or_command) update_bar_mappings();
  config_written(offset, size, old);
}

void PciDevice::reset() {
  std::memcpy(config_, reset_, sizeof config_);
  update_bar_mappings();
}

PciDevice::BarMapping PciDevice::bar_mapping(unsigned bar) const {
  BarMapping m;
  m.kind = bar_kind_[bar];
  if (m.kind == BarKind::NONE) return m;
  uint8_t offset = static_cast<uint8_t>(BAR0 + 4 * bar);
  uint32_t raw = config_read(offset, 4);
  m.size = bar_size_[bar];
  if (m.kind == BarKind::IO) {
    m.base = raw & 0xFFFCu;
    m.mapped = (command() & CMD_IO) && m.base != 0 && m.base + m.size <= 0x10000;
  } else {
    m.base = raw & 0xFFFFFFF0u;
    m.mapped = (command() & CMD_MEMORY) && m.base != 0 &&
               static_cast<uint64_t>(m.base) + m.size <= 0x100000000ull;
  }
  return m;
}

void PciDevice::update_bar_mappings() {
  for (unsigned bar = 0; bar < NUM_BARS; ++bar) {
    BarMapping now = bar_mapping(bar);
    if (now == mapped_[bar]) continue;
    BarMapping old = mapped_[bar];
    mapped_[bar] = now;
    // Only changes of what is decoded matter to the machine.
    if (!old.mapped && !now.mapped) continue;
    if (bar_change_) bar_change_(bar, old, now);
  }
}

void PciDevice::save_state(StateWriter& w) const { w.raw(config_, sizeof config_); }

void PciDevice::load_state(StateReader& r) {
  r.raw(config_, sizeof config_);
  update_bar_mappings();
}

}  // namespace softcpu
