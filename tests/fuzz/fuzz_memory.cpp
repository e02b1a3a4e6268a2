#include "tests/fuzz/fuzz_memory.h"

#include <sys/mman.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace softcpu::fuzz {

PhysicalMemory& reusable_memory(const char* owner, uint32_t ram_bytes) {
  static std::map<std::pair<std::string, uint32_t>, std::unique_ptr<PhysicalMemory>> all;
  auto& m = all[{owner, ram_bytes}];
  if (!m) return *(m = std::make_unique<PhysicalMemory>(ram_bytes));
  // Zero pages again on the next touch: costs only the pages the last input touched.
  if (madvise(m->ram(), ram_bytes, MADV_DONTNEED) != 0) std::memset(m->ram(), 0, ram_bytes);
  for (uint32_t page = 0; page < ram_bytes / PAGE_SIZE; ++page) m->set_code_lines(page, 0);
  return *m;
}

}  // namespace softcpu::fuzz
