#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "hostio/block_backend.h"
#include "hostio/cpu_mailbox.h"
#include "hostio/event_loop.h"
#include "hostio/state_stream.h"
#include "vdevices/ata_disk.h"
#include "vdevices/ide_controller.h"

namespace softcpu {
namespace {

constexpr uint16_t BASE = 0x1F0, CTRL = 0x3F6;
enum : uint8_t { DATA = 0, ERR = 1, NSECT = 2, LBAL = 3, LBAM = 4, LBAH = 5, DEV = 6, CMD = 7 };

// The byte at `offset` of a sector of the test image: depends on the LBA, so a read of the
// wrong sector shows.
uint8_t image_byte(uint64_t lba, unsigned offset) {
  return static_cast<uint8_t>(lba * 31 + offset * 7 + (offset >> 8));
}

// Counts rising edges of each line, as an edge-triggered PIC would.
struct EdgeCounter : IrqSink {
  bool level[16] = {};
  int edges[16] = {};
  void set_irq(unsigned line, bool l) override {
    if (l && !level[line]) ++edges[line];
    level[line] = l;
  }
};

class IdeTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ide_.reset();
    disk_.reset();
    backend_.reset();
    if (!path_.empty()) std::remove(path_.c_str());
  }

  // A temporary image of `sectors` sectors; only the first `filled` get the pattern (the rest
  // is sparse zeros), so huge LBA48 images cost nothing.
  void make_image(uint64_t sectors, uint64_t filled = 64) {
    char name[] = "/tmp/softcpu-ide-XXXXXX";
    int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    path_ = name;
    std::vector<uint8_t> sector(512);
    for (uint64_t lba = 0; lba < filled && lba < sectors; ++lba) {
      for (unsigned i = 0; i < 512; ++i) sector[i] = image_byte(lba, i);
      ASSERT_EQ(pwrite(fd, sector.data(), 512, lba * 512), 512);
    }
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(sectors * 512)), 0);
    ::close(fd);
  }

  void open(BlockBackend::Options opt = {}, bool dma = true) {
    std::string error;
    backend_ = BlockBackend::open(path_, opt, loop_, mailbox_, &error);
    ASSERT_TRUE(backend_) << error;
    disk_ = std::make_unique<AtaDisk>(*backend_, "TESTSERIAL");
    ide_ = std::make_unique<IdeController>(IrqLine{&irqs_, 14}, IrqLine{&irqs_, 15});
    if (dma) {
      memory_.assign(1 << 20, 0);
      ide_->set_guest_memory(GuestMemory{
          [this](uint32_t a, uint8_t* dst, uint32_t n) { std::memcpy(dst, &memory_[a], n); },
          [this](uint32_t a, const uint8_t* src, uint32_t n) {
            std::memcpy(&memory_[a], src, n);
          }});
    }
    ch().attach_disk(0, disk_.get());
  }

  IdeChannel& ch() { return ide_->channel(0); }
  void out(uint8_t reg, uint8_t v) { ch().io_write(BASE + reg, 1, v); }
  uint8_t in(uint8_t reg) { return static_cast<uint8_t>(ch().io_read(BASE + reg, 1)); }
  uint8_t alt_status() { return static_cast<uint8_t>(ch().io_read(CTRL, 1)); }
  uint16_t inw() { return static_cast<uint16_t>(ch().io_read(BASE, 2)); }
  void outw(uint16_t v) { ch().io_write(BASE, 2, v); }
  int irq_count() const { return irqs_.edges[14]; }

  // Let the host I/O finish: drain the mailbox until BSY drops.
  uint8_t wait_not_busy() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (alt_status() & IdeChannel::ST_BSY) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "drive stays busy";
        break;
      }
      mailbox_.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
      mailbox_.drain();
    }
    return alt_status();
  }

  void lba28(uint32_t lba, uint8_t count) {
    out(NSECT, count);
    out(LBAL, static_cast<uint8_t>(lba));
    out(LBAM, static_cast<uint8_t>(lba >> 8));
    out(LBAH, static_cast<uint8_t>(lba >> 16));
    out(DEV, static_cast<uint8_t>(0xE0 | ((lba >> 24) & 0xF)));
  }
  void lba48(uint64_t lba, uint16_t count) {
    out(NSECT, static_cast<uint8_t>(count >> 8));
    out(LBAL, static_cast<uint8_t>(lba >> 24));
    out(LBAM, static_cast<uint8_t>(lba >> 32));
    out(LBAH, static_cast<uint8_t>(lba >> 40));
    out(NSECT, static_cast<uint8_t>(count));
    out(LBAL, static_cast<uint8_t>(lba));
    out(LBAM, static_cast<uint8_t>(lba >> 8));
    out(LBAH, static_cast<uint8_t>(lba >> 16));
    out(DEV, 0x40);
  }

  // PIO data-in of `sectors` sectors in blocks of `block`: wait for DRQ before each block.
  std::vector<uint8_t> pio_in(unsigned sectors, unsigned block = 1) {
    std::vector<uint8_t> data;
    for (unsigned done = 0; done < sectors; done += block) {
      uint8_t st = wait_not_busy();
      EXPECT_EQ(st & (IdeChannel::ST_DRQ | IdeChannel::ST_ERR), IdeChannel::ST_DRQ) << done;
      in(CMD);  // acknowledge the interrupt, as a driver does
      unsigned n = std::min(block, sectors - done);
      for (unsigned i = 0; i < n * 256; ++i) {
        uint16_t w = inw();
        data.push_back(static_cast<uint8_t>(w));
        data.push_back(static_cast<uint8_t>(w >> 8));
      }
    }
    return data;
  }

  void pio_out(const std::vector<uint8_t>& data, unsigned block = 1) {
    unsigned sectors = static_cast<unsigned>(data.size() / 512);
    for (unsigned done = 0; done < sectors; done += block) {
      uint8_t st = wait_not_busy();
      ASSERT_EQ(st & (IdeChannel::ST_DRQ | IdeChannel::ST_ERR), IdeChannel::ST_DRQ) << done;
      in(CMD);
      unsigned n = std::min(block, sectors - done);
      for (unsigned i = 0; i < n * 256; ++i) {
        size_t at = (done * 512) + 2 * i;
        outw(static_cast<uint16_t>(data[at] | data[at + 1] << 8));
      }
    }
    wait_not_busy();
  }

  std::vector<uint8_t> file_bytes(uint64_t offset, size_t len) {
    std::vector<uint8_t> v(len);
    std::ifstream f(path_, std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(len));
    return v;
  }

  static std::vector<uint8_t> expected(uint64_t lba, unsigned sectors) {
    std::vector<uint8_t> v;
    for (unsigned s = 0; s < sectors; ++s)
      for (unsigned i = 0; i < 512; ++i) v.push_back(image_byte(lba + s, i));
    return v;
  }
  static std::vector<uint8_t> fresh(unsigned sectors, uint8_t seed) {
    std::vector<uint8_t> v(sectors * 512);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(seed ^ (i * 13) ^ (i >> 9));
    return v;
  }

  std::vector<uint16_t> identify() {
    out(DEV, 0xA0);
    out(CMD, 0xEC);
    auto bytes = pio_in(1);
    std::vector<uint16_t> w(256);
    for (unsigned i = 0; i < 256; ++i) w[i] = static_cast<uint16_t>(bytes[2 * i] | bytes[2 * i + 1] << 8);
    return w;
  }

  EventLoop loop_;
  CpuMailbox mailbox_;
  EdgeCounter irqs_;
  std::string path_;
  std::unique_ptr<BlockBackend> backend_;
  std::unique_ptr<AtaDisk> disk_;
  std::unique_ptr<IdeController> ide_;
  std::vector<uint8_t> memory_;
};

