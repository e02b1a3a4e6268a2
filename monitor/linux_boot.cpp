#include "monitor/linux_boot.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp/cpu.h"
#include "interp/memory.h"
#include "interp/segments.h"
#include "interp/tlb.h"
#include "monitor/e820.h"

namespace softcpu {

namespace {

// Flat 4 GiB descriptors, G=1 D=1 P=1 DPL=0: execute/read code and read/write data
// (SDM vol.3 3.4.5), already marked accessed so nothing writes the GDT.
constexpr uint64_t FLAT_CODE = 0x00CF9B000000FFFFull;
constexpr uint64_t FLAT_DATA = 0x00CF93000000FFFFull;

uint32_t le(const std::vector<uint8_t>& b, size_t off, unsigned n) {
  uint32_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= uint32_t(b[off + i]) << (8 * i);
  return v;
}
void put_le(std::vector<uint8_t>& b, size_t off, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}
std::string mib(uint64_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB"; }

}  // namespace

void write_boot_gdt(PhysicalMemory& mem, uint32_t addr) {
  const uint64_t gdt[4] = {0, 0, FLAT_CODE, FLAT_DATA};
  mem.write_bytes(addr, gdt, sizeof gdt);
}

BootSpace::BootSpace(uint32_t ram_bytes) {
  const uint64_t low_end = std::min<uint64_t>(EBDA_START, ram_bytes);
  if (low_end > BOOT_LOW_START) free_.push_back({BOOT_LOW_START, low_end});
  if (ram_bytes > KERNEL_LOAD_ADDR) free_.push_back({KERNEL_LOAD_ADDR, ram_bytes});
}

void BootSpace::reserve(uint64_t lo, uint64_t hi) {
  if (hi <= lo) return;
  std::vector<Range> out;
  for (const Range& r : free_) {
    if (r.hi <= lo || r.lo >= hi) {
      out.push_back(r);
      continue;
    }
    if (r.lo < lo) out.push_back({r.lo, lo});
    if (r.hi > hi) out.push_back({hi, r.hi});
  }
  free_ = std::move(out);
}

uint32_t BootSpace::take(uint32_t size, uint32_t align, const char* what) {
  const uint64_t n = std::max<uint32_t>(size, 1);
  for (const Range& r : free_) {
    const uint64_t at = (r.lo + align - 1) & ~uint64_t(align - 1);
    if (at + n <= r.hi) {
      reserve(at, at + n);
      return uint32_t(at);
    }
  }
  throw BootError{std::string("no room in RAM for ") + what + " (" + std::to_string(n) +
                  " bytes) beside the kernel; give the machine more RAM"};
}

uint32_t BootSpace::put(PhysicalMemory& mem, const void* data, uint32_t len, uint32_t align,
                        const char* what) {
  const uint32_t at = take(len, align, what);
  if (len) mem.write_bytes(at, data, len);
  return at;
}

void place_gdt_and_stack(PhysicalMemory& mem, BootSpace& space, CpuEntryState& entry) {
  entry.gdt_base = space.take(BOOT_GDT_SIZE, 8, "the boot GDT");
  entry.gdt_limit = BOOT_GDT_SIZE - 1;
  write_boot_gdt(mem, entry.gdt_base);
  // Neither protocol defines ESP at entry (both kernels set up their own stack); a valid one
  // in free RAM keeps an early push from landing on the kernel.
  entry.esp = space.take(BOOT_STACK_SIZE, 16, "the boot stack") + BOOT_STACK_SIZE;
}

void apply_entry_state(Cpu& c, const CpuEntryState& s) {
  c.regs[EAX] = s.eax;
  c.regs[EBX] = s.ebx;
  c.regs[ECX] = s.ecx;
  c.regs[EDX] = s.edx;
  c.regs[ESI] = s.esi;
  c.regs[EDI] = s.edi;
  c.regs[EBP] = s.ebp;
  c.regs[ESP] = s.esp;
  c.eip = s.eip;
  c.eflags = 2;  // IF = 0
  c.lz_kind = LZ_NONE;
  c.cr0 = CR0_PE | CR0_ET;  // caches on, paging off, as firmware leaves it
  c.gdtr = {s.gdt_base, s.gdt_limit};
  c.idtr = {0, 0};  // no IDT until the kernel loads one: a stray fault shuts down
  uint64_t code = 0, data = 0;
  c.mem->read_bytes(s.gdt_base + (s.cs & ~7u), &code, 8);
  c.mem->read_bytes(s.gdt_base + (s.ds & ~7u), &data, 8);
  cache_from_descriptor(c, c.seg[CS], s.cs, code);
  for (unsigned seg : {ES, SS, DS, FS, GS}) cache_from_descriptor(c, c.seg[seg], s.ds, data);
  c.cpl = 0;
  c.halted = 0;
  update_mode(c);
  refresh_all_segment_ranges(c);
  tlb_flush(c);
}

bool is_bzimage(const std::vector<uint8_t>& image) {
  return image.size() >= bp::HEADER + 4 && le(image, bp::HEADER, 4) == bp::HDRS_MAGIC;
}

LinuxBootInfo load_bzimage(PhysicalMemory& mem, const std::vector<uint8_t>& image,
                           const LinuxBootOptions& options) {
  if (!is_bzimage(image))
    throw BootError{"not a bzImage: no \"HdrS\" Linux setup header at offset 0x202"};
  if (image.size() < bp::INIT_SIZE + 4)
    throw BootError{"truncated bzImage: the file ends inside the setup header"};
  LinuxBootInfo info;
  info.protocol = uint16_t(le(image, bp::VERSION, 2));
  char version[16];
  std::snprintf(version, sizeof version, "%u.%02u", info.protocol >> 8, info.protocol & 0xFF);
  // The 32-bit entry needs cmd_line_ptr and initrd_addr_max (2.02, 2.03); GRUB's 32-bit
  // loader takes 2.03 and up too. Fields of later protocols get their documented defaults.
  if (info.protocol < 0x203)
    throw BootError{std::string("Linux boot protocol ") + version +
                    " is too old for the 32-bit entry (2.03, Linux 2.4.18, or newer needed)"};
  const uint8_t loadflags = image[bp::LOADFLAGS];
  if (!(loadflags & bp::LOADED_HIGH))
    throw BootError{"zImage kernels (loaded below 1 MiB) are not supported; use a bzImage"};
  // xloadflags exists from 2.12 on; in an older header those bytes are code (boot.rst).
  if (info.protocol >= 0x20C && (le(image, bp::XLOADFLAGS, 2) & bp::XLF_KERNEL_64))
    throw BootError{"this is a 64-bit (x86_64) kernel; the emulated CPU is 32-bit only"};

  // The real-mode part is setup_sects + 1 sectors (0 means 4); the rest is the
  // protected-mode kernel, syssize 16-byte paragraphs long.
  const unsigned setup_sects = image[bp::SETUP_SECTS] ? image[bp::SETUP_SECTS] : 4;
  const size_t setup_size = size_t(setup_sects + 1) * 512;
  const uint64_t sys_bytes = uint64_t(le(image, bp::SYSSIZE, 4)) * 16;
  if (image.size() <= setup_size)
    throw BootError{"truncated bzImage: the file (" + std::to_string(image.size()) +
                    " bytes) ends inside its " + std::to_string(setup_size) +
                    " bytes of setup sectors"};
  // GRUB and QEMU load whatever follows the setup sectors and never look at syssize, so a
  // file a few bytes short of it (Debian's memtest86+ 6.10 ia32: 8) boots there: load it too.
  if (setup_size + sys_bytes > image.size())
    info.warnings.push_back("the bzImage header describes " +
                            std::to_string(setup_size + sys_bytes) + " bytes, the file has " +
                            std::to_string(image.size()) + "; loading the " +
                            std::to_string(image.size() - setup_size) +
                            " bytes after the setup sectors");
  info.kernel_addr = KERNEL_LOAD_ADDR;
  info.kernel_size = uint32_t(image.size() - setup_size);

  // The kernel decompresses to its runtime address and needs init_size bytes from there
  // (boot.rst "init_size"). That is pref_address: a relocatable kernel loaded below it moves
  // up to it, a non-relocatable one always runs there.
  const bool has_init_size = info.protocol >= 0x20A;
  const uint32_t init_size = has_init_size ? le(image, bp::INIT_SIZE, 4) : 0;
  const uint64_t pref_address =
      has_init_size ? le(image, bp::PREF_ADDRESS, 4) | uint64_t(le(image, bp::PREF_ADDRESS + 4, 4)) << 32
                    : 0;
  const uint64_t runtime_start = std::max<uint64_t>(KERNEL_LOAD_ADDR, pref_address);
  const uint64_t kernel_end = std::max(uint64_t(KERNEL_LOAD_ADDR) + info.kernel_size,
                                       runtime_start + init_size);
  const uint32_t ram = mem.ram_size();
  if (kernel_end > ram)
    throw BootError{"the kernel needs " + mib(kernel_end) + " of RAM, the machine has " +
                    mib(ram)};

  // boot.rst "cmdline_size": before 2.06 the maximum is 255.
  const uint32_t cmdline_max = info.protocol >= 0x206 ? le(image, bp::CMDLINE_SIZE, 4) : 255;
  if (options.cmdline.size() > cmdline_max)
    throw BootError{"kernel command line is " + std::to_string(options.cmdline.size()) +
                    " bytes, this kernel accepts at most " + std::to_string(cmdline_max)};

  if (!options.initrd.empty()) {
    // Highest page-aligned place below both initrd_addr_max and the end of RAM.
    const uint64_t top = std::min<uint64_t>(uint64_t(le(image, bp::INITRD_ADDR_MAX, 4)) + 1, ram);
    const uint64_t size = options.initrd.size();
    if (size > top || ((top - size) & ~0xFFFull) < kernel_end)
      throw BootError{"the initrd (" + std::to_string(size) + " bytes) does not fit between " +
                      "the kernel's end at " + hex(kernel_end) + " and " + hex(top) +
                      "; give the machine more RAM"};
    info.initrd_addr = uint32_t((top - size) & ~0xFFFull);
    info.initrd_size = uint32_t(size);
    mem.write_bytes(info.initrd_addr, options.initrd.data(), info.initrd_size);
  }

  mem.write_bytes(KERNEL_LOAD_ADDR, image.data() + setup_size, info.kernel_size);
  // The loader's data goes where the kernel (up to init_size) and the initrd are not: the
  // command line anywhere below 0xA0000 with protocol 2.02+ (boot.rst "cmd_line_ptr"), the
  // zero page anywhere (ESI points at it).
  BootSpace space(ram);
  space.reserve(KERNEL_LOAD_ADDR, kernel_end);
  space.reserve(info.initrd_addr, uint64_t(info.initrd_addr) + info.initrd_size);
  place_gdt_and_stack(mem, space, info.entry);
  info.boot_params_addr = space.take(bp::SIZE, PAGE_SIZE, "the zero page");
  info.cmdline_addr = space.put_string(mem, options.cmdline, "the kernel command line");
  if (info.cmdline_addr >= EBDA_START)
    throw BootError{"no room below 640 KiB for the kernel command line"};

  // The zero page: all zeros, then the setup header copied from the image (it ends at
  // 0x202 + the byte at 0x201, the jump's displacement), then what the loader fills in.
  std::vector<uint8_t> zp(bp::SIZE, 0);
  const size_t header_end = std::min<size_t>({size_t(0x202) + image[bp::JUMP + 1], image.size(),
                                              bp::E820_TABLE});
  std::copy(image.begin() + bp::SETUP_SECTS, image.begin() + header_end,
            zp.begin() + bp::SETUP_SECTS);
  zp[bp::TYPE_OF_LOADER] = 0xFF;  // undefined boot loader
  zp[bp::LOADFLAGS] = uint8_t((loadflags | bp::CAN_USE_HEAP) & ~bp::KEEP_SEGMENTS);
  put_le(zp, bp::HEAP_END_PTR, 0xFE00, 2);  // boot.rst: setup end (0x10000) minus 0x200
  put_le(zp, bp::VID_MODE, 0xFFFF, 2);      // "normal" VGA
  put_le(zp, bp::CODE32_START, KERNEL_LOAD_ADDR, 4);
  put_le(zp, bp::RAMDISK_IMAGE, info.initrd_addr, 4);
  put_le(zp, bp::RAMDISK_SIZE, info.initrd_size, 4);
  put_le(zp, bp::CMD_LINE_PTR, info.cmdline_addr, 4);
  put_le(zp, bp::HARDWARE_SUBARCH, 0, 4);  // a normal PC

  const uint32_t ext_kib = ram > 0x100000 ? (ram - 0x100000) >> 10 : 0;
  put_le(zp, bp::EXT_MEM_K, std::min<uint32_t>(ext_kib, 0xFFFF), 2);
  put_le(zp, bp::ALT_MEM_K, ext_kib, 4);
  if (options.vga_text) {  // what arch/x86/boot/video.c stores for BIOS mode 3
    zp[bp::ORIG_VIDEO_MODE] = 3;
    zp[bp::ORIG_VIDEO_COLS] = 80;
    zp[bp::ORIG_VIDEO_LINES] = 25;
    zp[bp::ORIG_VIDEO_ISVGA] = 1;
    put_le(zp, bp::ORIG_VIDEO_POINTS, 16, 2);
    put_le(zp, bp::ORIG_VIDEO_EGA_BX, 3, 2);  // colour, 256 KiB
  }
  const std::vector<E820Entry> map = pc_e820_map(ram, options.extra_memory);
  if (map.size() > bp::E820_MAX) throw BootError{"the memory map has more than 128 ranges"};
  const std::vector<uint8_t> records = encode_e820(map);
  zp[bp::E820_ENTRIES] = uint8_t(map.size());
  std::copy(records.begin(), records.end(), zp.begin() + bp::E820_TABLE);
  mem.write_bytes(info.boot_params_addr, zp.data(), bp::SIZE);

  info.entry.eip = KERNEL_LOAD_ADDR;  // startup_32
  info.entry.esi = info.boot_params_addr;
  return info;
}

WholeFile read_whole_file(const std::string& path, uint64_t max_bytes) {
  WholeFile f;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    f.error = errno;
    return f;
  }
  f.opened = true;
  // A regular file's size sizes the buffer (one read); a pipe or device reports 0 and is read
  // in growing chunks until EOF. One byte more than the limit tells a file that is too big.
  struct stat st {};
  const uint64_t cap = max_bytes == UINT64_MAX ? max_bytes : max_bytes + 1;
  uint64_t want = fstat(fd, &st) == 0 && st.st_size > 0 ? uint64_t(st.st_size) + 1 : 65536;
  size_t used = 0;
  for (;;) {
    if (used == f.bytes.size()) {
      if (used >= cap) break;
      f.bytes.resize(size_t(std::min(cap, std::max<uint64_t>(want, used * 2))));
    }
    const ssize_t n = ::read(fd, f.bytes.data() + used, f.bytes.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      f.error = errno;
      break;
    }
    if (n == 0) break;
    used += size_t(n);
  }
  ::close(fd);
  f.bytes.resize(used);
  f.too_big = used > max_bytes;
  return f;
}

std::vector<uint8_t> read_boot_file(const std::string& path) {
  WholeFile f = read_whole_file(path);
  if (!f.opened) throw BootError{"cannot open '" + path + "': " + std::strerror(f.error)};
  if (f.error) throw BootError{"cannot read '" + path + "': " + std::strerror(f.error)};
  return std::move(f.bytes);
}

}  // namespace softcpu
