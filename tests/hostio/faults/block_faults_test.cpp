// BlockBackend under injected host I/O faults: the real backend, real libuv and a real file,
// with fault_shim.so preloaded (ctest sets LD_PRELOAD, SOFTCPU_FAULT_FILE and SOFTCPU_FAULTS; the
// shim reads its rules once at load, so each case has its own byte offset in one rule list,
// see CMakeLists.txt). Checks: the failing request completes
// with the error, nothing else is touched, the backend keeps working, stderr gets one line per
// kind of failure plus one summary, and a failed fsync makes every later flush fail.
#include <gtest/gtest.h>
#include <unistd.h>
#include <uv.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "hostio/block_backend.h"
#include "hostio/cpu_mailbox.h"
#include "hostio/event_loop.h"

namespace softcpu {
namespace {

// The rule offsets (CMakeLists.txt passes the same list in SOFTCPU_FAULTS):
constexpr uint64_t WRITE_EIO_AT = 1 * 65536;      // write:EIO:at=65536
constexpr uint64_t WRITE_ENOSPC_AT = 2 * 65536;   // write:ENOSPC:at=131072
constexpr uint64_t WRITE_SHORT_AT = 3 * 65536;    // write:short:at=196608:times=3
constexpr uint64_t WRITE_ZERO_AT = 4 * 65536;     // write:zero:at=262144
constexpr uint64_t READ_EIO_AT = 5 * 65536;       // read:EIO:at=327680:times=2
constexpr uint64_t READ_SHORT_AT = 6 * 65536;     // read:short:at=393216:times=3
constexpr uint64_t WRITE_FLOOD_AT = 7 * 65536;    // write:EIO:at=458752:times=0
constexpr size_t IMAGE_SIZE = 8 * 65536 + 65536;  // fsync:EIO:after=1 (the 2nd fsync fails)

std::vector<uint8_t> pattern(size_t len, uint8_t seed) {
  std::vector<uint8_t> v(len);
  for (size_t i = 0; i < len; ++i) v[i] = static_cast<uint8_t>(seed + i * 13 + (i >> 8));
  return v;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class BlockFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* file = std::getenv("SOFTCPU_FAULT_FILE");
    ASSERT_TRUE(file && std::getenv("LD_PRELOAD")) << "run through ctest (fault_shim.so)";
    path_ = file;
    original_ = pattern(IMAGE_SIZE, 5);
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(original_.data()), original_.size());
  }

  std::unique_ptr<BlockBackend> open() {
    std::string error;
    auto b = BlockBackend::open(path_, {}, loop_, mailbox_, &error);
    EXPECT_TRUE(b) << error;
    return b;
  }

  EventLoop loop_;
  CpuMailbox mailbox_;
  std::string path_;
  std::vector<uint8_t> original_;
};

// One test: the rules fire a set number of times per process, so the cases run in order.
TEST_F(BlockFaults, EachFaultFailsItsRequestOnly) {
  testing::internal::CaptureStderr();
  auto b = open();
  ASSERT_TRUE(b);
  auto data = pattern(4096, 77);

  // EIO and ENOSPC on a write: the request fails with that code; the next write there works.
  EXPECT_EQ(b->write_sync(WRITE_EIO_AT, data.size(), data.data()), UV_EIO);
  EXPECT_EQ(b->write_sync(WRITE_ENOSPC_AT, data.size(), data.data()), UV_ENOSPC);
  EXPECT_EQ(b->write_sync(WRITE_ENOSPC_AT, data.size(), data.data()), 0);
  // Short writes (three in a row) are continued until every byte is written.
  EXPECT_EQ(b->write_sync(WRITE_SHORT_AT, data.size(), data.data()), 0);
  // A write that returns 0 bytes fails with EIO instead of spinning.
  EXPECT_EQ(b->write_sync(WRITE_ZERO_AT, data.size(), data.data()), UV_EIO);
  // Reads: EIO fails the request (twice), short reads are continued.
  std::vector<uint8_t> buf(4096);
  EXPECT_EQ(b->read_sync(READ_EIO_AT, buf.size(), buf.data()), UV_EIO);
  EXPECT_EQ(b->read_sync(READ_EIO_AT, buf.size(), buf.data()), UV_EIO);
  EXPECT_EQ(b->read_sync(READ_EIO_AT, buf.size(), buf.data()), 0);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), original_.begin() + READ_EIO_AT));
  EXPECT_EQ(b->read_sync(READ_SHORT_AT, buf.size(), buf.data()), 0);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), original_.begin() + READ_SHORT_AT));
  // A guest retrying a failing write forever: each fails, stderr does not grow.
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(b->write_sync(WRITE_FLOOD_AT, data.size(), data.data()), UV_EIO);

  // Flushes: the first succeeds; the second fsync fails; every later flush fails as well
  // (the kernel may have dropped the pages that fsync covered).
  EXPECT_EQ(b->flush_sync(), 0);
  EXPECT_EQ(b->flush_sync(), UV_EIO);
  EXPECT_EQ(b->flush_sync(), UV_EIO);
  EXPECT_EQ(b->flush_sync(), UV_EIO);
  // Writes still work after a failed flush (only the durability claim is withdrawn).
  EXPECT_EQ(b->write_sync(0, data.size(), data.data()), 0);
  EXPECT_EQ(b->io_errors(), 1u + 1 + 1 + 2 + 50 + 3);
  b.reset();
  std::string err = testing::internal::GetCapturedStderr();

  // write, read, flush, the final fsync's warning and the summary at close
  EXPECT_EQ(count(err, "\n"), 5u) << err;
  EXPECT_EQ(count(err, "the final fsync failed"), 1u) << err;
  EXPECT_EQ(count(err, "write of 4096 bytes at offset 65536 failed: i/o error"), 1u) << err;
  EXPECT_EQ(count(err, "read of 4096 bytes at offset 327680 failed"), 1u) << err;
  EXPECT_EQ(count(err, "flush (fsync) failed"), 1u) << err;
  EXPECT_EQ(count(err, "58 host I/O errors in all (2 read, 53 write, 3 flush)"), 1u) << err;

  // The file: failed writes left their ranges untouched; the others landed.
  auto file = slurp(path_);
  ASSERT_EQ(file.size(), IMAGE_SIZE);
  auto same = [&](uint64_t at, const std::vector<uint8_t>& want, const uint8_t* want_at) {
    return std::equal(file.begin() + at, file.begin() + at + want.size(), want_at);
  };
  EXPECT_TRUE(same(WRITE_EIO_AT, data, original_.data() + WRITE_EIO_AT));
  EXPECT_TRUE(same(WRITE_ENOSPC_AT, data, data.data()));
  EXPECT_TRUE(same(WRITE_SHORT_AT, data, data.data()));
  EXPECT_TRUE(same(WRITE_FLOOD_AT, data, original_.data() + WRITE_FLOOD_AT));
  EXPECT_TRUE(same(0, data, data.data()));
}

}  // namespace
}  // namespace softcpu
