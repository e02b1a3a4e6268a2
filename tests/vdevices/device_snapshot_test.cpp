// Snapshots of devices (monitor/snapshot.h): each device is saved mid-activity, loaded into a
// fresh device on a fresh clock set to the same guest time, and then both are driven the same
// way: what the guest sees (register reads, interrupt edges, timer expiries) must stay
// identical. (The IDE channel's test is in ide_test.cpp, next to its fixture.)
#include <gtest/gtest.h>

#include "irq_lines.h"

#include <map>
#include <vector>

#include "hostio/state_stream.h"
#include "test_backend.h"
#include "vdevices/cmos_rtc.h"
#include "vdevices/fw_cfg.h"
#include "vdevices/hpet.h"
#include "vdevices/i440fx.h"
#include "vdevices/i8042.h"
#include "vdevices/ioapic.h"
#include "vdevices/local_apic.h"
#include "vdevices/pc_testdev.h"
#include "vdevices/pci_bus.h"
#include "vdevices/pic8259.h"
#include "vdevices/piix4_pm.h"
#include "vdevices/pit8254.h"
#include "vdevices/port61.h"
#include "vdevices/system_control_a.h"
#include "vdevices/uart16550.h"
#include "vdevices/vga_text.h"

namespace softcpu {
namespace {

template <typename D>
std::vector<uint8_t> save(const D& d) {
  StateWriter w;
  d.save_state(w);
  return w.bytes();
}

template <typename D>
void load(D& d, const std::vector<uint8_t>& bytes) {
  StateReader r(bytes);
  d.load_state(r);
  r.expect_end("test device");
}

using test::Lines;  // irq_lines.h

struct ManualClock : VirtualClock {
  explicit ManualClock(uint64_t t = 0) { use_manual_time(t); }
};

TEST(DeviceSnapshot, StreamRefusesShortData) {
  PicPair pic;
  std::vector<uint8_t> bytes = save(pic);
  bytes.pop_back();
  PicPair other;
  EXPECT_THROW(load(other, bytes), StateError);
  bytes.push_back(0);
  bytes.push_back(0);
  EXPECT_THROW(load(other, bytes), StateError);  // one byte too many
}

// The PIT mid-count (channel 0 in mode 2, channel 2 in mode 0 with a latched count): the
// loaded one raises IRQ0 at the same ticks and reads the same counts.
TEST(DeviceSnapshot, PitMidCount) {
  ManualClock ca;
  Lines la;
  Pit8254 a{ca, IrqLine{&la, 0}};
  Port61 pa{a, ca};
  auto program = [](Pit8254& p, Port61& port) {
    p.io_write(0x43, 1, 0x34);  // channel 0, LSB/MSB, mode 2
    p.io_write(0x40, 1, 0x9B);
    p.io_write(0x40, 1, 0x2E);  // 11931: about 10 ms
    port.io_write(0x61, 1, 0x01);  // gate 2 high
    p.io_write(0x43, 1, 0xB0);     // channel 2, LSB/MSB, mode 0
    p.io_write(0x42, 1, 0x00);
    p.io_write(0x42, 1, 0x80);
  };
  program(a, pa);
  ca.advance_to(25'300'000);  // 2.5 periods in
  a.io_write(0x43, 1, 0x80);  // latch channel 2
  a.io_read(0x42, 1);         // read the latch's LSB: the MSB is still owed

  ManualClock cb(ca.now_ns());
  Lines lb = la;
  Pit8254 b{cb, IrqLine{&lb, 0}};
  Port61 pb{b, cb};
  load(b, save(a));
  load(pb, save(pa));
  EXPECT_EQ(a.io_read(0x42, 1), b.io_read(0x42, 1));  // the latched MSB
  for (uint64_t t = 25'300'000; t < 80'000'000; t += 1'234'567) {
    ca.advance_to(t);
    cb.advance_to(t);
    EXPECT_EQ(la.rises[0], lb.rises[0]) << t;
    a.io_write(0x43, 1, 0x00);
    b.io_write(0x43, 1, 0x00);
    EXPECT_EQ(a.io_read(0x40, 1), b.io_read(0x40, 1)) << t;
    EXPECT_EQ(a.io_read(0x40, 1), b.io_read(0x40, 1)) << t;
    EXPECT_EQ(pa.io_read(0x61, 1) & 0x20, pb.io_read(0x61, 1) & 0x20) << t;  // OUT2
  }
  EXPECT_GE(lb.rises[0], 7u);
}

// The 8259 pair with requests pending and one in service.
TEST(DeviceSnapshot, PicPendingRequests) {
  std::vector<bool> ia, ib;
  PicPair a{[&](bool l) { ia.push_back(l); }};
  auto init = [](PicPair& p) {
    const uint8_t seq[][2] = {{0x20, 0x11}, {0x21, 0x08}, {0x21, 0x04}, {0x21, 0x01},
                              {0xA0, 0x11}, {0xA1, 0x70}, {0xA1, 0x02}, {0xA1, 0x01}};
    for (auto& s : seq) p.io_write(s[0], 1, s[1]);
  };
  init(a);
  a.set_irq(1, true);
  a.set_irq(8, true);
  a.set_irq(4, true);
  EXPECT_EQ(a.acknowledge(), 0x09);  // IRQ1 in service
  PicPair b{[&](bool l) { ib.push_back(l); }};
  load(b, save(a));
  for (PicPair* p : {&a, &b}) p->io_write(0x20, 1, 0x20);  // EOI
  EXPECT_EQ(a.acknowledge(), b.acknowledge());  // IRQ2 -> slave IRQ8: 0x70
  for (PicPair* p : {&a, &b}) {
    p->io_write(0xA0, 1, 0x20);
    p->io_write(0x20, 1, 0x20);
  }
  EXPECT_EQ(a.acknowledge(), b.acknowledge());  // IRQ4: 0x0C
  a.io_write(0x20, 1, 0x0B);  // OCW3: read ISR
  b.io_write(0x20, 1, 0x0B);
  EXPECT_EQ(a.io_read(0x20, 1), b.io_read(0x20, 1));
  EXPECT_EQ(a.io_read(0x21, 1), b.io_read(0x21, 1));
  EXPECT_EQ(a.intr_output(), b.intr_output());
}

// A UART with bytes in its receive FIFO (trigger level 4, interrupts on).
TEST(DeviceSnapshot, UartFifoBytes) {
  test::RecordingBackend ka, kb;
  std::vector<bool> ia, ib;
  Uart16550 a{0x3F8, ka, [&](bool l) { ia.push_back(l); }};
  a.io_write(0x3FB, 1, 0x80);
  a.io_write(0x3F8, 1, 0x01);  // 115200 baud
  a.io_write(0x3FB, 1, 0x03);
  a.io_write(0x3FA, 1, 0x41);  // FIFO on, trigger 4
  a.io_write(0x3F9, 1, 0x01);  // receive interrupt
  ka.feed({'h', 'e', 'l', 'l', 'o', '!'});
  a.poll();
  EXPECT_EQ(a.io_read(0x3F8, 1), 'h');
  Uart16550 b{0x3F8, kb, [&](bool l) { ib.push_back(l); }};
  load(b, save(a));
  EXPECT_EQ(a.irq_pending(), b.irq_pending());
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(a.io_read(0x3FD, 1), b.io_read(0x3FD, 1)) << i;  // LSR
    EXPECT_EQ(a.io_read(0x3FA, 1), b.io_read(0x3FA, 1)) << i;  // IIR
    EXPECT_EQ(a.io_read(0x3F8, 1), b.io_read(0x3F8, 1)) << i;  // RBR: e l l o ! then last
  }
  a.io_write(0x3F8, 1, 'x');
  b.io_write(0x3F8, 1, 'x');
  EXPECT_EQ(ka.out, kb.out);
}

// The RTC with its periodic interrupt running and an update in progress.
TEST(DeviceSnapshot, CmosRtcPeriodic) {
  constexpr int64_t kStart = 1709251198ll * 1000000000;
  ManualClock ca;
  Lines la;
  CmosRtc a{ca, IrqLine{&la, 8}, kStart};
  auto wr = [](CmosRtc& r, uint8_t i, uint8_t v) {
    r.io_write(0x70, 1, i);
    r.io_write(0x71, 1, v);
  };
  auto rd = [](CmosRtc& r, uint8_t i) {
    r.io_write(0x70, 1, i);
    return uint8_t(r.io_read(0x71, 1));
  };
  wr(a, 0x0A, 0x26);  // 1024 Hz
  wr(a, 0x0B, 0x42);  // PIE, 24 hours
  wr(a, 0x40, 0x5A);  // a CMOS byte
  ca.advance_to(1'700'000'000);
  ManualClock cb(ca.now_ns());
  Lines lb = la;
  CmosRtc b{cb, IrqLine{&lb, 8}, 0};  // another start time: the snapshot's must win
  load(b, save(a));
  EXPECT_EQ(rd(b, 0x40), 0x5A);
  for (uint64_t t = 1'700'000'000; t < 3'200'000'000; t += 97'000'000) {
    ca.advance_to(t);
    cb.advance_to(t);
    EXPECT_EQ(la.rises[8], lb.rises[8]) << t;
    for (uint8_t i : {0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x0C})
      EXPECT_EQ(rd(a, i), rd(b, i)) << t << " reg " << int(i);
  }
  EXPECT_GT(lb.rises[8], 10u);  // one per read of register C
}

struct FakePic : InterruptAcknowledge {
  int acknowledge() override { return 0x08; }
};

// The local APIC with its timer armed (periodic) and a vector in service.
TEST(DeviceSnapshot, LocalApicTimerArmed) {
  constexpr uint32_t B = LocalApic::DEFAULT_BASE;
  FakePic pic;
  ManualClock ca;
  LocalApic a{ca, &pic};
  std::vector<bool> ia, ib;
  a.set_intr_output([&](bool l) { ia.push_back(l); });
  a.mmio_write(B + LocalApic::REG_SVR, 4, LocalApic::SVR_ENABLE | 0xFF);
  a.mmio_write(B + 0x3E0, 4, 0x3);          // divide by 16
  a.mmio_write(B + 0x320, 4, 0x20040);      // periodic, vector 0x40
  a.mmio_write(B + 0x380, 4, 100000);       // initial count
  ca.advance_to(3'500'000);
  ManualClock cb(ca.now_ns());
  LocalApic b{cb, &pic};
  b.set_intr_output([&](bool l) { ib.push_back(l); });
  load(b, save(a));
  EXPECT_EQ(a.mmio_read(B + 0x390, 4), b.mmio_read(B + 0x390, 4));  // current count
  for (uint64_t t = 3'500'000; t < 40'000'000; t += 777'777) {
    ca.advance_to(t);
    cb.advance_to(t);
    EXPECT_EQ(a.mmio_read(B + 0x390, 4), b.mmio_read(B + 0x390, 4)) << t;
    if (!ia.empty() && ia.back()) {
      ASSERT_FALSE(ib.empty()) << t;
      EXPECT_TRUE(ib.back()) << t;
      EXPECT_EQ(a.acknowledge(), b.acknowledge()) << t;
      a.mmio_write(B + LocalApic::REG_EOI, 4, 0);
      b.mmio_write(B + LocalApic::REG_EOI, 4, 0);
    }
  }
  EXPECT_EQ(ia, ib);
  EXPECT_GT(ia.size(), 4u);
}

// The HPET counting with a periodic timer armed.
TEST(DeviceSnapshot, HpetPeriodicTimer) {
  constexpr uint32_t B = Hpet::DEFAULT_BASE;
  ManualClock ca;
  Lines isa_a, io_a;
  Hpet a{ca, &isa_a, &io_a};
  // Timer 0 periodic to IOAPIC pin 16, as Linux programs it (hpet_test.cpp).
  a.mmio_write(B + 0x100, 4,
               Hpet::TN_INT_ENB | Hpet::TN_PERIODIC | Hpet::TN_VAL_SET | Hpet::TN_32BIT |
                   (16u << 9));
  a.mmio_write(B + 0x108, 4, 100000);
  a.mmio_write(B + 0x108, 4, 100000);  // period: 1 ms at 100 MHz
  a.mmio_write(B + 0x10, 4, 1);        // enable
  ca.advance_to(12'345'678);
  ManualClock cb(ca.now_ns());
  Lines isa_b = isa_a, io_b = io_a;
  Hpet b{cb, &isa_b, &io_b};
  load(b, save(a));
  for (uint64_t t = 12'345'678; t < 60'000'000; t += 1'111'111) {
    ca.advance_to(t);
    cb.advance_to(t);
    EXPECT_EQ(a.mmio_read(B + 0xF0, 4), b.mmio_read(B + 0xF0, 4)) << t;
    EXPECT_EQ(io_a.rises[16], io_b.rises[16]) << t;
    EXPECT_EQ(a.mmio_read(B + 0x108, 4), b.mmio_read(B + 0x108, 4)) << t;  // comparator
  }
  EXPECT_GT(io_b.rises[16], 20u);
}

// The IOAPIC with a level-triggered pin asserted and waiting for its EOI.
TEST(DeviceSnapshot, IoapicRemoteIrr) {
  std::vector<uint8_t> da, db;
  Ioapic a{[&](const ApicMessage& m) { da.push_back(m.vector); }};
  a.mmio_write(0xFEC00000, 4, 0x10 + 2 * 9);
  a.mmio_write(0xFEC00010, 4, 0x8031);  // level, vector 0x31
  a.set_irq(9, true);
  Ioapic b{[&](const ApicMessage& m) { db.push_back(m.vector); }};
  load(b, save(a));
  a.eoi(0x31);  // still asserted: sent again
  b.eoi(0x31);
  EXPECT_EQ(std::vector<uint8_t>(da.begin() + 1, da.end()), db);
  EXPECT_EQ(a.mmio_read(0xFEC00010, 4), b.mmio_read(0xFEC00010, 4));
}

// The i8042 with keyboard bytes queued behind a full output buffer.
TEST(DeviceSnapshot, I8042QueuedBytes) {
  Lines la, lb;
  I8042 a{IrqLine{&la, 1}, IrqLine{&la, 12}};
  a.push_scancode(0x1C);
  a.push_scancode(0x9C);
  a.push_scancode(0x32);
  I8042 b{IrqLine{&lb, 1}, IrqLine{&lb, 12}};
  lb = la;
  load(b, save(a));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a.io_read(0x64, 1), b.io_read(0x64, 1)) << i;
    EXPECT_EQ(a.io_read(0x60, 1), b.io_read(0x60, 1)) << i;
    EXPECT_EQ(la.rises[1], lb.rises[1]) << i;
  }
}

