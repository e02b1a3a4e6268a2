#include "cache/block_cache.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace softcpu {

namespace {
constexpr uint32_t kPage = 4096;
bool overlaps(uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1) { return a0 < b1 && b0 < a1; }
uint64_t line_bits(uint32_t from, uint32_t to) {  // lines covering [from, to) within a page
  if (from >= to) return 0;
  unsigned first = (from % kPage) >> 6, last = ((to - 1) % kPage) >> 6;
  uint64_t upto = last == 63 ? ~0ull : ((1ull << (last + 1)) - 1);
  return upto & ~((1ull << first) - 1);
}
}  // namespace

BlockCache::BlockCache() { std::fill(std::begin(jump_), std::end(jump_), nullptr); }

#if SOFTCPU_DEBUG_CHECKS
void BlockCache::assert_owner() const {
  const std::thread::id me = std::this_thread::get_id();
  if (owner_ == std::thread::id{}) owner_ = me;  // the first user owns it
  if (owner_ != me) {
    std::fprintf(stderr, "softcpu: internal error: the block cache was used from a second thread\n");
    std::abort();
  }
}
#endif

CachedBlock* BlockCache::lookup_slow(uint32_t phys, uint32_t mode, CachedBlock*& slot) {
  auto it = table_.find(key(phys, mode));
  if (it == table_.end()) {
    ++counters_.misses;
    return nullptr;
  }
  ++counters_.hash_hits;
  slot = it->second.get();
  return slot;
}

CachedBlock* BlockCache::insert(std::unique_ptr<CachedBlock> block) {
  assert_owner();
  CachedBlock* b = block.get();
  ++counters_.inserts;
  auto& owner = table_[key(b->phys, b->mode)];
  if (owner) retire(owner.get());  // replaced (should not happen: lookup came first)
  owner = std::move(block);
  pages_[b->phys / kPage].push_back(b);
  if (b->page2 != NO_PAGE) pages_[b->page2].push_back(b);
  jump_[jump_index(b->phys, b->mode)] = b;
  return b;
}

CachedBlock* BlockCache::insert_companion(std::unique_ptr<CachedBlock> entry) {
  assert_owner();
  CachedBlock* e = entry.get();
  pages_[e->phys / kPage].push_back(e);
  companions_.emplace(e, std::move(entry));
  return e;
}

uint64_t BlockCache::page_version(uint32_t page) const {
  auto it = page_versions_.find(page);
  return std::max(flush_version_, it == page_versions_.end() ? 0 : it->second);
}

void BlockCache::retire(CachedBlock* b) {
  b->valid = false;
  ++generation_;
  b->on_retire();
  for (uint32_t page : {b->phys / kPage, b->page2}) {
    if (page == NO_PAGE) continue;
    page_versions_[page] = ++version_clock_;
    auto it = pages_.find(page);
    if (it == pages_.end()) continue;
    auto& list = it->second;
    list.erase(std::remove(list.begin(), list.end(), b), list.end());
    if (list.empty()) pages_.erase(it);
  }
  if (auto c = companions_.find(b); c != companions_.end()) {
    retired_.push_back(std::move(c->second));
    companions_.erase(c);
    return;
  }
  CachedBlock*& slot = jump_[jump_index(b->phys, b->mode)];
  if (slot == b) slot = nullptr;
  auto it = table_.find(key(b->phys, b->mode));
  if (it != table_.end() && it->second.get() == b) {
    retired_.push_back(std::move(it->second));
    table_.erase(it);
  }
}

unsigned BlockCache::invalidate(uint32_t phys, uint32_t len) {
  assert_owner();
  unsigned n = 0;
  uint32_t end = phys + len;
  for (uint32_t page = phys / kPage; page <= (end - 1) / kPage; ++page) {
    auto it = pages_.find(page);
    if (it == pages_.end()) continue;
    std::vector<CachedBlock*> victims;
    const uint32_t lo = std::max(phys, page * kPage);
    const uint32_t hi = uint32_t(std::min<uint64_t>(uint64_t(phys) + len, (page + 1ull) * kPage));
    for (CachedBlock* b : it->second) {
      bool hit;
      if (b->lines) {  // a companion: its own lines of this page
        hit = (b->lines & line_bits(lo, hi)) != 0;
      } else {
        hit = overlaps(b->phys, b->phys_end, phys, end) ||
              (b->page2 == page && overlaps(page * kPage, b->page2_end, phys, end));
      }
      if (hit) victims.push_back(b);
    }
    for (CachedBlock* b : victims) retire(b);
    n += victims.size();
  }
  counters_.invalidations += n;
  return n;
}

void BlockCache::flush() {
  assert_owner();
  for (auto& [k, b] : table_) {
    b->valid = false;
    b->on_retire();
    retired_.push_back(std::move(b));
  }
  for (auto& [k, e] : companions_) {
    e->valid = false;
    e->on_retire();
    retired_.push_back(std::move(e));
  }
  table_.clear();
  companions_.clear();
  pages_.clear();
  flush_version_ = ++version_clock_;
  ++generation_;
  std::fill(std::begin(jump_), std::end(jump_), nullptr);
  ++counters_.flushes;
}

uint64_t BlockCache::code_lines(uint32_t page) const {
  auto it = pages_.find(page);
  if (it == pages_.end()) return 0;
  uint64_t mask = 0;
  for (const CachedBlock* b : it->second) {
    if (b->lines) mask |= b->lines;
    else if (b->phys / kPage == page) mask |= line_bits(b->phys, b->phys_end);
    if (b->page2 == page) mask |= line_bits(page * kPage, b->page2_end);
  }
  return mask;
}

}  // namespace softcpu
