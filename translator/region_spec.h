// A region to compile, as the CPU thread hands it to the compile thread: plain copies of the
// decoded blocks (no pointers into the block cache, which only the CPU thread may touch).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <memory>
#include <optional>

#include "interp/block.h"
#include "interp/insn.h"

namespace softcpu {

struct RegionBlock {
  uint32_t eip = 0;    // EIP of the block's first instruction (CS.base is the region's)
  uint32_t phys = 0;   // physical address of its first byte
  uint32_t bytes = 0;  // code length: EIP after the block = eip + bytes
  std::vector<Insn> insns;
  // What the interpreter saw: how often it ran the block, and the EIPs it continued at after
  // it (its chain links, same page).
  uint64_t executions = 0;
  std::vector<uint32_t> next_eips;
  // Does the run loop enter the region here (RegionCompiler::mark_entries)? Set on the compile
  // thread, read by the CPU thread when it installs the region.
  bool entry = true;
};

// Are these the same decoded code: the same length in bytes and the same Insn records, byte
// for byte? What a region was compiled from against what the block cache or a cache file holds.
template <class A, class B>
inline bool same_code(uint32_t bytes_a, const A& a, uint32_t bytes_b, const B& b) {
  return bytes_a == bytes_b && a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(Insn)) == 0;
}

struct RegionSpec {
  uint64_t id = 0;
  uint32_t entry_phys = 0;  // the entry block (blocks[0]) is the cache key (entry_phys, mode)
  uint32_t mode = 0;
  uint32_t entry_lin = 0;   // CS.base + blocks[0].eip: the code is valid only for this
  uint64_t page_version = 0;  // BlockCache::page_version of the page when the region was made
  uint64_t lines = 0;         // 64-byte lines of the page holding its code
  // Only look in the persistent cache (translator/jit_cache.h) for a region entered at
  // blocks[0] (the only block a warm block's probe carries); its result carries the region
  // found there, which the CPU thread checks against the block cache before installing it.
  bool probe = false;
  // With the persistent cache: a region formed at the compile threshold, looked up first (as a
  // probe for blocks[0]) and compiled only if that finds no region usable now (then it is a
  // compile request with lookup_first still set: looked up already).
  bool lookup_first = false;
  // Bit s set: segment s (ES, SS or DS) was flat when the region was made (base 0, every
  // offset readable and writable); the region is compiled for that and refuses to run
  // otherwise (specialize_flat_segments in translator/region_compiler.cpp). Not part of the
  // persistent cache's key: either code is right in any state, and a probe rebuilds the key
  // from the file without it.
  uint8_t flat_segs = 0;
  std::vector<RegionBlock> blocks;
  // The blocks counted in the Translator's queued set when the request was queued (all of
  // them, before the compile thread may trim the region): released when it is installed or
  // dropped. Empty in sync mode.
  std::vector<uint32_t> queued;
  // A smaller bound on the region's weight than TranslatorConfig::max_region_weight (0: none):
  // TranslatorConfig::max_region_weight_waiting, set when other candidates wait behind it.
  uint64_t max_weight = 0;
  // When the entry block got hot (steady clock, ns), and its executions then: the wait until
  // installation and the entry's tier-0 runs meanwhile are counted (jit.wait_us_*).
  int64_t hot_ns = 0;
  uint64_t hot_executions = 0;
};

// What the compile thread gives back.
struct CompiledRegion {
  RegionSpec spec;
  uintptr_t entry = 0;       // the function's address; 0 if compiling failed
  uint64_t code_bytes = 0;
  uint64_t inlined_insns = 0;
  double compile_us = 0;
  void* tracker = nullptr;   // the JIT's resources for this region (JitEngine owns the type)
  bool from_cache = false;   // loaded from the persistent cache, not compiled
  // A region from the cache found for a lookup_first request: that request, compiled if the
  // region cannot be installed (its blocks are not in the block cache as they were).
  std::optional<RegionSpec> fallback;
  std::string error;
  bool cancelled = false;    // given up at shutdown: nothing to install or count
  // A lookup_first request that found nothing usable: moved to the compile queue (no result
  // now), or dropped because that was full (a result that releases its blocks).
  bool requeued = false;
  bool queue_full = false;
};

}  // namespace softcpu
