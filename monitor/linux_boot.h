// Direct boot of a Linux bzImage through the 32-bit boot protocol (Linux
// Documentation/arch/x86/boot.rst, "32-bit Boot Protocol"), without firmware: the loader
// writes the protected-mode kernel, the initrd, the command line and the zero page
// (struct boot_params) into guest RAM and enters the kernel in flat 32-bit protected mode.
// Also the entry state and flat GDT that the Multiboot loader shares.
#pragma once
#include "monitor/e820.h"
#include <cstdint>
#include <string>
#include <vector>

#include "monitor/boot_error.h"

namespace softcpu {

struct Cpu;
class PhysicalMemory;

constexpr uint32_t KERNEL_LOAD_ADDR = 0x100000;  // protected-mode kernel (code32_start)
// Where the loaders look for room for their own data (GDT, stack, zero page or Multiboot
// information, command lines): base memory from here up to the EBDA first, then RAM above
// 1 MiB; whatever the kernel and its modules occupy is left out (BootSpace).
constexpr uint32_t BOOT_LOW_START = 0x1000;  // page 0 holds the IVT and the BDA
constexpr uint32_t BOOT_GDT_SIZE = 4 * 8;    // null, null, code, data descriptors
constexpr uint32_t BOOT_STACK_SIZE = 0x1000;
// __BOOT_CS and __BOOT_DS of the boot protocol: flat 4 GiB code and data.
constexpr uint16_t BOOT_CS = 0x10;
constexpr uint16_t BOOT_DS = 0x18;

// What the CPU must hold when a directly loaded kernel starts: flat CS/DS/ES/SS/FS/GS from
// the GDT at gdt_base, CR0.PE=1, paging off, IF=0, and these registers.
struct CpuEntryState {
  uint32_t eip = 0;
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0, esi = 0, edi = 0, ebp = 0, esp = 0;
  uint32_t gdt_base = 0;
  uint16_t gdt_limit = BOOT_GDT_SIZE - 1;
  uint16_t cs = BOOT_CS, ds = BOOT_DS;
};

// Write the flat GDT (entries 2 and 3: code and data, base 0, limit 4 GiB) at `addr`.
void write_boot_gdt(PhysicalMemory& mem, uint32_t addr);

// The guest RAM a loader may still use for its own data: the PC's base memory from
// BOOT_LOW_START to the EBDA and the RAM from 1 MiB to its end, minus what reserve() took out
// (the kernel's segments, modules, an initrd). take() hands out the lowest aligned free block,
// base memory first, as a boot loader puts its structures wherever the kernel is not.
class BootSpace {
 public:
  explicit BootSpace(uint32_t ram_bytes);
  // [lo, hi) is in use.
  void reserve(uint64_t lo, uint64_t hi);
  // `size` bytes (at least 1) aligned to `align` (a power of two); BootError naming `what`
  // when no free range holds them.
  uint32_t take(uint32_t size, uint32_t align, const char* what);
  // take() and copy `len` bytes there.
  uint32_t put(PhysicalMemory& mem, const void* data, uint32_t len, uint32_t align,
               const char* what);
  uint32_t put_string(PhysicalMemory& mem, const std::string& s, const char* what) {
    return put(mem, s.c_str(), uint32_t(s.size() + 1), 1, what);
  }

 private:
  struct Range {
    uint64_t lo, hi;
  };
  std::vector<Range> free_;  // disjoint, ascending
};

// The loaders' common tail: the GDT and a stack from `space`, written into `entry`.
void place_gdt_and_stack(PhysicalMemory& mem, BootSpace& space, CpuEntryState& entry);
// Load `s` into a CPU (normally just after reset_cpu). The GDT must already be in memory.
void apply_entry_state(Cpu& c, const CpuEntryState& s);

struct LinuxBootOptions {
  std::string cmdline;
  std::vector<uint8_t> initrd;  // empty: no initrd
  // screen_info describes the 80x25 colour text mode a BIOS leaves (so vgacon finds what it
  // expects); false: orig_video_isVGA = 0 and no text geometry.
  bool vga_text = true;
  std::vector<E820Entry> extra_memory;  // beyond the RAM at 0 (a partition's other memory)
};

struct LinuxBootInfo {
  uint16_t protocol = 0;       // e.g. 0x020F
  uint32_t kernel_addr = 0, kernel_size = 0;
  uint32_t initrd_addr = 0, initrd_size = 0;
  uint32_t cmdline_addr = 0;
  uint32_t boot_params_addr = 0;
  CpuEntryState entry;
  // Oddities of the file that boot loaders accept (a short last paragraph, ...): the caller
  // shows them as warnings.
  std::vector<std::string> warnings;
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
// header, protocol older than 2.03, not loaded high, 64-bit only, no protected-mode part),
// a command line longer than the kernel accepts, or a kernel/initrd that does not fit in RAM.
// A file shorter than its syssize says is loaded as it is, with a warning, as GRUB and QEMU
// do (they load the file's bytes after the setup sectors and never check syssize).
LinuxBootInfo load_bzimage(PhysicalMemory& mem, const std::vector<uint8_t>& image,
                           const LinuxBootOptions& options);

// Read a whole file (kernel, initrd, module); BootError if it cannot be read.
std::vector<uint8_t> read_boot_file(const std::string& path);

// A whole file read with read(2) into a buffer sized from fstat (kernels, initrds, ROMs: not
// a byte at a time through a stream). `error` is 0 or the errno of the open or read that
// failed (`opened` tells which). A file of more than `max_bytes` is not read in full:
// `too_big` is set and `bytes` holds its first max_bytes + 1.
struct WholeFile {
  std::vector<uint8_t> bytes;
  int error = 0;
  bool opened = false;
  bool too_big = false;
};
WholeFile read_whole_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);

}  // namespace softcpu
