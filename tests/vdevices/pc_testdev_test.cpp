#include "vdevices/pc_testdev.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace softcpu {
namespace {

struct Lines : IrqSink {
  std::map<unsigned, bool> level;
  unsigned calls = 0;
  void set_irq(unsigned line, bool l) override {
    level[line] = l;
    ++calls;
  }
};

struct TestdevTest : ::testing::Test {
  Lines isa, ioapic;
  std::vector<uint32_t> flushed;
  PcTestdev dev{&isa, &ioapic, [this](uint32_t page) { flushed.push_back(page); }};
};

TEST_F(TestdevTest, LatchEchoesEveryWidth) {
  dev.io_write(0xE0, 4, 0x12345678);
  EXPECT_EQ(dev.io_read(0xE0, 4), 0x12345678u);
  EXPECT_EQ(dev.io_read(0xE0, 1), 0x78u);
  EXPECT_EQ(dev.io_read(0xE1, 1), 0x56u);
  EXPECT_EQ(dev.io_read(0xE2, 2), 0x1234u);
  EXPECT_EQ(dev.io_read(0xE3, 1), 0x12u);
  dev.io_write(0xE2, 2, 0xBEEF);  // bytes 2 and 3 only
  EXPECT_EQ(dev.io_read(0xE0, 4), 0xBEEF5678u);
  dev.io_write(0xE1, 1, 0xEF);
  dev.io_write(0xE3, 1, 0xAA);
  EXPECT_EQ(dev.io_read(0xE0, 4), 0xAAEFEF78u);
  // Unaligned accesses are invalid in QEMU: reads give 0, writes are dropped.
  EXPECT_EQ(dev.io_read(0xE1, 2), 0u);
  EXPECT_EQ(dev.io_read(0xE2, 4), 0u);
  dev.io_write(0xE1, 2, 0x1111);
  dev.io_write(0xE3, 4, 0x11111111);
  EXPECT_EQ(dev.io_read(0xE0, 4), 0xAAEFEF78u);
  dev.io_write(0xE3, 1, 0xAA);
  dev.io_write(0xE2, 1, 0xBE);
  EXPECT_EQ(dev.io_read(0xE0, 4), 0xAABEEF78u);
  // 0xE8-0xEB: the same latch, byte by byte.
  EXPECT_EQ(dev.io_read(0xE8, 4), 0xAABEEF78u);
  dev.io_write(0xE8, 4, 0x01020304);
  EXPECT_EQ(dev.io_read(0xE0, 4), 0x01020304u);
  EXPECT_EQ(dev.io_read(0xEA, 2), 0x0102u);
  EXPECT_TRUE(flushed.empty());
}

TEST_F(TestdevTest, FlushPortTakesDwordWritesOnly) {
  dev.io_write(0xE4, 4, 0x00123456);
  ASSERT_EQ(flushed.size(), 1u);
  EXPECT_EQ(flushed[0], 0x00123000u);  // the page holding the address
  dev.io_write(0xE4, 2, 0x5000);
  dev.io_write(0xE5, 1, 0x50);
  EXPECT_EQ(flushed.size(), 1u);
  EXPECT_EQ(dev.io_read(0xE4, 4), 0u);
  EXPECT_EQ(dev.io_read(0xE0, 4), 0u);  // the latch is apart
}

TEST_F(TestdevTest, IrqPortsDriveIsaAndIoapicLines) {
  dev.io_write(0x2000 + 14, 1, 1);
  EXPECT_TRUE(isa.level[14]);
  EXPECT_TRUE(dev.line(14));
  dev.io_write(0x2000 + 14, 1, 0);
  EXPECT_FALSE(isa.level[14]);
  dev.io_write(0x2000 + 0, 1, 0x80);  // any non-zero value raises
  EXPECT_TRUE(isa.level[0]);
  dev.io_write(0x2000 + 17, 1, 1);     // 16-23: straight to the IOAPIC pin
  EXPECT_TRUE(ioapic.level[17]);
  EXPECT_EQ(isa.level.count(17), 0u);
  dev.io_write(0x2000 + 5, 2, 1);      // byte writes only, as QEMU's
  dev.io_write(0x2000 + 5, 4, 1);
  EXPECT_EQ(isa.level.count(5), 0u);
  const unsigned calls = isa.calls;
  dev.io_write(0x2000 + 0, 1, 1);      // no change, no call
  EXPECT_EQ(isa.calls, calls);
  EXPECT_EQ(dev.io_read(0x2000, 1), 0u);
  // Reset lowers what the device raised.
  dev.reset();
  EXPECT_FALSE(isa.level[0]);
  EXPECT_FALSE(ioapic.level[17]);
}

TEST_F(TestdevTest, IomemIsPlainMemory) {
  const uint32_t base = PcTestdev::IOMEM_BASE;
  EXPECT_EQ(dev.mmio_read(base, 4), 0u);
  dev.mmio_write(base + 0x10, 4, 0xCAFEF00D);
  EXPECT_EQ(dev.mmio_read(base + 0x10, 4), 0xCAFEF00Du);
  EXPECT_EQ(dev.mmio_read(base + 0x11, 2), 0xFEF0u);
  dev.mmio_write(base + 0x12, 1, 0x55);
  EXPECT_EQ(dev.mmio_read(base + 0x10, 4), 0xCA55F00Du);
  dev.mmio_write(base + 0xFFFF, 1, 0x99);  // the last byte
  EXPECT_EQ(dev.mmio_read(base + 0xFFFF, 1), 0x99u);
  dev.mmio_write(base + 0xFFFE, 4, 0x11223344);  // runs off the end: the rest is dropped
  EXPECT_EQ(dev.mmio_read(base + 0xFFFE, 4), 0x3344u);
  dev.reset();
  EXPECT_EQ(dev.mmio_read(base + 0x10, 4), 0u);
}

TEST(Testdev, UnconnectedIsSafe) {
  PcTestdev dev(nullptr, nullptr, nullptr);
  dev.io_write(0x2003, 1, 1);
  dev.io_write(0x2013, 1, 1);
  dev.io_write(0xE4, 4, 0x1000);
  dev.reset();
  EXPECT_FALSE(dev.line(3));
}

}  // namespace
}  // namespace softcpu
