#include "cache/block_cache.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

// jump_ is value-initialised (zeroed as one block): a std::fill of its 64 Ki entries was 12.6 %
// of the gdb fuzzer's time under coverage instrumentation, which counts every iteration.
BlockCache::BlockCache() : jump_{} {}

const char* eviction_policy_name(EvictionPolicy p) {
  switch (p) {
    case EvictionPolicy::FLUSH: return "flush";
    case EvictionPolicy::FIFO: return "fifo";
    case EvictionPolicy::LRU: return "lru";
  }
  return "?";
}

std::optional<EvictionPolicy> parse_eviction_policy(const std::string& name) {
  for (EvictionPolicy p : {EvictionPolicy::FLUSH, EvictionPolicy::FIFO, EvictionPolicy::LRU})
    if (name == eviction_policy_name(p)) return p;
  return std::nullopt;
}

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
    // The 3C classes: never seen, pushed out by the policy, or dropped because it changed.
    auto h = history_.find(key(phys, mode));
    if (h == history_.end()) ++counters_.misses_compulsory;
    else if (h->second.last == RetireCause::EVICTED) ++counters_.misses_capacity;
    else ++counters_.misses_invalidated;
    return nullptr;
  }
  ++counters_.hash_hits;
  slot = it->second.get();
  return slot;
}

CachedBlock* BlockCache::insert(std::unique_ptr<CachedBlock> block) {
  assert_owner();
  // A block goes in even if it alone is bigger than the bound: the CPU is about to run it.
  (void)make_room(block->size_bytes, nullptr);
  CachedBlock* b = block.get();
  ++counters_.inserts;
  b->seq = ++next_seq_;
  const uint64_t k = key(b->phys, b->mode);
  KeyHistory& h = history_[k];
  if (h.translated++) ++counters_.retranslations;
  // Replaced (lookup came first). No reference into table_ is held across retire(): it
  // erases the old block's node.
  if (auto old = table_.find(k); old != table_.end())
    retire(old->second.get(), RetireCause::INVALIDATED);
  table_.emplace(k, std::move(block));
  pages_[b->phys / kPage].push_back(b);
  if (b->page2 != NO_PAGE) pages_[b->page2].push_back(b);
  jump_[jump_index(b->phys, b->mode)] = b;
  account(b, +1);
  if (limits_.bytes || limits_.entries) order_.push_back({b, k, b->seq, b->uses(), false});
  return b;
}

CachedBlock* BlockCache::insert_companion(std::unique_ptr<CachedBlock> entry, const CachedBlock* keep) {
  assert_owner();
  if (!make_room(entry->size_bytes, keep)) return nullptr;
  CachedBlock* e = entry.get();
  e->seq = ++next_seq_;
  pages_[e->phys / kPage].push_back(e);
  companions_.emplace(e, std::move(entry));
  account(e, +1);
  if (limits_.bytes || limits_.entries) order_.push_back({e, 0, e->seq, e->uses(), true});
  return e;
}

// Storage held: blocks are decoded records, companions native code.
void BlockCache::account(const CachedBlock* b, int64_t sign) {
  uint64_t& held = b->lines ? counters_.bytes_native : counters_.bytes_decoded;
  held += uint64_t(sign * int64_t(b->size_bytes));
  counters_.bytes_peak = std::max(counters_.bytes_peak, counters_.bytes_decoded + counters_.bytes_native);
}

bool BlockCache::over(uint64_t incoming) const {
  if (limits_.bytes && counters_.bytes_decoded + counters_.bytes_native + incoming > limits_.bytes)
    return true;
  return limits_.entries && table_.size() + companions_.size() + 1 > limits_.entries;
}

bool BlockCache::live(const CachedBlock* b, uint64_t seq, uint64_t k, bool companion) const {
  if (companion) {
    auto it = companions_.find(const_cast<CachedBlock*>(b));
    return it != companions_.end() && it->second->seq == seq;
  }
  auto it = table_.find(k);
  return it != table_.end() && it->second->seq == seq;
}

