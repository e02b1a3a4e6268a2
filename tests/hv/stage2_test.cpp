// Stage-2 tables: each partition's RAM is its own machine pages; unmapped guest-physical
// pages read all ones, drop writes and count stage-2 violations; read-only mappings drop
// writes; unmapping reaches the CPU's soft TLB.
#include <gtest/gtest.h>

#include <set>

#include "hv_test_util.h"
#include "interp/access.h"
#include "interp/memory.h"
#include "interp/tlb.h"
#include "monitor/hv/primary.h"
#include "monitor/machine.h"

namespace softcpu::hv {
namespace {

using test::partition;
using test::write_rom;

uint64_t stat(Machine& m, const std::string& name) {
  const std::optional<double> v = m.stats().value(name);
  return v ? uint64_t(*v) : ~0ull;
}

class Stage2 : public ::testing::Test {
 protected:
  void SetUp() override {
    rom_ = write_rom(test::kHaltForGood);
    SystemConfig s;
    s.partitions.push_back(partition("a", rom_, 2u << 20));
    s.partitions.push_back(partition("b", rom_, 1u << 20));
    hv_ = std::make_unique<PrimaryHypervisor>(s);
  }
  void TearDown() override {
    hv_.reset();
    unlink(rom_.c_str());
  }
  std::string rom_;
  std::unique_ptr<PrimaryHypervisor> hv_;
};

TEST_F(Stage2, EachPartitionsRamIsItsOwnMachinePages) {
  Partition& a = hv_->partition("a");
  Partition& b = hv_->partition("b");
  EXPECT_EQ(a.stage2().mapped_pages(), 512u);
  EXPECT_EQ(b.stage2().mapped_pages(), 256u);
  EXPECT_EQ(hv_->machine_memory().pages(), 768u);  // the sum of the static regions
  std::set<uint32_t> seen;
  for (Partition* p : {&a, &b})
    for (uint32_t g = 0; g < p->stage2().mapped_pages(); ++g) {
      const auto e = p->stage2().lookup(g);
      ASSERT_TRUE(e);
      EXPECT_TRUE(seen.insert(e->machine_page).second) << "machine page " << e->machine_page
                                                       << " mapped twice";
    }
  // A write in A lands in A's machine page, not in B's RAM at the same address.
  a.machine().memory().write(0x2000, 4, 0x12345678);
  EXPECT_EQ(b.machine().memory().read(0x2000, 4), 0u);
  const uint64_t at = *a.stage2().translate(0x2000);
  uint32_t v;
  std::memcpy(&v, hv_->machine_memory().base() + at, 4);
  EXPECT_EQ(v, 0x12345678u);
}

TEST_F(Stage2, UnmappedPagesReadOnesDropWritesAndCount) {
  Partition& b = hv_->partition("b");
  PhysicalMemory& m = b.machine().memory();
  const uint64_t before = b.stage2_violations();
  // B's RAM ends at 1 MiB; A's second MiB is at machine pages B cannot name.
  EXPECT_EQ(m.read(0x100000, 4), 0xFFFFFFFFu);
  m.write(0x100000, 4, 0);
  EXPECT_EQ(m.read(0x100000, 2), 0xFFFFu);
  uint8_t buf[8];
  m.read_bytes(0x180000, buf, sizeof buf);  // the DMA / loader path
  EXPECT_EQ(buf[0], 0xFF);
  m.write_bytes(0x180000, buf, 2);
  EXPECT_EQ(b.stage2_violations() - before, 3u + 8u + 2u);
  EXPECT_EQ(stat(b.machine(), "memory.stage2_violations"), b.stage2_violations());
  EXPECT_EQ(hv_->partition("a").stage2_violations(), 0u);
}

TEST_F(Stage2, ReadOnlyMappingDropsWritesAndCounts) {
  Partition& a = hv_->partition("a");
  PhysicalMemory& m = a.machine().memory();
  m.write(0x3000, 4, 0xCAFEF00D);
  const uint32_t machine_page = a.stage2().lookup(3)->machine_page;
  hv_->map(a, 3, machine_page, S2_R | S2_X);
  EXPECT_EQ(a.stage2().lookup(3)->perms, S2_R | S2_X);
  const uint64_t before = a.stage2_violations();
  m.write(0x3000, 4, 0);
  EXPECT_EQ(m.read(0x3000, 4), 0xCAFEF00Du);
  EXPECT_EQ(a.stage2_violations() - before, 1u);
}

TEST_F(Stage2, UnmapDropsTheSoftTlbEntry) {
  Partition& a = hv_->partition("a");
  Cpu& cpu = a.machine().cpu();
  a.machine().memory().write(0x5000, 4, 0x0BADC0DE);
  EXPECT_EQ(read_linear<4>(cpu, 0x5000), 0x0BADC0DEu);  // real mode: linear = physical
  const SoftTlbEntry* e = nullptr;
  tlb_fill(cpu, 0x5000, ACCESS_READ, &e);
  ASSERT_NE(e, nullptr);  // the page is cached in the TLB
  hv_->unmap(a, 5);
  EXPECT_FALSE(a.stage2().lookup(5));
  EXPECT_EQ(read_linear<4>(cpu, 0x5000), 0xFFFFFFFFu);  // not the stale entry
  EXPECT_GT(a.stage2_violations(), 0u);
}

TEST(Stage2Config, ClearErrors) {
  const std::string rom = write_rom(test::kHaltForGood);
  auto fails = [&](SystemConfig s, const std::string& want) {
    try {
      PrimaryHypervisor hv(s);
      ADD_FAILURE() << "built: " << want;
    } catch (const ConfigError& e) {
      EXPECT_NE(e.message.find(want), std::string::npos) << e.message;
    }
  };
  SystemConfig s;
  s.partitions.push_back(partition("a", rom));
  s.partitions[0].memory[0].guest_base = 0x100000;
  fails(s, "needs a static memory region at guest-physical 0");
  s.partitions[0] = partition("a", rom);
  s.partitions[0].memory.push_back({0x80000, 0x100000, false, "", 0});
  fails(s, "memory regions overlap");
  s.partitions[0] = partition("a", rom);
  s.machine_memory = 1u << 20;
  s.partitions.push_back(partition("b", rom));
  fails(s, "does not fit in the machine memory");
  s.machine_memory = 0;
  s.partitions[1].vcpus = 9;
  fails(s, "a partition has at most 8");
  unlink(rom.c_str());
}

}  // namespace
}  // namespace softcpu::hv
