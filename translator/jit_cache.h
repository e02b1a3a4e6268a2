// The persistent translation cache (--jit-cache DIR): compiled regions' object files kept on
// disk, so a later run installs a region that was ever hot for the cost of reading and linking
// it instead of compiling it again. Compile thread only (it owns the files it writes).
//
// A file holds one region: the region as it was compiled (its blocks, page offsets, entry
// flags and decoded instructions, each handler by name), the key it was compiled under, the
// object, and a BLAKE3 checksum of all that. It is named by the environment and the region's
// entry block (JitCache::path), because a later run looks it up when that block gets warm,
// before it knows which blocks the region took in; each other entry of the region (a loop
// header, a return site: RegionBlock::entry) gets a small reference file naming it
// (JitCache::ref_path), so a run whose timing makes another of them hot first finds the region
// too. The translator then checks that the region's blocks are in the block cache as they
// were, rebuilds the region's IR from them and compares its key before it installs the
// object. The key (JitCache::key) is everything the object depends on: the region's IR as
// built (RegionCompiler::Output::ir_hash) and the environment (jit_cache_env: cache format,
// LLVM version, target CPU and features, code generation options, the semantics bitcode, the
// build of softcpu itself).
//
// Size: with a bound (--jit-cache-max), a write that takes the directory past it removes the
// files used longest ago (by modification time: a load sets it to now) down to 9/10 of it.
// Several processes may share the directory: files are replaced by rename and removed by
// unlink, so a reader has a whole file or none (a file removed under it is a miss).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "translator/region_spec.h"

namespace llvm {
class MemoryBuffer;
class TargetMachine;
}  // namespace llvm

namespace softcpu {

class Semantics;
using CacheDigest = std::array<uint8_t, 32>;

// What every cached object depends on besides its region, as one string.
std::string jit_cache_env(const Semantics& sem, const llvm::TargetMachine& tm);

class JitCache {
 public:
  // `dir` is created if missing; when it cannot be written the cache only reads (writable()).
  // `max_bytes`: the bound on the files' size (0 = none).
  JitCache(std::string dir, const std::string& env, const Semantics& sem, uint64_t max_bytes = 0);
  ~JitCache();

  bool writable() const { return writable_; }
  // Non-empty when the directory may hold another user's code (owned by someone else, or
  // group/world-writable): the translator then does not use the cache.
  const std::string& why_untrusted() const { return untrusted_; }
  const std::string& dir() const { return dir_; }
  const std::string& why_not_writable() const { return why_; }

  // The key of a region whose IR as built hashes to `ir_hash`.
  CacheDigest key(const CacheDigest& ir_hash) const;
  // The file a region entered at spec.blocks[0] is kept in.
  std::string path(const RegionSpec& spec) const;
  // The reference file naming the region that has the block `rb` (linear address `lin`,
  // `mode`) as an entry other than its first.
  std::string ref_path(uint32_t lin, uint32_t mode, const RegionBlock& rb) const;

  struct Entry {
    RegionSpec spec;  // blocks, EIPs, entry flags and instructions (this run's handlers); the
                      // physical addresses in the page of the looked-up entry block
    CacheDigest key{};
    CacheDigest checksum{};  // of the whole file: the same file content, the same checksum
    uint64_t code_bytes = 0;
    std::string symbol;  // the region function's name in the object
    std::unique_ptr<llvm::MemoryBuffer> object;
  };
  enum class Found { NONE, BAD, OK };
  // The region kept for `probe`'s entry block (spec.blocks[0], its entry_lin and mode): the one
  // entered there first, else through the block's reference file the one that has it as
  // another entry (`*member` set). BAD: a damaged, truncated or foreign file, removed (it is
  // never loaded). NONE: no file, or one for another region with the same name, or one that
  // no longer has the block as an entry.
  Found load(const RegionSpec& probe, Entry* out, uint64_t* bytes_read, bool* member = nullptr) const;
  // Keep `spec`'s object (temp file + rename: a reader sees a whole file or none), and a
  // reference file for each of its other entries.
  bool store(const RegionSpec& spec, const CacheDigest& key, uint64_t code_bytes,
             const std::string& symbol, const llvm::MemoryBuffer& object, uint64_t* bytes_written,
             std::string* error);
  // After a store: when the files pass the bound, remove those used longest ago down to 9/10
  // of it (region and reference files alike); returns how many region files this call
  // removed. The directory's size is what a scan at the first call found plus this process's
  // writes since, and a fresh scan when that passes the bound (then the files other processes
  // wrote count too).
  uint64_t trim();

 private:
  std::string name(uint32_t lin, uint32_t mode, const RegionBlock& rb, const char* suffix) const;
  Found load_file(const std::string& file, const RegionSpec& probe, Entry* out,
                  uint64_t* bytes_read) const;
  bool put(const std::string& data, const std::string& final_path, std::string* error);
  std::string dir_, why_, untrusted_;
  CacheDigest env_{};
  const Semantics& sem_;
  bool writable_ = false;
  uint64_t max_bytes_ = 0;
  bool scanned_ = false;
  uint64_t used_ = 0;  // bytes of the files, as far as this process knows
};

}  // namespace softcpu