std::string ata_string(const std::vector<uint16_t>& w, unsigned first, unsigned words) {
  std::string s;
  for (unsigned i = first; i < first + words; ++i) {
    s += static_cast<char>(w[i] >> 8);
    s += static_cast<char>(w[i] & 0xFF);
  }
  return s;
}

TEST_F(IdeTest, IdentifySmallDisk) {
  make_image(20000);
  open();
  auto w = identify();
  EXPECT_EQ(irq_count(), 1);
  EXPECT_EQ(alt_status(), 0x50);  // DRQ gone after the 256 words
  EXPECT_EQ(w[0], 0x0040);
  EXPECT_EQ(w[1], 20000 / (16 * 63));  // 19 cylinders of 16 heads x 63 sectors
  EXPECT_EQ(w[3], 16);
  EXPECT_EQ(w[6], 63);
  EXPECT_EQ(ata_string(w, 27, 20), "SOFTCPU HARDDISK                        ");
  EXPECT_EQ(ata_string(w, 10, 10), "TESTSERIAL          ");
  EXPECT_EQ(w[60] | w[61] << 16, 20000);
  EXPECT_EQ(w[100] | w[101] << 16, 20000);
  EXPECT_EQ(w[102] | w[103], 0);
  EXPECT_EQ(w[57] | w[58] << 16, 19 * 16 * 63);
  EXPECT_EQ(w[47] & 0xFF, 16);
  EXPECT_TRUE(w[49] & 0x0200);  // LBA
  EXPECT_TRUE(w[49] & 0x0100);  // DMA, since the controller can do it
  EXPECT_EQ(w[63] & 7, 7);
  EXPECT_TRUE(w[83] & 0x0400);  // LBA48
  // Integrity word: signature A5h and all 512 bytes summing to zero mod 256.
  EXPECT_EQ(w[255] & 0xFF, 0xA5);
  uint8_t sum = 0;
  for (uint16_t x : w) sum = static_cast<uint8_t>(sum + (x & 0xFF) + (x >> 8));
  EXPECT_EQ(sum, 0);
}