// VGA registers and the DAC index in the middle of a colour triple.
TEST(DeviceSnapshot, VgaRegisters) {
  std::vector<uint8_t> ram(1 << 20);
  VgaText a{ram.data(), uint32_t(ram.size())};
  a.io_write(0x3D4, 1, 0x0E);
  a.io_write(0x3D5, 1, 0x07);
  a.io_write(0x3C8, 1, 0x05);
  a.io_write(0x3C9, 1, 0x11);  // red of entry 5; green and blue still to come
  VgaText b{ram.data(), uint32_t(ram.size())};
  load(b, save(a));
  for (VgaText* v : {&a, &b}) {
    v->io_write(0x3C9, 1, 0x22);
    v->io_write(0x3C9, 1, 0x33);
    v->io_write(0x3C7, 1, 0x05);
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.io_read(0x3C9, 1), b.io_read(0x3C9, 1)) << i;
  EXPECT_EQ(a.io_read(0x3D5, 1), b.io_read(0x3D5, 1));
}

// The host bridge's PAM registers: loading remaps the shadow areas as a write would.
TEST(DeviceSnapshot, I440fxPamRemaps) {
  I440fx a;
  a.config_write(I440fx::PAM0 + 1, 1, 0x31);
  a.config_write(I440fx::PAM0, 1, 0x10);
  std::vector<std::array<uint32_t, 4>> calls;
  I440fx b;
  b.set_pam_handler([&](uint32_t start, uint32_t size, bool rd, bool wr) {
    calls.push_back({start, size, rd, wr});
  });
  load(b, save(a));
  for (uint32_t addr : {0xC0000u, 0xC4000u, 0xF0000u, 0xE0000u}) {
    bool ra, wa, rb, wb;
    a.pam_routing(addr, &ra, &wa);
    b.pam_routing(addr, &rb, &wb);
    EXPECT_EQ(ra, rb) << std::hex << addr;
    EXPECT_EQ(wa, wb) << std::hex << addr;
  }
  EXPECT_EQ(calls.size(), 3u);  // C0000 (RW), C4000 (RE+WE... only RE), F0000 (RE)
}

