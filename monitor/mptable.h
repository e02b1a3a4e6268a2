// An Intel MultiProcessor Specification 1.4 table for the direct-boot path (no firmware builds
// one there): the floating pointer, then the configuration table with one processor, the PCI
// and ISA buses, one I/O APIC, the ISA interrupt routing and the local APIC LINT0/LINT1
// wiring. The content follows what SeaBIOS's src/fw/mptable.c makes on QEMU.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "monitor/e820.h"
#include "monitor/irq_routes.h"

namespace softcpu {

class PhysicalMemory;

struct MpTableConfig {
  uint32_t cpuid_signature = 0x663;  // CPUID.1 EAX: family, model, stepping
  uint32_t cpuid_features = 0;       // CPUID.1 EDX
  uint8_t lapic_id = 0;  // the bootstrap processor's; -smp: the others follow it
  uint8_t cpus = 1;
  uint8_t lapic_version = 0x14;
  uint32_t lapic_addr = 0xFEE00000;
  uint8_t ioapic_id = 1;
  uint8_t ioapic_version = 0x11;
  uint32_t ioapic_addr = 0xFEC00000;
  bool pci_bus = true;        // bus 0 is PCI and ISA is bus 1; false: ISA is bus 0
  bool irq0_to_pin2 = true;   // the PIT's IRQ0 arrives on I/O APIC pin 2 (IRQ2 unused)
  // Devices' ISA IRQs routed to other pins (a partition's interrupt routes); a target pin
  // below 16 loses its own ISA IRQ's entry.
  std::vector<IsaIrqOverride> irq_overrides;
};

// Entry types and sizes (MP spec 1.4 chapter 4).
enum : uint8_t { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IOINTR = 3, MP_LINTR = 4 };
enum : uint8_t { MP_INT = 0, MP_NMI = 1, MP_SMI = 2, MP_EXTINT = 3 };
constexpr unsigned MP_FLOATING_SIZE = 16;
constexpr unsigned MP_CONFIG_HEADER_SIZE = 44;

// The configuration table ("PCMP" header and entries, checksum set) for placement at any
// address (it holds no pointers to itself).
std::vector<uint8_t> build_mp_config_table(const MpTableConfig& config);
// The floating pointer ("_MP_") pointing at a configuration table.
std::array<uint8_t, MP_FLOATING_SIZE> build_mp_floating_pointer(uint32_t config_addr);

struct MpTableLayout {
  uint32_t floating_addr = 0;
  uint32_t config_addr = 0;
  uint32_t config_length = 0;
};

// Write the floating pointer at `addr` (16-byte aligned; Linux and others search the first
// KiB of the EBDA, the last KiB of base memory and 0xF0000-0xFFFFF) and the configuration
// table right after it.
MpTableLayout write_mptable(PhysicalMemory& mem, const MpTableConfig& config,
                            uint32_t addr = EBDA_START);

}  // namespace softcpu
