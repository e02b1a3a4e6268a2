#include "monitor/mptable.h"

#include <cstring>

#include "interp/memory.h"

namespace softcpu {

namespace {

void put(std::vector<uint8_t>& b, size_t off, uint32_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
// The byte that makes the sum of `len` bytes zero (spec 4.1 and 4.2 checksums).
uint8_t checksum_fix(const uint8_t* p, size_t len) {
  uint8_t sum = 0;
  for (size_t i = 0; i < len; ++i) sum = uint8_t(sum + p[i]);
  return uint8_t(-sum);
}

void add_entry(std::vector<uint8_t>& t, std::initializer_list<uint8_t> bytes) {
  t.insert(t.end(), bytes.begin(), bytes.end());
}
// I/O or local interrupt entry: flags 0 = polarity and trigger conform to the bus.
void add_interrupt(std::vector<uint8_t>& t, uint8_t type, uint8_t int_type, uint8_t bus,
                   uint8_t bus_irq, uint8_t dest_id, uint8_t dest_pin) {
  add_entry(t, {type, int_type, 0, 0, bus, bus_irq, dest_id, dest_pin});
}

}  // namespace

std::vector<uint8_t> build_mp_config_table(const MpTableConfig& c) {
  std::vector<uint8_t> t(MP_CONFIG_HEADER_SIZE, 0);
  std::memcpy(t.data(), "PCMP", 4);
  t[6] = 4;  // spec revision 1.4
  std::memcpy(t.data() + 8, "SOFTCPU ", 8);
  std::memcpy(t.data() + 16, "PC          ", 12);
  put(t, 36, c.lapic_addr, 4);
  unsigned count = 0;

  // Processors: enabled; the first is the bootstrap processor (MP spec 4.3.1).
  for (unsigned k = 0; k < c.cpus; ++k) {
    const size_t cpu = t.size();
    t.resize(cpu + 20, 0);
    t[cpu] = MP_PROCESSOR;
    t[cpu + 1] = uint8_t(c.lapic_id + k);
    t[cpu + 2] = c.lapic_version;
    t[cpu + 3] = k == 0 ? 0x01 | 0x02 : 0x01;
    put(t, cpu + 4, c.cpuid_signature, 4);
    put(t, cpu + 8, c.cpuid_features, 4);
    ++count;
  }

  uint8_t isa_bus = 0;
  if (c.pci_bus) {
    add_entry(t, {MP_BUS, 0, 'P', 'C', 'I', ' ', ' ', ' '});
    isa_bus = 1;
    ++count;
  }
  add_entry(t, {MP_BUS, isa_bus, 'I', 'S', 'A', ' ', ' ', ' '});
  ++count;

  const size_t ioapic = t.size();
  add_entry(t, {MP_IOAPIC, c.ioapic_id, c.ioapic_version, 0x01, 0, 0, 0, 0});
  put(t, ioapic + 4, c.ioapic_addr, 4);
  ++count;

  // ISA IRQs 0-15 to the same I/O APIC pins, except IRQ0 -> pin 2 (and no IRQ2).
  for (uint8_t irq = 0; irq < 16; ++irq) {
    uint8_t pin = irq;
    if (c.irq0_to_pin2 && irq == 0) pin = 2;
    if (c.irq0_to_pin2 && irq == 2) continue;
    bool pin_taken = false;
    for (const IsaIrqOverride& o : c.irq_overrides) {
      if (o.isa_irq == irq) pin = o.gsi;
      if (o.gsi == irq && o.isa_irq != irq) pin_taken = true;
    }
    if (pin_taken && pin == irq) continue;
    add_interrupt(t, MP_IOINTR, MP_INT, isa_bus, irq, c.ioapic_id, pin);
    ++count;
  }
  // The 8259 reaches the BSP's LINT0 as ExtINT; NMI goes to LINT1 of every local APIC.
  add_interrupt(t, MP_LINTR, MP_EXTINT, isa_bus, 0, c.lapic_id, 0);
  add_interrupt(t, MP_LINTR, MP_NMI, isa_bus, 0, 0xFF, 1);
  count += 2;

  put(t, 4, uint32_t(t.size()), 2);
  put(t, 34, count, 2);
  t[7] = checksum_fix(t.data(), t.size());
  return t;
}

std::array<uint8_t, MP_FLOATING_SIZE> build_mp_floating_pointer(uint32_t config_addr) {
  std::array<uint8_t, MP_FLOATING_SIZE> f{};
  std::memcpy(f.data(), "_MP_", 4);
  for (unsigned i = 0; i < 4; ++i) f[4 + i] = uint8_t(config_addr >> (8 * i));
  f[8] = 1;  // length in 16-byte paragraphs
  f[9] = 4;  // spec revision 1.4
  // Feature bytes 0: a configuration table is present; IMCR absent (virtual wire mode).
  f[10] = checksum_fix(f.data(), f.size());
  return f;
}

MpTableLayout write_mptable(PhysicalMemory& mem, const MpTableConfig& config, uint32_t addr) {
  MpTableLayout l;
  l.floating_addr = (addr + 15) & ~15u;
  l.config_addr = l.floating_addr + MP_FLOATING_SIZE;
  const std::vector<uint8_t> table = build_mp_config_table(config);
  l.config_length = uint32_t(table.size());
  const auto floating = build_mp_floating_pointer(l.config_addr);
  mem.write_bytes(l.floating_addr, floating.data(), MP_FLOATING_SIZE);
  mem.write_bytes(l.config_addr, table.data(), l.config_length);
  return l;
}

}  // namespace softcpu
