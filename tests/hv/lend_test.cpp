// Dynamic memory: pages lent from A to B are usable in B and hold nothing of A's; taken back,
// B reads them as unassigned (no stale TLB entry, no stale decoded block) and A reads zeros
// where B wrote.
#include <gtest/gtest.h>

#include "hv_test_util.h"
#include "cache/block_cache.h"
#include "interp/access.h"
#include "interp/memory.h"
#include "interp/tlb.h"
#include "monitor/hv/primary.h"
#include "monitor/machine.h"

namespace softcpu::hv {
namespace {

using test::partition;
using test::write_rom;

constexpr uint32_t kDyn = 0x100000;      // each partition's dynamic region: 1 MiB up
constexpr uint32_t kDynSize = 0x10000;   // 64 KiB, the whole pool

// The reset vector jumps to FFFF:0010 = 0x100000 (A20 is enabled at reset), the first page
// of the dynamic region, where the test puts code.
const std::vector<uint8_t> kJumpToDyn = {0xEA, 0x10, 0x00, 0xFF, 0xFF};  // jmp far FFFF:0010

class Lend : public ::testing::Test {
 protected:
  void SetUp() override {
    rom_ = write_rom(kJumpToDyn);
    SystemConfig s;
    s.pools.push_back({"dyn", kDynSize, 0});
    for (const char* name : {"a", "b"}) {
      auto p = partition(name, rom_);
      p.memory.push_back({kDyn, kDynSize, true, "dyn", 0});
      s.partitions.push_back(p);
    }
    hv_ = std::make_unique<PrimaryHypervisor>(s);
  }
  void TearDown() override {
    hv_.reset();
    unlink(rom_.c_str());
  }
  bool has_block_in(Partition& p, uint32_t page) {
    bool found = false;
    p.machine().cpu().cache->for_each_block([&](const CachedBlock& b) {
      if (b.phys / PAGE_SIZE == page) found = true;
    });
    return found;
  }
  std::string rom_;
  std::unique_ptr<PrimaryHypervisor> hv_;
};

TEST_F(Lend, PoolPagesGoToTheFirstDynamicRegionAtStart) {
  EXPECT_EQ(hv_->partition("a").stage2().mapped_pages(), 256u + 16u);
  EXPECT_EQ(hv_->partition("b").stage2().mapped_pages(), 256u);
}

TEST_F(Lend, LentPagesAreUsableInBAndComeBackZeroed) {
  Partition& a = hv_->partition("a");
  Partition& b = hv_->partition("b");
  PhysicalMemory& ma = a.machine().memory();
  PhysicalMemory& mb = b.machine().memory();
  for (uint32_t off = 0; off < kDynSize; off += 4) ma.write(kDyn + off, 4, 0xA5A5A5A5);
  EXPECT_EQ(mb.read(kDyn, 4), 0xFFFFFFFFu);  // nothing there yet

  EXPECT_EQ(hv_->lend("a", "b", 0x4000), 0x4000u);
  // A gave its top four pages; B received them at the bottom of its region.
  EXPECT_EQ(ma.read(kDyn + kDynSize - 4, 4), 0xFFFFFFFFu);
  EXPECT_EQ(ma.read(kDyn + kDynSize - 0x4000 - 4, 4), 0xA5A5A5A5u);
  for (uint32_t off = 0; off < 0x4000; off += 4)
    ASSERT_EQ(mb.read(kDyn + off, 4), 0u) << "A's data reached B at +" << off;
  mb.write(kDyn + 0x1000, 4, 0xB0B0B0B0);
  EXPECT_EQ(mb.read(kDyn + 0x1000, 4), 0xB0B0B0B0u);

  // B caches the page in its TLB; after the return it must read unassigned, not the page.
  Cpu& cpu = b.machine().cpu();
  EXPECT_EQ(read_linear<4>(cpu, kDyn + 0x1000), 0xB0B0B0B0u);
  const uint64_t violations = b.stage2_violations();
  EXPECT_EQ(hv_->take_back("a", "b", 0x4000), 0x4000u);
  EXPECT_EQ(read_linear<4>(cpu, kDyn + 0x1000), 0xFFFFFFFFu);
  EXPECT_GT(b.stage2_violations(), violations);
  // A has its pages back where they were, zeroed: B's word is gone, and so is A's pattern.
  for (uint32_t off = kDynSize - 0x4000; off < kDynSize; off += 4)
    ASSERT_EQ(ma.read(kDyn + off, 4), 0u) << "at +" << off;
  EXPECT_EQ(a.stage2().mapped_pages(), 256u + 16u);
  EXPECT_EQ(b.stage2().mapped_pages(), 256u);
}

// Every vCPU's TLB: B with two vCPUs caches the borrowed page in its application processor's
// TLB too; after the return neither CPU reads the page.
TEST(LendSmp, TakingBackFlushesTheTlbOfEveryVcpu) {
  const std::string rom = write_rom(kJumpToDyn);
  SystemConfig s;
  s.pools.push_back({"dyn", kDynSize, 0});
  for (const char* name : {"a", "b"}) {
    auto p = partition(name, rom);
    p.memory.push_back({kDyn, kDynSize, true, "dyn", 0});
    p.vcpus = 2;
    s.partitions.push_back(p);
  }
  PrimaryHypervisor hv(s);
  Partition& b = hv.partition("b");
  hv.lend("a", "b", 0x1000);
  b.machine().memory().write(kDyn, 4, 0xB0B0B0B0);
  Cpu& bsp = b.machine().cpu(0);
  Cpu& ap = b.machine().cpu(1);
  EXPECT_EQ(read_linear<4>(bsp, kDyn), 0xB0B0B0B0u);
  EXPECT_EQ(read_linear<4>(ap, kDyn), 0xB0B0B0B0u);
  hv.take_back("a", "b", 0x1000);
  EXPECT_EQ(read_linear<4>(bsp, kDyn), 0xFFFFFFFFu);
  EXPECT_EQ(read_linear<4>(ap, kDyn), 0xFFFFFFFFu);  // not through a stale entry
  unlink(rom.c_str());
}

TEST_F(Lend, TakingBackDropsTheBorrowersDecodedCode) {
  Partition& b = hv_->partition("b");
  hv_->lend("a", "b", 0x1000);
  // mov eax, 0x11223344 ; cli ; hlt   (in B's borrowed page at 1 MiB)
  const uint8_t first[] = {0x66, 0xB8, 0x44, 0x33, 0x22, 0x11, 0xFA, 0xF4};
  b.machine().memory().write_bytes(kDyn, first, sizeof first);
  EXPECT_EQ(b.machine().run(), 0);
  EXPECT_EQ(b.machine().cpu().regs[EAX], 0x11223344u);
  EXPECT_TRUE(has_block_in(b, kDyn / PAGE_SIZE));

  hv_->take_back("a", "b", 0x1000);
  EXPECT_FALSE(has_block_in(b, kDyn / PAGE_SIZE));

  // Lent again (zeroed), with other code at the same guest-physical address: B runs the new
  // code, not a stale block.
  hv_->lend("a", "b", 0x1000);
  const uint8_t second[] = {0x66, 0xB8, 0x88, 0x77, 0x66, 0x55, 0xFA, 0xF4};
  b.machine().memory().write_bytes(kDyn, second, sizeof second);
  b.machine().reset();
  b.machine().clear_exit_request();
  EXPECT_EQ(b.machine().run(), 0);
  EXPECT_EQ(b.machine().cpu().regs[EAX], 0x55667788u);
}

TEST_F(Lend, RefusesWhatItCannotDo) {
  EXPECT_THROW(hv_->lend("a", "b", 0x11000), HvError);  // A has 64 KiB
  EXPECT_THROW(hv_->lend("b", "a", 0x1000), HvError);   // B has none of its own
  EXPECT_THROW(hv_->lend("a", "a", 0x1000), HvError);
  EXPECT_THROW(hv_->lend("a", "b", 100), HvError);
  EXPECT_THROW(hv_->take_back("a", "b", 0x1000), HvError);  // nothing lent
  EXPECT_THROW(hv_->lend("a", "nobody", 0x1000), HvError);
  EXPECT_EQ(hv_->partition("a").stage2().mapped_pages(), 256u + 16u);
}

}  // namespace
}  // namespace softcpu::hv