TEST_F(IdeTest, IdentifyWithoutDmaAndHugeDisk) {
  const uint64_t sectors = (200ull << 30) / 512;  // 200 GiB, sparse
  make_image(sectors, 1);
  open({}, /*dma=*/false);
  auto w = identify();
  EXPECT_EQ(w[60] | w[61] << 16, 0x0FFFFFFF);  // LBA28 limit
  uint64_t lba48 = 0;
  for (unsigned i = 0; i < 4; ++i) lba48 |= uint64_t{w[100 + i]} << (16 * i);
  EXPECT_EQ(lba48, sectors);
  EXPECT_EQ(w[1], 16383);
  EXPECT_FALSE(w[49] & 0x0100);
  EXPECT_EQ(w[63], 0);
  EXPECT_EQ(w[88], 0);
  // And DMA commands abort.
  lba28(0, 1);
  out(CMD, 0xC8);
  EXPECT_EQ(wait_not_busy(), 0x51);
  EXPECT_EQ(in(ERR), IdeChannel::ERR_ABRT);
}

TEST_F(IdeTest, PioWriteThenReadSectors) {
  make_image(1000);
  open();
  auto data = fresh(3, 0x5A);
  lba28(5, 3);
  out(CMD, 0x30);
  EXPECT_EQ(alt_status() & IdeChannel::ST_DRQ, IdeChannel::ST_DRQ);
  EXPECT_EQ(irq_count(), 0);  // no interrupt before the first data-out block
  pio_out(data);
  EXPECT_EQ(irq_count(), 3);  // one per block, the last one being the completion
  EXPECT_EQ(alt_status(), 0x50);
  EXPECT_EQ(file_bytes(5 * 512, data.size()), data);
  EXPECT_EQ(file_bytes(4 * 512, 512), expected(4, 1));  // neighbours untouched
  EXPECT_EQ(file_bytes(8 * 512, 512), expected(8, 1));

  lba28(4, 5);
  out(CMD, 0x20);
  auto back = pio_in(5);
  EXPECT_EQ(irq_count(), 3 + 5);
  EXPECT_EQ(alt_status(), 0x50);
  std::vector<uint8_t> want = expected(4, 1);
  want.insert(want.end(), data.begin(), data.end());
  auto tail = expected(8, 1);
  want.insert(want.end(), tail.begin(), tail.end());
  EXPECT_EQ(back, want);
  // After the command the address registers name the last sector.
  EXPECT_EQ(in(LBAL), 8);
}

TEST_F(IdeTest, DwordDataAccessAndManySectors) {
  make_image(1000, 600);
  open();
  lba28(10, 0);  // 0 = 256 sectors
  out(CMD, 0x20);
  std::vector<uint8_t> data;
  for (unsigned s = 0; s < 256; ++s) {
    ASSERT_EQ(wait_not_busy() & IdeChannel::ST_DRQ, IdeChannel::ST_DRQ) << s;
    for (unsigned i = 0; i < 128; ++i) {
      uint32_t d = ch().io_read(BASE, 4);
      for (unsigned b = 0; b < 4; ++b) data.push_back(static_cast<uint8_t>(d >> (8 * b)));
    }
  }
  EXPECT_EQ(data, expected(10, 256));
  EXPECT_EQ(alt_status(), 0x50);
}

