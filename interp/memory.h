// The guest physical memory map: RAM (one host mapping), ROM and MMIO regions, and the
// per-page record of which 64-byte lines hold decoded code (self-modifying-code detection).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace softcpu {

// A memory-mapped device region. Implemented in vdevices/ (through monitor/).
class MmioHandler {
 public:
  virtual ~MmioHandler() = default;
  virtual uint32_t mmio_read(uint32_t addr, unsigned size) = 0;
  virtual void mmio_write(uint32_t addr, unsigned size, uint32_t value) = 0;
};

enum PageKind : uint8_t { PAGE_UNASSIGNED, PAGE_RAM, PAGE_ROM, PAGE_MMIO };

constexpr uint32_t PAGE_SIZE = 4096;
constexpr uint32_t PAGE_COUNT = 1u << 20;  // 4 GiB of 4 KiB pages
constexpr unsigned CODE_LINE_SHIFT = 6;    // 64-byte lines for code tracking

// RAM that the owner of machine memory (monitor/hv/) hands to a PhysicalMemory page by page
// through its stage-2 table: [base, base + size) is the whole machine mapping (for owns_host),
// `low` the host address of guest-physical page 0, backing ram_bytes contiguous bytes.
struct ExternalRam {
  uint8_t* base = nullptr;
  uint64_t size = 0;
  uint8_t* low = nullptr;
};

namespace hv {
class PrimaryHypervisor;
}
class BigLock;

// The pass that map_ram_page/unmap_ram_page ask for: only the primary hypervisor can make one
// (monitor/hv/primary.h), so nothing else reprograms a partition's stage-2 mappings.
class Stage2Key {
  friend class hv::PrimaryHypervisor;
  constexpr Stage2Key() = default;
};

// An anonymous mapping of zero bytes between two inaccessible guard pages (memory.cpp).
void* map_zeroed_table(size_t bytes);
void unmap_zeroed_table(void* table, size_t bytes);

// A fixed-size array of zero-initialised T for PhysicalMemory's per-page tables (one entry for
// each of the 2^20 pages of 4 GiB). Making one writes nothing: the kernel supplies zero pages
// on first touch, so a machine pays for the entries it uses, not for 25 MB of value-initialised
// vectors (the fuzzers build a machine per input: docs/hardening.md). Indexing is a load of
// the base pointer and an indexed access, as a vector's is. ASan does not watch mmap'd memory,
// so the guard pages make an index out of range fault instead.
template <typename T>
class ZeroedTable {
 public:
  ZeroedTable() = default;
  explicit ZeroedTable(size_t n) { assign(n); }
  ~ZeroedTable() { release(); }
  ZeroedTable(const ZeroedTable&) = delete;
  ZeroedTable& operator=(const ZeroedTable&) = delete;
  // n zeroed entries (the old ones dropped).
  void assign(size_t n) {
    release();
    data_ = static_cast<T*>(map_zeroed_table(n * sizeof(T)));
    n_ = n;
  }
  bool empty() const { return n_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  void release() {
    if (data_) unmap_zeroed_table(data_, n_ * sizeof(T));
    data_ = nullptr;
    n_ = 0;
  }
  T* data_ = nullptr;
  size_t n_ = 0;
};

class PhysicalMemory {
 public:
  // RAM of its own: [0, ram_bytes) mapped, one host mapping (the single-guest machine).
  explicit PhysicalMemory(uint32_t ram_bytes);
  // RAM from machine memory: nothing is mapped until map_ram_page(); ram() is `ram.low`.
  PhysicalMemory(uint32_t ram_bytes, const ExternalRam& ram);
  ~PhysicalMemory();
  PhysicalMemory(const PhysicalMemory&) = delete;
  PhysicalMemory& operator=(const PhysicalMemory&) = delete;

  uint8_t* ram() { return ram_; }
  uint32_t ram_size() const { return ram_size_; }

  // Map a copy of `data` read-only at [addr, addr+size). Page-aligned, overrides RAM.
  void map_rom(uint32_t addr, const uint8_t* data, uint32_t size);
  // Map an existing ROM region a second time at `alias_addr` (e.g. BIOS at top of 4 GiB).
  void alias_rom(uint32_t alias_addr, uint32_t source_addr, uint32_t size);
  void map_mmio(uint32_t addr, uint32_t size, MmioHandler* handler);
  // Route [addr, addr+size) below 1 MiB like the chipset's PAM registers (82441FX 3.2.17):
  // reads from RAM or from the ROM mapped there (the PCI bus: all ones where none is), writes
  // to RAM or dropped. Page aligned. Write-only RAM (read ROM, write RAM) is not modelled: it
  // reads and writes the ROM side. The caller flushes TLBs and cached code for the range.
  void set_shadow(uint32_t addr, uint32_t size, bool read_ram, bool write_ram);

