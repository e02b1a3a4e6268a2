#include <gtest/gtest.h>

#include <vector>

#include "tests/vdevices/test_backend.h"
#include "vdevices/debug_exit.h"
#include "vdevices/debugcon.h"
#include "vdevices/unassigned.h"

namespace softcpu {
namespace {

TEST(Debugcon, WritesBytesToBackend) {
  test::RecordingBackend backend;
  Debugcon con(0xE9, backend);
  for (char c : std::string("ok\n")) con.io_write(0xE9, 1, static_cast<uint8_t>(c));
  con.io_write(0xE9, 4, 0x12345621);  // wider write: the low byte
  EXPECT_EQ(backend.out, (std::vector<uint8_t>{'o', 'k', '\n', '!'}));
  EXPECT_EQ(con.bytes_written(), 4u);
}

TEST(Debugcon, ReadsReturnE9) {
  test::RecordingBackend backend;
  Debugcon con(0x402, backend);
  EXPECT_EQ(con.io_read(0x402, 1), 0xE9u);
  EXPECT_EQ(con.io_read(0x402, 2), 0xFFE9u);
  EXPECT_EQ(con.io_read(0x402, 4), 0xFFFFFFE9u);
  EXPECT_TRUE(backend.out.empty());
}

TEST(DebugExit, StatusValues) {
  std::vector<int> statuses;
  DebugExit dev(0xF4, 4, [&](int s) { statuses.push_back(s); });
  dev.io_write(0xF4, 1, 0);
  dev.io_write(0xF4, 1, 0x10);
  dev.io_write(0xF4, 4, 0x7F);
  dev.io_write(0xF4, 1, 0x1FF);  // a byte access sees only 0xFF
  dev.io_write(0xF4, 2, 0x1234);
  EXPECT_EQ(statuses, (std::vector<int>{1, 0x21, 0xFF, 0x1FF, 0x2469}));
  EXPECT_EQ(DebugExit::status_for(0), 1);
  EXPECT_EQ(DebugExit::status_for(0x10), 0x21);
}

TEST(DebugExit, ReadsAllOnesAndClampsSize) {
  DebugExit dev(0xF4, 9, nullptr);
  EXPECT_EQ(dev.iosize(), 4u);
  EXPECT_EQ(dev.io_read(0xF4, 1), 0xFFu);
  EXPECT_EQ(dev.io_read(0xF4, 2), 0xFFFFu);
  EXPECT_EQ(dev.io_read(0xF4, 4), 0xFFFFFFFFu);
  dev.io_write(0xF4, 1, 3);  // no callback: nothing happens
  EXPECT_EQ(DebugExit(0x501, 0, nullptr).iosize(), 1u);
  DebugExit pc_default([](int) {});
  EXPECT_EQ(pc_default.port(), 0xF4);
  EXPECT_EQ(pc_default.iosize(), 4u);
}

TEST(Unassigned, ReadsOnesAndCounts) {
  UnassignedPorts dev;
  EXPECT_EQ(dev.io_read(0x80, 1), 0xFFu);
  EXPECT_EQ(dev.io_read(0x80, 2), 0xFFFFu);
  EXPECT_EQ(dev.io_read(0x1234, 4), 0xFFFFFFFFu);
  dev.io_write(0x80, 1, 0x55);
  dev.io_write(0xCF8, 4, 0x80000000);
  dev.reset();  // counts describe the whole run
  ASSERT_EQ(dev.accesses().size(), 3u);
  EXPECT_EQ(dev.accesses().at(0x80).reads, 2u);
  EXPECT_EQ(dev.accesses().at(0x80).writes, 1u);
  EXPECT_EQ(dev.accesses().at(0x1234).reads, 1u);
  EXPECT_EQ(dev.accesses().at(0xCF8).writes, 1u);
  EXPECT_EQ(dev.accesses().begin()->first, 0x80);  // port order
  EXPECT_EQ(dev.total_reads(), 3u);
  EXPECT_EQ(dev.total_writes(), 2u);
  EXPECT_EQ(dev.total(), 5u);
  dev.clear_counts();
  EXPECT_TRUE(dev.accesses().empty());
}

}  // namespace
}  // namespace softcpu
