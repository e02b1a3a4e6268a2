#include "monitor/multiboot.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "interp/memory.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

constexpr uint32_t MiB = 1u << 20;

void put(std::vector<uint8_t>& b, size_t off, uint32_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
uint32_t rd32(PhysicalMemory& mem, uint32_t addr) {
  uint32_t v;
  mem.read_bytes(addr, &v, 4);
  return v;
}
std::string rdstr(PhysicalMemory& mem, uint32_t addr) {
  std::string s;
  for (char c; mem.read_bytes(addr++, &c, 1), c;) s.push_back(c);
  return s;
}

void put_mb_header(std::vector<uint8_t>& b, size_t off, uint32_t flags) {
  put(b, off, MULTIBOOT_HEADER_MAGIC, 4);
  put(b, off + 4, flags, 4);
  put(b, off + 8, uint32_t(0) - MULTIBOOT_HEADER_MAGIC - flags, 4);
}

// An ELF32 i386 executable with two PT_LOAD segments: text linked at 0xC0100000 but loaded at
// physical 0x100000 (0x200 bytes of file, 0x1000 of memory: the rest is bss), and data at
// 0x200000. The Multiboot header opens the text; the entry is 16 bytes into it.
struct FakeElfKernel {
  std::vector<uint8_t> bytes = std::vector<uint8_t>(0x1300, 0);
  FakeElfKernel(bool with_header = true) {
    std::memcpy(bytes.data(), "\x7F" "ELF\x01\x01\x01", 7);
    put(bytes, 16, 2, 2);            // ET_EXEC
    put(bytes, 18, 3, 2);            // EM_386
    put(bytes, 20, 1, 4);            // EV_CURRENT
    put(bytes, 24, 0xC0100010, 4);   // e_entry (virtual)
    put(bytes, 28, 52, 4);           // e_phoff
    put(bytes, 40, 52, 2);           // e_ehsize
    put(bytes, 42, 32, 2);           // e_phentsize
    put(bytes, 44, 2, 2);            // e_phnum
    const uint32_t ph[2][6] = {{1, 0x1000, 0xC0100000, 0x100000, 0x200, 0x1000},
                               {1, 0x1200, 0x200000, 0x200000, 0x100, 0x100}};
    for (unsigned i = 0; i < 2; ++i)
      for (unsigned f = 0; f < 6; ++f) put(bytes, 52 + i * 32 + f * 4, ph[i][f], 4);
    if (with_header) put_mb_header(bytes, 0x1000, MB_PAGE_ALIGN | MB_MEMORY_INFO);
    // Entry code: mov [0x600], eax ; mov [0x604], ebx ; hlt
    const uint8_t code[] = {0xA3, 0x00, 0x06, 0x00, 0x00, 0x89, 0x1D, 0x04, 0x06, 0x00, 0x00, 0xF4};
    std::memcpy(bytes.data() + 0x1010, code, sizeof code);
    for (unsigned i = 0; i < 0x100; ++i) bytes[0x1200 + i] = uint8_t(0x80 + i);
  }
};

std::string load_error(PhysicalMemory& mem, const std::vector<uint8_t>& image) {
  try {
    load_multiboot(mem, image, {});
  } catch (const BootError& e) {
    return e.message;
  }
  return "";
}

std::string temp_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = testing::TempDir() + "softcpu_mb_" + name;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              std::streamsize(bytes.size()));
  return path;
}

TEST(Multiboot, FindsHeaderOnlyWithValidChecksumInFirst8K) {
  std::vector<uint8_t> b(16384, 0);
  EXPECT_EQ(find_multiboot_header(b), -1);
  put_mb_header(b, 8192, 0);  // too far
  EXPECT_EQ(find_multiboot_header(b), -1);
  put_mb_header(b, 0x100, 0);
  put(b, 0x108, 0, 4);  // bad checksum
  EXPECT_EQ(find_multiboot_header(b), -1);
  put_mb_header(b, 0x104, 2);
  EXPECT_EQ(find_multiboot_header(b), 0x104);
}

