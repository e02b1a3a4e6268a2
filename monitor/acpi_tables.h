// ACPI tables for the PC (ACPI 1.0b layouts, as QEMU's "pc" machine gives them): RSDP
// (revision 0), RSDT, FADT (revision 1) pointing at the FACS, the DSDT and the PIIX4 PM block,
// the MADT (local APIC 0, IOAPIC 1 at GSI 0, IRQ0 -> GSI 2 and the PCI/SCI IRQs 5, 9, 10, 11
// level active-high, LINT1 = NMI) and a DSDT whose AML defines \_S5 (the soft-off SLP_TYP
// the PIIX4 PM device acts on) and the PCI host bridge \_SB.PCI0 with its _CRS (no _PRT:
// PCI interrupts fall back to the interrupt line registers), and the HPET description table
// (IA-PC HPET 1.0a, 3.2.4) that Linux finds the HPET by. Two ways to hand them over:
//  - SeaBIOS (CONFIG_QEMU): fw_cfg files "etc/acpi/tables", "etc/acpi/rsdp" and the
//    linker/loader script "etc/table-loader" (QEMU hw/acpi/bios-linker-loader.c: 128-byte
//    commands; the firmware allocates the files, patches pointers and fixes checksums);
//  - direct kernel boot: the same tables linked at a fixed address and written to RAM.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "monitor/irq_routes.h"

namespace softcpu {

class PhysicalMemory;
class FwCfg;

struct AcpiConfig {
  uint16_t pm_base = 0x600;  // PIIX4 PMBA (SeaBIOS programs 0x600 when QEMU gives tables)
  uint16_t sci_irq = 9;
  uint32_t smi_cmd = 0xB2;
  uint8_t acpi_enable = 0xF1, acpi_disable = 0xF0;
  uint8_t s5_slp_typ = 0;  // PIIX4 SUS_TYP 000 = soft off (Piix4Pm::SLP_TYP_SOFT_OFF)
  uint32_t lapic_addr = 0xFEE00000;
  uint8_t cpus = 1;  // -smp: local APIC entries, processor and APIC IDs 0..cpus-1
  uint8_t ioapic_id = 1;
  uint32_t ioapic_addr = 0xFEC00000;
  uint32_t pci_hole_start = 0x08000000;  // end of RAM: PCI memory from here to 0xFEBFFFFF
  uint32_t hpet_addr = 0xFED00000;       // 0: no HPET table
  uint32_t hpet_block_id = 0x8086A201;   // the HPET's capabilities register, low half
  // Devices' ISA IRQs routed to other GSIs (a partition's interrupt routes): one override
  // each, edge-triggered active high like the ISA line; a target GSI loses its default entry.
  std::vector<IsaIrqOverride> irq_overrides;
};

constexpr unsigned ACPI_HEADER_SIZE = 36;
constexpr unsigned ACPI_RSDP_SIZE = 20;  // revision 0
constexpr unsigned ACPI_FADT_REV1_SIZE = 116;
constexpr unsigned ACPI_FACS_SIZE = 64;
constexpr unsigned ACPI_LOADER_ENTRY_SIZE = 128;
constexpr unsigned ACPI_HPET_SIZE = 56;

// The fw_cfg file names SeaBIOS looks for.
inline constexpr const char kAcpiTablesFile[] = "etc/acpi/tables";
inline constexpr const char kAcpiRsdpFile[] = "etc/acpi/rsdp";
inline constexpr const char kTableLoaderFile[] = "etc/table-loader";

// The AML of the DSDT body: Name (\_S5, Package (4) {typ, typ, 0, 0}).
std::vector<uint8_t> build_s5_aml(uint8_t slp_typ);

// Scope (\_SB) { Device (PCI0) { _HID PNP0A03, _ADR 0, _UID 0, _CRS } }: without a host
// bridge in the namespace an ACPI kernel scans no PCI bus at all.
std::vector<uint8_t> build_pci_root_aml(const AcpiConfig& config);

// All tables, linked so that the "tables" blob starts at `tables_addr` (0 for fw_cfg: the
// loader adds the real address) and every checksum is right for that address.
struct AcpiBlobs {
  std::vector<uint8_t> tables;  // FACS, DSDT, FACP, APIC, HPET (if any), RSDT
  std::vector<uint8_t> rsdp;
  std::vector<uint8_t> loader;  // "etc/table-loader" commands
  // Offsets of each table inside `tables` (hpet: 0 when there is none).
  uint32_t facs = 0, dsdt = 0, fadt = 0, madt = 0, hpet = 0, rsdt = 0;
};
AcpiBlobs build_acpi_tables(const AcpiConfig& config, uint32_t tables_addr = 0);

// Sum of bytes mod 256 (0 for a table with a correct checksum).
uint8_t acpi_byte_sum(const uint8_t* data, size_t len);

// SeaBIOS path: add the three fw_cfg files.
void add_acpi_fw_cfg_files(FwCfg& fw, const AcpiConfig& config);

// Direct-boot path: write the tables at `tables_addr` (64-byte aligned) and the RSDP at
// `rsdp_addr` (16-byte aligned, where the OS searches). Returns the end of the tables.
uint32_t write_acpi_tables(PhysicalMemory& mem, const AcpiConfig& config, uint32_t tables_addr,
                           uint32_t rsdp_addr);

}  // namespace softcpu
