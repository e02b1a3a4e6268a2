#include <gtest/gtest.h>

#include <vector>

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

// A block inserted under a key the cache holds replaces the one there: the old one is retired
// (allocated until collect_garbage), the new one is found. insert() held a reference to the
// key's map slot across retire(), which erases that slot, and stored the new block in the
// freed node: it was then in no table (found while reading the code for issue 10).
TEST(BlockCache, InsertUnderAKeyHeldReplacesTheBlock) {
  BlockCache c;
  CachedBlock* a = c.insert(make_block(0xA000, 0xA008));
  CachedBlock* b = c.insert(make_block(0xA000, 0xA010));
  EXPECT_FALSE(a->valid);
  EXPECT_TRUE(b->valid);
  EXPECT_EQ(c.find(0xA000, 0), b);
  EXPECT_EQ(c.block_count(), 1u);
  EXPECT_EQ(c.counters().retranslations, 1u);
  c.collect_garbage();
  EXPECT_EQ(c.lookup(0xA000, 0), b);
  EXPECT_EQ(c.invalidate(0xA000, 1), 1u);  // b alone: a left the page lists
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

// A block that says how often it was entered (LRU's reference) and may own a dependent.
struct CountedBlock : CachedBlock {
  uint64_t entered = 0;
  CachedBlock* dep = nullptr;
  std::vector<RetireCause>* causes = nullptr;
  uint64_t uses() const override { return entered; }
  CachedBlock* dependent() const override { return dep; }
  void on_retire(RetireCause c) override {
    if (causes) causes->push_back(c);
  }
};

std::unique_ptr<CountedBlock> counted(uint32_t phys, uint32_t size = 100) {
  auto b = std::make_unique<CountedBlock>();
  b->phys = phys;
  b->phys_end = phys + 4;
  b->size_bytes = size;
  return b;
}

CacheLimits limit_entries(uint64_t n, EvictionPolicy p) {
  CacheLimits l;
  l.entries = n;
  l.policy = p;
  return l;
}

TEST(BlockCache, MissesAreClassifiedCompulsoryCapacityInvalidated) {
  BlockCache c;
  c.set_limits(limit_entries(1, EvictionPolicy::FIFO));
  EXPECT_EQ(c.lookup(0x1000, 0), nullptr);  // never seen
  c.insert(counted(0x1000));
  c.insert(counted(0x2000));                // evicts 0x1000
  EXPECT_EQ(c.lookup(0x1000, 0), nullptr);  // capacity
  c.invalidate(0x2000, 1);
  EXPECT_EQ(c.lookup(0x2000, 0), nullptr);  // invalidated
  const CacheCounters& k = c.counters();
  EXPECT_EQ(k.misses, 3u);
  EXPECT_EQ(k.misses_compulsory, 1u);
  EXPECT_EQ(k.misses_capacity, 1u);
  EXPECT_EQ(k.misses_invalidated, 1u);
  EXPECT_EQ(k.evictions, 1u);
  c.insert(counted(0x1000));
  EXPECT_EQ(k.retranslations, 1u);
  ASSERT_NE(c.history(0x1000, 0), nullptr);
  EXPECT_EQ(c.history(0x1000, 0)->translated, 2u);
  EXPECT_EQ(c.history(0x1000, 0)->evicted, 1u);
  EXPECT_EQ(c.history(0x2000, 0)->invalidated, 1u);
}

TEST(BlockCache, UnboundedCacheNeverEvicts) {
  BlockCache c;
  for (uint32_t p = 0; p < 1000; ++p) c.insert(counted(0x10000 + p * 16));
  EXPECT_EQ(c.counters().evictions, 0u);
  EXPECT_EQ(c.block_count(), 1000u);
  EXPECT_EQ(c.counters().bytes_decoded, 100000u);
}

TEST(BlockCache, FifoFreesTheOldestFirst) {
  BlockCache c;
  CacheLimits l;
  l.bytes = 250;  // two blocks of 100 bytes
  l.policy = EvictionPolicy::FIFO;
  c.set_limits(l);
  c.insert(counted(0x1000));
  c.insert(counted(0x2000));
  c.lookup(0x1000, 0);  // FIFO ignores use
  c.insert(counted(0x3000));
  EXPECT_EQ(c.find(0x1000, 0), nullptr);
  EXPECT_NE(c.find(0x2000, 0), nullptr);
  EXPECT_NE(c.find(0x3000, 0), nullptr);
  EXPECT_EQ(c.counters().bytes_decoded, 200u);
  EXPECT_EQ(c.counters().evicted_bytes, 100u);
  EXPECT_LE(c.counters().bytes_peak, 250u);
}

TEST(BlockCache, LruGivesEnteredBlocksASecondChance) {
  BlockCache c;
  c.set_limits(limit_entries(2, EvictionPolicy::LRU));
  auto* a = static_cast<CountedBlock*>(c.insert(counted(0x1000)));
  c.insert(counted(0x2000));
  a->entered = 5;  // 0x1000 ran since it was queued; 0x2000 did not
  c.insert(counted(0x3000));
  EXPECT_NE(c.find(0x1000, 0), nullptr);
  EXPECT_EQ(c.find(0x2000, 0), nullptr);
  c.insert(counted(0x4000));  // nobody ran: the hand frees the oldest again (0x1000)
  EXPECT_EQ(c.find(0x1000, 0), nullptr);
  EXPECT_NE(c.find(0x3000, 0), nullptr);
  EXPECT_EQ(c.counters().evictions, 2u);
}

TEST(BlockCache, FlushPolicyEmptiesTheCacheBeforeInserting) {
  BlockCache c;
  c.set_limits(limit_entries(2, EvictionPolicy::FLUSH));
  c.insert(counted(0x1000));
  c.insert(counted(0x2000));
  CachedBlock* b = c.insert(counted(0x3000));
  EXPECT_TRUE(b->valid);
  EXPECT_EQ(c.block_count(), 1u);
  EXPECT_EQ(c.counters().flushes, 1u);
  EXPECT_EQ(c.counters().evictions, 2u);
  EXPECT_EQ(c.lookup(0x1000, 0), nullptr);
  EXPECT_EQ(c.counters().misses_capacity, 1u);
}

TEST(BlockCache, EvictingABlockTakesItsDependentAndSparesTheKeptEntry) {
  std::vector<RetireCause> causes;
  BlockCache c;
  c.set_limits(limit_entries(3, EvictionPolicy::FIFO));
  auto* a = static_cast<CountedBlock*>(c.insert(counted(0x1000)));
  auto* e = static_cast<CountedBlock*>(c.insert(counted(0x2000)));
  auto region = counted(0x2000);
  region->lines = 1;  // a companion
  region->causes = &causes;
  a->dep = c.insert_companion(std::move(region), e);  // pretend it depends on `a`
  ASSERT_NE(a->dep, nullptr);
  // Full (3): the next insert evicts the oldest, `a`, and with it its dependent.
  c.insert(counted(0x3000));
  EXPECT_FALSE(a->valid);
  EXPECT_FALSE(a->dep->valid);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0], RetireCause::EVICTED);
  EXPECT_TRUE(e->valid);
  EXPECT_EQ(c.counters().evictions, 2u);
}

