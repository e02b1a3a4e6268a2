#include "vdevices/fw_cfg.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace softcpu {
namespace {

// 64 KiB of fake guest memory for DMA; accesses outside it fail.
struct FakeGuest {
  std::vector<uint8_t> mem = std::vector<uint8_t>(0x10000, 0xCC);
  FwCfg::ReadGuest reader() {
    return [this](uint64_t a, void* out, uint32_t len) {
      if (a + len > mem.size()) return false;
      std::memcpy(out, mem.data() + a, len);
      return true;
    };
  }
  FwCfg::WriteGuest writer() {
    return [this](uint64_t a, const void* in, uint32_t len) {
      if (a + len > mem.size()) return false;
      std::memcpy(mem.data() + a, in, len);
      return true;
    };
  }
  void put_be(uint32_t a, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) mem[a + i] = uint8_t(v >> (8 * (n - 1 - i)));
  }
  uint64_t get_be(uint32_t a, unsigned n) const {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v = (v << 8) | mem[a + i];
    return v;
  }
};

std::string read_port_bytes(FwCfg& fw, uint16_t key, unsigned n) {
  fw.io_write(FwCfg::PORT_SELECTOR, 2, key);
  std::string s;
  for (unsigned i = 0; i < n; ++i) s.push_back(char(fw.io_read(FwCfg::PORT_DATA, 1)));
  return s;
}

// Write the access record at `rec` and start it the way SeaBIOS does: only the low half,
// byte-swapped by outl(cpu_to_be32(addr)).
uint32_t dma(FakeGuest& g, FwCfg& fw, uint32_t rec, uint32_t control, uint32_t len,
             uint64_t addr) {
  g.put_be(rec, control, 4);
  g.put_be(rec + 4, len, 4);
  g.put_be(rec + 8, addr, 8);
  fw.io_write(FwCfg::PORT_DMA + 4, 4, __builtin_bswap32(rec));
  return uint32_t(g.get_be(rec, 4));
}

TEST(FwCfg, SignatureAndIdThroughPorts) {
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_SIGNATURE, 4), "QEMU");
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_SIGNATURE, 6), std::string("QEMU\0\0", 6));  // past end: 0
  fw.io_write(FwCfg::PORT_SELECTOR, 2, FW_CFG_ID);
  uint32_t id = 0;
  for (unsigned i = 0; i < 4; ++i) id |= fw.io_read(FwCfg::PORT_DATA, 1) << (8 * i);
  EXPECT_EQ(id, 3u);  // traditional interface and DMA
  // Re-selecting starts from offset 0 again.
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_SIGNATURE, 1), "Q");
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_SIGNATURE, 1), "Q");
}

TEST(FwCfg, UnknownSelectorReadsZero) {
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  EXPECT_EQ(read_port_bytes(fw, 0x1234, 3), std::string(3, '\0'));
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_E820_TABLE, 4), std::string(4, '\0'));
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_FILE_FIRST + 5, 2), std::string(2, '\0'));
}

TEST(FwCfg, DmaRegisterReadsSignature) {
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  // Bytes in port order spell "QEMU CFG".
  EXPECT_EQ(fw.io_read(FwCfg::PORT_DMA, 4), uint32_t('Q' | 'E' << 8 | 'M' << 16 | 'U' << 24));
  EXPECT_EQ(fw.io_read(FwCfg::PORT_DMA + 4, 4), uint32_t(' ' | 'C' << 8 | 'F' << 16 | 'G' << 24));
}

TEST(FwCfg, FileDirectorySortedWithSelectors) {
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  fw.add_file("etc/zeta", {1, 2, 3});
  fw.add_file("bootorder", {});
  fw.add_file("etc/alpha", std::vector<uint8_t>(300, 7));
  // Sorted by name: bootorder, etc/alpha, etc/zeta -> selectors 0x20, 0x21, 0x22.
  EXPECT_EQ(fw.file_selector("bootorder"), 0x20);
  EXPECT_EQ(fw.file_selector("etc/alpha"), 0x21);
  EXPECT_EQ(fw.file_selector("etc/zeta"), 0x22);
  EXPECT_EQ(fw.file_selector("nope"), 0);

  std::string dir = read_port_bytes(fw, FW_CFG_FILE_DIR, 4 + 3 * 64);
  auto be = [&](size_t off, unsigned n) {
    uint32_t v = 0;
    for (unsigned i = 0; i < n; ++i) v = (v << 8) | uint8_t(dir[off + i]);
    return v;
  };
  ASSERT_EQ(be(0, 4), 3u);
  const char* names[] = {"bootorder", "etc/alpha", "etc/zeta"};
  const uint32_t sizes[] = {0, 300, 3};
  for (unsigned i = 0; i < 3; ++i) {
    size_t e = 4 + i * 64;
    EXPECT_EQ(be(e, 4), sizes[i]) << names[i];
    EXPECT_EQ(be(e + 4, 2), 0x20u + i) << names[i];
    EXPECT_EQ(be(e + 6, 2), 0u);
    EXPECT_STREQ(dir.c_str() + e + 8, names[i]);
  }
  EXPECT_EQ(read_port_bytes(fw, 0x22, 3), std::string("\1\2\3", 3));
}