TEST_F(IdeTest, Lba48ReadWriteAboveLba28) {
  const uint64_t sectors = (1ull << 28) + 64;  // 128 GiB + 32 KiB, sparse
  make_image(sectors, 1);
  open();
  const uint64_t lba = (1ull << 28) + 10;
  auto data = fresh(2, 0x33);
  lba48(lba, 2);
  out(CMD, 0x34);
  pio_out(data);
  EXPECT_EQ(alt_status(), 0x50);
  EXPECT_EQ(file_bytes(lba * 512, 1024), data);
  // HOB readback: the high bytes of the last sector's address.
  ch().io_write(CTRL, 1, IdeChannel::CTL_HOB);
  EXPECT_EQ(in(LBAL), 0x10);  // bits 31..24 of 0x1000000B
  ch().io_write(CTRL, 1, 0);
  EXPECT_EQ(in(LBAL), 0x0B);

  lba48(lba, 2);
  out(CMD, 0x24);
  EXPECT_EQ(pio_in(2), data);
  // Past the end: IDNF.
  lba48(sectors - 1, 2);
  out(CMD, 0x24);
  EXPECT_EQ(wait_not_busy(), 0x51);
  EXPECT_EQ(in(ERR), IdeChannel::ERR_IDNF);
}

TEST_F(IdeTest, ReadWriteMultipleBlocks) {
  make_image(1000);
  open();
  out(NSECT, 3);
  out(CMD, 0xC6);  // not a power of two
  EXPECT_EQ(wait_not_busy(), 0x51);
  EXPECT_EQ(in(ERR), IdeChannel::ERR_ABRT);
  out(NSECT, 4);
  out(CMD, 0xC6);
  EXPECT_EQ(wait_not_busy(), 0x50);
  in(CMD);
  int before = irq_count();

  lba28(20, 10);
  out(CMD, 0xC4);
  EXPECT_EQ(pio_in(10, 4), expected(20, 10));
  EXPECT_EQ(irq_count() - before, 3);  // blocks of 4, 4 and 2
  EXPECT_EQ(alt_status(), 0x50);

  before = irq_count();
  auto data = fresh(6, 0x77);
  lba28(40, 6);
  out(CMD, 0xC5);
  pio_out(data, 4);
  EXPECT_EQ(irq_count() - before, 2);
  EXPECT_EQ(file_bytes(40 * 512, data.size()), data);

  out(NSECT, 0);
  out(CMD, 0xC6);  // multiple mode off: READ MULTIPLE aborts
  wait_not_busy();
  lba28(20, 1);
  out(CMD, 0xC4);
  EXPECT_EQ(wait_not_busy(), 0x51);
  EXPECT_EQ(in(ERR), IdeChannel::ERR_ABRT);
}

// PRD table at 0x1000: 1024 bytes at 0x20000, then 512 bytes at 0x30000 (EOT).
void put_prd_table(std::vector<uint8_t>& mem) {
  const uint32_t entries[4] = {0x20000, 1024, 0x30000, 0x80000000u | 512};
  std::memcpy(&mem[0x1000], entries, sizeof entries);
}

TEST_F(IdeTest, DmaReadAndWrite) {
  make_image(1000);
  open();
  put_prd_table(memory_);
  BusMasterDma& bm = ide_->bus_master();
  bm.io_write(0xC004, 4, 0x1000);
  EXPECT_EQ(bm.io_read(0xC004, 4), 0x1000u);
  bm.io_write(0xC000, 1, BusMasterRegs::CMD_TO_MEMORY);
  lba28(7, 3);
  out(CMD, 0xC8);
  bm.io_write(0xC000, 1, BusMasterRegs::CMD_TO_MEMORY | BusMasterRegs::CMD_START);
  EXPECT_EQ(wait_not_busy(), 0x50);
  EXPECT_EQ(irq_count(), 1);
  uint8_t bst = static_cast<uint8_t>(bm.io_read(0xC002, 1));
  EXPECT_EQ(bst & 7, BusMasterRegs::ST_INTERRUPT);  // done, table used up, no error
  auto want = expected(7, 3);
  EXPECT_TRUE(std::equal(want.begin(), want.begin() + 1024, memory_.begin() + 0x20000));
  EXPECT_TRUE(std::equal(want.begin() + 1024, want.end(), memory_.begin() + 0x30000));
  EXPECT_EQ(memory_[0x30000 + 512], 0);  // nothing past the region
  bm.io_write(0xC000, 1, 0);
  bm.io_write(0xC002, 1, BusMasterRegs::ST_INTERRUPT);  // write one to clear
  EXPECT_EQ(bm.io_read(0xC002, 1) & 7, 0u);
  in(CMD);

  // Write: fill the buffers, start the engine first this time.
  auto data = fresh(3, 0x99);
  std::memcpy(&memory_[0x20000], data.data(), 1024);
  std::memcpy(&memory_[0x30000], data.data() + 1024, 512);
  bm.io_write(0xC000, 1, BusMasterRegs::CMD_START);
  lba28(100, 3);
  out(CMD, 0xCA);
  EXPECT_EQ(wait_not_busy(), 0x50);
  EXPECT_EQ(irq_count(), 2);
  EXPECT_EQ(file_bytes(100 * 512, 1536), data);
  EXPECT_EQ(bm.io_read(0xC002, 1) & 7, BusMasterRegs::ST_INTERRUPT);
}