void BlockCache::evict(CachedBlock* b) {
  CachedBlock* d = b->dependent();
  for (CachedBlock* x : {b, d}) {
    if (!x || !x->valid) continue;
    ++counters_.evictions;
    counters_.evicted_bytes += x->size_bytes;
    retire(x, RetireCause::EVICTED);
  }
}

bool BlockCache::make_room(uint64_t incoming, const CachedBlock* keep) {
  if (!over(incoming)) return true;
  if (limits_.policy == EvictionPolicy::FLUSH) {
    flush(RetireCause::EVICTED);
    return keep == nullptr && !over(incoming);
  }
  // FIFO takes the front; LRU (CLOCK) gives an entry entered since the hand last passed a
  // second chance at the back. Each pass updates `uses`, so the hand stops within two turns.
  size_t hand = 2 * order_.size() + 2;
  while (over(incoming) && !order_.empty() && hand-- > 0) {
    Slot s = order_.front();
    order_.pop_front();
    if (!live(s.entry, s.seq, s.key, s.companion)) continue;
    if (s.entry == keep ||
        (limits_.policy == EvictionPolicy::LRU && s.entry->uses() != s.uses)) {
      s.uses = s.entry->uses();
      order_.push_back(s);
      continue;
    }
    evict(s.entry);
  }
  // Retired entries stay in the queue until the hand reaches them: keep it near the live set.
  const size_t alive = table_.size() + companions_.size();
  if (order_.size() > 2 * alive + 1024) {
    std::deque<Slot> kept;
    for (const Slot& s : order_)
      if (live(s.entry, s.seq, s.key, s.companion)) kept.push_back(s);
    order_.swap(kept);
  }
  return !over(incoming);
}

uint64_t BlockCache::page_version(uint32_t page) const {
  assert_owner();  // (the translator's CPU side reads it: one thread per cache)
  auto it = page_versions_.find(page);
  return std::max(flush_version_, it == page_versions_.end() ? 0 : it->second);
}

void BlockCache::retire(CachedBlock* b, RetireCause cause) {
  b->valid = false;
  ++code_generation_;
  new_generation();
  b->on_retire(cause);
  account(b, -1);
  for (uint32_t page : {b->phys / kPage, b->page2}) {
    if (page == NO_PAGE) continue;
    // Only a change of code makes work derived from the page stale; eviction is not one.
    if (cause == RetireCause::INVALIDATED) page_versions_[page] = ++version_clock_;
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
  note_retired(*b, cause);
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
    for (CachedBlock* b : victims) retire(b, RetireCause::INVALIDATED);
    n += victims.size();
  }
  counters_.invalidations += n;
  return n;
}

void BlockCache::note_retired(const CachedBlock& b, RetireCause cause) {
  KeyHistory& h = history_[key(b.phys, b.mode)];
  h.last = cause;
  h.executions_retired += b.uses();
  if (cause == RetireCause::EVICTED) ++h.evicted;
  else ++h.invalidated;
}

void BlockCache::flush(RetireCause cause) {
  assert_owner();
  for (auto& [k, b] : table_) {
    b->valid = false;
    b->on_retire(cause);
    note_retired(*b, cause);
    retired_.push_back(std::move(b));
  }
  for (auto& [k, e] : companions_) {
    e->valid = false;
    e->on_retire(cause);
    retired_.push_back(std::move(e));
  }
  if (cause == RetireCause::EVICTED) {
    counters_.evictions += table_.size() + companions_.size();
    counters_.evicted_bytes += counters_.bytes_decoded + counters_.bytes_native;
  }
  table_.clear();
  companions_.clear();
  pages_.clear();
  order_.clear();
  counters_.bytes_decoded = counters_.bytes_native = 0;
  if (cause == RetireCause::INVALIDATED) flush_version_ = ++version_clock_;
  ++code_generation_;
  new_generation();
  std::memset(jump_, 0, sizeof jump_);
  ++counters_.flushes;
}

void BlockCache::clear_noted() {
  std::fill(std::begin(noted_pages_), std::end(noted_pages_), 0);
  std::fill(std::begin(noted_4m_), std::end(noted_4m_), 0);
  noted_any_ = false;
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