  // Stage-2 programming (monitor/hv/primary.cpp only, while the CPU does not run): guest
  // page `page` becomes RAM at `host` (writable or read-only: writes dropped and counted as
  // violations), or unassigned again. The caller flushes TLBs and cached code.
  // `executable` false: instruction fetches from the page read all ones and count as
  // violations (fetch_allowed; checked when a block is decoded, not on the TLB fast path).
  void map_ram_page(Stage2Key, uint32_t page, uint8_t* host, bool writable,
                    bool executable = true);
  void unmap_ram_page(Stage2Key, uint32_t page);

  PageKind kind(uint32_t page) const { return static_cast<PageKind>(kind_[page]); }
  // Stage-2 X: false for a partition's RAM page mapped without execute permission.
  bool fetch_allowed(uint32_t page) const {
    return stage2_bits_.empty() || !(stage2_bits_[page] & S2_NOEXEC);
  }
  // Host address of a RAM or ROM page, nullptr otherwise.
  uint8_t* host_page(uint32_t page) const { return host_[page]; }

  // Slow-path accesses of 1, 2 or 4 bytes that stay within one page.
  uint32_t read(uint32_t addr, unsigned size);
  // Code invalidation is the caller's job (interp/access.cpp), which knows the cache.
  void write(uint32_t addr, unsigned size, uint32_t value);

  // Copy bytes (debugger, loaders); ROM is written too (loaders), MMIO skipped.
  void read_bytes(uint32_t addr, void* out, uint32_t len);
  void write_bytes(uint32_t addr, const void* in, uint32_t len);

  // Code tracking: bitmask of 64-byte lines of `page` that hold decoded instructions.
  // Relaxed atomic accesses: with vCPUs on parallel host threads several CPUs read and add to
  // them (plain loads and stores on x86).
  uint64_t code_lines(uint32_t page) const { return lines_ref(page).load(std::memory_order_relaxed); }
  void set_code_lines(uint32_t page, uint64_t mask) { lines_ref(page).store(mask, std::memory_order_relaxed); }
  bool has_code(uint32_t page) const { return code_lines(page) != 0; }
  // vCPUs on parallel host threads (interp/smp.h): each CPU has its own block cache, so each
  // its own code lines; code_lines() becomes their union, which only grows (a page that once
  // held code keeps taking the write slow path). note_code_lines is then how CPU `cpu`
  // reports its lines of `page`; with one thread it is set_code_lines.
  void track_code_per_cpu(unsigned cpus);
  void note_code_lines(unsigned cpu, uint32_t page, uint64_t mask) {
    if (cpu_lines_.empty()) return set_code_lines(page, mask);
    std::atomic_ref<uint64_t>(cpu_lines_[size_t(cpu) * PAGE_COUNT + page]).store(mask, std::memory_order_seq_cst);
    lines_ref(page).fetch_or(mask, std::memory_order_seq_cst);
  }
  uint64_t cpu_code_lines(unsigned cpu, uint32_t page) const {
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(cpu_lines_[size_t(cpu) * PAGE_COUNT + page]))
        .load(std::memory_order_seq_cst);
  }
  bool per_cpu_code() const { return !cpu_lines_.empty(); }
  // Threads on: MMIO reads and writes reach their device holding the big lock.
  void set_device_lock(BigLock* lock) { device_lock_ = lock; }

  // Does [p, p + len) lie inside guest RAM or one ROM mapping? (Debug checks of the host
  // pointers the soft TLB hands out: interp/access.h.)
  bool owns_host(const void* p, uint32_t len) const;

  uint64_t unassigned_reads = 0, unassigned_writes = 0;
  // Accesses (CPU, DMA, loaders) to guest-physical pages with no stage-2 mapping (unassigned:
  // reads all ones, writes dropped) and writes to read-only stage-2 pages.
  uint64_t stage2_violations = 0;

 private:
  uint8_t* ram_ = nullptr;
  uint32_t ram_size_ = 0;
  bool owns_ram_ = true;
  ExternalRam external_;
  ZeroedTable<uint8_t> kind_;  // PageKind; PAGE_UNASSIGNED is 0
  ZeroedTable<uint8_t*> host_;
  ZeroedTable<MmioHandler*> mmio_;
  ZeroedTable<uint64_t> code_lines_;
  ZeroedTable<uint64_t> cpu_lines_;  // track_code_per_cpu: [cpu * PAGE_COUNT + page]
  BigLock* device_lock_ = nullptr;
  std::atomic_ref<uint64_t> lines_ref(uint32_t page) const {
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(code_lines_[page]));
  }
  uint32_t mmio_read_locked(uint32_t addr, unsigned size);
  void mmio_write_locked(uint32_t addr, unsigned size, uint32_t value);
  // Partitions only: S2_READONLY (a read-only stage-2 page, kind PAGE_ROM), S2_NOEXEC.
  enum : uint8_t { S2_READONLY = 1, S2_NOEXEC = 2 };
  ZeroedTable<uint8_t> stage2_bits_;
  std::vector<std::unique_ptr<uint8_t[]>> rom_storage_;
  std::vector<uint32_t> rom_bytes_;  // size of each rom_storage_ allocation
  uint8_t* low_rom_[256] = {};  // ROM host pages below 1 MiB, for set_shadow
};

}  // namespace softcpu
