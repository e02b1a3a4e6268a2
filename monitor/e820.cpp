#include "monitor/e820.h"

#include <algorithm>

namespace softcpu {

namespace {
constexpr uint32_t BIOS_SEGMENT_START = 0xF0000;
constexpr uint32_t HIGH_MEMORY_START = 0x100000;

void put_le(std::vector<uint8_t>& out, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

// The ranges of `extra` after `map`, sorted by address.
std::vector<E820Entry> with_extra(std::vector<E820Entry> map, std::vector<E820Entry> extra) {
  std::sort(extra.begin(), extra.end(),
            [](const E820Entry& a, const E820Entry& b) { return a.addr < b.addr; });
  map.insert(map.end(), extra.begin(), extra.end());
  return map;
}
}  // namespace

std::vector<E820Entry> pc_e820_map(uint32_t ram_bytes, const std::vector<E820Entry>& extra) {
  std::vector<E820Entry> map;
  const uint32_t base_end = std::min(ram_bytes, EBDA_START);
  map.push_back({0, base_end, E820_RAM});
  map.push_back({EBDA_START, 0xA0000 - EBDA_START, E820_RESERVED});
  map.push_back({BIOS_SEGMENT_START, HIGH_MEMORY_START - BIOS_SEGMENT_START, E820_RESERVED});
  if (ram_bytes > HIGH_MEMORY_START)
    map.push_back({HIGH_MEMORY_START, ram_bytes - HIGH_MEMORY_START, E820_RAM});
  return with_extra(std::move(map), extra);
}

std::vector<E820Entry> firmware_e820_map(uint32_t ram_bytes, const std::vector<E820Entry>& extra) {
  return with_extra({{0, ram_bytes, E820_RAM}}, extra);
}

std::vector<uint8_t> encode_e820(const std::vector<E820Entry>& map) {
  std::vector<uint8_t> out;
  out.reserve(map.size() * E820_RECORD_SIZE);
  for (const E820Entry& e : map) {
    put_le(out, e.addr, 8);
    put_le(out, e.size, 8);
    put_le(out, e.type, 4);
  }
  return out;
}

}  // namespace softcpu
