#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "vdevices/i440fx.h"
#include "vdevices/ide_controller.h"
#include "vdevices/pci_bus.h"
#include "vdevices/piix3.h"

namespace softcpu {
namespace {

uint32_t cfg_addr(unsigned slot, unsigned fn, unsigned reg, unsigned bus = 0) {
  return 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (reg & 0xFC);
}

struct PciTest : ::testing::Test {
  PciTest() : ide_fn(ide) {
    bus.attach(0, 0, &host);
    bus.attach(1, 0, &isa);
    bus.attach(1, 1, &ide_fn);
  }
  uint32_t read(unsigned slot, unsigned fn, unsigned reg, unsigned size) {
    bus.io_write(PciBus::CONFIG_ADDRESS, 4, cfg_addr(slot, fn, reg));
    return bus.io_read(static_cast<uint16_t>(PciBus::CONFIG_DATA + (reg & 3)), size);
  }
  void write(unsigned slot, unsigned fn, unsigned reg, unsigned size, uint32_t v) {
    bus.io_write(PciBus::CONFIG_ADDRESS, 4, cfg_addr(slot, fn, reg));
    bus.io_write(static_cast<uint16_t>(PciBus::CONFIG_DATA + (reg & 3)), size, v);
  }

  PciBus bus;
  I440fx host;
  Piix3Isa isa;
  IdeController ide;
  Piix3Ide ide_fn;
};

TEST_F(PciTest, EnumeratesIds) {
  // The scan a BIOS does: vendor/device dword at register 0 of every slot.function.
  std::vector<std::tuple<unsigned, unsigned, uint32_t>> found;
  for (unsigned slot = 0; slot < 32; ++slot)
    for (unsigned fn = 0; fn < 8; ++fn) {
      uint32_t id = read(slot, fn, 0, 4);
      if (id != 0xFFFFFFFF) found.emplace_back(slot, fn, id);
    }
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0], std::make_tuple(0u, 0u, 0x12378086u));
  EXPECT_EQ(found[1], std::make_tuple(1u, 0u, 0x70008086u));
  EXPECT_EQ(found[2], std::make_tuple(1u, 1u, 0x70108086u));
  // Class codes and header types.
  EXPECT_EQ(read(0, 0, 0x08, 4) >> 8, 0x060000u);
  EXPECT_EQ(read(1, 0, 0x08, 4) >> 8, 0x060100u);
  EXPECT_EQ(read(1, 1, 0x08, 4) >> 8, 0x010180u);
  EXPECT_EQ(read(1, 0, 0x0E, 1), 0x80u);  // multi-function
  EXPECT_EQ(read(0, 0, 0x0E, 1), 0x00u);
  // Byte and word reads pick the right lanes of the dword.
  EXPECT_EQ(read(0, 0, 0x02, 2), 0x1237u);
  EXPECT_EQ(read(0, 0, 0x03, 1), 0x12u);
  EXPECT_EQ(read(1, 1, 0x0B, 1), 0x01u);
}

TEST_F(PciTest, AddressRegisterAndAbsentDevices) {
  bus.io_write(PciBus::CONFIG_ADDRESS, 4, 0xFFFFFFFF);
  EXPECT_EQ(bus.io_read(PciBus::CONFIG_ADDRESS, 4), 0x80FFFFFCu);  // reserved bits read 0
  // Enable bit clear: no configuration cycle.
  bus.io_write(PciBus::CONFIG_ADDRESS, 4, cfg_addr(0, 0, 0) & 0x7FFFFFFF);
  EXPECT_EQ(bus.io_read(PciBus::CONFIG_DATA, 4), 0xFFFFFFFFu);
  // Another bus.
  bus.io_write(PciBus::CONFIG_ADDRESS, 4, cfg_addr(0, 0, 0, 1));
  EXPECT_EQ(bus.io_read(PciBus::CONFIG_DATA, 4), 0xFFFFFFFFu);
  EXPECT_EQ(read(5, 0, 0, 2), 0xFFFFu);
  // A byte write to 0xCF8 is not an address register write.
  bus.io_write(PciBus::CONFIG_ADDRESS, 4, cfg_addr(0, 0, 0));
  bus.io_write(PciBus::CONFIG_ADDRESS, 1, 0x55);
  EXPECT_EQ(bus.io_read(PciBus::CONFIG_ADDRESS, 4), cfg_addr(0, 0, 0));
}

