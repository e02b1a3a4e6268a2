#include "monitor/acpi_tables.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "interp/memory.h"
#include "vdevices/fw_cfg.h"
#include "vdevices/piix4_pm.h"

namespace softcpu {
namespace {

uint32_t get(const uint8_t* p, unsigned n) {
  uint32_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= uint32_t(p[i]) << (8 * i);
  return v;
}
uint32_t get(const std::vector<uint8_t>& b, size_t off, unsigned n) { return get(b.data() + off, n); }
std::string sig(const std::vector<uint8_t>& b, size_t off) {
  return std::string(reinterpret_cast<const char*>(b.data() + off), 4);
}

// Checks a table at `off` in `b`: signature, length within the blob, checksum.
void expect_table(const std::vector<uint8_t>& b, size_t off, const char* signature,
                  uint32_t length) {
  SCOPED_TRACE(signature);
  EXPECT_EQ(sig(b, off), signature);
  EXPECT_EQ(get(b, off + 4, 4), length);
  ASSERT_LE(off + length, b.size());
  EXPECT_EQ(acpi_byte_sum(b.data() + off, length), 0);
}

TEST(AcpiTables, S5AmlByteSequence) {
  // ACPI 1.0b 16.2: NameOp '\' "_S5_" PackageOp PkgLength NumElements elements.
  const std::vector<uint8_t> zero = {0x08, 0x5C, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x06, 0x04,
                                     0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(build_s5_aml(0), zero);
  const std::vector<uint8_t> five = {0x08, 0x5C, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x08, 0x04,
                                     0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00};
  EXPECT_EQ(build_s5_aml(5), five);
}

// Decodes a PkgLength (ACPI 1.0b 16.2.4); `used` gets its size in bytes.
size_t decode_pkg_length(const uint8_t* p, size_t& used) {
  used = 1 + (p[0] >> 6);
  size_t len = used == 1 ? p[0] & 0x3F : p[0] & 0x0F;
  for (size_t i = 1; i < used; ++i) len |= size_t(p[i]) << (4 + 8 * (i - 1));
  return len;
}

TEST(AcpiTables, PciRootBridgeAml) {
  AcpiConfig c;
  c.pci_hole_start = 0x08000000;
  const std::vector<uint8_t> aml = build_pci_root_aml(c);
  // ScopeOp, PkgLength covering the rest of the bytes, "\_SB_".
  ASSERT_EQ(aml[0], 0x10);
  size_t used = 0;
  EXPECT_EQ(decode_pkg_length(&aml[1], used), aml.size() - 1);
  EXPECT_EQ(0, std::memcmp(&aml[1 + used], "\\_SB_", 5));
  // DeviceOp (ExtOpPrefix 0x82) whose package also ends at the end, named PCI0.
  size_t d = 1 + used + 5;
  ASSERT_EQ(aml[d], 0x5B);
  ASSERT_EQ(aml[d + 1], 0x82);
  EXPECT_EQ(decode_pkg_length(&aml[d + 2], used), aml.size() - d - 2);
  EXPECT_EQ(0, std::memcmp(&aml[d + 2 + used], "PCI0", 4));
  // _HID = EisaId("PNP0A03") is the DWord 0x030AD041.
  const std::vector<uint8_t> hid = {0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x0A, 0x03};
  EXPECT_NE(std::search(aml.begin(), aml.end(), hid.begin(), hid.end()), aml.end());
  // _CRS: a buffer whose declared size runs exactly to the end, closed by the end tag.
  const std::vector<uint8_t> crs = {0x08, '_', 'C', 'R', 'S', 0x11};
  auto it = std::search(aml.begin(), aml.end(), crs.begin(), crs.end());
  ASSERT_NE(it, aml.end());
  size_t b = size_t(it - aml.begin()) + crs.size();
  const size_t buf_len = decode_pkg_length(&aml[b], used);
  EXPECT_EQ(b + buf_len, aml.size());
  ASSERT_EQ(aml[b + used], 0x0B);  // WordPrefix size
  const size_t size = get(aml.data() + b + used + 1, 2);
  EXPECT_EQ(b + used + 3 + size, aml.size());
  EXPECT_EQ(aml[aml.size() - 2], 0x79);
  // The PCI hole window: DWordMemory from the end of RAM to below the IOAPIC.
  const std::vector<uint8_t> hole = {0x00, 0x00, 0x00, 0x08, 0xFF, 0xFF, 0xBF, 0xFE};
  EXPECT_NE(std::search(aml.begin(), aml.end(), hole.begin(), hole.end()), aml.end());
}

TEST(AcpiTables, SignaturesLengthsAndChecksumsAtFixedAddress) {
  const uint32_t base = 0x9FD00;
  AcpiConfig c;
  AcpiBlobs b = build_acpi_tables(c, base);
  const auto& t = b.tables;
  EXPECT_EQ(b.facs % 64, 0u);
  EXPECT_EQ(sig(t, b.facs), "FACS");
  EXPECT_EQ(get(t, b.facs + 4, 4), ACPI_FACS_SIZE);
  const uint32_t dsdt_len = get(t, b.dsdt + 4, 4);
  const std::vector<uint8_t> s5 = build_s5_aml(c.s5_slp_typ), pci = build_pci_root_aml(c);
  expect_table(t, b.dsdt, "DSDT", uint32_t(ACPI_HEADER_SIZE + s5.size() + pci.size()));
  ASSERT_EQ(dsdt_len, ACPI_HEADER_SIZE + s5.size() + pci.size());
  EXPECT_EQ(0, std::memcmp(t.data() + b.dsdt + ACPI_HEADER_SIZE, s5.data(), s5.size()));
  EXPECT_EQ(0, std::memcmp(t.data() + b.dsdt + ACPI_HEADER_SIZE + s5.size(), pci.data(),
                           pci.size()));
  expect_table(t, b.fadt, "FACP", ACPI_FADT_REV1_SIZE);
  // MADT: 44-byte fixed part, local APIC (8), IOAPIC (12), 5 overrides (10), LAPIC NMI (6).
  expect_table(t, b.madt, "APIC", 44 + 8 + 12 + 5 * 10 + 6);
  expect_table(t, b.hpet, "HPET", ACPI_HPET_SIZE);
  expect_table(t, b.rsdt, "RSDT", ACPI_HEADER_SIZE + 12);

  // The RSDP: "RSD PTR ", revision 0, checksum over 20 bytes, pointing at the RSDT.
  ASSERT_EQ(b.rsdp.size(), ACPI_RSDP_SIZE);
  EXPECT_EQ(0, std::memcmp(b.rsdp.data(), "RSD PTR ", 8));
  EXPECT_EQ(b.rsdp[15], 0);
  EXPECT_EQ(acpi_byte_sum(b.rsdp.data(), ACPI_RSDP_SIZE), 0);
  EXPECT_EQ(get(b.rsdp, 16, 4), base + b.rsdt);
  // RSDT entries: FADT, MADT and HPET.
  EXPECT_EQ(get(t, b.rsdt + 36, 4), base + b.fadt);
  EXPECT_EQ(get(t, b.rsdt + 40, 4), base + b.madt);
  EXPECT_EQ(get(t, b.rsdt + 44, 4), base + b.hpet);

  // HPET (IA-PC HPET 1.0a 3.2.4): block id = capabilities low half, memory GAS at 0xFED00000.
  const size_t h = b.hpet;
  EXPECT_EQ(get(t, h + 36, 4), 0x8086A201u);
  EXPECT_EQ(t[h + 40], 0);  // system memory
  EXPECT_EQ(get(t, h + 44, 4), 0xFED00000u);
  EXPECT_EQ(get(t, h + 48, 4), 0u);
  EXPECT_EQ(t[h + 52], 0);  // HPET number 0

  // FADT fields Linux uses (ACPI 1.0b table 5-7).
  const size_t f = b.fadt;
  EXPECT_EQ(t[f + 8], 1);                           // revision 1
  EXPECT_EQ(get(t, f + 36, 4), base + b.facs);      // FIRMWARE_CTRL
  EXPECT_EQ(get(t, f + 40, 4), base + b.dsdt);      // DSDT
  EXPECT_EQ(get(t, f + 46, 2), 9u);                 // SCI_INT
  EXPECT_EQ(get(t, f + 48, 4), 0xB2u);              // SMI_CMD
  EXPECT_EQ(t[f + 52], Piix4Pm::ACPI_ENABLE);
  EXPECT_EQ(t[f + 53], Piix4Pm::ACPI_DISABLE);
  EXPECT_EQ(get(t, f + 56, 4), 0x600u + Piix4Pm::PM1_STS);
  EXPECT_EQ(get(t, f + 64, 4), 0x600u + Piix4Pm::PM1_CNT);
  EXPECT_EQ(get(t, f + 76, 4), 0x600u + Piix4Pm::PM_TMR);
  EXPECT_EQ(t[f + 88], 4);  // PM1_EVT_LEN
  EXPECT_EQ(t[f + 89], 2);  // PM1_CNT_LEN
  EXPECT_EQ(t[f + 91], 4);  // PM_TMR_LEN
  EXPECT_EQ(get(t, f + 112, 4) & (1u << 8), 0u);  // TMR_VAL_EXT clear: 24-bit timer

  // The \_S5 type is the one the PM device powers off on.
  EXPECT_EQ(c.s5_slp_typ, Piix4Pm::SLP_TYP_SOFT_OFF);
}

TEST(AcpiTables, MadtEntries) {
  AcpiBlobs b = build_acpi_tables(AcpiConfig{}, 0x1000);
  const auto& t = b.tables;
  const size_t m = b.madt;
  EXPECT_EQ(get(t, m + 36, 4), 0xFEE00000u);
  EXPECT_EQ(get(t, m + 40, 4), 1u);  // PCAT_COMPAT
  size_t p = m + 44;
  const size_t end = m + get(t, m + 4, 4);
  std::map<uint8_t, std::pair<uint32_t, uint16_t>> overrides;
  bool lapic = false, ioapic = false;
  while (p < end) {
    const uint8_t type = t[p], len = t[p + 1];
    ASSERT_GT(len, 0);
    if (type == 0) {
      lapic = true;
      EXPECT_EQ(t[p + 3], 0);              // APIC id 0
      EXPECT_EQ(get(t, p + 4, 4), 1u);     // enabled
    } else if (type == 1) {
      ioapic = true;
      EXPECT_EQ(t[p + 2], 1);              // IOAPIC id 1
      EXPECT_EQ(get(t, p + 4, 4), 0xFEC00000u);
      EXPECT_EQ(get(t, p + 8, 4), 0u);     // GSI base
    } else if (type == 2) {
      EXPECT_EQ(len, 10);
      overrides[t[p + 3]] = {get(t, p + 4, 4), uint16_t(get(t, p + 8, 2))};
    }
    p += len;
  }
  EXPECT_EQ(p, end);
  EXPECT_TRUE(lapic);
  EXPECT_TRUE(ioapic);
  ASSERT_TRUE(overrides.count(0));
  EXPECT_EQ(overrides[0].first, 2u);                 // IRQ0 -> GSI 2
  ASSERT_TRUE(overrides.count(9));
  EXPECT_EQ(overrides[9].first, 9u);
  EXPECT_EQ(overrides[9].second, 0x000D);            // level, active high
}

// A reimplementation of the firmware side (SeaBIOS romfile_loader.c semantics): allocate,
// add pointers, fix checksums. Loading at any address must give the tables that
// build_acpi_tables links for that address.
TEST(AcpiTables, LoaderScriptLinksLikeDirectBuild) {
  FwCfg fw([](uint64_t, void*, uint32_t) { return false; },
           [](uint64_t, const void*, uint32_t) { return false; });
  add_acpi_fw_cfg_files(fw, AcpiConfig{});
  const auto* loader = fw.file_bytes(kTableLoaderFile);
  ASSERT_NE(loader, nullptr);
  ASSERT_EQ(loader->size() % ACPI_LOADER_ENTRY_SIZE, 0u);
  std::map<std::string, std::vector<uint8_t>> files;
  std::map<std::string, uint32_t> addr;
  const std::map<int, uint32_t> zone_base = {{1, 0x07F00000}, {2, 0xF5A40}};
  for (size_t e = 0; e < loader->size(); e += ACPI_LOADER_ENTRY_SIZE) {
    const uint8_t* c = loader->data() + e;
    const uint32_t cmd = get(c, 4);
    const std::string f1(reinterpret_cast<const char*>(c + 4));
    if (cmd == 1) {
      const auto* bytes = fw.file_bytes(f1);
      ASSERT_NE(bytes, nullptr) << f1;
      files[f1] = *bytes;
      const uint32_t align = get(c + 60, 4);
      ASSERT_TRUE(zone_base.count(c[64]));
      const uint32_t a = zone_base.at(c[64]);
      EXPECT_EQ(a % align, 0u);
      addr[f1] = a;
    } else if (cmd == 2) {
      const std::string f2(reinterpret_cast<const char*>(c + 60));
      ASSERT_TRUE(files.count(f1) && files.count(f2));
      const uint32_t off = get(c + 116, 4);
      ASSERT_EQ(c[120], 4);
      auto& d = files[f1];
      const uint32_t v = get(d, off, 4) + addr[f2];
      for (int i = 0; i < 4; ++i) d[off + i] = uint8_t(v >> (8 * i));
    } else if (cmd == 3) {
      ASSERT_TRUE(files.count(f1));
      auto& d = files[f1];
      const uint32_t field = get(c + 60, 4), start = get(c + 64, 4), len = get(c + 68, 4);
      ASSERT_LE(start + len, d.size());
      d[field] = uint8_t(d[field] - acpi_byte_sum(d.data() + start, len));
    } else {
      FAIL() << "unexpected command " << cmd;
    }
  }
  ASSERT_TRUE(files.count(kAcpiTablesFile) && files.count(kAcpiRsdpFile));
  const AcpiBlobs linked = build_acpi_tables(AcpiConfig{}, addr[kAcpiTablesFile]);
  EXPECT_EQ(files[kAcpiTablesFile], linked.tables);
  EXPECT_EQ(files[kAcpiRsdpFile], linked.rsdp);
}

TEST(AcpiTables, NoHpetTableWithoutAnHpet) {
  AcpiConfig c;
  c.hpet_addr = 0;
  const AcpiBlobs b = build_acpi_tables(c, 0x1000);
  EXPECT_EQ(b.hpet, 0u);
  EXPECT_EQ(get(b.tables, b.rsdt + 4, 4), ACPI_HEADER_SIZE + 8);
  const std::string all(b.tables.begin(), b.tables.end());
  EXPECT_EQ(all.find("HPET"), std::string::npos);
}

TEST(AcpiTables, WriteToMemoryPutsRsdpWhereAsked) {
  PhysicalMemory mem(1 << 20);
  const uint32_t end = write_acpi_tables(mem, AcpiConfig{}, 0x9FC00, 0x9FFE0);
  EXPECT_GT(end, 0x9FC00u);
  EXPECT_LE(end, 0x9FFE0u);
  uint8_t rsdp[ACPI_RSDP_SIZE];
  mem.read_bytes(0x9FFE0, rsdp, sizeof rsdp);
  EXPECT_EQ(0, std::memcmp(rsdp, "RSD PTR ", 8));
  EXPECT_EQ(acpi_byte_sum(rsdp, sizeof rsdp), 0);
  const uint32_t rsdt = get(rsdp + 16, 4);
  char s[4];
  mem.read_bytes(rsdt, s, 4);
  EXPECT_EQ(std::string(s, 4), "RSDT");
}

}  // namespace
}  // namespace softcpu
