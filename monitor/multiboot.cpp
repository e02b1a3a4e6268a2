#include "monitor/multiboot.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "interp/memory.h"
#include "monitor/e820.h"

namespace softcpu {

namespace {

constexpr uint32_t PAGE = 4096;
constexpr char LOADER_NAME[] = "softcpu";

uint32_t le32(const std::vector<uint8_t>& b, size_t off) {
  return uint32_t(b[off]) | uint32_t(b[off + 1]) << 8 | uint32_t(b[off + 2]) << 16 |
         uint32_t(b[off + 3]) << 24;
}
uint16_t le16(const std::vector<uint8_t>& b, size_t off) {
  return uint16_t(b[off] | b[off + 1] << 8);
}
std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

// Guest RAM [lo, hi) must be RAM: below its end and outside the EBDA and the legacy video
// and BIOS area (0x9FC00-0xFFFFF, reserved or not memory at all in the E820 map we report).
void check_placement(uint64_t lo, uint64_t hi, uint32_t ram, const char* what) {
  if (hi > ram)
    throw BootError{std::string(what) + " at " + hex(lo) + "-" + hex(hi) +
                    " lies beyond the end of RAM (" + hex(ram) + ")"};
  if (lo < KERNEL_LOAD_ADDR && hi > EBDA_START)
    throw BootError{std::string(what) + " at " + hex(lo) + "-" + hex(hi) +
                    " overlaps the EBDA and BIOS area " + hex(EBDA_START) + "-" +
                    hex(KERNEL_LOAD_ADDR) + ", which is not RAM"};
}

struct Loaded {
  uint32_t start, end, entry;
  std::vector<std::pair<uint32_t, uint64_t>> ranges;  // [lo, hi) of every loaded segment
};

// a.out kludge (spec 3.1.3): the header gives the load addresses; the file is loaded from
// header_offset - (header_addr - load_addr).
Loaded load_aout(PhysicalMemory& mem, const std::vector<uint8_t>& image, uint32_t hdr) {
  if (hdr + 32 > image.size()) throw BootError{"truncated Multiboot header"};
  const uint32_t header_addr = le32(image, hdr + 12), load_addr = le32(image, hdr + 16),
                 load_end_addr = le32(image, hdr + 20), bss_end_addr = le32(image, hdr + 24),
                 entry_addr = le32(image, hdr + 28);
  if (header_addr < load_addr || header_addr - load_addr > hdr)
    throw BootError{"Multiboot header addresses are inconsistent (header_addr " +
                    hex(header_addr) + " vs load_addr " + hex(load_addr) + ")"};
  const uint32_t file_off = hdr - (header_addr - load_addr);
  uint64_t size = load_end_addr ? uint64_t(load_end_addr) - load_addr : image.size() - file_off;
  if (load_end_addr && load_end_addr < load_addr)
    throw BootError{"Multiboot load_end_addr is below load_addr"};
  if (file_off + size > image.size())
    throw BootError{"truncated Multiboot kernel: " + std::to_string(file_off + size) +
                    " bytes expected, the file has " + std::to_string(image.size())};
  uint64_t end = uint64_t(load_addr) + size;
  if (bss_end_addr) {
    if (bss_end_addr < end) throw BootError{"Multiboot bss_end_addr is below load_end_addr"};
    end = bss_end_addr;
  }
  check_placement(load_addr, end, mem.ram_size(), "the kernel");
  mem.write_bytes(load_addr, image.data() + file_off, uint32_t(size));
  std::vector<uint8_t> zeros(end - load_addr - size, 0);
  if (!zeros.empty()) mem.write_bytes(uint32_t(load_addr + size), zeros.data(), uint32_t(zeros.size()));
  return {load_addr, uint32_t(end), entry_addr, {{load_addr, end}}};
}

// ELF32 executable (System V ABI, Intel386 supplement): PT_LOAD segments at their physical
// addresses; the entry is translated from virtual to physical when a segment maps it.
Loaded load_elf(PhysicalMemory& mem, const std::vector<uint8_t>& image) {
  if (image.size() < 52 || std::memcmp(image.data(), "\x7F" "ELF", 4) != 0)
    throw BootError{"Multiboot kernel without the a.out address fields is not an ELF file"};
  if (image[4] != 1 || image[5] != 1)
    throw BootError{"Multiboot kernel is not a 32-bit little-endian ELF (ELF64 is not supported)"};
  if (le16(image, 16) != 2 || le16(image, 18) != 3)
    throw BootError{"Multiboot ELF kernel is not an i386 executable (ET_EXEC, EM_386)"};
  const uint32_t entry = le32(image, 24), phoff = le32(image, 28);
  const uint16_t phentsize = le16(image, 42), phnum = le16(image, 44);
  if (phentsize < 32 || uint64_t(phoff) + uint64_t(phnum) * phentsize > image.size())
    throw BootError{"truncated ELF kernel: program headers lie past the end of the file"};
  Loaded l{UINT32_MAX, 0, entry, {}};
  bool entry_mapped = false;
  for (unsigned i = 0; i < phnum; ++i) {
    const size_t ph = phoff + size_t(i) * phentsize;
    if (le32(image, ph) != 1) continue;  // PT_LOAD
    const uint32_t offset = le32(image, ph + 4), vaddr = le32(image, ph + 8),
                   paddr = le32(image, ph + 12), filesz = le32(image, ph + 16),
                   memsz = le32(image, ph + 20);
    if (memsz == 0) continue;
    if (filesz > memsz) throw BootError{"ELF segment with p_filesz > p_memsz"};
    if (uint64_t(offset) + filesz > image.size())
      throw BootError{"truncated ELF kernel: a segment lies past the end of the file"};
    check_placement(paddr, uint64_t(paddr) + memsz, mem.ram_size(), "an ELF segment");
    mem.write_bytes(paddr, image.data() + offset, filesz);
    std::vector<uint8_t> zeros(memsz - filesz, 0);
    if (!zeros.empty()) mem.write_bytes(paddr + filesz, zeros.data(), uint32_t(zeros.size()));
    l.ranges.push_back({paddr, uint64_t(paddr) + memsz});
    l.start = std::min(l.start, paddr);
    l.end = std::max(l.end, paddr + memsz);
    if (!entry_mapped && entry >= vaddr && entry - vaddr < memsz) {
      l.entry = entry - vaddr + paddr;
      entry_mapped = true;
    }
  }
  if (l.end == 0) throw BootError{"ELF kernel has no loadable segment"};
  return l;
}

void put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (unsigned i = 0; i < 4; ++i) b[off + i] = uint8_t(v >> (8 * i));
}

}  // namespace