TEST_F(IdeTest, DmaWaitsForBusMasterEnable) {
  make_image(100);
  open();
  put_prd_table(memory_);
  ide_->set_bus_master_enabled(false);  // PCI COMMAND bit 2 clear
  BusMasterDma& bm = ide_->bus_master();
  bm.io_write(0xC004, 4, 0x1000);
  lba28(1, 3);
  out(CMD, 0xC8);
  bm.io_write(0xC000, 1, BusMasterRegs::CMD_TO_MEMORY | BusMasterRegs::CMD_START);
  for (int i = 0; i < 5; ++i) {
    mailbox_.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(10));
    mailbox_.drain();
  }
  EXPECT_TRUE(alt_status() & IdeChannel::ST_BSY);
  EXPECT_EQ(memory_[0x20000], 0);
  ide_->set_bus_master_enabled(true);
  EXPECT_EQ(wait_not_busy(), 0x50);
  EXPECT_EQ(memory_[0x20000], image_byte(1, 0));
}

TEST_F(IdeTest, ResetDuringTransferDropsStaleCompletion) {
  make_image(100);
  open();
  lba28(1, 1);
  out(CMD, 0x20);  // the read is in flight (BSY) until the mailbox is drained
  EXPECT_TRUE(alt_status() & IdeChannel::ST_BSY);
  ch().io_write(CTRL, 1, IdeChannel::CTL_SRST);
  ch().io_write(CTRL, 1, 0);
  EXPECT_EQ(alt_status(), 0x50);
  lba28(9, 1);
  out(CMD, 0x20);
  EXPECT_EQ(pio_in(1), expected(9, 1));  // not sector 1
  EXPECT_EQ(alt_status(), 0x50);
}

TEST_F(IdeTest, DmaTableTooShortEndsWithError) {
  make_image(100);
  open();
  put_prd_table(memory_);  // 1536 bytes: three sectors
  BusMasterDma& bm = ide_->bus_master();
  bm.io_write(0xC004, 4, 0x1000);
  lba28(1, 4);
  out(CMD, 0xC8);
  bm.io_write(0xC000, 1, BusMasterRegs::CMD_TO_MEMORY | BusMasterRegs::CMD_START);
  EXPECT_EQ(wait_not_busy(), 0x51);
  EXPECT_EQ(in(ERR), IdeChannel::ERR_ABRT);
  EXPECT_EQ(bm.io_read(0xC002, 1) & 7, BusMasterRegs::ST_INTERRUPT);  // engine stopped
  EXPECT_EQ(irq_count(), 1);
}

TEST_F(IdeTest, SnapshotLeavesFileUnchanged) {
  make_image(200);
  auto before = file_bytes(0, 200 * 512);
  BlockBackend::Options opt;
  opt.snapshot = true;
  open(opt);
  auto data = fresh(2, 0x42);
  lba28(3, 2);
  out(CMD, 0x30);
  pio_out(data);
  EXPECT_EQ(alt_status(), 0x50);
  out(CMD, 0xE7);  // FLUSH CACHE
  EXPECT_EQ(wait_not_busy(), 0x50);
  lba28(2, 4);
  out(CMD, 0x20);
  auto back = pio_in(4);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin() + 512));
  EXPECT_EQ(std::vector<uint8_t>(back.begin(), back.begin() + 512), expected(2, 1));
  ide_.reset();
  disk_.reset();
  backend_.reset();
  EXPECT_EQ(file_bytes(0, 200 * 512), before);
}