TEST(BlockCache, MakingRoomForACompanionSparesItsEntryBlock) {
  BlockCache c;
  c.set_limits(limit_entries(2, EvictionPolicy::FIFO));
  CachedBlock* e = c.insert(counted(0x1000));  // the oldest: FIFO's first choice
  CachedBlock* x = c.insert(counted(0x2000));
  auto r = counted(0x1000);
  r->lines = 1;
  EXPECT_NE(c.insert_companion(std::move(r), e), nullptr);
  EXPECT_TRUE(e->valid);
  EXPECT_FALSE(x->valid);
}

TEST(BlockCache, ACompanionBiggerThanTheRoomLeftIsRefused) {
  BlockCache c;
  CacheLimits l;
  l.bytes = 1000;
  l.policy = EvictionPolicy::LRU;
  c.set_limits(l);
  CachedBlock* e = c.insert(counted(0x1000, 300));
  auto r = counted(0x1000, 800);  // 300 + 800 > 1000 even with everything else evicted
  r->lines = 1;
  EXPECT_EQ(c.insert_companion(std::move(r), e), nullptr);
  EXPECT_TRUE(e->valid);
  EXPECT_LE(c.counters().bytes_peak, 1000u);
}

TEST(BlockCache, FlushPolicyRefusesACompanionWhoseEntryWouldGo) {
  BlockCache c;
  c.set_limits(limit_entries(1, EvictionPolicy::FLUSH));
  CachedBlock* e = c.insert(counted(0x1000));
  auto r = counted(0x1000);
  r->lines = 1;
  EXPECT_EQ(c.insert_companion(std::move(r), e), nullptr);
  EXPECT_FALSE(e->valid);
}

// The generations that stamp chain links and linear jump cache entries: a CR3 load keeps what
// holds in every address space (global code's entries and links), a switch of CPU over the
// cache (-smp round-robin) keeps the CPU's own linear entries of global code but no link (a
// link holds the translations of the CPU that made it), and a retirement keeps nothing.
TEST(BlockCache, GenerationsMoveAsTheViewsTheyStampChange) {
  BlockCache cache;
  EXPECT_NE(cache.generation(), cache.global_generation());
  EXPECT_NE(cache.generation(), cache.global_link_generation());
  // Which of (generation, global generation, global link generation) `step` moved.
  auto moved = [&](void (BlockCache::*step)()) {
    const uint64_t gen = cache.generation(), global = cache.global_generation(),
                   link = cache.global_link_generation();
    (cache.*step)();
    return std::vector<bool>{cache.generation() != gen, cache.global_generation() != global,
                             cache.global_link_generation() != link};
  };
  EXPECT_EQ(moved(&BlockCache::new_address_space), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(moved(&BlockCache::new_cpu_view), (std::vector<bool>{true, false, true}));
  EXPECT_NE(cache.generation(), cache.global_link_generation());
  EXPECT_EQ(moved(&BlockCache::new_generation), (std::vector<bool>{true, true, true}));
}

}  // namespace
}  // namespace softcpu
