// The translation cache: blocks keyed by (physical address, mode), a direct-mapped jump
// cache in front of a hash table, per-physical-page block lists for self-modifying-code
// invalidation, an optional bound on its size with an eviction policy, and the counters
// --stats reports (hits by where they were found, misses by class). It knows nothing about
// what a block holds beyond its size in bytes and how often it was entered.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#if SOFTCPU_DEBUG_CHECKS
#include <thread>
#endif
#include <unordered_map>
#include <vector>

#include "cache/cache_limits.h"

namespace softcpu {

constexpr uint32_t NO_PAGE = 0xFFFFFFFFu;

// Why an entry left the cache (CachedBlock::on_retire, and the class of a later miss).
enum class RetireCause : uint8_t {
  INVALIDATED,  // its code was written (or the cache was flushed for correctness)
  EVICTED,      // the eviction policy freed it to make room
};

// What happened to one key (physical address, mode) over the run: the 3C miss classes and the
// hot-code profile read it. Kept for every key ever translated (a few words each).
struct KeyHistory {
  uint32_t translated = 0;
  uint32_t evicted = 0;
  uint32_t invalidated = 0;
  RetireCause last = RetireCause::INVALIDATED;  // meaningful when translated > 0 and not live
  uint64_t executions_retired = 0;              // entries of its retired translations
};

struct CachedBlock {
  uint32_t phys = 0;       // physical address of the first byte
  uint32_t phys_end = 0;   // one past the last byte, on the first page (<= page end)
  uint32_t page2 = NO_PAGE;  // page holding the tail of a page-crossing last instruction
  uint32_t page2_end = 0;    // one past the last byte on page2
  uint32_t size_bytes = 0;  // storage it holds (decoded records, or native code and its links)
  bool valid = true;
  // Companion entries (compiled regions, insert_companion) hold code from several blocks of
  // the page of `phys`: `lines` marks their 64-byte lines, and [phys, phys_end) bounds them.
  // Zero for ordinary blocks, whose range is exact.
  uint64_t lines = 0;
  uint64_t seq = 0;         // allocation order (the cache sets it)
  // Last: the run loop reads it with a decoded block's chain links, which follow it on the
  // same cache line (interp/block.h, DecodedBlock's layout).
  uint32_t mode = 0;       // mode key the block was decoded under
  virtual ~CachedBlock() = default;
  // The cache dropped this entry (invalidated, evicted or flushed); it stays allocated until
  // collect_garbage(). Entries that others point to unlink themselves here.
  virtual void on_retire(RetireCause) {}
  // How often it was entered so far (LRU's reference bit: the count moved since last look).
  virtual uint64_t uses() const { return 0; }
  // An entry that cannot outlive this one (a block's compiled region), evicted with it.
  virtual CachedBlock* dependent() const { return nullptr; }
};

struct CacheCounters {
  uint64_t lookups = 0;          // lookups by the run loop (lookup(); find() is not counted)
  uint64_t jump_cache_hits = 0;
  uint64_t linear_jump_hits = 0;  // ... of them by linear EIP (Interpreter::lookup)
  uint64_t linear_checked_hits = 0;  // ... of them confirmed through the fetch TLB (lookup_slow)
  uint64_t hash_hits = 0;
  uint64_t misses = 0;           // = compulsory + capacity + invalidated
  uint64_t misses_compulsory = 0;   // key never translated before
  uint64_t misses_capacity = 0;     // its last translation was evicted
  uint64_t misses_invalidated = 0;  // its last translation was invalidated (code written)
  uint64_t inserts = 0;          // blocks translated (decoded)
  uint64_t retranslations = 0;   // ... of keys translated before
  uint64_t invalidations = 0;    // entries invalidated by writes to their code
  uint64_t evictions = 0;        // entries freed by the eviction policy
  uint64_t evicted_bytes = 0;
  uint64_t flushes = 0;          // whole-cache flushes (the flush policy's included)
  uint64_t chained = 0;  // block transitions that followed a chain link, skipping lookup
  uint64_t bytes_decoded = 0, bytes_native = 0;  // held now
  uint64_t bytes_peak = 0;       // most held at once (decoded + native)
};

// Threads: the cache, its blocks and their chain links belong to the CPU thread that runs
// them. Nothing else may touch them: the translator's compile thread works on copies of the
// instructions it compiles (translator/region_spec.h) and hands finished code back through a
// queue the CPU thread drains (NativeTier::poll). Debug builds (SOFTCPU_DEBUG_CHECKS) check
// that every call comes from the thread that first used the cache (or that took it over:
// hand_over). With CPUs on host threads each CPU has a cache of its own, filled by a
// translator of its own, so this holds per CPU (docs/design.md "Tier 1 on CPU threads").
class BlockCache {
 public:
  static constexpr unsigned JUMP_CACHE_SIZE = 65536;

