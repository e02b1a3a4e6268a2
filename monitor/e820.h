// The PC physical memory map as the BIOS reports it through INT 15h E820, used by the Linux
// boot_params, the Multiboot mmap and fw_cfg's "etc/e820".
#pragma once
#include <cstdint>
#include <vector>

namespace softcpu {

// Range types of ACPI 6.4 table 15.312 (only the first two are produced here).
enum E820Type : uint32_t { E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3, E820_NVS = 4 };

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
};

constexpr uint32_t EBDA_START = 0x9FC00;  // last KiB of the 640 KiB base memory

// The map for a direct boot (no firmware), laid out as SeaBIOS reports it on QEMU: base memory
// usable up to the EBDA, the EBDA and the BIOS segment F000 reserved, RAM from 1 MiB to the
// end usable. The VGA hole 0xA0000-0xF0000 is absent (neither RAM nor reserved), as on a PC.
// `extra`: ranges beyond the RAM at 0 (a partition's other memory), appended in address order.
std::vector<E820Entry> pc_e820_map(uint32_t ram_bytes, const std::vector<E820Entry>& extra = {});

// What QEMU hands the firmware in fw_cfg "etc/e820" (hw/i386/pc.c): one RAM range from 0 to
// the end of RAM below 4 GiB; the firmware carves out the EBDA and its own areas itself.
// SeaBIOS (src/fw/paravirt.c qemu_cfg_e820) adds each RAM and reserved record above the CMOS
// RAM size to its own map as it is, so `extra` reaches the guest's INT 15h E820.
std::vector<E820Entry> firmware_e820_map(uint32_t ram_bytes, const std::vector<E820Entry>& extra = {});

// Packed little-endian 20-byte records {u64 addr; u64 size; u32 type;}: Linux's struct
// boot_e820_entry and QEMU's struct e820_entry have this layout.
constexpr unsigned E820_RECORD_SIZE = 20;
std::vector<uint8_t> encode_e820(const std::vector<E820Entry>& map);

}  // namespace softcpu