TEST(Multiboot, LoadsElfAndBuildsInfo) {
  PhysicalMemory mem(32 * MiB);
  std::vector<uint8_t> junk(0x1000, 0xAA);
  mem.write_bytes(0x100000, junk.data(), uint32_t(junk.size()));  // bss must be cleared
  FakeElfKernel k;
  MultibootOptions o;
  o.cmdline = "/boot/kernel root=x";
  o.modules.push_back({std::vector<uint8_t>(5000, 0x11), "/boot/initrd.img a=1"});
  o.modules.push_back({std::vector<uint8_t>(300, 0x22), "second"});
  const MultibootInfo info = load_multiboot(mem, k.bytes, o);

  EXPECT_EQ(info.header_offset, 0x1000u);
  EXPECT_EQ(info.load_start, 0x100000u);
  EXPECT_EQ(info.load_end, 0x200100u);
  EXPECT_EQ(rd32(mem, 0x100000), MULTIBOOT_HEADER_MAGIC);  // text came from file offset 0x1000
  EXPECT_EQ(rd32(mem, 0x1001FC), 0u);
  EXPECT_EQ(rd32(mem, 0x100200), 0u);  // bss
  EXPECT_EQ(rd32(mem, 0x100FFC), 0u);
  EXPECT_EQ(rd32(mem, 0x200000), 0x83828180u);
  // Entry 0xC0100010 lies in the text segment: physical 0x100010.
  EXPECT_EQ(info.entry.eip, 0x100010u);
  EXPECT_EQ(info.entry.eax, MULTIBOOT_BOOTLOADER_MAGIC);
  EXPECT_EQ(info.entry.ebx, info.info_addr);
  EXPECT_EQ(info.entry.cs, BOOT_CS);

  const uint32_t mb = info.info_addr;
  EXPECT_EQ(rd32(mem, mb + mbi::FLAGS),
            MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
  EXPECT_EQ(rd32(mem, mb + mbi::MEM_LOWER), 639u);         // 0x9FC00 bytes
  EXPECT_EQ(rd32(mem, mb + mbi::MEM_UPPER), 31u * 1024);   // 1 MiB .. 32 MiB
  EXPECT_EQ(rdstr(mem, rd32(mem, mb + mbi::CMDLINE)), o.cmdline);
  EXPECT_EQ(rdstr(mem, rd32(mem, mb + mbi::BOOT_LOADER_NAME)), "softcpu");

  // Modules page-aligned after the kernel's end (0x200100).
  ASSERT_EQ(rd32(mem, mb + mbi::MODS_COUNT), 2u);
  const uint32_t mods = rd32(mem, mb + mbi::MODS_ADDR);
  EXPECT_EQ(rd32(mem, mods), 0x201000u);
  EXPECT_EQ(rd32(mem, mods + 4), 0x201000u + 5000);
  EXPECT_EQ(rdstr(mem, rd32(mem, mods + 8)), "/boot/initrd.img a=1");
  EXPECT_EQ(rd32(mem, mods + 16), 0x203000u);
  EXPECT_EQ(rd32(mem, mods + 20), 0x203000u + 300);
  EXPECT_EQ(rdstr(mem, rd32(mem, mods + 24)), "second");
  EXPECT_EQ(rd32(mem, 0x201000), 0x11111111u);
  EXPECT_EQ(rd32(mem, 0x203000), 0x22222222u);

  // mmap: four entries of 24 bytes (size field 20 + base + length + type).
  ASSERT_EQ(rd32(mem, mb + mbi::MMAP_LENGTH), 4u * 24);
  const uint32_t mmap = rd32(mem, mb + mbi::MMAP_ADDR);
  EXPECT_EQ(rd32(mem, mmap), 20u);
  EXPECT_EQ(rd32(mem, mmap + 4), 0u);
  EXPECT_EQ(rd32(mem, mmap + 12), 0x9FC00u);
  EXPECT_EQ(rd32(mem, mmap + 20), 1u);
  EXPECT_EQ(rd32(mem, mmap + 3 * 24 + 4), 0x100000u);
  EXPECT_EQ(rd32(mem, mmap + 3 * 24 + 12), 31 * MiB);
  EXPECT_EQ(rd32(mem, mmap + 3 * 24 + 20), 1u);
}

TEST(Multiboot, RunsToTheEntryWithMagicInEax) {
  test::CpuHarness h;
  FakeElfKernel k;
  const MultibootInfo info = load_multiboot(h.mem, k.bytes, {});
  apply_entry_state(h.cpu, info.entry);
  EXPECT_EQ(h.run(100), EXIT_HLT);
  EXPECT_EQ(rd32(h.mem, 0x600), MULTIBOOT_BOOTLOADER_MAGIC);
  EXPECT_EQ(rd32(h.mem, 0x604), info.info_addr);
  EXPECT_EQ(h.cpu.eip, 0x100010u + 11);  // the HLT traps to the monitor before it executes
}

TEST(Multiboot, AoutKludgeAddresses) {
  PhysicalMemory mem(8 * MiB);
  std::vector<uint8_t> b(0x200, 0);
  for (unsigned i = 0x60; i < 0x200; ++i) b[i] = uint8_t(i);
  put_mb_header(b, 0x40, MB_AOUT_KLUDGE | MB_MEMORY_INFO);
  put(b, 0x4C, 0x300040, 4);  // header_addr: the file loads at 0x300000
  put(b, 0x50, 0x300000, 4);  // load_addr
  put(b, 0x54, 0, 4);         // load_end_addr 0: the whole file
  put(b, 0x58, 0x302000, 4);  // bss_end_addr
  put(b, 0x5C, 0x300080, 4);  // entry_addr
  std::vector<uint8_t> junk(0x2000, 0xAA);
  mem.write_bytes(0x300000, junk.data(), 0x2000);
  const MultibootInfo info = load_multiboot(mem, b, {});
  EXPECT_EQ(info.entry.eip, 0x300080u);
  EXPECT_EQ(info.load_start, 0x300000u);
  EXPECT_EQ(info.load_end, 0x302000u);
  EXPECT_EQ(rd32(mem, 0x300040), MULTIBOOT_HEADER_MAGIC);
  EXPECT_EQ(rd32(mem, 0x3001FC), 0xFFFEFDFCu);
  EXPECT_EQ(rd32(mem, 0x300200), 0u);   // bss cleared
  EXPECT_EQ(rd32(mem, 0x301FFC), 0u);
  // No modules: the count is 0.
  EXPECT_EQ(rd32(mem, info.info_addr + mbi::MODS_COUNT), 0u);

  // load_end_addr beyond the file: truncated.
  put(b, 0x54, 0x300400, 4);
  EXPECT_NE(load_error(mem, b).find("truncated"), std::string::npos);
}

TEST(Multiboot, Errors) {
  PhysicalMemory mem(8 * MiB);
  EXPECT_NE(load_error(mem, FakeElfKernel(false).bytes).find("no Multiboot header"),
            std::string::npos);

  FakeElfKernel unsupported;
  put_mb_header(unsupported.bytes, 0x1000, MB_MEMORY_INFO | (1u << 3));
  EXPECT_NE(load_error(mem, unsupported.bytes).find("unsupported"), std::string::npos);

  FakeElfKernel truncated;
  truncated.bytes.resize(0x1250);  // the data segment's bytes are cut off
  EXPECT_NE(load_error(mem, truncated.bytes).find("truncated"), std::string::npos);

  FakeElfKernel elf64;
  elf64.bytes[4] = 2;
  EXPECT_NE(load_error(mem, elf64.bytes).find("32-bit"), std::string::npos);

  FakeElfKernel ebda;  // data segment over the EBDA and the BIOS area: not RAM
  put(ebda.bytes, 52 + 32 + 12, 0x9FF80, 4);
  EXPECT_NE(load_error(mem, ebda.bytes).find("EBDA"), std::string::npos);

  FakeElfKernel high;
  put(high.bytes, 52 + 32 + 12, 8 * MiB - 0x80, 4);
  EXPECT_NE(load_error(mem, high.bytes).find("end of RAM"), std::string::npos);

  std::vector<uint8_t> raw(0x100, 0);  // header, no a.out fields, not ELF
  put_mb_header(raw, 0, 0);
  EXPECT_NE(load_error(mem, raw).find("not an ELF"), std::string::npos);
}

// A kernel with segments in base memory (where the loader used to keep its data) loads, and
// every structure the loader writes lies outside the kernel's segments.
TEST(Multiboot, LoaderDataAvoidsLowSegments) {
  PhysicalMemory mem(8 * MiB);
  FakeElfKernel low;
  put(low.bytes, 52 + 12, 0x8000, 4);  // text (0x1000 bytes with bss) at 0x8000
  put(low.bytes, 52 + 8, 0x8000, 4);   // linked there too: the entry is 0x8010
  put(low.bytes, 24, 0x8010, 4);
  put(low.bytes, 52 + 32 + 12, 0x1000, 4);  // data at 0x1000, the first free low page
  put(low.bytes, 52 + 32 + 8, 0x1000, 4);
  put(low.bytes, 52 + 32 + 20, 0x5000, 4);  // ... with bss up to 0x6000
  MultibootOptions o;
  o.cmdline = "low kernel";
  o.modules.push_back({std::vector<uint8_t>(100, 0x33), "mod"});
  MultibootInfo info;
  ASSERT_NO_THROW(info = load_multiboot(mem, low.bytes, o));
  EXPECT_EQ(info.entry.eip, 0x8010u);
  EXPECT_EQ(info.load_start, 0x1000u);
  EXPECT_EQ(info.load_end, 0x9000u);
  EXPECT_EQ(rd32(mem, 0x8000), MULTIBOOT_HEADER_MAGIC);  // nothing overwrote the text
  EXPECT_EQ(rd32(mem, 0x1000), 0x83828180u);
  EXPECT_EQ(rd32(mem, 0x5FFC), 0u);                      // bss
  const auto outside = [](uint32_t a, uint32_t len) {
    const bool in_text = a < 0x9000 && a + len > 0x8000;
    const bool in_data = a < 0x6000 && a + len > 0x1000;
    return !in_text && !in_data;
  };
  const uint32_t mb = info.info_addr;
  EXPECT_TRUE(outside(mb, mbi::SIZE)) << std::hex << mb;
  EXPECT_TRUE(outside(info.entry.gdt_base, 32)) << std::hex << info.entry.gdt_base;
  EXPECT_TRUE(outside(info.entry.esp - 0x1000, 0x1000)) << std::hex << info.entry.esp;
  const uint32_t cmdline = rd32(mem, mb + mbi::CMDLINE);
  EXPECT_TRUE(outside(cmdline, 11));
  EXPECT_EQ(rdstr(mem, cmdline), "low kernel");
  const uint32_t mods = rd32(mem, mb + mbi::MODS_ADDR);
  EXPECT_TRUE(outside(mods, 16));
  EXPECT_GE(rd32(mem, mods), 0x100000u);  // modules above 1 MiB, past the kernel
  EXPECT_EQ(rd32(mem, rd32(mem, mods)), 0x33333333u);
  EXPECT_TRUE(outside(rd32(mem, mb + mbi::MMAP_ADDR), rd32(mem, mb + mbi::MMAP_LENGTH)));
  // The GDT is really there: entry 2 is the flat code descriptor.
  uint64_t code = 0;
  mem.read_bytes(info.entry.gdt_base + 16, &code, 8);
  EXPECT_EQ(code, 0x00CF9B000000FFFFull);
}

// Base memory entirely taken by the kernel: the loader's data moves above the kernel.
TEST(Multiboot, LoaderDataAboveWhenBaseMemoryIsFull) {
  PhysicalMemory mem(8 * MiB);
  FakeElfKernel k;
  put(k.bytes, 52 + 32 + 12, 0x1000, 4);         // data segment 0x1000 .. EBDA (bss)
  put(k.bytes, 52 + 32 + 8, 0x1000, 4);
  put(k.bytes, 52 + 32 + 20, 0x9FC00 - 0x1000, 4);
  const MultibootInfo info = load_multiboot(mem, k.bytes, {});
  EXPECT_GE(info.info_addr, 0x101000u);  // above the text at 0x100000-0x101000
  EXPECT_GE(info.entry.gdt_base, 0x101000u);
}

TEST(BootSpace, TakesLowestFreeAlignedBlock) {
  BootSpace s(4 * MiB);
  s.reserve(0x1000, 0x2000);
  EXPECT_EQ(s.take(0x10, 8, "a"), 0x2000u);
  EXPECT_EQ(s.take(0x1000, 0x1000, "b"), 0x3000u);
  EXPECT_EQ(s.take(1, 1, "c"), 0x2010u);
  s.reserve(0x4000, 0x9FC00);
  EXPECT_EQ(s.take(0x2000, 4, "d"), 0x100000u);  // base memory is full up to the EBDA
  try {
    s.take(4 * MiB, 4, "a huge thing");
    FAIL() << "no BootError";
  } catch (const BootError& e) {
    EXPECT_NE(e.message.find("a huge thing"), std::string::npos);
  }
}

TEST(Multiboot, DirectKernelRejectsOtherFiles) {
  PhysicalMemory mem(8 * MiB);
  const std::string path = temp_file("noheader.elf", FakeElfKernel(false).bytes);
  try {
    load_direct_kernel(mem, path, "", "");
    FAIL() << "no BootError";
  } catch (const BootError& e) {
    EXPECT_NE(e.message.find("not a bzImage or a Multiboot kernel"), std::string::npos);
  }
  try {
    load_direct_kernel(mem, testing::TempDir() + "softcpu_mb_missing", "", "");
    FAIL() << "no BootError";
  } catch (const BootError& e) {
    EXPECT_NE(e.message.find("cannot open"), std::string::npos);
  }
}

TEST(Multiboot, DirectKernelPassesPathAndModules) {
  PhysicalMemory mem(8 * MiB);
  const std::string kernel = temp_file("kernel.elf", FakeElfKernel().bytes);
  const std::string mod1 = temp_file("m,1", {1, 2, 3});
  const std::string mod2 = temp_file("m2", {4});
  // ",," is a comma inside a path.
  std::string spec;
  for (char c : mod1) spec += c == ',' ? std::string(",,") : std::string(1, c);
  spec += " x=1," + mod2;
  const CpuEntryState e = load_direct_kernel(mem, kernel, "quiet", spec);
  EXPECT_EQ(e.eax, MULTIBOOT_BOOTLOADER_MAGIC);
  EXPECT_EQ(rdstr(mem, rd32(mem, e.ebx + mbi::CMDLINE)), kernel + " quiet");
  ASSERT_EQ(rd32(mem, e.ebx + mbi::MODS_COUNT), 2u);
  const uint32_t mods = rd32(mem, e.ebx + mbi::MODS_ADDR);
  EXPECT_EQ(rd32(mem, mods + 4) - rd32(mem, mods), 3u);
  EXPECT_EQ(rdstr(mem, rd32(mem, mods + 8)), mod1 + " x=1");
  EXPECT_EQ(rd32(mem, mods + 20) - rd32(mem, mods + 16), 1u);
  EXPECT_EQ(rdstr(mem, rd32(mem, mods + 24)), mod2);
}

}  // namespace
}  // namespace softcpu