TEST_F(IdeTest, ReadonlyWriteReportsError) {
  make_image(100);
  BlockBackend::Options opt;
  opt.readonly = true;
  open(opt);
  lba28(1, 1);
  out(CMD, 0x30);
  for (unsigned i = 0; i < 256; ++i) outw(0xBEEF);
  EXPECT_EQ(wait_not_busy(), 0x51);
  EXPECT_EQ(in(ERR), IdeChannel::ERR_ABRT);
  EXPECT_EQ(irq_count(), 1);
  EXPECT_EQ(file_bytes(512, 512), expected(1, 1));
}

TEST_F(IdeTest, ChsAddressingAndInitializeDeviceParameters) {
  make_image(4000, 200);
  open();
  // 4 heads, 17 sectors per track.
  out(NSECT, 17);
  out(DEV, 0xA0 | 3);
  out(CMD, 0x91);
  EXPECT_EQ(wait_not_busy(), 0x50);
  auto w = identify();
  EXPECT_EQ(w[54], 4000 / (4 * 17));
  EXPECT_EQ(w[55], 4);
  EXPECT_EQ(w[56], 17);
  // Cylinder 2, head 1, sector 5 -> LBA (2 * 4 + 1) * 17 + 4 = 157.
  out(NSECT, 1);
  out(LBAL, 5);
  out(LBAM, 2);
  out(LBAH, 0);
  out(DEV, 0xA1);
  out(CMD, 0x20);
  EXPECT_EQ(pio_in(1), expected(157, 1));
  // Sector 0 does not exist in CHS.
  out(LBAL, 0);
  out(CMD, 0x20);
  EXPECT_EQ(wait_not_busy(), 0x51);
  EXPECT_EQ(in(ERR), IdeChannel::ERR_IDNF);
}

TEST_F(IdeTest, MiscCommandsAndUnknownCommandAborts) {
  make_image(100);
  open();
  lba28(90, 10);
  out(CMD, 0x40);  // READ VERIFY, in range
  EXPECT_EQ(wait_not_busy(), 0x50);
  lba28(95, 10);
  out(CMD, 0x40);  // out of range
  EXPECT_EQ(wait_not_busy(), 0x51);
  out(ERR, 0x03);  // features: set transfer mode
  out(NSECT, 0x22);  // MWDMA2
  out(CMD, 0xEF);
  EXPECT_EQ(wait_not_busy(), 0x50);
  EXPECT_EQ(identify()[63] & 0x0700, 0x0400);  // mode 2 selected
  out(ERR, 0x42);  // unknown SET FEATURES subcommand
  out(CMD, 0xEF);
  EXPECT_EQ(wait_not_busy(), 0x51);
  out(CMD, 0xE0);  // STANDBY IMMEDIATE
  EXPECT_EQ(wait_not_busy(), 0x50);
  out(CMD, 0xEA);  // FLUSH CACHE EXT
  EXPECT_EQ(wait_not_busy(), 0x50);
  out(CMD, 0xA1);  // IDENTIFY PACKET DEVICE: not an ATAPI device
  EXPECT_EQ(wait_not_busy(), 0x51);
  EXPECT_EQ(in(ERR), IdeChannel::ERR_ABRT);
  out(CMD, 0x90);  // EXECUTE DEVICE DIAGNOSTIC
  EXPECT_EQ(wait_not_busy(), 0x50);
  EXPECT_EQ(in(ERR), 0x01);
  EXPECT_EQ(in(NSECT), 1);
  EXPECT_EQ(in(LBAM), 0);
}

