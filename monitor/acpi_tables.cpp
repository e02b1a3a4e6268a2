#include "monitor/acpi_tables.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "interp/memory.h"
#include "vdevices/fw_cfg.h"

namespace softcpu {

namespace {

constexpr char kOemId[] = "SFTCPU";      // 6 bytes
constexpr char kOemTableId[] = "SOFTCPU ";  // 8 bytes
constexpr char kCreatorId[] = "SCPU";

// Loader commands and zones (QEMU hw/acpi/bios-linker-loader.c).
enum : uint32_t { LOADER_ALLOCATE = 1, LOADER_ADD_POINTER = 2, LOADER_ADD_CHECKSUM = 3 };
enum : uint8_t { ZONE_HIGH = 1, ZONE_FSEG = 2 };
constexpr unsigned LOADER_NAME_SIZE = 56;

void put(std::vector<uint8_t>& t, size_t at, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) t[at + i] = uint8_t(v >> (8 * i));
}
void append(std::vector<uint8_t>& t, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) t.push_back(uint8_t(v >> (8 * i)));
}

// A table with its standard header (ACPI 1.0b 5.2.5); length and checksum set by finish().
std::vector<uint8_t> header(const char* sig, uint8_t revision) {
  std::vector<uint8_t> t(ACPI_HEADER_SIZE, 0);
  std::memcpy(t.data(), sig, 4);
  t[8] = revision;
  std::memcpy(t.data() + 10, kOemId, 6);
  std::memcpy(t.data() + 16, kOemTableId, 8);
  put(t, 24, 1, 4);  // OEM revision
  std::memcpy(t.data() + 28, kCreatorId, 4);
  put(t, 32, 1, 4);  // creator revision
  return t;
}

void set_checksum(std::vector<uint8_t>& t, size_t start, size_t len, size_t field) {
  t[field] = 0;
  t[field] = uint8_t(-acpi_byte_sum(t.data() + start, len));
}

void finish(std::vector<uint8_t>& t) {
  put(t, 4, t.size(), 4);
  set_checksum(t, 0, t.size(), 9);
}

std::vector<uint8_t> build_facs() {
  std::vector<uint8_t> t(ACPI_FACS_SIZE, 0);
  std::memcpy(t.data(), "FACS", 4);
  put(t, 4, ACPI_FACS_SIZE, 4);  // no checksum in the FACS (ACPI 1.0b 5.2.9)
  return t;
}

std::vector<uint8_t> build_dsdt(const AcpiConfig& c) {
  std::vector<uint8_t> t = header("DSDT", 1);  // revision 1: 32-bit AML integers
  for (const std::vector<uint8_t>& aml : {build_s5_aml(c.s5_slp_typ), build_pci_root_aml(c)})
    t.insert(t.end(), aml.begin(), aml.end());
  finish(t);
  return t;
}

// FADT revision 1 (ACPI 1.0b 5.2.8). Pointers are absolute (tables_addr already added).
std::vector<uint8_t> build_fadt(const AcpiConfig& c, uint32_t facs_addr, uint32_t dsdt_addr) {
  std::vector<uint8_t> t = header("FACP", 1);
  t.resize(ACPI_FADT_REV1_SIZE, 0);
  put(t, 36, facs_addr, 4);   // FIRMWARE_CTRL
  put(t, 40, dsdt_addr, 4);   // DSDT
  t[44] = 1;                  // INT_MODEL: APIC (ignored since ACPI 2.0)
  put(t, 46, c.sci_irq, 2);   // SCI_INT
  put(t, 48, c.smi_cmd, 4);   // SMI_CMD
  t[52] = c.acpi_enable;
  t[53] = c.acpi_disable;
  put(t, 56, c.pm_base + 0u, 4);  // PM1a_EVT_BLK
  put(t, 64, c.pm_base + 4u, 4);  // PM1a_CNT_BLK
  put(t, 76, c.pm_base + 8u, 4);  // PM_TMR_BLK
  t[88] = 4;                      // PM1_EVT_LEN
  t[89] = 2;                      // PM1_CNT_LEN
  t[91] = 4;                      // PM_TMR_LEN
  put(t, 96, 0xFFF, 2);           // P_LVL2_LAT > 100: no C2
  put(t, 98, 0xFFF, 2);           // P_LVL3_LAT > 1000: no C3
  t[108] = 0x32;                  // CENTURY: the CMOS register holding it
  // Flags: WBINVD (0), PROC_C1 (2), PWR_BUTTON (4) and SLP_BUTTON (5) not fixed hardware.
  put(t, 112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5), 4);
  finish(t);
  return t;
}