  BlockCache();
  void set_limits(const CacheLimits& limits) { limits_ = limits; }
  const CacheLimits& limits() const { return limits_; }

  // Find the block for (phys, mode), or nullptr. Counts a lookup and a hit or miss.
  CachedBlock* lookup(uint32_t phys, uint32_t mode) {
    assert_owner();
    ++counters_.lookups;
    CachedBlock*& slot = jump_[jump_index(phys, mode)];
    if (slot && slot->phys == phys && slot->mode == mode) {
      ++counters_.jump_cache_hits;
      return slot;
    }
    return lookup_slow(phys, mode, slot);
  }

  // The same without counting (the translator's region builder).
  CachedBlock* find(uint32_t phys, uint32_t mode) const {
    assert_owner();
    auto it = table_.find(key(phys, mode));
    return it == table_.end() ? nullptr : it->second.get();
  }

  // Take ownership of a new block and register it in its page lists. A bounded cache first
  // evicts (policy) until the block fits.
  CachedBlock* insert(std::unique_ptr<CachedBlock> block);
  // Take ownership of a companion entry (a compiled region: CachedBlock::lines). It is found
  // by no lookup; it lives until a write to one of its lines, eviction or a flush retires it.
  // Making room never evicts `keep` (the region's entry block). When it cannot fit (bigger
  // than what the bound leaves beside `keep`, or the flush policy took `keep` too) it is not
  // inserted: nullptr, and the cache holds no more than its bound.
  CachedBlock* insert_companion(std::unique_ptr<CachedBlock> entry, const CachedBlock* keep);

  // Invalidate every block with bytes in [phys, phys + len). Returns how many.
  unsigned invalidate(uint32_t phys, uint32_t len);
  // Drop everything (INVALIDATED: the translations no longer hold; EVICTED: the flush policy).
  void flush(RetireCause cause = RetireCause::INVALIDATED);

  // Bitmask of 64-byte lines of `page` holding bytes of cached blocks.
  uint64_t code_lines(uint32_t page) const;

  // The owning thread is done with the cache (joined, or ordered before the next user by a
  // lock or a join): the next thread to use it owns it (the machine's end frees a CPU
  // thread's compiled regions from the thread that joined it).
  void hand_over() {
#if SOFTCPU_DEBUG_CHECKS
    owner_ = std::thread::id{};
#endif
  }

  // Free blocks invalidated earlier; call only when no block is executing.
  void collect_garbage() {
    assert_owner();
    retired_.clear();
  }

  const CacheCounters& counters() const { return counters_; }
  CacheCounters& counters() { return counters_; }

  // Chain links between blocks are valid only while the generation they were made in lasts.
  // It changes whenever a block is invalidated or the linear->physical view of code changes
  // (new_generation, new_address_space), so a link never leads to a freed or stale block and
  // needs no back-pointers to undo.
  uint64_t generation() const { return generation_; }
  // Where the generation lives: compiled code compares its chain links against it.
  const uint64_t* generation_address() const { return &generation_; }
  // Moves with generation() except at new_address_space(): what holds in every address space
  // (code in global pages) is valid while it lasts. Its values have the
  // top bit set, so no generation() value equals one: an entry stamped with either is
  // checked against both with no note of which it holds.
  uint64_t global_generation() const { return global_generation_; }
  // Moves only when an entry retires (invalidated, evicted, flushed): a block found while it
  // lasts is still alive and still holds the code at its physical address, whatever happened
  // to the linear view since. The linear jump cache revalidates an entry whose generation()
  // moved with it and the fetch TLB (Interpreter::lookup_slow).
  uint64_t code_generation() const { return code_generation_; }
  // Chain links to code reached through global translations only are stamped with this
  // (Interpreter link()): it moves with global_generation() and also when another CPU takes
  // over the cache (new_cpu_view), since a link holds the translations of the CPU that made it
  // and each CPU has TLB entries of its own. Top bit set, as global_generation()'s.
  uint64_t global_link_generation() const { return global_link_generation_; }
  // Everything made so far is stale: a block retired, or the whole linear view changed.
  void new_generation() {
    ++generation_;
    ++global_generation_;
    ++global_link_generation_;
    if (noted_any_) clear_noted();
  }
  // The view of non-global linear pages changed (a CR3 load, a task switch): chain links go,
  // what global_generation() covers stays. The noted pages stay noted (see below).
  void new_address_space() { ++generation_; }
  // Another CPU runs on this cache (-smp N round-robin): every chain link goes; each CPU's
  // linear jump cache is its own, so what global_generation() covers stays.
  void new_cpu_view() {
    ++generation_;
    ++global_link_generation_;
  }

