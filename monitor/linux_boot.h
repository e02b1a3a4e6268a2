// Direct boot of a Linux bzImage through the 32-bit boot protocol (Linux
// Documentation/arch/x86/boot.rst, "32-bit Boot Protocol"), without firmware: the loader
// writes the protected-mode kernel, the initrd, the command line and the zero page
// (struct boot_params) into guest RAM and enters the kernel in flat 32-bit protected mode.
// Also the entry state and flat GDT that the Multiboot loader shares.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "monitor/boot_error.h"

namespace softcpu {

struct Cpu;
class PhysicalMemory;

// Low-memory layout of the direct-boot structures (all below the EBDA at 0x9FC00).
constexpr uint32_t BOOT_GDT_ADDR = 0x5000;      // null, null, code, data descriptors
constexpr uint32_t BOOT_STACK_TOP = 0x7000;     // a few KiB below the zero page
constexpr uint32_t BOOT_PARAMS_ADDR = 0x7000;   // Linux zero page / Multiboot info area
constexpr uint32_t BOOT_AREA_END = 0x9F000;     // Multiboot info area ends here
constexpr uint32_t LINUX_CMDLINE_ADDR = 0x20000;
constexpr uint32_t KERNEL_LOAD_ADDR = 0x100000;  // protected-mode kernel (code32_start)
// __BOOT_CS and __BOOT_DS of the boot protocol: flat 4 GiB code and data.
constexpr uint16_t BOOT_CS = 0x10;
constexpr uint16_t BOOT_DS = 0x18;

// What the CPU must hold when a directly loaded kernel starts: flat CS/DS/ES/SS/FS/GS from
// the GDT at gdt_base, CR0.PE=1, paging off, IF=0, and these registers.
struct CpuEntryState {
  uint32_t eip = 0;
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0, esi = 0, edi = 0, ebp = 0, esp = 0;
  uint32_t gdt_base = BOOT_GDT_ADDR;
  uint16_t gdt_limit = 4 * 8 - 1;
  uint16_t cs = BOOT_CS, ds = BOOT_DS;
};

// Write the flat GDT (entries 2 and 3: code and data, base 0, limit 4 GiB) at `addr`.
void write_boot_gdt(PhysicalMemory& mem, uint32_t addr = BOOT_GDT_ADDR);
// Load `s` into a CPU (normally just after reset_cpu). The GDT must already be in memory.
void apply_entry_state(Cpu& c, const CpuEntryState& s);

struct LinuxBootOptions {
  std::string cmdline;
  std::vector<uint8_t> initrd;  // empty: no initrd
  // screen_info describes the 80x25 colour text mode a BIOS leaves (so vgacon finds what it
  // expects); false: orig_video_isVGA = 0 and no text geometry.
  bool vga_text = true;
};

struct LinuxBootInfo {
  uint16_t protocol = 0;       // e.g. 0x020F
  uint32_t kernel_addr = 0, kernel_size = 0;
  uint32_t initrd_addr = 0, initrd_size = 0;
  uint32_t cmdline_addr = 0;
  uint32_t boot_params_addr = 0;
  CpuEntryState entry;
};

// Offsets in struct boot_params and its setup header (boot.rst, "THE REAL-MODE KERNEL HEADER";
// arch/x86/include/uapi/asm/bootparam.h).
namespace bp {
enum : uint32_t {
  ORIG_X = 0x00, ORIG_Y = 0x01, EXT_MEM_K = 0x02, ORIG_VIDEO_PAGE = 0x04,
  ORIG_VIDEO_MODE = 0x06, ORIG_VIDEO_COLS = 0x07, ORIG_VIDEO_EGA_BX = 0x0A,
  ORIG_VIDEO_LINES = 0x0E, ORIG_VIDEO_ISVGA = 0x0F, ORIG_VIDEO_POINTS = 0x10,
  ALT_MEM_K = 0x1E0, E820_ENTRIES = 0x1E8, SENTINEL = 0x1EF,
  SETUP_SECTS = 0x1F1, SYSSIZE = 0x1F4, VID_MODE = 0x1FA, BOOT_FLAG = 0x1FE, JUMP = 0x200,
  HEADER = 0x202, VERSION = 0x206, TYPE_OF_LOADER = 0x210, LOADFLAGS = 0x211,
  CODE32_START = 0x214, RAMDISK_IMAGE = 0x218, RAMDISK_SIZE = 0x21C, HEAP_END_PTR = 0x224,
  CMD_LINE_PTR = 0x228, INITRD_ADDR_MAX = 0x22C, KERNEL_ALIGNMENT = 0x230,
  RELOCATABLE_KERNEL = 0x234, XLOADFLAGS = 0x236, CMDLINE_SIZE = 0x238,
  HARDWARE_SUBARCH = 0x23C, PREF_ADDRESS = 0x258, INIT_SIZE = 0x260,
  E820_TABLE = 0x2D0, SIZE = 0x1000,
};
enum : uint8_t { LOADED_HIGH = 0x01, KEEP_SEGMENTS = 0x40, CAN_USE_HEAP = 0x80 };
enum : uint16_t { XLF_KERNEL_64 = 0x01 };
constexpr uint32_t HDRS_MAGIC = 0x53726448;  // "HdrS"
constexpr unsigned E820_MAX = 128;
}  // namespace bp

// True if `image` carries the "HdrS" setup header (any boot protocol version).
bool is_bzimage(const std::vector<uint8_t>& image);

// Load a bzImage into RAM; throws BootError for a file that is not a usable bzImage (no
// header, protocol older than 2.06, not loaded high, 64-bit only, truncated), a command line
// longer than the kernel accepts, or a kernel/initrd that does not fit in RAM.
LinuxBootInfo load_bzimage(PhysicalMemory& mem, const std::vector<uint8_t>& image,
                           const LinuxBootOptions& options);

// Read a whole file (kernel, initrd, module); BootError if it cannot be read.
std::vector<uint8_t> read_boot_file(const std::string& path);

}  // namespace softcpu