TEST_F(PciTest, ReadOnlyHeaderFieldsIgnoreWrites) {
  write(0, 0, 0x00, 4, 0);
  EXPECT_EQ(read(0, 0, 0x00, 4), 0x12378086u);
  write(1, 1, 0x3C, 1, 14);  // interrupt line is writable
  EXPECT_EQ(read(1, 1, 0x3C, 1), 14u);
  write(1, 1, 0x3D, 1, 3);  // pin is not
  EXPECT_EQ(read(1, 1, 0x3D, 1), 0u);
}

TEST_F(PciTest, BarSizingAndRemapping) {
  std::vector<std::tuple<unsigned, PciDevice::BarMapping, PciDevice::BarMapping>> changes;
  ide_fn.set_bar_change_handler(
      [&](unsigned bar, const auto& o, const auto& n) { changes.emplace_back(bar, o, n); });
  const unsigned bar4 = 0x20;
  EXPECT_EQ(read(1, 1, bar4, 4), 0x1u);  // I/O BAR, unassigned
  write(1, 1, bar4, 4, 0xFFFFFFFF);
  uint32_t mask = read(1, 1, bar4, 4);
  EXPECT_EQ(mask, 0xFFFFFFF1u);
  EXPECT_EQ((~(mask & ~3u) + 1) & 0xFFFF, 16u);  // size as a BIOS computes it
  // Unimplemented BARs size to 0.
  write(1, 1, 0x10, 4, 0xFFFFFFFF);
  EXPECT_EQ(read(1, 1, 0x10, 4), 0u);
  EXPECT_TRUE(changes.empty());  // I/O decoding is still off

  write(1, 1, bar4, 4, 0xC000);
  write(1, 1, 0x04, 2, PciDevice::CMD_IO | PciDevice::CMD_BUS_MASTER);
  ASSERT_EQ(changes.size(), 1u);
  auto [bar, old_map, new_map] = changes[0];
  EXPECT_EQ(bar, 4u);
  EXPECT_FALSE(old_map.mapped);
  EXPECT_TRUE(new_map.mapped);
  EXPECT_EQ(new_map.base, 0xC000u);
  EXPECT_EQ(new_map.size, 16u);
  EXPECT_EQ(new_map.kind, PciDevice::BarKind::IO);

  write(1, 1, bar4, 4, 0xD001);  // move
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(std::get<1>(changes[1]).base, 0xC000u);
  EXPECT_EQ(std::get<2>(changes[1]).base, 0xD000u);
  write(1, 1, 0x04, 2, 0);  // decoding off
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_FALSE(std::get<2>(changes[2]).mapped);
  EXPECT_EQ(read(1, 1, 0x04, 2), 0u);
}

TEST_F(PciTest, StatusBitsAreWriteOneToClear) {
  // The device never sets error bits here, so writing ones must leave 0x0280 alone.
  write(1, 1, 0x06, 2, 0xFFFF);
  EXPECT_EQ(read(1, 1, 0x06, 2), 0x0280u);
}

TEST_F(PciTest, PamCallbackPerChangedRegion) {
  std::vector<std::tuple<uint32_t, uint32_t, bool, bool>> calls;
  host.set_pam_handler([&](uint32_t start, uint32_t size, bool r, bool w) {
    calls.emplace_back(start, size, r, w);
  });
  // SeaBIOS's shadowing: PAM0 = 0x30 makes the BIOS area RAM for reads and writes.
  write(0, 0, 0x59, 1, 0x30);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::make_tuple(0xF0000u, 0x10000u, true, true));
  // The reserved low nibble of PAM0 stays zero.
  write(0, 0, 0x59, 1, 0x33);
  EXPECT_EQ(read(0, 0, 0x59, 1), 0x30u);
  EXPECT_EQ(calls.size(), 1u);
  // A dword write to 0x5C covers PAM3..PAM6; only PAM4 low (0xD8000) and PAM6 low (0xE8000)
  // change.
  calls.clear();
  write(0, 0, 0x5C, 4, 0x01000200);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], std::make_tuple(0xD8000u, 0x4000u, false, true));
  EXPECT_EQ(calls[1], std::make_tuple(0xE8000u, 0x4000u, true, false));
  bool r, w;
  host.pam_routing(0xD8123, &r, &w);
  EXPECT_FALSE(r);
  EXPECT_TRUE(w);
  host.pam_routing(0xC0000, &r, &w);
  EXPECT_FALSE(r || w);
  // Reset returns every region to ROM and reports the ones that change.
  calls.clear();
  bus.reset();
  EXPECT_EQ(calls.size(), 3u);
  EXPECT_EQ(read(0, 0, 0x59, 1), 0u);
}