// MADT (ACPI 1.0b 5.2.10.4).
std::vector<uint8_t> build_madt(const AcpiConfig& c) {
  std::vector<uint8_t> t = header("APIC", 1);
  append(t, c.lapic_addr, 4);
  append(t, 1, 4);  // PCAT_COMPAT: 8259s present
  // Processor local APICs: processor id k, APIC id k, enabled.
  for (uint8_t k = 0; k < c.cpus; ++k) {
    t.insert(t.end(), {0, 8, k, k});
    append(t, 1, 4);
  }
  // I/O APIC.
  t.insert(t.end(), {1, 12, c.ioapic_id, 0});
  append(t, c.ioapic_addr, 4);
  append(t, 0, 4);  // GSI base
  // Interrupt source overrides (bus 0 = ISA): flags bits 1:0 polarity, 3:2 trigger
  // (01 = active high / edge, 11 = level); 0 = conforms to the bus.
  auto override_irq = [&t](uint8_t irq, uint32_t gsi, uint16_t flags) {
    t.insert(t.end(), {2, 10, 0, irq});
    append(t, gsi, 4);
    append(t, flags, 2);
  };
  override_irq(0, 2, 0);  // the PIT is wired to IOAPIC pin 2
  auto routed_to = [&c](uint32_t gsi) {
    for (const IsaIrqOverride& o : c.irq_overrides)
      if (o.gsi == gsi) return true;
    return false;
  };
  for (uint8_t irq : {5, 9, 10, 11})  // PCI / SCI: level high
    if (!routed_to(irq)) override_irq(irq, irq, 0x000D);
  for (const IsaIrqOverride& o : c.irq_overrides) override_irq(o.isa_irq, o.gsi, 0x0005);
  // Local APIC NMI: all processors (0xFF), LINT1.
  t.insert(t.end(), {4, 6, 0xFF, 0, 0, 1});
  finish(t);
  return t;
}

// IA-PC HPET 1.0a 3.2.4, "The ACPI 2.0 HPET Description Table".
std::vector<uint8_t> build_hpet(const AcpiConfig& c) {
  std::vector<uint8_t> t = header("HPET", 1);
  append(t, c.hpet_block_id, 4);  // Event Timer Block ID: the capabilities register's low half
  // Base address: ACPI 2.0 Generic Address Structure, system memory, 64-bit registers.
  t.insert(t.end(), {0, 64, 0, 0});
  append(t, c.hpet_addr, 8);
  t.push_back(0);    // HPET number: the first timer block
  append(t, 0, 2);   // minimum periodic tick: not given (QEMU gives none either)
  t.push_back(0);    // page protection and OEM attributes: none
  finish(t);
  return t;
}

std::vector<uint8_t> build_rsdt(const std::vector<uint32_t>& entries) {
  std::vector<uint8_t> t = header("RSDT", 1);
  for (uint32_t e : entries) append(t, e, 4);
  finish(t);
  return t;
}

std::vector<uint8_t> build_rsdp(uint32_t rsdt_addr) {
  std::vector<uint8_t> t(ACPI_RSDP_SIZE, 0);
  std::memcpy(t.data(), "RSD PTR ", 8);
  std::memcpy(t.data() + 9, kOemId, 6);
  t[15] = 0;  // revision 0: ACPI 1.0, 20 bytes
  put(t, 16, rsdt_addr, 4);
  set_checksum(t, 0, ACPI_RSDP_SIZE, 8);
  return t;
}

size_t place(std::vector<uint8_t>& blob, const std::vector<uint8_t>& table, size_t align) {
  blob.resize((blob.size() + align - 1) / align * align, 0);
  const size_t at = blob.size();
  blob.insert(blob.end(), table.begin(), table.end());
  return at;
}

// One 128-byte loader command.
class LoaderScript {
 public:
  void allocate(const char* file, uint32_t align, uint8_t zone) {
    uint8_t* e = next(LOADER_ALLOCATE);
    name(e + 4, file);
    put_at(e + 4 + LOADER_NAME_SIZE, align, 4);
    e[4 + LOADER_NAME_SIZE + 4] = zone;
  }
  void add_pointer(const char* dest, const char* src, uint32_t offset, uint8_t size) {
    uint8_t* e = next(LOADER_ADD_POINTER);
    name(e + 4, dest);
    name(e + 4 + LOADER_NAME_SIZE, src);
    put_at(e + 4 + 2 * LOADER_NAME_SIZE, offset, 4);
    e[4 + 2 * LOADER_NAME_SIZE + 4] = size;
  }
  void add_checksum(const char* file, uint32_t field, uint32_t start, uint32_t length) {
    uint8_t* e = next(LOADER_ADD_CHECKSUM);
    name(e + 4, file);
    put_at(e + 4 + LOADER_NAME_SIZE, field, 4);
    put_at(e + 8 + LOADER_NAME_SIZE, start, 4);
    put_at(e + 12 + LOADER_NAME_SIZE, length, 4);
  }
  std::vector<uint8_t> bytes;

