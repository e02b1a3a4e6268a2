// Direct boot of a Multiboot (version 0.6.96) kernel: the header in the first 8 KiB, ELF32
// PT_LOAD segments or the a.out-kludge addresses, modules page-aligned after the kernel, the
// Multiboot information structure, entry with EAX = 0x2BADB002 and EBX = the structure.
// Also the choice between a bzImage and a Multiboot kernel for a -kernel file.
#pragma once
#include "monitor/e820.h"
#include <cstdint>
#include <string>
#include <vector>

#include "monitor/boot_error.h"
#include "monitor/linux_boot.h"

namespace softcpu {

class PhysicalMemory;

constexpr uint32_t MULTIBOOT_HEADER_MAGIC = 0x1BADB002;
constexpr uint32_t MULTIBOOT_BOOTLOADER_MAGIC = 0x2BADB002;
constexpr uint32_t MULTIBOOT_SEARCH = 8192;

// Header flags (spec 3.1.2) and information flags (spec 3.3).
enum : uint32_t {
  MB_PAGE_ALIGN = 1u << 0, MB_MEMORY_INFO = 1u << 1, MB_VIDEO_MODE = 1u << 2,
  MB_AOUT_KLUDGE = 1u << 16,
};
enum : uint32_t {
  MBI_MEMORY = 1u << 0, MBI_CMDLINE = 1u << 2, MBI_MODS = 1u << 3, MBI_MMAP = 1u << 6,
  MBI_LOADER_NAME = 1u << 9,
};
// Offsets in struct multiboot_info.
namespace mbi {
enum : uint32_t {
  FLAGS = 0, MEM_LOWER = 4, MEM_UPPER = 8, BOOT_DEVICE = 12, CMDLINE = 16, MODS_COUNT = 20,
  MODS_ADDR = 24, MMAP_LENGTH = 44, MMAP_ADDR = 48, BOOT_LOADER_NAME = 64, SIZE = 120,
};
}

struct MultibootModule {
  std::vector<uint8_t> data;
  std::string cmdline;  // the module's string: "path args" as QEMU passes it
};

struct MultibootOptions {
  std::string cmdline;  // passed verbatim (QEMU passes "kernel-path args")
  std::vector<MultibootModule> modules;
  std::vector<E820Entry> extra_memory;  // beyond the RAM at 0, added to the mmap
};

struct MultibootInfo {
  uint32_t header_offset = 0;
  uint32_t load_start = 0, load_end = 0;  // physical range of the kernel, bss included
  uint32_t info_addr = 0;
  std::vector<uint32_t> module_addrs;
  CpuEntryState entry;
};

// Offset of a valid Multiboot header (magic and checksum) in the first 8 KiB, or -1.
long find_multiboot_header(const std::vector<uint8_t>& image);

// Load a Multiboot kernel; BootError when there is no header, it asks for something we do not
// give, the ELF or a.out layout is bad or truncated, or it does not fit in RAM.
MultibootInfo load_multiboot(PhysicalMemory& mem, const std::vector<uint8_t>& image,
                             const MultibootOptions& options);

// QEMU's -initrd for a Multiboot kernel: comma-separated "path args" modules (",," is a
// literal comma). Reads each file; BootError if one cannot be read.
std::vector<MultibootModule> load_multiboot_modules(const std::string& spec);

// -kernel: a bzImage if it has the Linux setup header (initrd = one file), otherwise a
// Multiboot kernel (initrd = module list), otherwise BootError("... not a bzImage or a
// Multiboot kernel"). Returns the state to start the CPU in. `extra_memory` goes into the e820
// map / mmap after the RAM at 0 (DeviceView::extra_memory).
CpuEntryState load_direct_kernel(PhysicalMemory& mem, const std::string& kernel_path,
                                 const std::string& cmdline, const std::string& initrd,
                                 const std::vector<E820Entry>& extra_memory = {});

}  // namespace softcpu