TEST(FwCfg, DmaSelectReadSkip) {
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  fw.add_file("etc/data", {10, 11, 12, 13, 14, 15});
  const uint16_t sel = fw.file_selector("etc/data");

  // SELECT + READ of 4 bytes into 0x2000.
  EXPECT_EQ(dma(g, fw, 0x1000, uint32_t(sel) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
                4, 0x2000), 0u);
  EXPECT_EQ(std::vector<uint8_t>(g.mem.begin() + 0x2000, g.mem.begin() + 0x2004),
            (std::vector<uint8_t>{10, 11, 12, 13}));
  // SKIP 1, then READ 4: the last byte of the file, then zeros past its end.
  EXPECT_EQ(dma(g, fw, 0x1000, FW_CFG_DMA_CTL_SKIP, 1, 0), 0u);
  EXPECT_EQ(dma(g, fw, 0x1000, FW_CFG_DMA_CTL_READ, 4, 0x3000), 0u);
  EXPECT_EQ(std::vector<uint8_t>(g.mem.begin() + 0x3000, g.mem.begin() + 0x3005),
            (std::vector<uint8_t>{15, 0, 0, 0, 0xCC}));
  // The data port continues where DMA left off (past the end: 0).
  EXPECT_EQ(fw.io_read(FwCfg::PORT_DATA, 1), 0u);
  EXPECT_EQ(fw.dma_transfers(), 3u);
}

TEST(FwCfg, DmaHighHalfAndSignatureRead) {
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  // A high half of 1 puts the record above 4 GiB: outside fake memory, nothing happens.
  g.put_be(0x1000, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4);
  fw.io_write(FwCfg::PORT_DMA, 4, __builtin_bswap32(1));
  fw.io_write(FwCfg::PORT_DMA + 4, 4, __builtin_bswap32(0x1000));
  EXPECT_EQ(g.get_be(0x1000, 4), uint64_t(FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ));
  // The high half is cleared after each transfer: the next one lands below 4 GiB.
  EXPECT_EQ(dma(g, fw, 0x1000, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0x2000), 0u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&g.mem[0x2000]), 4), "QEMU");
}

TEST(FwCfg, DmaErrors) {
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  fw.add_file("etc/ro", {1, 2});
  fw.add_file("etc/rw", {0, 0, 0, 0}, /*writable=*/true);
  const uint32_t select_write = FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE;
  g.mem[0x2000] = 0xAB;
  g.mem[0x2001] = 0xCD;
  // Writing a read-only file fails.
  EXPECT_EQ(dma(g, fw, 0x1000, uint32_t(fw.file_selector("etc/ro")) << 16 | select_write, 2,
                0x2000), uint32_t(FW_CFG_DMA_CTL_ERROR));
  EXPECT_EQ(*fw.file_bytes("etc/ro"), (std::vector<uint8_t>{1, 2}));
  // Writing a writable file within its size works.
  EXPECT_EQ(dma(g, fw, 0x1000, uint32_t(fw.file_selector("etc/rw")) << 16 | select_write, 2,
                0x2000), 0u);
  EXPECT_EQ(*fw.file_bytes("etc/rw"), (std::vector<uint8_t>{0xAB, 0xCD, 0, 0}));
  // Past its end it fails.
  EXPECT_EQ(dma(g, fw, 0x1000, FW_CFG_DMA_CTL_WRITE, 4, 0x2000), uint32_t(FW_CFG_DMA_CTL_ERROR));
  // A read into memory that does not exist reports ERROR.
  EXPECT_EQ(dma(g, fw, 0x1000, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0xFFFFFF00u),
            uint32_t(FW_CFG_DMA_CTL_ERROR));
}

