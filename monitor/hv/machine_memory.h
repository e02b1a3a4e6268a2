// Machine memory: the one host mapping the primary hypervisor owns, handed out in 4 KiB pages
// (first fit; a static region gets a contiguous run so that its low RAM is one block for the
// devices that read it directly, e.g. VGA text). Partitions see it only through their stage-2
// tables (monitor/hv/stage2.h).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace softcpu::hv {

class MachineMemory {
 public:
  explicit MachineMemory(uint64_t bytes);  // throws std::runtime_error (bad size, no memory)
  ~MachineMemory();
  MachineMemory(const MachineMemory&) = delete;
  MachineMemory& operator=(const MachineMemory&) = delete;

  uint32_t pages() const { return pages_; }
  uint32_t free_pages() const { return free_; }
  uint8_t* base() const { return base_; }
  uint64_t bytes() const { return uint64_t(pages_) * 4096; }
  uint8_t* host(uint32_t machine_page) const { return base_ + uint64_t(machine_page) * 4096; }

  // `count` contiguous free pages (first fit), marked used; nullopt when no run is that long.
  std::optional<uint32_t> allocate(uint32_t count);
  void release(uint32_t first, uint32_t count);  // zeroes them too
  void zero(uint32_t machine_page);
  bool used(uint32_t machine_page) const { return used_[machine_page]; }

 private:
  uint8_t* base_ = nullptr;
  uint32_t pages_ = 0;
  uint32_t free_ = 0;
  std::vector<bool> used_;
};

}  // namespace softcpu::hv
