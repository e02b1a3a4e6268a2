// Machine snapshots (docs/snapshot.md): the file format and the parts of the machine that are
// not devices (CPU, RAM). A snapshot is a list of tagged sections; Machine::save_snapshot and
// Machine::load_snapshot (monitor/machine_snapshot.cpp) fill and apply them, PcPlatform adds
// one section per device.
//
// File: magic "SCPUSNAP", u32 format version, u32 section count, then per section a u8 tag
// length, the tag, a u64 payload length and the payload, then a CRC-32 (IEEE 802.3) of all
// the bytes before it. Integers are little-endian. A reader refuses a version outside [OLDEST_READ, VERSION], a bad
// magic, a short or long file and a checksum mismatch before it looks at any section.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hostio/state_stream.h"

namespace softcpu {

struct Cpu;
class PhysicalMemory;

struct SnapshotError {
  std::string message;
};

// CRC-32 as in zlib/PNG/Ethernet (reflected polynomial 0xEDB88320); `crc` continues one.
uint32_t crc32(const uint8_t* data, size_t len, uint32_t crc = 0);

class Snapshot {
 public:
  static constexpr char MAGIC[9] = "SCPUSNAP";
  // Bump whenever any section's layout changes (device state is saved in this build's layout),
  // or what a value in it may mean: 2 added the lazy-flag kinds LZ_SHL/LZ_SHR/LZ_SAR, which a
  // version-1 reader would take for garbage. OLDEST_READ is the oldest version this build
  // reads (version 1 has version 2's layout and none of the new kinds).
  static constexpr uint32_t VERSION = 2;
  static constexpr uint32_t OLDEST_READ = 1;

  struct Section {
    std::string tag;
    std::vector<uint8_t> data;
  };

  void add(std::string tag, std::vector<uint8_t> data);
  // nullptr if absent.
  const Section* find(std::string_view tag) const;
  // The section or a SnapshotError naming it.
  const Section& need(std::string_view tag) const;
  const std::vector<Section>& sections() const { return sections_; }

  std::vector<uint8_t> encode() const;
  // Throws SnapshotError (magic, version, length, checksum) naming what is wrong.
  static Snapshot decode(const uint8_t* data, size_t len);

  // Written to `path`.tmp, then renamed over `path`: a failed save leaves no half file.
  // Returns the file size. Throws SnapshotError.
  uint64_t write_file(const std::string& path) const;
  static Snapshot read_file(const std::string& path);

 private:
  std::vector<Section> sections_;
};

// The CPU's architectural state: registers, segment caches, lazy flags as they are, control
// and debug registers, TSC, instruction count, x87, MSRs, interrupt pins, NMI and shadow state,
// halted. Not the soft TLB, decoded blocks, debugger points or host pointers: the loader
// flushes the TLB and the code caches.
void save_cpu(const Cpu& c, StateWriter& w);
void load_cpu(Cpu& c, StateReader& r);

// RAM as (page number, 4 KiB) records of the pages that are not all zero; loading zeroes the
// rest. `zero_pages` (optional) counts the pages skipped.
void save_ram(PhysicalMemory& m, StateWriter& w, uint64_t* zero_pages = nullptr);
void load_ram(PhysicalMemory& m, StateReader& r);

}  // namespace softcpu
