#include "hostio/block_backend.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <vector>

#include "hostio/cpu_mailbox.h"
#include "hostio/event_loop.h"

namespace softcpu {
namespace {

std::vector<uint8_t> pattern(size_t len, uint8_t seed) {
  std::vector<uint8_t> v(len);
  for (size_t i = 0; i < len; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
  return v;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class BlockBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/softcpu-blk-XXXXXX";
    int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    path_ = name;
    original_ = pattern(64 * 1024, 3);
    ASSERT_EQ(::write(fd, original_.data(), original_.size()),
              static_cast<ssize_t>(original_.size()));
    ::close(fd);
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::unique_ptr<BlockBackend> open(BlockBackend::Options opt = {}) {
    std::string error;
    auto b = BlockBackend::open(path_, opt, loop_, mailbox_, &error);
    EXPECT_TRUE(b) << error;
    return b;
  }

  EventLoop loop_;
  CpuMailbox mailbox_;
  std::string path_;
  std::vector<uint8_t> original_;
};

TEST_F(BlockBackendTest, SizeAndReadWriteRoundTrip) {
  auto b = open();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), original_.size());
  std::vector<uint8_t> buf(4096);
  ASSERT_EQ(b->read_sync(8192, buf.size(), buf.data()), 0);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), original_.begin() + 8192));

  auto data = pattern(1024, 99);
  ASSERT_EQ(b->write_sync(512, data.size(), data.data()), 0);
  ASSERT_EQ(b->flush_sync(), 0);
  std::vector<uint8_t> back(1024);
  ASSERT_EQ(b->read_sync(512, back.size(), back.data()), 0);
  EXPECT_EQ(back, data);
  b.reset();  // flushes and closes
  auto file = slurp(path_);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), file.begin() + 512));
  EXPECT_EQ(file[0], original_[0]);
}

TEST_F(BlockBackendTest, CompletionsRunOnTheMailboxInIssueOrder) {
  auto b = open();
  std::vector<int> order;
  auto data = pattern(512, 1);
  std::vector<uint8_t> back(512);
  b->write(0, 512, data.data(), [&](int s) { order.push_back(s == 0 ? 1 : -1); });
  b->read(0, 512, back.data(), [&](int s) { order.push_back(s == 0 ? 2 : -2); });
  EXPECT_EQ(b->pending(), 2u);
  EXPECT_TRUE(order.empty());  // nothing runs until the CPU thread drains the mailbox
  while (b->pending()) {
    mailbox_.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
    mailbox_.drain();
  }
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(back, data);  // the read was not reordered before the write
}

TEST_F(BlockBackendTest, ReadPastEndIsZeroFilled) {
  auto b = open();
  std::vector<uint8_t> buf(1024, 0xAA);
  ASSERT_EQ(b->read_sync(original_.size() - 512, buf.size(), buf.data()), 0);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + 512, original_.end() - 512));
  for (size_t i = 512; i < 1024; ++i) ASSERT_EQ(buf[i], 0) << i;
}

TEST_F(BlockBackendTest, SnapshotKeepsFileAndShowsWrites) {
  BlockBackend::Options opt;
  opt.snapshot = true;
  auto b = open(opt);
  auto data = pattern(1536, 42);
  ASSERT_EQ(b->write_sync(1024, data.size(), data.data()), 0);
  ASSERT_EQ(b->flush_sync(), 0);
  std::vector<uint8_t> back(4096);
  ASSERT_EQ(b->read_sync(0, back.size(), back.data()), 0);
  EXPECT_TRUE(std::equal(back.begin(), back.begin() + 1024, original_.begin()));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin() + 1024));
  EXPECT_TRUE(std::equal(back.begin() + 2560, back.end(), original_.begin() + 2560));
  // Unaligned requests cannot be served by a sector overlay.
  EXPECT_EQ(b->write_sync(100, 10, data.data()), UV_EINVAL);
  b.reset();
  EXPECT_EQ(slurp(path_), original_);
}

TEST_F(BlockBackendTest, ReadonlyWritesFail) {
  BlockBackend::Options opt;
  opt.readonly = true;
  auto b = open(opt);
  auto data = pattern(512, 5);
  EXPECT_EQ(b->write_sync(0, 512, data.data()), UV_EROFS);
  EXPECT_EQ(b->flush_sync(), 0);
  b.reset();
  EXPECT_EQ(slurp(path_), original_);
}

