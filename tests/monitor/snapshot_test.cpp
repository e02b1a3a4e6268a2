// The snapshot file format (monitor/snapshot.h): CRC-32, sections, refusals, RAM with zero
// pages skipped.
#include "monitor/snapshot.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "interp/cpu.h"
#include "interp/memory.h"

namespace softcpu {
namespace {

TEST(Snapshot, Crc32KnownValues) {
  const std::string check = "123456789";  // the standard check value of CRC-32/ISO-HDLC
  EXPECT_EQ(crc32(reinterpret_cast<const uint8_t*>(check.data()), check.size()), 0xCBF43926u);
  EXPECT_EQ(crc32(nullptr, 0), 0u);
  // Any split gives the same result as one call (the 8-byte loop and the byte tail agree).
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7 + (i >> 3));
  const uint32_t whole = crc32(data.data(), data.size());
  for (size_t cut : {1u, 3u, 8u, 13u, 500u, 999u})
    EXPECT_EQ(crc32(data.data() + cut, data.size() - cut, crc32(data.data(), cut)), whole) << cut;
}

Snapshot sample() {
  Snapshot s;
  s.add("machine", {'R', 'A', 'M'});
  s.add("empty", {});
  s.add("dev.x", std::vector<uint8_t>(300, 0xA5));
  return s;
}

TEST(Snapshot, EncodeDecodeRoundTrip) {
  const std::vector<uint8_t> bytes = sample().encode();
  const Snapshot back = Snapshot::decode(bytes.data(), bytes.size());
  ASSERT_EQ(back.sections().size(), 3u);
  EXPECT_EQ(back.need("dev.x").data, std::vector<uint8_t>(300, 0xA5));
  EXPECT_TRUE(back.need("empty").data.empty());
  EXPECT_EQ(back.find("nope"), nullptr);
  EXPECT_THROW(back.need("nope"), SnapshotError);
}

// Every truncation and every single-byte change is refused with a SnapshotError, never a
// crash or a silent success.
TEST(Snapshot, DamageIsRefused) {
  const std::vector<uint8_t> bytes = sample().encode();
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(Snapshot::decode(bytes.data(), n), SnapshotError) << n;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> bad = bytes;
    bad[i] ^= 0x10;
    EXPECT_THROW(Snapshot::decode(bad.data(), bad.size()), SnapshotError) << i;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_THROW(Snapshot::decode(longer.data(), longer.size()), SnapshotError);
}

TEST(Snapshot, OtherVersionNamed) {
  std::vector<uint8_t> bytes = sample().encode();
  bytes[8] = 7;  // version 7, checksum left wrong: the version is reported first
  try {
    Snapshot::decode(bytes.data(), bytes.size());
    FAIL() << "accepted";
  } catch (const SnapshotError& e) {
    EXPECT_NE(e.message.find("format version 7"), std::string::npos) << e.message;
  }
}

// Version 1 (before the lazy shift kinds) has this version's layout and is read; the version
// written is the current one.
TEST(Snapshot, VersionOneIsRead) {
  std::vector<uint8_t> bytes = sample().encode();
  EXPECT_EQ(bytes[8], Snapshot::VERSION);
  bytes[8] = 1;
  const size_t body = bytes.size() - 4;
  const uint32_t crc = crc32(bytes.data(), body);
  std::memcpy(bytes.data() + body, &crc, 4);  // little-endian host, as the format
  const Snapshot back = Snapshot::decode(bytes.data(), bytes.size());
  EXPECT_EQ(back.sections().size(), 3u);
}

// A lazy-flag kind this build does not know (a newer build's, or a hand-made file with a fresh
// checksum) is refused by name instead of reaching the flag code's switch.
TEST(Snapshot, UnknownLazyKindIsRefused) {
  auto a = std::make_unique<Cpu>();
  a->lz_kind = LZ_SAR;
  StateWriter w;
  save_cpu(*a, w);
  auto b = std::make_unique<Cpu>();
  StateReader r(w.bytes());
  load_cpu(*b, r);
  EXPECT_EQ(b->lz_kind, LZ_SAR);
  a->lz_kind = LazyKind(LZ_SAR + 1);
  StateWriter w2;
  save_cpu(*a, w2);
  StateReader r2(w2.bytes());
  try {
    load_cpu(*b, r2);
    FAIL() << "accepted";
  } catch (const StateError& e) {
    EXPECT_NE(e.message.find("lazy-flag kind"), std::string::npos) << e.message;
  }
}

TEST(Snapshot, RamSkipsZeroPagesAndRestores) {
  PhysicalMemory a(1 << 20);
  a.ram()[0x1234] = 1;
  a.ram()[0x80FFF] = 2;
  StateWriter w;
  uint64_t zero = 0;
  save_ram(a, w, &zero);
  EXPECT_EQ(zero, 256u - 2);
  EXPECT_EQ(w.bytes().size(), 4 + 2 * (4 + PAGE_SIZE));
  PhysicalMemory b(1 << 20);
  std::memset(b.ram() + 0x50000, 0x77, 100);  // must become zero
  StateReader r(w.bytes());
  load_ram(b, r);
  EXPECT_EQ(std::memcmp(a.ram(), b.ram(), 1 << 20), 0);
  PhysicalMemory c(2 << 20);
  StateReader r2(w.bytes());
  EXPECT_THROW(load_ram(c, r2), StateError);  // another RAM size
}

}  // namespace
}  // namespace softcpu