  // Linear pages code was found at (Interpreter::lookup_slow notes each page a linear jump
  // cache entry or a chain link may depend on; `whole_4m`: through a 4 MiB page). A change of
  // the mapping of a page never noted since the last new_generation() (INVLPG of a data page)
  // needs no new generation. Hashed bitmaps: a false "noted" costs a generation, never more.
  void note_linear_code(uint32_t lin, bool whole_4m) {
    noted_pages_[page_bit(lin) / 64] |= 1ull << (page_bit(lin) % 64);
    if (whole_4m) noted_4m_[(lin >> 22) / 64] |= 1ull << ((lin >> 22) % 64);
    noted_any_ = true;
  }
  // Whether a change of the translation of the page holding `lin` may affect noted code.
  bool linear_code_noted(uint32_t lin) const {
    return ((noted_pages_[page_bit(lin) / 64] >> (page_bit(lin) % 64)) & 1) |
           ((noted_4m_[(lin >> 22) / 64] >> ((lin >> 22) % 64)) & 1);
  }
  size_t block_count() const { return table_.size(); }
  size_t companion_count() const { return companions_.size(); }

  // The history of a key, or nullptr if it was never translated.
  const KeyHistory* history(uint32_t phys, uint32_t mode) const {
    auto it = history_.find(key(phys, mode));
    return it == history_.end() ? nullptr : &it->second;
  }
  // Visit every live block (not companions): f(const CachedBlock&).
  template <typename F>
  void for_each_block(F f) const {
    for (const auto& [k, b] : table_) f(*b);
  }

  // Changes whenever an entry with code in `page` is invalidated (or the cache is flushed
  // for correctness; eviction does not count): work derived from the page's code (a compile
  // in flight) is stale if the version moved.
  uint64_t page_version(uint32_t page) const;

 private:
  static uint64_t key(uint32_t phys, uint32_t mode) { return (uint64_t(mode) << 32) | phys; }
  static unsigned jump_index(uint32_t phys, uint32_t mode) {
    return (phys ^ (phys >> 12) ^ (mode * 0x9E37u)) % JUMP_CACHE_SIZE;
  }
  CachedBlock* lookup_slow(uint32_t phys, uint32_t mode, CachedBlock*& slot);
  static constexpr unsigned NOTED_PAGE_BITS = 8192;
  static unsigned page_bit(uint32_t lin) {
    return ((lin >> 12) ^ (lin >> 25)) % NOTED_PAGE_BITS;
  }
  void clear_noted();
#if SOFTCPU_DEBUG_CHECKS
  void assert_owner() const;
  mutable std::thread::id owner_{};
#else
  void assert_owner() const {}
#endif
  void retire(CachedBlock* b, RetireCause cause);
  void note_retired(const CachedBlock& b, RetireCause cause);  // blocks: their key's history
  void account(const CachedBlock* b, int64_t sign);
  // Evict until `incoming` more bytes (and one more entry) fit; never `keep`. False if they
  // still do not fit, or a flush took `keep` too.
  bool make_room(uint64_t incoming, const CachedBlock* keep);
  bool over(uint64_t incoming) const;
  bool live(const CachedBlock* b, uint64_t seq, uint64_t k, bool companion) const;
  void evict(CachedBlock* b);

  CachedBlock* jump_[JUMP_CACHE_SIZE];
  std::unordered_map<uint64_t, std::unique_ptr<CachedBlock>> table_;
  std::unordered_map<uint32_t, std::vector<CachedBlock*>> pages_;
  std::unordered_map<CachedBlock*, std::unique_ptr<CachedBlock>> companions_;
  std::vector<std::unique_ptr<CachedBlock>> retired_;
  std::unordered_map<uint32_t, uint64_t> page_versions_;
  std::unordered_map<uint64_t, KeyHistory> history_;
  // Allocation order of the entries (FIFO's queue, LRU's clock), each checked for life by
  // key and sequence number before it is touched: retired entries are skipped lazily.
  struct Slot {
    CachedBlock* entry;
    uint64_t key;
    uint64_t seq;
    uint64_t uses;  // LRU: uses() when the hand last passed
    bool companion;
  };
  std::deque<Slot> order_;
  uint64_t next_seq_ = 0;
  CacheLimits limits_;
  uint64_t version_clock_ = 0;
  uint64_t flush_version_ = 0;
  CacheCounters counters_;
  uint64_t generation_ = 1;
  uint64_t code_generation_ = 1;
  uint64_t global_generation_ = (1ull << 63) | 1;
  uint64_t global_link_generation_ = (1ull << 63) | 1;
  uint64_t noted_pages_[NOTED_PAGE_BITS / 64] = {};
  uint64_t noted_4m_[1024 / 64] = {};
  bool noted_any_ = false;
};

}  // namespace softcpu
