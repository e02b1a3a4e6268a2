#include "monitor/hv/machine_memory.h"

#include <sys/mman.h>

#include <cstring>
#include <stdexcept>

namespace softcpu::hv {

MachineMemory::MachineMemory(uint64_t bytes) {
  if (bytes == 0 || bytes % 4096 || bytes / 4096 > (1u << 20))
    throw std::runtime_error("machine memory must be a positive multiple of 4 KiB up to 4 GiB");
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot map machine memory");
  base_ = static_cast<uint8_t*>(p);
  pages_ = uint32_t(bytes / 4096);
  free_ = pages_;
  used_.assign(pages_, false);
}

MachineMemory::~MachineMemory() { munmap(base_, bytes()); }

std::optional<uint32_t> MachineMemory::allocate(uint32_t count) {
  if (count == 0 || count > free_) return std::nullopt;
  uint32_t run = 0;
  for (uint32_t p = 0; p < pages_; ++p) {
    run = used_[p] ? 0 : run + 1;
    if (run == count) {
      const uint32_t first = p + 1 - count;
      for (uint32_t k = first; k <= p; ++k) used_[k] = true;
      free_ -= count;
      return first;
    }
  }
  return std::nullopt;
}

void MachineMemory::release(uint32_t first, uint32_t count) {
  for (uint32_t k = first; k < first + count; ++k) {
    if (!used_[k]) continue;
    zero(k);
    used_[k] = false;
    ++free_;
  }
}

void MachineMemory::zero(uint32_t machine_page) { std::memset(host(machine_page), 0, 4096); }

}  // namespace softcpu::hv
