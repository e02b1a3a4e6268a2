#include <gtest/gtest.h>

#include "cache/block_cache.h"

namespace softcpu {
namespace {

std::unique_ptr<CachedBlock> make_block(uint32_t phys, uint32_t end, uint32_t mode = 0) {
  auto b = std::make_unique<CachedBlock>();
  b->phys = phys;
  b->phys_end = end;
  b->mode = mode;
  return b;
}

TEST(BlockCache, LookupHitsAfterInsertAndCountsMisses) {
  BlockCache c;
  EXPECT_EQ(c.lookup(0x1000, 0), nullptr);
  CachedBlock* b = c.insert(make_block(0x1000, 0x1010));
  EXPECT_EQ(c.lookup(0x1000, 0), b);
  EXPECT_EQ(c.lookup(0x1000, 1), nullptr);  // other mode key: another block
  EXPECT_EQ(c.counters().lookups, 3u);
  EXPECT_EQ(c.counters().misses, 2u);
  EXPECT_EQ(c.counters().jump_cache_hits + c.counters().hash_hits, 1u);
}

TEST(BlockCache, HashTableServesWhenJumpCacheSlotIsTaken) {
  BlockCache c;
  // Two blocks whose jump-cache slots collide: the second evicts the first's slot.
  CachedBlock* a = c.insert(make_block(0x2000, 0x2004));
  CachedBlock* b = nullptr;
  for (uint32_t p = 0x3000; p < 0x400000; p += 0x10) {
    auto blk = make_block(p, p + 4);
    b = c.insert(std::move(blk));
    if (c.lookup(0x2000, 0) == a && c.counters().hash_hits > 0) break;
  }
  EXPECT_GT(c.counters().hash_hits, 0u);
  EXPECT_EQ(c.lookup(0x2000, 0), a);
  (void)b;
}

TEST(BlockCache, InvalidateOnlyOverlappingBlocksAndTrackLines) {
  BlockCache c;
  c.insert(make_block(0x5000, 0x5010));
  c.insert(make_block(0x5100, 0x5120));
  EXPECT_EQ(c.code_lines(0x5), (1ull << 0) | (1ull << 4));
  EXPECT_EQ(c.invalidate(0x5080, 4), 0u);  // a write between the blocks
  EXPECT_EQ(c.invalidate(0x510F, 1), 1u);
  EXPECT_EQ(c.lookup(0x5100, 0), nullptr);
  EXPECT_NE(c.lookup(0x5000, 0), nullptr);
  EXPECT_EQ(c.code_lines(0x5), 1ull);
  EXPECT_EQ(c.counters().invalidations, 1u);
}

TEST(BlockCache, PageCrossingBlockIsInvalidatedFromEitherPage) {
  BlockCache c;
  auto b = make_block(0x6FFC, 0x7000);
  b->page2 = 0x7;
  b->page2_end = 0x7003;
  c.insert(std::move(b));
  EXPECT_EQ(c.code_lines(0x7), 1ull);
  EXPECT_EQ(c.invalidate(0x7002, 1), 1u);
  EXPECT_EQ(c.lookup(0x6FFC, 0), nullptr);
  EXPECT_EQ(c.code_lines(0x6), 0ull);
}

TEST(BlockCache, InvalidatedBlockStaysAllocatedUntilGarbageCollection) {
  BlockCache c;
  CachedBlock* b = c.insert(make_block(0x8000, 0x8008));
  c.invalidate(0x8000, 1);
  EXPECT_FALSE(b->valid);  // still readable: the interpreter may be running it
  c.collect_garbage();
  EXPECT_EQ(c.block_count(), 0u);
}

TEST(BlockCache, FlushDropsEverything) {
  BlockCache c;
  c.insert(make_block(0x9000, 0x9008));
  c.flush();
  EXPECT_EQ(c.lookup(0x9000, 0), nullptr);
  EXPECT_EQ(c.code_lines(0x9), 0ull);
  EXPECT_EQ(c.counters().flushes, 1u);
}

}  // namespace
}  // namespace softcpu
