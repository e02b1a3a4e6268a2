#include "interp/memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "interp/guest_ram.h"
#include "interp/smp.h"

namespace softcpu {

static_assert(PAGE_UNASSIGNED == 0, "a zeroed kind table is all unassigned");

// The table's bytes in whole pages (the guard pages lie on either side).
static size_t table_span(size_t bytes) { return (bytes + PAGE_SIZE - 1) / PAGE_SIZE * PAGE_SIZE; }

void* map_zeroed_table(size_t bytes) {
  const size_t size = table_span(bytes);
  void* p = mmap(nullptr, size + 2 * PAGE_SIZE, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot allocate the physical memory map");
  auto* table = static_cast<uint8_t*>(p) + PAGE_SIZE;
  if (mprotect(table, size, PROT_READ | PROT_WRITE) != 0) {
    munmap(p, size + 2 * PAGE_SIZE);
    throw std::runtime_error("cannot allocate the physical memory map");
  }
  return table;
}

void unmap_zeroed_table(void* table, size_t bytes) {
  const size_t size = table_span(bytes);
  munmap(static_cast<uint8_t*>(table) - PAGE_SIZE, size + 2 * PAGE_SIZE);
}

PhysicalMemory::PhysicalMemory(uint32_t ram_bytes)
    : ram_size_(ram_bytes),
      kind_(PAGE_COUNT),
      host_(PAGE_COUNT),
      mmio_(PAGE_COUNT),
      code_lines_(PAGE_COUNT) {
  void* p = mmap(nullptr, ram_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot allocate guest RAM");
  ram_ = static_cast<uint8_t*>(p);
  for (uint32_t page = 0; page < ram_bytes / PAGE_SIZE; ++page) {
    kind_[page] = PAGE_RAM;
    host_[page] = ram_ + uint64_t(page) * PAGE_SIZE;
  }
}

PhysicalMemory::PhysicalMemory(uint32_t ram_bytes, const ExternalRam& ram)
    : ram_(ram.low),
      ram_size_(ram_bytes),
      owns_ram_(false),
      external_(ram),
      kind_(PAGE_COUNT),
      host_(PAGE_COUNT),
      mmio_(PAGE_COUNT),
      code_lines_(PAGE_COUNT),
      stage2_bits_(PAGE_COUNT) {}

PhysicalMemory::~PhysicalMemory() {
  if (owns_ram_) munmap(ram_, ram_size_);
}

void PhysicalMemory::map_ram_page(Stage2Key, uint32_t page, uint8_t* host, bool writable,
                                  bool executable) {
  kind_[page] = writable ? PAGE_RAM : PAGE_ROM;
  host_[page] = host;
  if (!stage2_bits_.empty())
    stage2_bits_[page] = uint8_t((writable ? 0 : S2_READONLY) | (executable ? 0 : S2_NOEXEC));
}

void PhysicalMemory::unmap_ram_page(Stage2Key, uint32_t page) {
  kind_[page] = PAGE_UNASSIGNED;
  host_[page] = nullptr;
  set_code_lines(page, 0);
  if (!stage2_bits_.empty()) stage2_bits_[page] = 0;
}

void PhysicalMemory::map_rom(uint32_t addr, const uint8_t* data, uint32_t size) {
  uint32_t pages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
  auto storage = std::make_unique<uint8_t[]>(uint64_t(pages) * PAGE_SIZE);
  std::memset(storage.get(), 0xFF, uint64_t(pages) * PAGE_SIZE);
  std::memcpy(storage.get(), data, size);
  for (uint32_t k = 0; k < pages; ++k) {
    uint32_t page = (addr / PAGE_SIZE) + k;
    kind_[page] = PAGE_ROM;
    host_[page] = storage.get() + uint64_t(k) * PAGE_SIZE;
    if (page < 256) low_rom_[page] = host_[page];
  }
  rom_storage_.push_back(std::move(storage));
  rom_bytes_.push_back(pages * PAGE_SIZE);
}

bool PhysicalMemory::owns_host(const void* p, uint32_t len) const {
  const auto inside = [p, len](const uint8_t* base, uint64_t size) {
    const auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(base);
    return a >= b && a - b + len <= size;
  };
  if (owns_ram_ ? inside(ram_, ram_size_) : inside(external_.base, external_.size)) return true;
  for (size_t k = 0; k < rom_storage_.size(); ++k)
    if (inside(rom_storage_[k].get(), rom_bytes_[k])) return true;
  return false;
}

void PhysicalMemory::alias_rom(uint32_t alias_addr, uint32_t source_addr, uint32_t size) {
  for (uint32_t k = 0; k < size / PAGE_SIZE; ++k) {
    kind_[alias_addr / PAGE_SIZE + k] = PAGE_ROM;
    host_[alias_addr / PAGE_SIZE + k] = host_[source_addr / PAGE_SIZE + k];
  }
}

void PhysicalMemory::map_mmio(uint32_t addr, uint32_t size, MmioHandler* handler) {
  for (uint32_t k = 0; k < (size + PAGE_SIZE - 1) / PAGE_SIZE; ++k) {
    kind_[addr / PAGE_SIZE + k] = PAGE_MMIO;
    host_[addr / PAGE_SIZE + k] = nullptr;
    mmio_[addr / PAGE_SIZE + k] = handler;
  }
}

void PhysicalMemory::set_shadow(uint32_t addr, uint32_t size, bool read_ram, bool write_ram) {
  for (uint32_t page = addr / PAGE_SIZE; page < (addr + size) / PAGE_SIZE && page < 256; ++page) {
    uint8_t* ram_page =
        page < ram_size_ / PAGE_SIZE && ram_ ? ram_ + uint64_t(page) * PAGE_SIZE : nullptr;
    if (read_ram && ram_page) {
      kind_[page] = write_ram ? PAGE_RAM : PAGE_ROM;  // read-only RAM drops writes like ROM
      host_[page] = ram_page;
    } else if (low_rom_[page]) {
      kind_[page] = PAGE_ROM;
      host_[page] = low_rom_[page];
    } else {
      kind_[page] = PAGE_UNASSIGNED;
      host_[page] = nullptr;
    }
  }
}

uint32_t PhysicalMemory::read(uint32_t addr, unsigned size) {
  uint32_t page = addr / PAGE_SIZE;
  switch (kind_[page]) {
    case PAGE_RAM:
    case PAGE_ROM: {
      return ram_load_n(host_[page] + (addr % PAGE_SIZE), size);
    }
    case PAGE_MMIO:
      if (device_lock_) return mmio_read_locked(addr, size);
      return mmio_[page]->mmio_read(addr, size);
    default:
      ++unassigned_reads;
      ++stage2_violations;
      return size == 4 ? 0xFFFFFFFFu : (1u << (size * 8)) - 1;
  }
}

void PhysicalMemory::write(uint32_t addr, unsigned size, uint32_t value) {
  uint32_t page = addr / PAGE_SIZE;
  switch (kind_[page]) {
    case PAGE_RAM: ram_store_n(host_[page] + (addr % PAGE_SIZE), size, value); break;
    case PAGE_ROM:  // writes to ROM are ignored
      if (!stage2_bits_.empty() && (stage2_bits_[page] & S2_READONLY)) ++stage2_violations;
      break;
    case PAGE_MMIO:
      if (device_lock_) mmio_write_locked(addr, size, value);
      else mmio_[page]->mmio_write(addr, size, value);
      break;
    default:
      ++unassigned_writes;
      ++stage2_violations;
      break;
  }
}

void PhysicalMemory::track_code_per_cpu(unsigned cpus) {
  cpu_lines_.assign(size_t(cpus) * PAGE_COUNT);
}

// The device lock is taken unless this thread holds it already (a device's DMA while the
// monitor services devices).
uint32_t PhysicalMemory::mmio_read_locked(uint32_t addr, unsigned size) {
  if (device_lock_->held_by_me()) return mmio_[addr / PAGE_SIZE]->mmio_read(addr, size);
  std::lock_guard lock(*device_lock_);
  return mmio_[addr / PAGE_SIZE]->mmio_read(addr, size);
}

void PhysicalMemory::mmio_write_locked(uint32_t addr, unsigned size, uint32_t value) {
  if (device_lock_->held_by_me()) return mmio_[addr / PAGE_SIZE]->mmio_write(addr, size, value);
  std::lock_guard lock(*device_lock_);
  mmio_[addr / PAGE_SIZE]->mmio_write(addr, size, value);
}

// Page by page: one copy per page (ram_copy_forward: in TSan builds byte by byte as relaxed
// atomics, interp/guest_ram.h), not a table lookup per byte. An access past 4 GiB wraps to 0.
void PhysicalMemory::read_bytes(uint32_t addr, void* out, uint32_t len) {
  auto* o = static_cast<uint8_t*>(out);
  while (len) {
    const uint32_t page = addr / PAGE_SIZE, off = addr % PAGE_SIZE;
    const uint32_t n = std::min(len, PAGE_SIZE - off);
    if (const uint8_t* h = host_[page]) {
      ram_copy_forward(o, h + off, n);
    } else {
      if (kind_[page] == PAGE_UNASSIGNED) stage2_violations += n;
      std::memset(o, 0xFF, n);
    }
    o += n;
    addr += n;
    len -= n;
  }
}

void PhysicalMemory::write_bytes(uint32_t addr, const void* in, uint32_t len) {
  auto* i = static_cast<const uint8_t*>(in);
  while (len) {
    const uint32_t page = addr / PAGE_SIZE, off = addr % PAGE_SIZE;
    const uint32_t n = std::min(len, PAGE_SIZE - off);
    if (uint8_t* h = host_[page]) {
      ram_copy_forward(h + off, i, n);
    } else if (kind_[page] == PAGE_UNASSIGNED) {
      stage2_violations += n;
    }
    i += n;
    addr += n;
    len -= n;
  }
}

}  // namespace softcpu
