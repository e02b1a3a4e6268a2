// Stage-2 translation: each partition's guest-physical page -> machine page with read, write
// and execute permissions. Only the primary hypervisor changes a table (its mutators are
// private; PrimaryHypervisor is the one friend); the CPUs, the devices and the secondary
// hypervisor get a Stage2View, which has no path to a write (tests/hv/stage2_view_*: a build
// check that writing through the view does not compile, and a unit test).
// The table is the truth; the primary copies each change into the partition's
// PhysicalMemory (interp/memory.h host_/kind_), which the soft TLB fill reads, so a TLB entry
// caches guest-linear -> machine host address in one step.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace softcpu::hv {

class PrimaryHypervisor;

enum Stage2Perm : uint8_t {
  S2_NONE = 0,
  S2_R = 1,
  S2_W = 2,
  S2_X = 4,
  S2_RW = S2_R | S2_W,
  S2_RWX = S2_R | S2_W | S2_X,
};

struct Stage2Entry {
  uint32_t machine_page = 0;
  uint8_t perms = S2_NONE;  // S2_NONE: not mapped
};

class Stage2Table {
 public:
  static constexpr uint32_t GUEST_PAGES = 1u << 20;  // 4 GiB of guest-physical space

  Stage2Table(const Stage2Table&) = delete;
  Stage2Table& operator=(const Stage2Table&) = delete;

  std::optional<Stage2Entry> lookup(uint32_t guest_page) const {
    if (guest_page >= GUEST_PAGES || perms_[guest_page] == S2_NONE) return std::nullopt;
    return Stage2Entry{machine_[guest_page], perms_[guest_page]};
  }
  uint32_t mapped_pages() const { return mapped_; }

 private:
  friend class PrimaryHypervisor;
  Stage2Table() : machine_(GUEST_PAGES, 0), perms_(GUEST_PAGES, S2_NONE) {}
  void map(uint32_t guest_page, uint32_t machine_page, uint8_t perms) {
    if (perms_[guest_page] == S2_NONE) ++mapped_;
    machine_[guest_page] = machine_page;
    perms_[guest_page] = perms;
  }
  void unmap(uint32_t guest_page) {
    if (perms_[guest_page] != S2_NONE) --mapped_;
    perms_[guest_page] = S2_NONE;
  }

  std::vector<uint32_t> machine_;
  std::vector<uint8_t> perms_;
  uint32_t mapped_ = 0;
};

// Read-only access to one partition's stage-2 table.
class Stage2View {
 public:
  explicit Stage2View(const Stage2Table& table) : table_(&table) {}
  std::optional<Stage2Entry> lookup(uint32_t guest_page) const { return table_->lookup(guest_page); }
  // The machine byte address behind a guest-physical address, if mapped.
  std::optional<uint64_t> translate(uint32_t guest_phys) const {
    const auto e = lookup(guest_phys >> 12);
    if (!e) return std::nullopt;
    return uint64_t(e->machine_page) * 4096 + (guest_phys & 0xFFF);
  }
  uint32_t mapped_pages() const { return table_->mapped_pages(); }

 private:
  const Stage2Table* table_;
};

}  // namespace softcpu::hv