 private:
  uint8_t* next(uint32_t command) {
    bytes.resize(bytes.size() + ACPI_LOADER_ENTRY_SIZE, 0);
    uint8_t* e = bytes.data() + bytes.size() - ACPI_LOADER_ENTRY_SIZE;
    put_at(e, command, 4);
    return e;
  }
  static void name(uint8_t* at, const char* s) {
    std::memcpy(at, s, std::min<size_t>(std::strlen(s), LOADER_NAME_SIZE - 1));
  }
  static void put_at(uint8_t* at, uint32_t v, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) at[i] = uint8_t(v >> (8 * i));
  }
};

}  // namespace

uint8_t acpi_byte_sum(const uint8_t* data, size_t len) {
  uint8_t sum = 0;
  for (size_t i = 0; i < len; ++i) sum = uint8_t(sum + data[i]);
  return sum;
}

std::vector<uint8_t> build_s5_aml(uint8_t slp_typ) {
  // NameOp, NameString "\_S5_", PackageOp, PkgLength, NumElements 4, then the elements
  // (ACPI 1.0b 16.2.3-16.2.5): ZeroOp for 0, BytePrefix + byte otherwise.
  std::vector<uint8_t> elements;
  for (int i = 0; i < 2; ++i) {
    if (slp_typ == 0) {
      elements.push_back(0x00);
    } else {
      elements.push_back(0x0A);
      elements.push_back(slp_typ);
    }
  }
  elements.push_back(0x00);
  elements.push_back(0x00);
  std::vector<uint8_t> aml = {0x08, '\\', '_', 'S', '5', '_', 0x12};
  aml.push_back(uint8_t(1 + 1 + elements.size()));  // PkgLength counts itself and NumElements
  aml.push_back(4);
  aml.insert(aml.end(), elements.begin(), elements.end());
  return aml;
}

namespace {

// PkgLength (ACPI 1.0b 16.2.4) of a package whose contents after the PkgLength are `n` bytes.
std::vector<uint8_t> pkg_length(size_t n) {
  if (n + 1 <= 0x3F) return {uint8_t(n + 1)};
  const size_t total = n + 2;  // two-byte encoding: low 4 bits, then bits 4..11
  return {uint8_t(0x40 | (total & 0xF)), uint8_t(total >> 4)};
}

// Opcode, PkgLength, then the body.
std::vector<uint8_t> package(std::initializer_list<uint8_t> opcode,
                             const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out;
  out.reserve(opcode.size() + 2 + body.size());
  for (uint8_t b : opcode) out.push_back(b);
  for (uint8_t b : pkg_length(body.size())) out.push_back(b);
  for (uint8_t b : body) out.push_back(b);
  return out;
}

std::vector<uint8_t> name_op(const char* seg4, std::vector<uint8_t> value) {
  std::vector<uint8_t> out;
  out.reserve(5 + value.size());
  out.push_back(0x08);
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(seg4[i]));
  for (uint8_t b : value) out.push_back(b);
  return out;
}

// Word / DWord address space descriptors (ACPI 1.0b 6.4.3.5): a producer with fixed
// minimum and maximum, positive decode.
void word_space(std::vector<uint8_t>& r, uint8_t type, uint8_t type_flags, uint16_t min,
                uint16_t max) {
  r.insert(r.end(), {0x88, 13, 0, type, 0x0C, type_flags});
  append(r, 0, 2);  // granularity
  append(r, min, 2);
  append(r, max, 2);
  append(r, 0, 2);  // translation
  append(r, uint32_t(max) - min + 1, 2);
}
void dword_memory(std::vector<uint8_t>& r, uint32_t min, uint32_t max) {
  r.insert(r.end(), {0x87, 23, 0, 0, 0x0C, 0x03});  // memory, cacheable, read-write
  append(r, 0, 4);
  append(r, min, 4);
  append(r, max, 4);
  append(r, 0, 4);
  append(r, uint64_t(max) - min + 1, 4);
}

}  // namespace

