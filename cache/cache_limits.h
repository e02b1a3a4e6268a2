// How big the translation cache may grow and what frees room when it is full (--tcache-size,
// --tcache-blocks, --tcache-policy). A header of its own so the command line can name it
// without the cache.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace softcpu {

// --tcache-policy: what frees room when a bounded cache is full.
enum class EvictionPolicy : uint8_t {
  FLUSH,  // empty the whole cache (QEMU's tb_flush when its code buffer is full)
  FIFO,   // free the oldest entries in allocation order (a circular code buffer)
  LRU,    // CLOCK: free the oldest entry not entered since the hand last passed it
};
const char* eviction_policy_name(EvictionPolicy p);
std::optional<EvictionPolicy> parse_eviction_policy(const std::string& name);

// --tcache-size / --tcache-blocks: zero means unbounded.
struct CacheLimits {
  uint64_t bytes = 0;    // decoded records plus native code
  uint64_t entries = 0;  // blocks plus compiled regions
  EvictionPolicy policy = EvictionPolicy::FLUSH;
};

}  // namespace softcpu
