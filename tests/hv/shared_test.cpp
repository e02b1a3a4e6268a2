// Shared regions (docs/config.md [[shared]]): the same machine pages in two partitions'
// stage-2 tables, each at its own guest-physical base with its own rights; and every memory
// range beyond the RAM at 0 announced in the partition's e820 maps with its type.
#include <gtest/gtest.h>

#include <cstring>

#include "hv_test_util.h"
#include "interp/memory.h"
#include "monitor/e820.h"
#include "monitor/hv/primary.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "vdevices/fw_cfg.h"

namespace softcpu::hv {
namespace {

using test::partition;
using test::write_rom;

constexpr uint32_t kSharedA = 0x400000, kSharedB = 0x900000;

SystemConfig shared_system(const std::string& rom) {
  SystemConfig s;
  s.pools.push_back({"dyn", 0x10000, 0});
  auto a = partition("a", rom);
  a.memory.push_back({0x200000, 0x100000, false, "", 0});       // a second static region
  a.memory.push_back({0x1000000, 0x10000, true, "dyn", 0});     // a dynamic one
  s.partitions.push_back(a);
  s.partitions.push_back(partition("b", rom));
  s.shared.push_back(test::shared_region("mbox", 0x2000, {{"a", kSharedA, 3, 0}, {"b", kSharedB, 1, 0}}));  // read-only in b
  return s;
}

TEST(Shared, OneRegionMappedInBothAtTheirOwnBases) {
  const std::string rom = write_rom(test::kHaltForGood);
  PrimaryHypervisor hv(shared_system(rom));
  Partition& a = hv.partition("a");
  Partition& b = hv.partition("b");
  for (uint32_t k = 0; k < 2; ++k) {
    const auto ea = a.stage2().lookup(kSharedA / 4096 + k);
    const auto eb = b.stage2().lookup(kSharedB / 4096 + k);
    ASSERT_TRUE(ea && eb);
    EXPECT_EQ(ea->machine_page, eb->machine_page);
    EXPECT_EQ(ea->perms, S2_RW);
    EXPECT_EQ(eb->perms, S2_R);
  }
  // Not mapped where the other partition has it.
  EXPECT_FALSE(b.stage2().lookup(kSharedA / 4096));
  // A write by a is read by b at its own address; b's write is dropped and counted.
  PhysicalMemory& ma = a.machine().memory();
  PhysicalMemory& mb = b.machine().memory();
  ma.write(kSharedA + 0x1004, 4, 0xC0FFEE11u);
  EXPECT_EQ(mb.read(kSharedB + 0x1004, 4), 0xC0FFEE11u);
  const uint64_t before = mb.stage2_violations;
  mb.write(kSharedB + 0x1004, 4, 0x22u);
  EXPECT_EQ(mb.stage2_violations, before + 1);
  EXPECT_EQ(ma.read(kSharedA + 0x1004, 4), 0xC0FFEE11u);
  unlink(rom.c_str());
}

TEST(Shared, UnknownPartitionOrOverlapIsAConfigError) {
  const std::string rom = write_rom(test::kHaltForGood);
  SystemConfig s = shared_system(rom);
  s.shared[0].maps[1].partition = "nobody";
  EXPECT_THROW(PrimaryHypervisor{s}, ConfigError);
  s = shared_system(rom);
  s.shared[0].maps[0].guest_base = 0x200000;  // over a's second static region
  EXPECT_THROW(PrimaryHypervisor{s}, ConfigError);
  unlink(rom.c_str());
}

std::vector<E820Entry> decode(const std::vector<uint8_t>& bytes) {
  std::vector<E820Entry> out;
  for (size_t k = 0; k + E820_RECORD_SIZE <= bytes.size(); k += E820_RECORD_SIZE) {
    E820Entry e;
    std::memcpy(&e.addr, &bytes[k], 8);
    std::memcpy(&e.size, &bytes[k + 8], 8);
    std::memcpy(&e.type, &bytes[k + 16], 4);
    out.push_back(e);
  }
  return out;
}

// fw_cfg's "etc/e820": the RAM at 0, then a's other static region as RAM and its dynamic and
// shared regions as reserved (ACPI 6.4 table 15.312); b has only its RAM and the shared one.
TEST(Shared, E820AnnouncesEveryRegionWithItsType) {
  const std::string rom = write_rom(test::kHaltForGood);
  PrimaryHypervisor hv(shared_system(rom));
  const auto* fa = hv.partition("a").machine().platform().fw_cfg().file_bytes("etc/e820");
  const auto* fb = hv.partition("b").machine().platform().fw_cfg().file_bytes("etc/e820");
  ASSERT_TRUE(fa && fb);
  const auto ea = decode(*fa), eb = decode(*fb);
  ASSERT_EQ(ea.size(), 4u);
  EXPECT_EQ(ea[0].addr, 0u);
  EXPECT_EQ(ea[0].size, 1u << 20);
  EXPECT_EQ(ea[0].type, E820_RAM);
  EXPECT_EQ(ea[1].addr, 0x200000u);
  EXPECT_EQ(ea[1].size, 0x100000u);
  EXPECT_EQ(ea[1].type, E820_RAM);
  EXPECT_EQ(ea[2].addr, kSharedA);
  EXPECT_EQ(ea[2].size, 0x2000u);
  EXPECT_EQ(ea[2].type, E820_RESERVED);
  EXPECT_EQ(ea[3].addr, 0x1000000u);
  EXPECT_EQ(ea[3].type, E820_RESERVED);
  ASSERT_EQ(eb.size(), 2u);
  EXPECT_EQ(eb[1].addr, kSharedB);
  EXPECT_EQ(eb[1].type, E820_RESERVED);
  // The ACPI PCI window starts above a's highest range (its dynamic region), b's above its
  // shared page.
  EXPECT_EQ(hv.partition("a").machine().platform().memory_top(), 0x1010000u);
  EXPECT_EQ(hv.partition("b").machine().platform().memory_top(), kSharedB + 0x2000);
  // The CMOS memory size stays the RAM at 0 (no extended memory above 1 MiB here).
  EXPECT_EQ(hv.partition("a").machine().memory().ram_size(), 1u << 20);
  // The direct-boot map (Linux boot_params, Multiboot mmap) has them too, after the PC's.
  const auto pc = pc_e820_map(1u << 20, {{kSharedA, 0x2000, E820_RESERVED}, {0x200000, 0x100000, E820_RAM}});
  ASSERT_EQ(pc.size(), 5u);
  EXPECT_EQ(pc[3].addr, 0x200000u);
  EXPECT_EQ(pc[4].addr, kSharedA);
  EXPECT_EQ(pc[4].type, E820_RESERVED);
  unlink(rom.c_str());
}

}  // namespace
}  // namespace softcpu::hv