// The PIIX4 PM function with its I/O block mapped and the timer overflow armed.
TEST(DeviceSnapshot, Piix4PmMappedAndArmed) {
  ManualClock ca;
  Lines la, lb;
  Piix4Pm a{ca, IrqLine{&la, 9}};
  a.config_write(Piix4Pm::PMBA, 4, 0x601);
  a.config_write(Piix4Pm::PMREGMISC, 1, 1);
  a.io_write(0x602, 2, 0x0001);  // PM1_EN: TMROF_EN
  a.io_write(0x604, 2, 0x0001);  // SCI_EN
  ca.advance_to(1'000'000'000);
  ManualClock cb(ca.now_ns());
  Piix4Pm b{cb, IrqLine{&lb, 9}};
  bool mapped = false;
  uint16_t base = 0;
  b.set_pm_io_change_handler([&](bool, uint16_t, bool now, uint16_t at) {
    mapped = now;
    base = at;
  });
  load(b, save(a));
  EXPECT_TRUE(mapped);
  EXPECT_EQ(base, 0x600);
  for (uint64_t t = 1'000'000'000; t < 6'000'000'000; t += 333'333'333) {
    ca.advance_to(t);
    cb.advance_to(t);
    EXPECT_EQ(a.io_read(0x608, 4), b.io_read(0x608, 4)) << t;  // PM timer
    EXPECT_EQ(a.io_read(0x600, 2), b.io_read(0x600, 2)) << t;  // PM1_STS
  }
  EXPECT_GT(lb.rises[9], 0u);  // TMROF after 2^23 ticks (2.34 s)
  EXPECT_EQ(la.rises[9], lb.rises[9]);
}

// fw_cfg halfway through reading a file, and a writable file the guest changed.
TEST(DeviceSnapshot, FwCfgMidRead) {
  auto build = [] {
    auto fw = std::make_unique<FwCfg>(nullptr, nullptr);
    fw->add_file("etc/text", {'s', 'n', 'a', 'p', 's', 'h', 'o', 't'});
    fw->add_file("etc/rw", {0, 0, 0, 0}, true);
    return fw;
  };
  auto a = build();
  a->io_write(FwCfg::PORT_SELECTOR, 2, a->file_selector("etc/text"));
  EXPECT_EQ(a->io_read(FwCfg::PORT_DATA, 1), uint32_t('s'));
  EXPECT_EQ(a->io_read(FwCfg::PORT_DATA, 1), uint32_t('n'));
  auto b = build();
  load(*b, save(*a));
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(a->io_read(FwCfg::PORT_DATA, 1), b->io_read(FwCfg::PORT_DATA, 1)) << i;
  EXPECT_EQ(*a->file_bytes("etc/rw"), *b->file_bytes("etc/rw"));
}

// The PCI configuration address latch, port 0x92 and the pc-testdev latch and lines.
TEST(DeviceSnapshot, SmallDevices) {
  PciBus pa;
  pa.io_write(0xCF8, 4, 0x80000800);
  PciBus pb;
  load(pb, save(pa));
  EXPECT_EQ(pa.io_read(0xCF8, 4), pb.io_read(0xCF8, 4));

  bool a20_a = false, a20_b = false;
  SystemControlA sa{[&](bool on) { a20_a = on; }, [] {}};
  sa.io_write(0x92, 1, 0x02);
  SystemControlA sb{[&](bool on) { a20_b = on; }, [] {}};
  load(sb, save(sa));
  EXPECT_EQ(sa.io_read(0x92, 1), sb.io_read(0x92, 1));
  EXPECT_EQ(sa.a20_enabled(), sb.a20_enabled());

  Lines la, lb;
  PcTestdev ta{&la, &la, nullptr};
  ta.io_write(PcTestdev::LATCH_PORT, 4, 0x12345678);
  ta.io_write(PcTestdev::IRQ_PORT + 5, 1, 1);
  ta.mmio_write(PcTestdev::IOMEM_BASE + 0x40, 4, 0xCAFEF00D);
  PcTestdev tb{&lb, &lb, nullptr};
  lb = la;
  load(tb, save(ta));
  EXPECT_EQ(ta.io_read(PcTestdev::LATCH_PORT, 4), tb.io_read(PcTestdev::LATCH_PORT, 4));
  EXPECT_EQ(tb.mmio_read(PcTestdev::IOMEM_BASE + 0x40, 4), 0xCAFEF00Du);
  EXPECT_TRUE(tb.line(5));
  ta.io_write(PcTestdev::IRQ_PORT + 5, 1, 0);
  tb.io_write(PcTestdev::IRQ_PORT + 5, 1, 0);
  EXPECT_EQ(la.level[5], lb.level[5]);
  EXPECT_EQ(la.rises[5], lb.rises[5]);
}

// Guest time continues from the restored value, in manual and in host time, paused or not;
// timers keep their absolute deadlines.
TEST(DeviceSnapshot, ClockRestoreNow) {
  ManualClock m(5'000);
  int fired = 0;
  const auto id = m.create_timer([&](uint64_t) { ++fired; });
  m.arm(id, 2'000'000'000);
  m.restore_now(1'999'999'000);
  EXPECT_EQ(m.now_ns(), 1'999'999'000u);
  m.advance_by(999);
  EXPECT_EQ(fired, 0);
  m.advance_by(1);
  EXPECT_EQ(fired, 1);

  VirtualClock host;
  host.restore_now(7'000'000'000);
  const uint64_t t = host.now_ns();
  EXPECT_GE(t, 7'000'000'000u);
  EXPECT_LT(t, 8'000'000'000u);
  host.pause();
  host.restore_now(3'000'000'000);  // back in time: a machine loaded from an older snapshot
  EXPECT_EQ(host.now_ns(), 3'000'000'000u);
  host.resume();
  EXPECT_GE(host.now_ns(), 3'000'000'000u);
  EXPECT_LT(host.now_ns(), 4'000'000'000u);
}

}  // namespace
}  // namespace softcpu
