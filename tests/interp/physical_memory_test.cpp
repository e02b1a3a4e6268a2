// PhysicalMemory (interp/memory.h): the per-page tables start out zero without being written
// (ZeroedTable), a table index out of range faults at a guard page, and the byte copies
// (read_bytes, write_bytes: loaders, debugger, DMA) go page by page across RAM, ROM, MMIO and
// unassigned pages and wrap at 4 GiB as they did byte by byte.
#include "interp/memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace softcpu {
namespace {

struct RecordingMmio final : MmioHandler {
  unsigned reads = 0, writes = 0;
  uint32_t mmio_read(uint32_t, unsigned) override { return ++reads, 0x12345678u; }
  void mmio_write(uint32_t, unsigned, uint32_t) override { ++writes; }
};

TEST(PhysicalMemory, FreshMapIsRamThenUnassigned) {
  PhysicalMemory mem(1u << 20);
  for (uint32_t page : {0u, 1u, 255u}) {
    EXPECT_EQ(mem.kind(page), PAGE_RAM) << page;
    EXPECT_EQ(mem.host_page(page), mem.ram() + page * PAGE_SIZE) << page;
  }
  for (uint32_t page : {256u, 0x1000u, 0xFEE00u, PAGE_COUNT - 1}) {
    EXPECT_EQ(mem.kind(page), PAGE_UNASSIGNED) << page;
    EXPECT_EQ(mem.host_page(page), nullptr) << page;
    EXPECT_EQ(mem.code_lines(page), 0u) << page;
  }
  EXPECT_TRUE(mem.fetch_allowed(PAGE_COUNT - 1));
  EXPECT_FALSE(mem.per_cpu_code());
  mem.set_code_lines(PAGE_COUNT - 1, 0x8000000000000001ull);
  EXPECT_EQ(mem.code_lines(PAGE_COUNT - 1), 0x8000000000000001ull);
  mem.track_code_per_cpu(2);
  EXPECT_TRUE(mem.per_cpu_code());
  EXPECT_EQ(mem.cpu_code_lines(1, PAGE_COUNT - 1), 0u);
  mem.note_code_lines(1, PAGE_COUNT - 1, 2);
  EXPECT_EQ(mem.cpu_code_lines(1, PAGE_COUNT - 1), 2u);
  EXPECT_EQ(mem.cpu_code_lines(0, PAGE_COUNT - 1), 0u);
  EXPECT_EQ(mem.code_lines(PAGE_COUNT - 1), 0x8000000000000003ull);  // the union only grows
}

// The tables are mmap'd, which ASan does not watch: an index one past either end must fault
// (drop_code once walked past the code-line table: docs/hardening.md "Findings fixed").
TEST(PhysicalMemoryDeathTest, TableIndexOutOfRangeFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ZeroedTable<uint64_t> t(PAGE_COUNT);
  t[0] = 1;
  t[PAGE_COUNT - 1] = 2;
  EXPECT_EQ(t[0] + t[PAGE_COUNT - 1] + t[12345], 3u);
  volatile uint64_t* p = &t[0];
  EXPECT_DEATH(p[PAGE_COUNT] = 1, "");
  EXPECT_DEATH(p[-1] = 1, "");
}

TEST(PhysicalMemory, ByteCopiesCrossPageKinds) {
  PhysicalMemory mem(64u << 10);  // pages 0-15 RAM
  std::vector<uint8_t> rom(PAGE_SIZE, 0xA5);
  mem.map_rom(0x10000, rom.data(), PAGE_SIZE);  // page 16: ROM
  RecordingMmio dev;
  mem.map_mmio(0x11000, PAGE_SIZE, &dev);  // page 17: MMIO; page 18 unassigned

  // A write from the last RAM page through ROM (written too: loaders), MMIO (skipped) and two
  // unassigned pages (dropped, counted per byte).
  std::vector<uint8_t> in(100 + 3 * PAGE_SIZE + 100);
  for (size_t k = 0; k < in.size(); ++k) in[k] = uint8_t(k * 13 + 1);
  const uint32_t at = 0x10000 - 100;
  mem.write_bytes(at, in.data(), uint32_t(in.size()));
  EXPECT_EQ(mem.stage2_violations, PAGE_SIZE + 100);
  EXPECT_EQ(dev.writes, 0u);
  EXPECT_EQ(std::memcmp(mem.ram() + at, in.data(), 100), 0);
  EXPECT_EQ(std::memcmp(mem.host_page(16), in.data() + 100, PAGE_SIZE), 0);

  std::vector<uint8_t> out(in.size() + 8, 0x11);
  mem.read_bytes(at, out.data(), uint32_t(in.size()));
  EXPECT_EQ(std::memcmp(out.data(), in.data(), 100 + PAGE_SIZE), 0);
  for (size_t k = 100 + PAGE_SIZE; k < in.size(); ++k)  // MMIO and unassigned read all ones
    ASSERT_EQ(out[k], 0xFF) << k;
  EXPECT_EQ(out[in.size()], 0x11);  // nothing past the end
  EXPECT_EQ(dev.reads, 0u);
  EXPECT_EQ(mem.stage2_violations, 2 * (PAGE_SIZE + 100));  // MMIO is not a violation

  // Past 4 GiB the copy wraps to 0: 16 unassigned bytes at the top, 16 into RAM at 0.
  uint8_t top[32];
  for (unsigned k = 0; k < 32; ++k) top[k] = uint8_t(0xC0 + k);
  mem.write_bytes(0xFFFFFFF0u, top, 32);
  EXPECT_EQ(std::memcmp(mem.ram(), top + 16, 16), 0);
  uint8_t back[32];
  mem.read_bytes(0xFFFFFFF0u, back, 32);
  for (unsigned k = 0; k < 16; ++k) EXPECT_EQ(back[k], 0xFF) << k;
  EXPECT_EQ(std::memcmp(back + 16, top + 16, 16), 0);
  EXPECT_EQ(mem.stage2_violations, 2 * (PAGE_SIZE + 100) + 32);
}

}  // namespace
}  // namespace softcpu
