#include "monitor/snapshot.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "interp/cpu.h"
#include "interp/memory.h"

namespace softcpu {

namespace {

// Slicing by 8 (eight tables, eight bytes a step): a 40 MB snapshot is checked in a few tens
// of milliseconds instead of a few hundred with the one-table loop.
struct CrcTable {
  uint32_t t[8][256];
  CrcTable() {
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][n] = c;
    }
    for (int k = 1; k < 8; ++k)
      for (uint32_t n = 0; n < 256; ++n) t[k][n] = (t[k - 1][n] >> 8) ^ t[0][t[k - 1][n] & 0xFF];
  }
};

// Appends at `at` into a buffer sized in advance (vector::insert of a few bytes trips GCC 12's
// -Wstringop-overflow false positive).
template <typename T>
void put_le(uint8_t* out, size_t& at, T v) {
  for (size_t i = 0; i < sizeof v; ++i) out[at++] = uint8_t(uint64_t(v) >> (8 * i));
}

void put_bytes(uint8_t* out, size_t& at, const void* data, size_t len) {
  if (len) std::memcpy(out + at, data, len);
  at += len;
}

template <typename T>
T get_le(const uint8_t* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(p[i]) << (8 * i);
  return T(v);
}

constexpr size_t kMagicLen = 8;
constexpr size_t kHeaderLen = kMagicLen + 4 + 4;

}  // namespace

uint32_t crc32(const uint8_t* data, size_t len, uint32_t crc) {
  static const CrcTable table;
  const auto& t = table.t;
  crc = ~crc;
  for (; len >= 8; len -= 8, data += 8) {
    const uint32_t one = get_le<uint32_t>(data) ^ crc, two = get_le<uint32_t>(data + 4);
    crc = t[7][one & 0xFF] ^ t[6][(one >> 8) & 0xFF] ^ t[5][(one >> 16) & 0xFF] ^
          t[4][one >> 24] ^ t[3][two & 0xFF] ^ t[2][(two >> 8) & 0xFF] ^
          t[1][(two >> 16) & 0xFF] ^ t[0][two >> 24];
  }
  for (; len; --len, ++data) crc = t[0][(crc ^ *data) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void Snapshot::add(std::string tag, std::vector<uint8_t> data) {
  sections_.push_back(Section{std::move(tag), std::move(data)});
}

const Snapshot::Section* Snapshot::find(std::string_view tag) const {
  for (const Section& s : sections_)
    if (s.tag == tag) return &s;
  return nullptr;
}

const Snapshot::Section& Snapshot::need(std::string_view tag) const {
  const Section* s = find(tag);
  if (!s) throw SnapshotError{"the snapshot has no '" + std::string(tag) + "' section"};
  return *s;
}

std::vector<uint8_t> Snapshot::encode() const {
  size_t total = kHeaderLen + 4;
  for (const Section& s : sections_) total += 1 + s.tag.size() + 8 + s.data.size();
  std::vector<uint8_t> out(total);
  uint8_t* p = out.data();
  size_t at = 0;
  put_bytes(p, at, MAGIC, kMagicLen);
  put_le(p, at, VERSION);
  put_le(p, at, uint32_t(sections_.size()));
  for (const Section& s : sections_) {
    put_le(p, at, uint8_t(s.tag.size()));
    put_bytes(p, at, s.tag.data(), s.tag.size());
    put_le(p, at, uint64_t(s.data.size()));
    put_bytes(p, at, s.data.data(), s.data.size());
  }
  put_le(p, at, crc32(p, at));
  return out;
}

Snapshot Snapshot::decode(const uint8_t* data, size_t len) {
  if (len < kMagicLen || std::memcmp(data, MAGIC, kMagicLen) != 0)
    throw SnapshotError{"not a softcpu snapshot (bad magic)"};
  if (len < kHeaderLen + 4) throw SnapshotError{"the snapshot file is truncated"};
  const uint32_t version = get_le<uint32_t>(data + kMagicLen);
  if (version < OLDEST_READ || version > VERSION)
    throw SnapshotError{"the snapshot is format version " + std::to_string(version) +
                        "; this softcpu reads versions " + std::to_string(OLDEST_READ) + " to " +
                        std::to_string(VERSION)};
  const uint32_t stored = get_le<uint32_t>(data + len - 4);
  if (crc32(data, len - 4) != stored)
    throw SnapshotError{"the snapshot file is damaged or truncated (checksum mismatch)"};
  Snapshot snap;
  const uint32_t count = get_le<uint32_t>(data + kMagicLen + 4);
  size_t at = kHeaderLen;
  const size_t end = len - 4;
  for (uint32_t i = 0; i < count; ++i) {
    if (at + 1 > end) throw SnapshotError{"the snapshot's section list is truncated"};
    const size_t tag_len = data[at++];
    if (at + tag_len + 8 > end) throw SnapshotError{"the snapshot's section list is truncated"};
    std::string tag(reinterpret_cast<const char*>(data + at), tag_len);
    at += tag_len;
    const uint64_t n = get_le<uint64_t>(data + at);
    at += 8;
    if (n > end - at) throw SnapshotError{"the snapshot's section '" + tag + "' is truncated"};
    snap.add(std::move(tag), std::vector<uint8_t>(data + at, data + at + n));
    at += n;
  }
  if (at != end) throw SnapshotError{"the snapshot file has bytes after its last section"};
  return snap;
}

uint64_t Snapshot::write_file(const std::string& path) const {
  const std::vector<uint8_t> bytes = encode();
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw SnapshotError{"cannot write snapshot '" + tmp + "': " + std::strerror(errno)};
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const int err = errno;
  if (std::fclose(f) != 0 || !ok) {
    std::remove(tmp.c_str());
    throw SnapshotError{"cannot write snapshot '" + tmp + "': " + std::strerror(ok ? errno : err)};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw SnapshotError{"cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(e)};
  }
  return bytes.size();
}

Snapshot Snapshot::read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw SnapshotError{"cannot open snapshot '" + path + "': " + std::strerror(errno)};
  std::vector<uint8_t> bytes;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    const long size = std::ftell(f);
    if (size > 0) bytes.reserve(size_t(size));
    std::rewind(f);
  }
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
  const bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) throw SnapshotError{"cannot read snapshot '" + path + "'"};
  try {
    return decode(bytes.data(), bytes.size());
  } catch (const SnapshotError& e) {
    throw SnapshotError{"'" + path + "': " + e.message};
  }
}