TEST(FwCfg, PcFirmwareItems) {
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  FwCfgPcConfig config;
  config.ram_bytes = 128u << 20;
  config.cpus = 2;
  add_pc_firmware_items(fw, config);
  std::string ram = read_port_bytes(fw, FW_CFG_RAM_SIZE, 8);
  EXPECT_EQ(ram, std::string("\0\0\0\x08\0\0\0\0", 8));  // 0x08000000 little-endian
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_NB_CPUS, 2), std::string("\2\0", 2));
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_MAX_CPUS, 2), std::string("\2\0", 2));
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_NOGRAPHIC, 2), std::string("\1\0", 2));
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_BOOT_MENU, 2), std::string("\0\0", 2));
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_IRQ0_OVERRIDE, 1), "\1");
  // etc/e820: one 20-byte RAM record [0, 128 MiB).
  const std::vector<uint8_t>* e820 = fw.file_bytes("etc/e820");
  ASSERT_NE(e820, nullptr);
  ASSERT_EQ(e820->size(), 20u);
  uint64_t addr = 0, len = 0;
  std::memcpy(&addr, e820->data(), 8);
  std::memcpy(&len, e820->data() + 8, 8);
  EXPECT_EQ(addr, 0u);
  EXPECT_EQ(len, 128ull << 20);
  EXPECT_EQ((*e820)[16], 1);
  const uint16_t sercon = fw.file_selector("etc/sercon-port");
  ASSERT_NE(sercon, 0);
  EXPECT_EQ(read_port_bytes(fw, sercon, 2), std::string("\xF8\x03", 2));
  EXPECT_EQ(read_port_bytes(fw, fw.file_selector("etc/boot-cpus"), 2), std::string("\2\0", 2));
  EXPECT_NE(fw.file_selector("bootorder"), 0);
  // The legacy FW_CFG_E820_TABLE: a count of 0 (QEMU lists only reservations there), then 16
  // zeroed 20-byte entries.
  EXPECT_EQ(read_port_bytes(fw, FW_CFG_E820_TABLE, 4 + 16 * 20), std::string(4 + 16 * 20, '\0'));
}

// A RAM record, a reserved one and an ACPI one: the legacy table holds the two that are not
// RAM, in order, after their count; 17 reservations are cut to 16.
TEST(FwCfg, LegacyE820TableListsTheReservations) {
  auto record = [](uint64_t addr, uint64_t len, uint32_t type) {
    std::vector<uint8_t> r(20);
    std::memcpy(r.data(), &addr, 8);
    std::memcpy(r.data() + 8, &len, 8);
    std::memcpy(r.data() + 16, &type, 4);
    return r;
  };
  std::vector<uint8_t> records;
  for (const auto& r : {record(0, 64u << 20, 1), record(0x9000000, 0x10000, 2),
                        record(0xA000000, 0x1000, 3)})
    records.insert(records.end(), r.begin(), r.end());
  FakeGuest g;
  FwCfg fw(g.reader(), g.writer());
  FwCfgPcConfig config;
  config.ram_bytes = 64u << 20;
  config.e820 = records;
  add_pc_firmware_items(fw, config);
  const std::string t = read_port_bytes(fw, FW_CFG_E820_TABLE, 4 + 16 * 20);
  ASSERT_EQ(t.size(), 4u + 16 * 20);
  uint32_t count = 0;
  std::memcpy(&count, t.data(), 4);
  EXPECT_EQ(count, 2u);
  const std::vector<uint8_t> reserved = record(0x9000000, 0x10000, 2), acpi = record(0xA000000, 0x1000, 3);
  EXPECT_EQ(t.substr(4, 20), std::string(reserved.begin(), reserved.end()));
  EXPECT_EQ(t.substr(24, 20), std::string(acpi.begin(), acpi.end()));
  EXPECT_EQ(t.substr(44), std::string(14 * 20, '\0'));
  std::vector<uint8_t> many;
  for (uint32_t k = 0; k < 17; ++k) {
    const auto r = record(0x10000000ull + k * 0x1000, 0x1000, 2);
    many.insert(many.end(), r.begin(), r.end());
  }
  const std::vector<uint8_t> full = legacy_e820_table(many);
  ASSERT_EQ(full.size(), 4u + 16 * 20);
  std::memcpy(&count, full.data(), 4);
  EXPECT_EQ(count, 16u);
}

}  // namespace
}  // namespace softcpu