TEST_F(BlockBackendTest, MissingFileGivesClearError) {
  std::string error;
  auto b = BlockBackend::open("/tmp/softcpu-no-such-image.img", {}, loop_, mailbox_, &error);
  EXPECT_FALSE(b);
  EXPECT_EQ(error,
            "cannot open disk image '/tmp/softcpu-no-such-image.img': no such file or directory");
  b = BlockBackend::open("/tmp", {}, loop_, mailbox_, &error);
  EXPECT_FALSE(b);
  EXPECT_NE(error.find("directory"), std::string::npos) << error;
}

TEST_F(BlockBackendTest, CompletionsAfterDestructionAreDropped) {
  auto b = open();
  std::vector<uint8_t> buf(512);
  bool ran = false;
  b->read(0, 512, buf.data(), [&](int) { ran = true; });
  b.reset();  // waits for the read, but its completion must not run any more
  mailbox_.drain();
  EXPECT_FALSE(ran);
}

// Image locking (block_backend.h): OFD locks conflict between open file descriptions, so two
// backends in one process behave like two processes.
TEST_F(BlockBackendTest, SecondWriterIsRefusedNamingTheImageAndTheUser) {
  auto first = open();
  ASSERT_TRUE(first);
  std::string error;
  EXPECT_FALSE(BlockBackend::open(path_, {}, loop_, mailbox_, &error));
  EXPECT_NE(error.find("cannot open disk image '" + path_ + "': it is in use by pid " +
                       std::to_string(getpid())),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("[this process]"), std::string::npos) << error;
  EXPECT_NE(error.find("readonly=on or snapshot=on"), std::string::npos) << error;
  // Nor may a reader share an image being written.
  BlockBackend::Options ro;
  ro.readonly = true;
  EXPECT_FALSE(BlockBackend::open(path_, ro, loop_, mailbox_, &error));
  EXPECT_NE(error.find("it is open read-write by pid"), std::string::npos) << error;
  BlockBackend::Options snap;
  snap.snapshot = true;
  EXPECT_FALSE(BlockBackend::open(path_, snap, loop_, mailbox_, &error));
  first.reset();  // the lock goes with the file
  EXPECT_TRUE(open());
}

TEST_F(BlockBackendTest, ReadersShareAndKeepWritersOut) {
  BlockBackend::Options ro, snap;
  ro.readonly = true;
  snap.snapshot = true;
  auto a = open(ro);
  auto b = open(snap);
  auto c = open(ro);
  ASSERT_TRUE(a && b && c);
  std::string error;
  EXPECT_FALSE(BlockBackend::open(path_, {}, loop_, mailbox_, &error));
  EXPECT_NE(error.find("it is in use by pid"), std::string::npos) << error;
  a.reset();
  b.reset();
  c.reset();
  EXPECT_TRUE(open());
}

// --deterministic (monitor/replay.h): a request is done when read()/write() returns, and its
// completion goes to the deferrer instead of the mailbox; blocking requests are not deferred.
TEST_F(BlockBackendTest, DeferrerGetsTheCompletionOfARequestAlreadyDone) {
  auto b = open();
  ASSERT_TRUE(b);
  std::vector<std::function<void()>> deferred;
  b->set_deferrer([&](std::function<void()> done) { deferred.push_back(std::move(done)); });
  std::vector<uint8_t> buf(4096, 0);
  int status = 1;
  b->read(8192, buf.size(), buf.data(), [&](int s) { status = s; });
  EXPECT_EQ(std::vector<uint8_t>(original_.begin() + 8192, original_.begin() + 8192 + 4096), buf);
  EXPECT_EQ(status, 1);  // not completed yet
  ASSERT_EQ(deferred.size(), 1u);
  mailbox_.drain();
  EXPECT_EQ(status, 1);  // nothing through the mailbox
  deferred[0]();
  EXPECT_EQ(status, 0);
  const std::vector<uint8_t> data = pattern(512, 99);
  EXPECT_EQ(b->write_sync(0, data.size(), data.data()), 0);  // blocking: not deferred
  EXPECT_EQ(deferred.size(), 1u);
}

}  // namespace
}  // namespace softcpu