// ---- CPU ----------------------------------------------------------------------------------

namespace {

template <typename A, typename C>
void visit_cpu(A& a, C& c) {
  a(c.regs, c.eip, c.eflags, c.lz_src1, c.lz_src2, c.lz_res, c.lz_kind, c.lz_size, c.lz_cf_in,
    c.cpl, c.a20_enabled, c.halted, c.seg, c.ldtr, c.tr, c.gdtr, c.idtr, c.cr0, c.cr2, c.cr3,
    c.cr4, c.dr, c.tsc, c.icount, c.mode_key, c.fpu, c.msr, c.intr, c.nmi_pending,
    c.nmi_blocked, c.shadow, c.ferr, c.cpuid_apic, c.db_trap);
}

}  // namespace

void save_cpu(const Cpu& c, StateWriter& w) { visit_cpu(w, c); }

void load_cpu(Cpu& c, StateReader& r) {
  visit_cpu(r, c);
  // The lazy-flag switch (interp/flags.h) has a case for each kind and no other: a value past
  // them (a file from a newer build, or made by hand with a fresh checksum) is refused here.
  if (c.lz_kind > LZ_SAR)
    throw StateError{"the CPU state has an unknown lazy-flag kind " + std::to_string(c.lz_kind)};
  c.regs[REG_NONE] = 0;
  c.stop = 0;
  c.exit_reason = EXIT_NONE;
  c.trap_insn = nullptr;
  c.native_link = nullptr;
  std::memset(static_cast<void*>(c.native_jumps), 0, sizeof c.native_jumps);
  c.jit_fault_vector = 0;
  c.jit_fault_has_error = 0;
  c.jit_fault_error = 0;
  c.debug_pending = DebugHit{};
  c.debug_hit = DebugHit{};
  c.int_delivered = 0;
  // The run loop recomputes what is pending at the next boundary.
  c.events = 1;
}

// ---- RAM ----------------------------------------------------------------------------------

void save_ram(PhysicalMemory& m, StateWriter& w, uint64_t* zero_pages) {
  const uint8_t* ram = m.ram();
  const uint32_t size = m.ram_size();
  w(size);
  static const uint8_t zeros[PAGE_SIZE] = {};
  uint64_t skipped = 0;
  for (uint32_t page = 0; page < size / PAGE_SIZE; ++page) {
    const uint8_t* p = ram + uint64_t(page) * PAGE_SIZE;
    if (std::memcmp(p, zeros, PAGE_SIZE) == 0) {
      ++skipped;
      continue;
    }
    w(page);
    w.raw(p, PAGE_SIZE);
  }
  if (zero_pages) *zero_pages = skipped;
}

void load_ram(PhysicalMemory& m, StateReader& r) {
  uint32_t size = 0;
  r(size);
  if (size != m.ram_size())
    throw StateError{"the snapshot has " + std::to_string(size >> 20) + " MiB of RAM, this "
                     "machine " + std::to_string(m.ram_size() >> 20) + " MiB"};
  // Validate the records before the RAM changes.
  StateReader check = r;
  uint32_t last = 0;
  while (check.remaining()) {
    uint32_t page = 0;
    check(page);
    if (page >= size / PAGE_SIZE) throw StateError{"the snapshot's RAM has a bad page number"};
    if (page < last) throw StateError{"the snapshot's RAM pages are out of order"};
    last = page + 1;
    check.skip(PAGE_SIZE);
  }
  // Pages not in the snapshot become zero. Guest RAM is a private anonymous mapping (interp/
  // memory.cpp, monitor/hv/machine_memory.cpp), so MADV_DONTNEED makes a run of pages read as
  // zeros without touching them: no page fault per page, and memory the guest used goes back
  // to the host. Elsewhere (another host page size) a page is compared, then cleared if needed.
  static const uint8_t zeros[PAGE_SIZE] = {};
  static const bool can_drop = sysconf(_SC_PAGESIZE) == long(PAGE_SIZE);
  uint32_t next = 0;
  auto zero_up_to = [&](uint32_t end) {
    if (next >= end) return;
    uint8_t* first = m.ram() + uint64_t(next) * PAGE_SIZE;
    if (can_drop && madvise(first, uint64_t(end - next) * PAGE_SIZE, MADV_DONTNEED) == 0) {
      next = end;
      return;
    }
    for (; next < end; ++next) {
      uint8_t* p = m.ram() + uint64_t(next) * PAGE_SIZE;
      if (std::memcmp(p, zeros, PAGE_SIZE) != 0) std::memset(p, 0, PAGE_SIZE);
    }
  };
  while (r.remaining()) {
    uint32_t page = 0;
    r(page);
    if (page < next) throw StateError{"the snapshot's RAM pages are out of order"};
    zero_up_to(page);
    r.raw(m.ram() + uint64_t(page) * PAGE_SIZE, PAGE_SIZE);
    next = page + 1;
  }
  zero_up_to(size / PAGE_SIZE);
}

}  // namespace softcpu