TEST_F(IdeTest, ResetSignatureAbsentSlaveAndEmptyChannel) {
  make_image(100);
  open();
  // SRST: busy while asserted, ATA signature after, no interrupt.
  out(NSECT, 0x55);
  ch().io_write(CTRL, 1, IdeChannel::CTL_SRST);
  EXPECT_TRUE(alt_status() & IdeChannel::ST_BSY);
  ch().io_write(CTRL, 1, 0);
  EXPECT_EQ(alt_status(), 0x50);
  EXPECT_EQ(in(NSECT), 1);
  EXPECT_EQ(in(LBAL), 1);
  EXPECT_EQ(in(LBAM), 0);
  EXPECT_EQ(in(LBAH), 0);
  EXPECT_EQ(in(ERR), 1);
  EXPECT_EQ(irq_count(), 0);
  // Absent slave: status 00h, commands ignored, no interrupt.
  out(DEV, 0xB0);
  EXPECT_EQ(in(CMD), 0);
  EXPECT_EQ(alt_status(), 0);
  out(CMD, 0xEC);
  EXPECT_EQ(alt_status(), 0);
  EXPECT_EQ(irq_count(), 0);
  // Secondary channel without drives: floating bus.
  IdeChannel& empty = ide_->channel(1);
  EXPECT_EQ(empty.io_read(0x177, 1), 0xFFu);
  EXPECT_EQ(empty.io_read(0x376, 1), 0xFFu);
  EXPECT_EQ(empty.io_read(0x170, 2), 0xFFFFu);
}

TEST_F(IdeTest, NienMasksInterruptLine) {
  make_image(100);
  open();
  ch().io_write(CTRL, 1, IdeChannel::CTL_NIEN);
  lba28(1, 1);
  out(CMD, 0x20);
  wait_not_busy();
  EXPECT_EQ(irq_count(), 0);
  EXPECT_FALSE(ch().irq_level());
  // Pending interrupt shows once nIEN is cleared; a Status read acknowledges it.
  ch().io_write(CTRL, 1, 0);
  EXPECT_TRUE(ch().irq_level());
  in(CMD);
  EXPECT_FALSE(ch().irq_level());
}

// Snapshots (monitor/snapshot.h): a READ SECTORS command in flight cannot be saved (the
// machine completes host I/O first); once its data is in, the channel is saved halfway through
// the first DRQ block, loaded into a fresh controller on the same image, and the rest of the
// transfer, the status, the interrupts and a following command behave as on the original.
TEST_F(IdeTest, SnapshotMidPioRead) {
  make_image(1000);
  open();
  out(0x06 + 0, 0xE0);
  lba28(20, 4);
  out(CMD, 0x20);  // READ SECTORS, 4 sectors
  if (alt_status() & IdeChannel::ST_BSY) {
    StateWriter w;
    EXPECT_THROW(ide_->save_state(w), StateError);
  }
  ASSERT_EQ(wait_not_busy() & IdeChannel::ST_DRQ, IdeChannel::ST_DRQ);
  in(CMD);
  std::vector<uint8_t> head;
  for (int i = 0; i < 100; ++i) {
    uint16_t w = inw();
    head.push_back(uint8_t(w));
    head.push_back(uint8_t(w >> 8));
  }
  StateWriter w;
  ide_->save_state(w);

  AtaDisk disk_b(*backend_, "TESTSERIAL");
  EdgeCounter irqs_b = irqs_;
  IdeController b(IrqLine{&irqs_b, 14}, IrqLine{&irqs_b, 15});
  b.channel(0).attach_disk(0, &disk_b);
  StateReader r(w.bytes());
  b.load_state(r);
  r.expect_end("ide");

  auto rest = [&](IdeChannel& c) {
    std::vector<uint8_t> data;
    for (unsigned i = 100; i < 4 * 256; ++i) {
      if (i % 256 == 0) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while ((c.io_read(CTRL, 1) & IdeChannel::ST_BSY) && std::chrono::steady_clock::now() < deadline) {
          mailbox_.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(10));
          mailbox_.drain();
        }
        EXPECT_EQ(c.io_read(CTRL, 1) & IdeChannel::ST_DRQ, IdeChannel::ST_DRQ) << i;
        c.io_read(BASE + CMD, 1);
      }
      uint16_t v = uint16_t(c.io_read(BASE, 2));
      data.push_back(uint8_t(v));
      data.push_back(uint8_t(v >> 8));
    }
    return data;
  };
  const auto data_b = rest(b.channel(0));
  const auto data_a = rest(ch());
  EXPECT_EQ(data_a, data_b);
  auto want = expected(20, 4);
  EXPECT_TRUE(std::equal(data_b.begin(), data_b.end(), want.begin() + 200));
  EXPECT_EQ(ch().io_read(CTRL, 1), b.channel(0).io_read(CTRL, 1));
  EXPECT_EQ(irqs_.edges[14], irqs_b.edges[14]);
  EXPECT_EQ(irqs_.level[14], irqs_b.level[14]);
}

}  // namespace
}  // namespace softcpu