TEST_F(PciTest, SmramLock) {
  EXPECT_EQ(read(0, 0, 0x72, 1), 0x02u);
  write(0, 0, 0x72, 1, 0x4A);  // D_OPEN | G_SMRAME
  EXPECT_EQ(read(0, 0, 0x72, 1), 0x4Au);
  write(0, 0, 0x72, 1, 0x1A);  // lock
  EXPECT_EQ(read(0, 0, 0x72, 1), 0x1Au);
  write(0, 0, 0x72, 1, 0x42);  // cannot reopen or unlock
  EXPECT_EQ(read(0, 0, 0x72, 1), 0x1Au);
}

struct LevelSink : IrqSink {
  bool level[16] = {};
  void set_irq(unsigned line, bool l) override { level[line] = l; }
};

TEST_F(PciTest, PirqRouting) {
  LevelSink sink;
  isa.set_isa_sink(&sink);
  for (unsigned n = 0; n < 4; ++n) EXPECT_EQ(isa.route_pirq(n), -1);  // reset: 0x80
  EXPECT_EQ(read(1, 0, 0x60, 4), 0x80808080u);
  int route_changes = 0;
  isa.on_route_change = [&] { ++route_changes; };
  write(1, 0, 0x60, 4, 0x800B0A0Bu);  // A->11, B->10, C->11, D off
  EXPECT_EQ(route_changes, 1);
  EXPECT_EQ(isa.route_pirq(0), 11);
  EXPECT_EQ(isa.route_pirq(1), 10);
  EXPECT_EQ(isa.route_pirq(2), 11);
  EXPECT_EQ(isa.route_pirq(3), -1);
  write(1, 0, 0x63, 1, 0x02);  // IRQ 2 is reserved
  EXPECT_EQ(isa.route_pirq(3), -1);

  // Slot 3 INTA -> PIRQ (0 + 2) & 3 = C -> IRQ 11; slot 1 INTA -> PIRQ A -> IRQ 11 (shared).
  EXPECT_EQ(Piix3Isa::pirq_for(3, 1), 2u);
  IrqLine slot3{&isa, Piix3Isa::intx_input(3, 1)}, slot1{&isa, Piix3Isa::intx_input(1, 1)};
  slot3.raise();
  EXPECT_TRUE(sink.level[11]);
  slot1.raise();
  slot3.lower();
  EXPECT_TRUE(sink.level[11]);  // still held by slot 1
  slot1.lower();
  EXPECT_FALSE(sink.level[11]);
  // Rerouting moves a held level.
  slot3.raise();
  write(1, 0, 0x62, 1, 0x05);
  EXPECT_FALSE(sink.level[11]);
  EXPECT_TRUE(sink.level[5]);
}

TEST_F(PciTest, IdeTimingRegistersStored) {
  write(1, 1, 0x40, 4, 0xA307A307u);
  EXPECT_EQ(read(1, 1, 0x40, 4), 0xA307A307u);
  write(1, 1, 0x44, 1, 0x5A);
  EXPECT_EQ(read(1, 1, 0x44, 1), 0x5Au);
}

TEST_F(PciTest, ResetControlRegister) {
  int resets = 0;
  bool hard = false;
  bus.on_reset_request = [&](bool h) {
    ++resets;
    hard = h;
  };
  bus.io_write(PciBus::RESET_CONTROL, 1, 0x02);  // SRST alone: stored only
  EXPECT_EQ(resets, 0);
  EXPECT_EQ(bus.io_read(PciBus::RESET_CONTROL, 1), 0x02u);
  bus.io_write(PciBus::RESET_CONTROL, 1, 0x06);
  EXPECT_EQ(resets, 1);
  EXPECT_TRUE(hard);
}

}  // namespace
}  // namespace softcpu
