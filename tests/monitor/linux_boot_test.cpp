#include "monitor/linux_boot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cache/block_cache.h"
#include "interp/cpu.h"
#include "interp/exceptions.h"
#include "interp/memory.h"
#include "interp/segments.h"
#include "monitor/e820.h"

namespace softcpu {
namespace {

constexpr uint32_t MiB = 1u << 20;

void put(std::vector<uint8_t>& b, size_t off, uint32_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
uint32_t get(const std::vector<uint8_t>& b, size_t off, unsigned n) {
  uint32_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= uint32_t(b[off + i]) << (8 * i);
  return v;
}

// A bzImage as the kernel's build tool lays it out: setup_sects + 1 sectors of real-mode
// code and header, then `pm_size` bytes of protected-mode kernel (syssize paragraphs).
struct FakeBzImage {
  static constexpr unsigned SETUP_SECTS = 2;
  static constexpr uint32_t SETUP_BYTES = (SETUP_SECTS + 1) * 512;
  uint32_t pm_size = 8192;
  std::vector<uint8_t> bytes;

  FakeBzImage() {
    bytes.assign(SETUP_BYTES + pm_size, 0);
    for (uint32_t i = 0; i < pm_size; ++i) bytes[SETUP_BYTES + i] = uint8_t(i * 7 + 1);
    bytes[bp::SETUP_SECTS] = SETUP_SECTS;
    put(bytes, bp::SYSSIZE, pm_size / 16, 4);
    put(bytes, bp::BOOT_FLAG, 0xAA55, 2);
    bytes[bp::JUMP] = 0xEB;  // jmp short: the header ends at 0x202 + 0x66 = 0x268
    bytes[bp::JUMP + 1] = 0x66;
    put(bytes, bp::HEADER, bp::HDRS_MAGIC, 4);
    put(bytes, bp::VERSION, 0x020F, 2);
    bytes[bp::LOADFLAGS] = bp::LOADED_HIGH;
    put(bytes, bp::INITRD_ADDR_MAX, 0x37FFFFFF, 4);
    put(bytes, bp::KERNEL_ALIGNMENT, 0x200000, 4);
    put(bytes, bp::CMDLINE_SIZE, 2047, 4);
    put(bytes, bp::INIT_SIZE, 0x400000, 4);
    put(bytes, 0x264, 0x12345678, 4);  // handover_offset: inside the header, copied
    bytes[0x270] = 0xEE;               // past the header end: must not be copied
  }
};

std::vector<uint8_t> read_mem(PhysicalMemory& mem, uint32_t addr, uint32_t len) {
  std::vector<uint8_t> out(len);
  mem.read_bytes(addr, out.data(), len);
  return out;
}

std::string boot_error_of(PhysicalMemory& mem, const std::vector<uint8_t>& image,
                          const LinuxBootOptions& o = {}) {
  try {
    load_bzimage(mem, image, o);
  } catch (const BootError& e) {
    return e.message;
  }
  return "";
}

TEST(E820, PcMapForDirectBoot) {
  const std::vector<E820Entry> map = pc_e820_map(64 * MiB);
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(map[0].addr, 0u);
  EXPECT_EQ(map[0].size, 0x9FC00u);
  EXPECT_EQ(map[0].type, E820_RAM);
  EXPECT_EQ(map[1].addr, 0x9FC00u);
  EXPECT_EQ(map[1].addr + map[1].size, 0xA0000u);
  EXPECT_EQ(map[1].type, E820_RESERVED);
  EXPECT_EQ(map[2].addr, 0xF0000u);
  EXPECT_EQ(map[2].addr + map[2].size, 0x100000u);
  EXPECT_EQ(map[2].type, E820_RESERVED);
  EXPECT_EQ(map[3].addr, 0x100000u);
  EXPECT_EQ(map[3].addr + map[3].size, 64ull * MiB);
  EXPECT_EQ(map[3].type, E820_RAM);
  const std::vector<uint8_t> rec = encode_e820({{0x100000, 0x300000, E820_RESERVED}});
  ASSERT_EQ(rec.size(), 20u);
  EXPECT_EQ(get(rec, 0, 4), 0x100000u);
  EXPECT_EQ(get(rec, 8, 4), 0x300000u);
  EXPECT_EQ(get(rec, 16, 4), 2u);
}

// A partition's memory beyond the RAM at 0 (DeviceView::extra_memory) follows the PC's ranges
// in boot_params' e820 table, sorted, with its type.
TEST(LinuxBoot, ExtraMemoryGoesIntoTheE820Table) {
  PhysicalMemory mem(32 * MiB);
  FakeBzImage k;
  LinuxBootOptions o;
  o.extra_memory = {{0x4000000, 0x1000, E820_RESERVED}, {0x3000000, 0x100000, E820_RAM}};
  const LinuxBootInfo info = load_bzimage(mem, k.bytes, o);
  const std::vector<uint8_t> zp = read_mem(mem, info.boot_params_addr, 4096);
  ASSERT_EQ(zp[bp::E820_ENTRIES], 6);
  EXPECT_EQ(get(zp, bp::E820_TABLE + 4 * 20, 4), 0x3000000u);
  EXPECT_EQ(get(zp, bp::E820_TABLE + 4 * 20 + 16, 4), E820_RAM);
  EXPECT_EQ(get(zp, bp::E820_TABLE + 5 * 20, 4), 0x4000000u);
  EXPECT_EQ(get(zp, bp::E820_TABLE + 5 * 20 + 8, 4), 0x1000u);
  EXPECT_EQ(get(zp, bp::E820_TABLE + 5 * 20 + 16, 4), E820_RESERVED);
  EXPECT_EQ(get(zp, bp::ALT_MEM_K, 4), 31u * 1024);  // still the RAM at 0 only
}

TEST(LinuxBoot, LoadsKernelInitrdCmdlineAndZeroPage) {
  PhysicalMemory mem(32 * MiB);
  FakeBzImage k;
  LinuxBootOptions o;
  o.cmdline = "console=ttyS0 root=/dev/ram0";
  o.initrd.assign(10000, 0x5A);
  const LinuxBootInfo info = load_bzimage(mem, k.bytes, o);

  EXPECT_EQ(info.protocol, 0x020F);
  EXPECT_EQ(info.kernel_addr, 0x100000u);
  EXPECT_EQ(info.kernel_size, k.pm_size);
  EXPECT_EQ(read_mem(mem, 0x100000, k.pm_size),
            std::vector<uint8_t>(k.bytes.begin() + FakeBzImage::SETUP_BYTES, k.bytes.end()));
  // Highest page below min(initrd_addr_max + 1, 32 MiB) that holds 10000 bytes:
  // 0x2000000 - 0x2710 = 0x1FFD8F0, rounded down to a page.
  EXPECT_EQ(info.initrd_addr, 0x1FFD000u);
  EXPECT_EQ(info.initrd_size, 10000u);
  EXPECT_EQ(read_mem(mem, info.initrd_addr, 10000), o.initrd);
  EXPECT_EQ(read_mem(mem, info.cmdline_addr, uint32_t(o.cmdline.size() + 1)),
            std::vector<uint8_t>(o.cmdline.c_str(), o.cmdline.c_str() + o.cmdline.size() + 1));

  const std::vector<uint8_t> zp = read_mem(mem, info.boot_params_addr, 4096);
  EXPECT_EQ(zp[bp::SETUP_SECTS], FakeBzImage::SETUP_SECTS);  // header copied
  EXPECT_EQ(get(zp, bp::HEADER, 4), bp::HDRS_MAGIC);
  EXPECT_EQ(get(zp, 0x264, 4), 0x12345678u);
  EXPECT_EQ(zp[0x270], 0);  // beyond the header: not copied
  EXPECT_EQ(zp[bp::TYPE_OF_LOADER], 0xFF);
  EXPECT_EQ(zp[bp::LOADFLAGS], bp::LOADED_HIGH | bp::CAN_USE_HEAP);
  EXPECT_EQ(get(zp, bp::HEAP_END_PTR, 2), 0xFE00u);
  EXPECT_EQ(get(zp, bp::CODE32_START, 4), 0x100000u);
  EXPECT_EQ(get(zp, bp::RAMDISK_IMAGE, 4), info.initrd_addr);
  EXPECT_EQ(get(zp, bp::RAMDISK_SIZE, 4), 10000u);
  EXPECT_EQ(get(zp, bp::CMD_LINE_PTR, 4), info.cmdline_addr);
  EXPECT_EQ(zp[bp::ORIG_VIDEO_COLS], 80);
  EXPECT_EQ(zp[bp::ORIG_VIDEO_LINES], 25);
  EXPECT_EQ(zp[bp::ORIG_VIDEO_MODE], 3);
  EXPECT_EQ(get(zp, bp::ALT_MEM_K, 4), 31u * 1024);  // KiB above 1 MiB
  EXPECT_EQ(zp[bp::SENTINEL], 0);
  ASSERT_EQ(zp[bp::E820_ENTRIES], 4);
  EXPECT_EQ(get(zp, bp::E820_TABLE + 8, 4), 0x9FC00u);           // entry 0 length
  EXPECT_EQ(get(zp, bp::E820_TABLE + 3 * 20, 4), 0x100000u);     // entry 3 base
  EXPECT_EQ(get(zp, bp::E820_TABLE + 3 * 20 + 8, 4), 31 * MiB);  // entry 3 length
  EXPECT_EQ(get(zp, bp::E820_TABLE + 3 * 20 + 16, 4), E820_RAM);

  EXPECT_EQ(info.entry.eip, 0x100000u);
  EXPECT_EQ(info.entry.esi, info.boot_params_addr);
  EXPECT_EQ(info.entry.ebx | info.entry.edi | info.entry.ebp, 0u);
  EXPECT_EQ(info.entry.cs, 0x10);
  EXPECT_EQ(info.entry.ds, 0x18);
  uint64_t gdt[4];
  mem.read_bytes(info.entry.gdt_base, gdt, sizeof gdt);
  EXPECT_EQ(desc_base(gdt[2]), 0u);
  EXPECT_EQ(desc_limit(gdt[2]), 0xFFFFFFFFu);
  EXPECT_TRUE(desc_code(gdt[2]));
  EXPECT_TRUE(desc_writable_data(gdt[3]));
  EXPECT_EQ(desc_limit(gdt[3]), 0xFFFFFFFFu);
}

TEST(LinuxBoot, InitrdBelowInitrdAddrMax) {
  PhysicalMemory mem(32 * MiB);
  FakeBzImage k;
  put(k.bytes, bp::INITRD_ADDR_MAX, 16 * MiB - 1, 4);
  LinuxBootOptions o;
  o.initrd.assign(10000, 1);
  // Top is 16 MiB now: 0x1000000 - 0x2710 rounded down.
  EXPECT_EQ(load_bzimage(mem, k.bytes, o).initrd_addr, 0xFFD000u);
}

TEST(LinuxBoot, NoInitrd) {
  PhysicalMemory mem(16 * MiB);
  FakeBzImage k;
  const LinuxBootInfo info = load_bzimage(mem, k.bytes, {});
  EXPECT_EQ(info.initrd_addr, 0u);
  const std::vector<uint8_t> zp = read_mem(mem, info.boot_params_addr, 4096);
  EXPECT_EQ(get(zp, bp::RAMDISK_IMAGE, 4), 0u);
  EXPECT_EQ(get(zp, bp::RAMDISK_SIZE, 4), 0u);
  EXPECT_EQ(mem.ram()[info.cmdline_addr], 0);  // empty, terminated
}

TEST(LinuxBoot, Errors) {
  PhysicalMemory mem(16 * MiB);
  FakeBzImage good;

  std::vector<uint8_t> no_kernel(good.bytes.begin(), good.bytes.begin() + 3 * 512);
  EXPECT_NE(boot_error_of(mem, no_kernel).find("truncated"), std::string::npos);
  std::vector<uint8_t> tiny(good.bytes.begin(), good.bytes.begin() + 0x210);
  EXPECT_NE(boot_error_of(mem, tiny).find("truncated"), std::string::npos);

  std::vector<uint8_t> no_magic = good.bytes;
  no_magic[bp::HEADER] = 'X';
  EXPECT_NE(boot_error_of(mem, no_magic).find("not a bzImage"), std::string::npos);
  EXPECT_NE(boot_error_of(mem, std::vector<uint8_t>(100, 0)).find("not a bzImage"),
            std::string::npos);

  std::vector<uint8_t> old = good.bytes;
  put(old, bp::VERSION, 0x0202, 2);
  EXPECT_NE(boot_error_of(mem, old).find("2.02"), std::string::npos);

  std::vector<uint8_t> low = good.bytes;
  low[bp::LOADFLAGS] = 0;
  EXPECT_NE(boot_error_of(mem, low).find("zImage"), std::string::npos);

  std::vector<uint8_t> k64 = good.bytes;
  put(k64, bp::XLOADFLAGS, bp::XLF_KERNEL_64, 2);
  EXPECT_NE(boot_error_of(mem, k64).find("64-bit"), std::string::npos);

  LinuxBootOptions long_cmdline;
  long_cmdline.cmdline.assign(2048, 'x');  // cmdline_size is 2047
  EXPECT_NE(boot_error_of(mem, good.bytes, long_cmdline).find("command line"),
            std::string::npos);
  long_cmdline.cmdline.assign(2047, 'x');
  EXPECT_EQ(boot_error_of(mem, good.bytes, long_cmdline), "");

  // init_size 4 MiB from 1 MiB: a 4 MiB machine is too small.
  PhysicalMemory small(4 * MiB);
  EXPECT_NE(boot_error_of(small, good.bytes).find("RAM"), std::string::npos);
  // With pref_address 16 MiB the kernel runs at [16 MiB, 20 MiB): 16 MiB of RAM is too little
  // (it names the 20 MiB needed), 24 MiB is enough and the initrd then sits above 20 MiB.
  std::vector<uint8_t> at16 = good.bytes;
  put(at16, bp::PREF_ADDRESS, 16 * MiB, 4);
  EXPECT_NE(boot_error_of(mem, at16).find("needs 20 MiB"), std::string::npos);
  PhysicalMemory mem24(24 * MiB);
  LinuxBootOptions fits;
  fits.initrd.assign(4 * MiB, 0);
  EXPECT_EQ(load_bzimage(mem24, at16, fits).initrd_addr, 20 * MiB);
  fits.initrd.assign(4 * MiB + 1, 0);
  EXPECT_NE(boot_error_of(mem24, at16, fits).find("initrd"), std::string::npos);

  // 16 MiB RAM, kernel (init_size) up to 5 MiB: 11 MiB fits exactly at [5 MiB, 16 MiB),
  // one byte more would start a page below the kernel's end.
  LinuxBootOptions big;
  big.initrd.assign(11 * MiB + 1, 0);
  EXPECT_NE(boot_error_of(mem, good.bytes, big).find("initrd"), std::string::npos);
  big.initrd.assign(11 * MiB, 0);
  EXPECT_EQ(boot_error_of(mem, good.bytes, big), "");
  EXPECT_EQ(load_bzimage(mem, good.bytes, big).initrd_addr, 5 * MiB);
}

// A file shorter than syssize says (Debian's memtest86+ 6.10 ia32 image is 8 bytes short) loads
// like GRUB and QEMU load it, with a warning; a whole file gives none.
TEST(LinuxBoot, ShortFileLoadsWithWarning) {
  PhysicalMemory mem(16 * MiB);
  FakeBzImage k;
  EXPECT_TRUE(load_bzimage(mem, k.bytes, {}).warnings.empty());
  std::vector<uint8_t> shorter(k.bytes.begin(), k.bytes.end() - 8);
  LinuxBootInfo info;
  ASSERT_NO_THROW(info = load_bzimage(mem, shorter, {}));
  EXPECT_EQ(info.kernel_size, k.pm_size - 8);
  ASSERT_EQ(info.warnings.size(), 1u);
  EXPECT_NE(info.warnings[0].find("describes 9728 bytes, the file has 9720"), std::string::npos)
      << info.warnings[0];
  EXPECT_EQ(read_mem(mem, 0x100000 + k.pm_size - 16, 8),
            std::vector<uint8_t>(shorter.end() - 8, shorter.end()));
}

// The zero page, command line, GDT and stack stay clear of the kernel (up to init_size) and
// the initrd.
TEST(LinuxBoot, LoaderDataAvoidsKernelAndInitrd) {
  PhysicalMemory mem(32 * MiB);
  FakeBzImage k;
  LinuxBootOptions o;
  o.cmdline = "x";
  o.initrd.assign(4096, 1);
  const LinuxBootInfo info = load_bzimage(mem, k.bytes, o);
  for (uint32_t a : {info.boot_params_addr, info.cmdline_addr, info.entry.gdt_base,
                     info.entry.esp - 1}) {
    EXPECT_GE(a, BOOT_LOW_START);
    EXPECT_LT(a, 0x9FC00u);  // base memory has room: everything stays below 640 KiB
  }
  EXPECT_EQ(info.boot_params_addr % 4096, 0u);
  EXPECT_NE(info.boot_params_addr, info.cmdline_addr);
}

// Protocols 2.03-2.05 load (GRUB's 32-bit loader takes them): the header is shorter, so the
// bytes where later protocols keep xloadflags and cmdline_size are code, not fields.
TEST(LinuxBoot, OlderProtocolsUseTheirDefaults) {
  PhysicalMemory mem(16 * MiB);
  FakeBzImage k;
  put(k.bytes, bp::VERSION, 0x0204, 2);
  put(k.bytes, bp::XLOADFLAGS, bp::XLF_KERNEL_64, 2);  // code bytes, not a 64-bit flag
  put(k.bytes, bp::CMDLINE_SIZE, 0, 4);                // code too: the limit is 255
  LinuxBootOptions o;
  o.cmdline.assign(255, 'x');
  EXPECT_EQ(boot_error_of(mem, k.bytes, o), "");
  o.cmdline.assign(256, 'x');
  EXPECT_NE(boot_error_of(mem, k.bytes, o).find("at most 255"), std::string::npos);
  put(k.bytes, bp::VERSION, 0x020C, 2);  // from 2.12 on xloadflags counts
  EXPECT_NE(boot_error_of(mem, k.bytes).find("64-bit"), std::string::npos);
}

TEST(LinuxBoot, ApplyEntryStateGivesFlatProtectedMode) {
  PhysicalMemory mem(16 * MiB);
  BlockCache cache;
  auto cpu = std::make_unique<Cpu>();
  cpu->mem = &mem;
  cpu->cache = &cache;
  reset_cpu(*cpu);
  FakeBzImage k;
  const LinuxBootInfo info = load_bzimage(mem, k.bytes, {});
  apply_entry_state(*cpu, info.entry);
  Cpu& c = *cpu;
  EXPECT_EQ(c.eip, 0x100000u);
  EXPECT_EQ(c.regs[ESI], info.boot_params_addr);
  EXPECT_EQ(c.regs[EBX], 0u);
  EXPECT_TRUE(c.cr0 & CR0_PE);
  EXPECT_FALSE(c.cr0 & CR0_PG);
  EXPECT_FALSE(c.eflags & IF);
  EXPECT_TRUE(protected_mode(c));
  EXPECT_TRUE(code32(c));
  EXPECT_EQ(c.cpl, 0);
  EXPECT_EQ(c.seg[CS].selector, 0x10);
  for (unsigned s : {ES, SS, DS, FS, GS}) {
    EXPECT_EQ(c.seg[s].selector, 0x18) << s;
    EXPECT_EQ(c.seg[s].base, 0u);
    EXPECT_EQ(c.seg[s].limit, 0xFFFFFFFFu);
    EXPECT_TRUE(segment_write_ok(c.seg[s], 0xFFFFFFF0u, 4));
  }
  EXPECT_EQ(c.seg[CS].base, 0u);
  EXPECT_EQ(c.seg[CS].limit, 0xFFFFFFFFu);
  EXPECT_EQ(c.gdtr.base, info.entry.gdt_base);
}

// read_whole_file (kernels, initrds, BIOS images): a regular file in full, a file over the
// limit cut at limit + 1 and flagged, a missing one with its errno, and a file whose size
// fstat does not know (procfs reports 0) read to its end.
TEST(ReadWholeFile, RegularTooBigMissingAndSizeless) {
  const std::string path = testing::TempDir() + "read_whole_file_test.bin";
  std::vector<uint8_t> data(200000);
  for (size_t k = 0; k < data.size(); ++k) data[k] = uint8_t(k * 31 + (k >> 9));
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size());
  std::fclose(f);

  WholeFile all = read_whole_file(path);
  EXPECT_TRUE(all.opened);
  EXPECT_EQ(all.error, 0);
  EXPECT_FALSE(all.too_big);
  EXPECT_EQ(all.bytes, data);
  EXPECT_EQ(read_whole_file(path, data.size()).bytes, data);  // exactly the limit: fits

  WholeFile big = read_whole_file(path, 65536);
  EXPECT_TRUE(big.too_big);
  ASSERT_EQ(big.bytes.size(), 65537u);
  EXPECT_TRUE(std::equal(big.bytes.begin(), big.bytes.end(), data.begin()));
  EXPECT_EQ(read_boot_file(path), data);
  std::remove(path.c_str());

  WholeFile missing = read_whole_file(path);
  EXPECT_FALSE(missing.opened);
  EXPECT_EQ(missing.error, ENOENT);
  EXPECT_THROW(read_boot_file(path), BootError);

  WholeFile maps = read_whole_file("/proc/self/maps");  // st_size 0, some KiB of text
  EXPECT_EQ(maps.error, 0);
  EXPECT_GT(maps.bytes.size(), 100u);
  EXPECT_EQ(maps.bytes.back(), '\n');
}

}  // namespace
}  // namespace softcpu