std::vector<uint8_t> build_pci_root_aml(const AcpiConfig& c) {
  // Resources the host bridge decodes: bus 0-255, the config ports, all I/O but them, the VGA
  // window and the PCI hole between the end of RAM and the IOAPIC.
  std::vector<uint8_t> res;
  word_space(res, 2, 0, 0, 0xFF);
  res.insert(res.end(), {0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08});  // IO(0xCF8, 8)
  word_space(res, 1, 0x03, 0x0000, 0x0CF7);
  word_space(res, 1, 0x03, 0x0D00, 0xFFFF);
  dword_memory(res, 0xA0000, 0xBFFFF);
  dword_memory(res, c.pci_hole_start, 0xFEBFFFFF);
  res.insert(res.end(), {0x79, 0x00});  // end tag (checksum 0: none)

  std::vector<uint8_t> buffer_body = {0x0B};  // WordPrefix: buffer size
  append(buffer_body, res.size(), 2);
  buffer_body.insert(buffer_body.end(), res.begin(), res.end());

  std::vector<uint8_t> dev_body = {'P', 'C', 'I', '0'};
  for (const auto& part : {name_op("_HID", {0x0C, 0x41, 0xD0, 0x0A, 0x03}),  // EisaId PNP0A03
                           name_op("_ADR", {0x00}), name_op("_UID", {0x00}),
                           name_op("_CRS", package({0x11}, buffer_body))})
    dev_body.insert(dev_body.end(), part.begin(), part.end());
  std::vector<uint8_t> scope_body = {'\\', '_', 'S', 'B', '_'};
  const std::vector<uint8_t> device = package({0x5B, 0x82}, dev_body);
  scope_body.insert(scope_body.end(), device.begin(), device.end());
  return package({0x10}, scope_body);
}

AcpiBlobs build_acpi_tables(const AcpiConfig& config, uint32_t tables_addr) {
  AcpiBlobs b;
  b.facs = uint32_t(place(b.tables, build_facs(), 64));  // the FACS must be 64-byte aligned
  b.dsdt = uint32_t(place(b.tables, build_dsdt(config), 4));
  b.fadt = uint32_t(place(b.tables, build_fadt(config, tables_addr + b.facs, tables_addr + b.dsdt), 4));
  b.madt = uint32_t(place(b.tables, build_madt(config), 4));
  std::vector<uint32_t> entries = {tables_addr + b.fadt, tables_addr + b.madt};
  if (config.hpet_addr) {
    b.hpet = uint32_t(place(b.tables, build_hpet(config), 4));
    entries.push_back(tables_addr + b.hpet);
  }
  b.rsdt = uint32_t(place(b.tables, build_rsdt(entries), 4));
  b.rsdp = build_rsdp(tables_addr + b.rsdt);

  // The firmware allocates both files, adds their addresses to the pointer fields (which
  // hold offsets when tables_addr is 0) and fixes the checksums of the tables it changed.
  LoaderScript s;
  s.allocate(kAcpiTablesFile, 64, ZONE_HIGH);
  s.allocate(kAcpiRsdpFile, 16, ZONE_FSEG);
  s.add_pointer(kAcpiTablesFile, kAcpiTablesFile, b.fadt + 36, 4);
  s.add_pointer(kAcpiTablesFile, kAcpiTablesFile, b.fadt + 40, 4);
  s.add_checksum(kAcpiTablesFile, b.fadt + 9, b.fadt, ACPI_FADT_REV1_SIZE);
  const uint32_t rsdt_len = uint32_t(b.tables.size() - b.rsdt);
  for (uint32_t k = 0; k < entries.size(); ++k)
    s.add_pointer(kAcpiTablesFile, kAcpiTablesFile, b.rsdt + ACPI_HEADER_SIZE + 4 * k, 4);
  s.add_checksum(kAcpiTablesFile, b.rsdt + 9, b.rsdt, rsdt_len);
  s.add_pointer(kAcpiRsdpFile, kAcpiTablesFile, 16, 4);
  s.add_checksum(kAcpiRsdpFile, 8, 0, ACPI_RSDP_SIZE);
  b.loader = std::move(s.bytes);
  return b;
}

void add_acpi_fw_cfg_files(FwCfg& fw, const AcpiConfig& config) {
  AcpiBlobs b = build_acpi_tables(config, 0);
  fw.add_file(kAcpiTablesFile, std::move(b.tables));
  fw.add_file(kAcpiRsdpFile, std::move(b.rsdp));
  fw.add_file(kTableLoaderFile, std::move(b.loader));
}

uint32_t write_acpi_tables(PhysicalMemory& mem, const AcpiConfig& config, uint32_t tables_addr,
                           uint32_t rsdp_addr) {
  AcpiBlobs b = build_acpi_tables(config, tables_addr);
  mem.write_bytes(tables_addr, b.tables.data(), uint32_t(b.tables.size()));
  mem.write_bytes(rsdp_addr, b.rsdp.data(), uint32_t(b.rsdp.size()));
  return tables_addr + uint32_t(b.tables.size());
}

}  // namespace softcpu
