#include "monitor/mptable.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "interp/memory.h"

namespace softcpu {
namespace {

uint8_t sum(const uint8_t* p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = uint8_t(s + p[i]);
  return s;
}
uint32_t get(const std::vector<uint8_t>& b, size_t off, unsigned n) {
  uint32_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= uint32_t(b[off + i]) << (8 * i);
  return v;
}

struct Entry {
  size_t off;
  uint8_t type;
};
// Walk the entries by their type's size (processor 20 bytes, the others 8).
std::vector<Entry> walk(const std::vector<uint8_t>& t) {
  std::vector<Entry> out;
  for (size_t off = MP_CONFIG_HEADER_SIZE; off < t.size();) {
    out.push_back({off, t[off]});
    off += t[off] == MP_PROCESSOR ? 20 : 8;
  }
  return out;
}

TEST(MpTable, ConfigTableLayoutAndChecksum) {
  MpTableConfig c;
  c.cpuid_signature = 0x633;
  c.cpuid_features = 0x0383FBFF;
  const std::vector<uint8_t> t = build_mp_config_table(c);
  EXPECT_EQ(std::memcmp(t.data(), "PCMP", 4), 0);
  EXPECT_EQ(get(t, 4, 2), t.size());
  EXPECT_EQ(t[6], 4);
  EXPECT_EQ(sum(t.data(), t.size()), 0);
  EXPECT_EQ(get(t, 36, 4), 0xFEE00000u);

  const std::vector<Entry> entries = walk(t);
  EXPECT_EQ(get(t, 34, 2), entries.size());
  // 1 processor + 2 buses + 1 I/O APIC + 15 ISA interrupts (IRQ2 unused) + 2 local = 21.
  ASSERT_EQ(entries.size(), 21u);
  // Entries appear in type order (spec 4.3).
  for (size_t i = 1; i < entries.size(); ++i) EXPECT_LE(entries[i - 1].type, entries[i].type);

  const size_t cpu = entries[0].off;
  EXPECT_EQ(t[cpu + 1], 0);      // APIC id
  EXPECT_EQ(t[cpu + 2], 0x14);   // version
  EXPECT_EQ(t[cpu + 3], 0x03);   // enabled, BSP
  EXPECT_EQ(get(t, cpu + 4, 4), 0x633u);
  EXPECT_EQ(get(t, cpu + 8, 4), 0x0383FBFFu);

  EXPECT_EQ(std::memcmp(&t[entries[1].off + 1], "\0PCI   ", 7), 0);
  EXPECT_EQ(std::memcmp(&t[entries[2].off + 1], "\1ISA   ", 7), 0);

  const size_t ioapic = entries[3].off;
  EXPECT_EQ(entries[3].type, MP_IOAPIC);
  EXPECT_EQ(t[ioapic + 1], 1);
  EXPECT_EQ(t[ioapic + 2], 0x11);
  EXPECT_EQ(t[ioapic + 3], 1);
  EXPECT_EQ(get(t, ioapic + 4, 4), 0xFEC00000u);

  // ISA IRQ n -> pin n, except IRQ0 -> pin 2 and no entry for IRQ2; all on bus 1, APIC 1.
  std::vector<int> pin_of(16, -1);
  for (size_t i = 4; i < 19; ++i) {
    const size_t e = entries[i].off;
    ASSERT_EQ(t[e], MP_IOINTR);
    EXPECT_EQ(t[e + 1], MP_INT);
    EXPECT_EQ(t[e + 4], 1);  // ISA bus id
    EXPECT_EQ(t[e + 6], 1);  // I/O APIC id
    pin_of[t[e + 5]] = t[e + 7];
  }
  EXPECT_EQ(pin_of[0], 2);
  EXPECT_EQ(pin_of[2], -1);
  for (int irq = 3; irq < 16; ++irq) EXPECT_EQ(pin_of[irq], irq);
  EXPECT_EQ(pin_of[1], 1);

  const size_t lint0 = entries[19].off, lint1 = entries[20].off;
  EXPECT_EQ(t[lint0], MP_LINTR);
  EXPECT_EQ(t[lint0 + 1], MP_EXTINT);
  EXPECT_EQ(t[lint0 + 7], 0);  // LINTIN0
  EXPECT_EQ(t[lint1 + 1], MP_NMI);
  EXPECT_EQ(t[lint1 + 6], 0xFF);  // every local APIC
  EXPECT_EQ(t[lint1 + 7], 1);     // LINTIN1
}

TEST(MpTable, WithoutPciBusIsaIsBusZero) {
  MpTableConfig c;
  c.pci_bus = false;
  c.irq0_to_pin2 = false;
  const std::vector<uint8_t> t = build_mp_config_table(c);
  EXPECT_EQ(sum(t.data(), t.size()), 0);
  const std::vector<Entry> entries = walk(t);
  ASSERT_EQ(entries.size(), 1u + 1 + 1 + 16 + 2);
  EXPECT_EQ(std::memcmp(&t[entries[1].off + 1], "\0ISA   ", 7), 0);
  EXPECT_EQ(t[entries[3].off + 5], 0);  // IRQ0
  EXPECT_EQ(t[entries[3].off + 7], 0);  // -> pin 0
  EXPECT_EQ(t[entries[3].off + 4], 0);  // bus 0
}

TEST(MpTable, FloatingPointerInMemory) {
  PhysicalMemory mem(4u << 20);
  const MpTableLayout l = write_mptable(mem, MpTableConfig{});
  EXPECT_EQ(l.floating_addr, EBDA_START);
  EXPECT_EQ(l.floating_addr % 16, 0u);
  // The whole thing fits the last KiB of base memory that Linux searches.
  EXPECT_LE(l.config_addr + l.config_length, 0xA0000u);
  uint8_t f[16];
  mem.read_bytes(l.floating_addr, f, 16);
  EXPECT_EQ(std::memcmp(f, "_MP_", 4), 0);
  uint32_t ptr;
  std::memcpy(&ptr, f + 4, 4);
  EXPECT_EQ(ptr, l.config_addr);
  EXPECT_EQ(f[8], 1);
  EXPECT_EQ(f[9], 4);
  EXPECT_EQ(f[11], 0);  // feature byte 1: a table is present, no default configuration
  EXPECT_EQ(sum(f, 16), 0);
  std::vector<uint8_t> table(l.config_length);
  mem.read_bytes(l.config_addr, table.data(), l.config_length);
  EXPECT_EQ(std::memcmp(table.data(), "PCMP", 4), 0);
  EXPECT_EQ(sum(table.data(), table.size()), 0);

  const MpTableLayout unaligned = write_mptable(mem, MpTableConfig{}, 0xF0003);
  EXPECT_EQ(unaligned.floating_addr, 0xF0010u);
}

}  // namespace
}  // namespace softcpu