long find_multiboot_header(const std::vector<uint8_t>& image) {
  const size_t limit = std::min<size_t>(image.size(), MULTIBOOT_SEARCH);
  for (size_t off = 0; off + 12 <= limit; off += 4) {
    if (le32(image, off) != MULTIBOOT_HEADER_MAGIC) continue;
    if (uint32_t(MULTIBOOT_HEADER_MAGIC + le32(image, off + 4) + le32(image, off + 8)) == 0)
      return long(off);
  }
  return -1;
}

MultibootInfo load_multiboot(PhysicalMemory& mem, const std::vector<uint8_t>& image,
                             const MultibootOptions& options) {
  const long found = find_multiboot_header(image);
  if (found < 0) throw BootError{"no Multiboot header in the first 8 KiB of the kernel"};
  MultibootInfo info;
  info.header_offset = uint32_t(found);
  const uint32_t flags = le32(image, info.header_offset + 4);
  // Bits 0-15 are requirements (spec 3.1.2): refuse those we do not know. A video mode
  // request (bit 2) is accepted and left unanswered (no framebuffer info), as QEMU does.
  const uint32_t unknown = flags & 0xFFFFu & ~(MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_VIDEO_MODE);
  if (unknown)
    throw BootError{"Multiboot kernel requires unsupported features (header flags " + hex(flags) +
                    ")"};
  const Loaded k = (flags & MB_AOUT_KLUDGE) ? load_aout(mem, image, info.header_offset)
                                            : load_elf(mem, image);
  info.load_start = k.start;
  info.load_end = k.end;

  // Modules, each page-aligned, after the kernel's highest segment.
  const uint32_t ram = mem.ram_size();
  BootSpace space(ram);
  for (const auto& [lo, hi] : k.ranges) space.reserve(lo, hi);
  uint64_t next = align_up(std::max<uint64_t>(k.end, KERNEL_LOAD_ADDR), PAGE);
  for (const MultibootModule& m : options.modules) {
    const uint64_t end = next + m.data.size();
    check_placement(next, end, ram, "a Multiboot module");
    if (!m.data.empty()) mem.write_bytes(uint32_t(next), m.data.data(), uint32_t(m.data.size()));
    space.reserve(next, end);
    info.module_addrs.push_back(uint32_t(next));
    next = align_up(end, PAGE);
  }

  // The loader's own data (GDT, stack, the information structure and what it points to) goes
  // where no segment or module is, as GRUB places it wherever the kernel is not.
  place_gdt_and_stack(mem, space, info.entry);
  info.info_addr = space.take(mbi::SIZE, 8, "the Multiboot information");
  std::vector<uint8_t> mb(mbi::SIZE, 0);
  const std::vector<E820Entry> map = pc_e820_map(ram, options.extra_memory);
  // mem_lower/mem_upper in KiB: base memory below the EBDA, contiguous RAM from 1 MiB.
  put32(mb, mbi::MEM_LOWER, uint32_t(map.front().size >> 10));
  put32(mb, mbi::MEM_UPPER, ram > 0x100000 ? (ram - 0x100000) >> 10 : 0);
  put32(mb, mbi::CMDLINE, space.put_string(mem, options.cmdline, "the command line"));

  const uint32_t mods =
      space.take(uint32_t(16 * options.modules.size()), 16, "the Multiboot module list");
  std::vector<uint8_t> mod_list(16 * options.modules.size(), 0);
  for (size_t i = 0; i < options.modules.size(); ++i) {
    put32(mod_list, 16 * i, info.module_addrs[i]);
    put32(mod_list, 16 * i + 4, info.module_addrs[i] + uint32_t(options.modules[i].data.size()));
    put32(mod_list, 16 * i + 8,
          space.put_string(mem, options.modules[i].cmdline, "a module's string"));
  }
  if (!mod_list.empty()) mem.write_bytes(mods, mod_list.data(), uint32_t(mod_list.size()));
  put32(mb, mbi::MODS_COUNT, uint32_t(options.modules.size()));
  put32(mb, mbi::MODS_ADDR, mods);

  // mmap entries: u32 size (of the rest, 20), u64 base, u64 length, u32 type.
  std::vector<uint8_t> mmap;
  for (const E820Entry& e : map) {
    const uint8_t size[4] = {20, 0, 0, 0};
    mmap.insert(mmap.end(), size, size + 4);
    const std::vector<uint8_t> rec = encode_e820({e});
    mmap.insert(mmap.end(), rec.begin(), rec.end());
  }
  const uint32_t mmap_addr =
      space.put(mem, mmap.data(), uint32_t(mmap.size()), 8, "the Multiboot memory map");
  put32(mb, mbi::MMAP_LENGTH, uint32_t(mmap.size()));
  put32(mb, mbi::MMAP_ADDR, mmap_addr);
  put32(mb, mbi::BOOT_LOADER_NAME, space.put_string(mem, LOADER_NAME, "the loader name"));
  put32(mb, mbi::FLAGS, MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
  mem.write_bytes(info.info_addr, mb.data(), mbi::SIZE);

  info.entry.eip = k.entry;
  info.entry.eax = MULTIBOOT_BOOTLOADER_MAGIC;
  info.entry.ebx = info.info_addr;
  return info;
}

std::vector<MultibootModule> load_multiboot_modules(const std::string& spec) {
  std::vector<MultibootModule> modules;
  if (spec.empty()) return modules;
  std::string current;
  auto finish = [&] {
    MultibootModule m;
    m.cmdline = current;
    const std::string path = current.substr(0, current.find(' '));
    m.data = read_boot_file(path);
    modules.push_back(std::move(m));
    current.clear();
  };
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == ',' && i + 1 < spec.size() && spec[i + 1] == ',') {
      current.push_back(',');
      ++i;
    } else if (spec[i] == ',') {
      finish();
    } else {
      current.push_back(spec[i]);
    }
  }
  finish();
  return modules;
}

CpuEntryState load_direct_kernel(PhysicalMemory& mem, const std::string& kernel_path,
                                 const std::string& cmdline, const std::string& initrd,
                                 const std::vector<E820Entry>& extra_memory) {
  const std::vector<uint8_t> image = read_boot_file(kernel_path);
  if (is_bzimage(image)) {  // QEMU tries the Linux header first, then Multiboot
    LinuxBootOptions o;
    o.cmdline = cmdline;
    o.extra_memory = extra_memory;
    if (!initrd.empty()) o.initrd = read_boot_file(initrd);
    const LinuxBootInfo info = load_bzimage(mem, image, o);
    for (const std::string& w : info.warnings)
      std::fprintf(stderr, "softcpu: warning: %s: %s\n", kernel_path.c_str(), w.c_str());
    return info.entry;
  }
  if (find_multiboot_header(image) >= 0) {
    MultibootOptions o;
    o.cmdline = cmdline.empty() ? kernel_path : kernel_path + " " + cmdline;
    o.modules = load_multiboot_modules(initrd);
    o.extra_memory = extra_memory;
    return load_multiboot(mem, image, o).entry;
  }
  throw BootError{kernel_path + ": not a bzImage or a Multiboot kernel"};
}

}  // namespace softcpu
