#include "vdevices/i8042.h"

#include <gtest/gtest.h>

#include <vector>

#include "vdevices/system_control_a.h"

namespace softcpu {
namespace {

struct EdgeCounter : IrqSink {
  unsigned rises[16] = {};
  bool level[16] = {};
  void set_irq(unsigned line, bool l) override {
    if (l && !level[line]) ++rises[line];
    level[line] = l;
  }
};

struct KbcTest : ::testing::Test {
  EdgeCounter irqs;
  std::vector<bool> a20_events;
  unsigned resets = 0;
  I8042 kbc{IrqLine{&irqs, 1}, IrqLine{&irqs, 12}, [this](bool on) { a20_events.push_back(on); },
            [this] { ++resets; }};

  uint8_t status() { return static_cast<uint8_t>(kbc.io_read(0x64, 1)); }
  uint8_t data() { return static_cast<uint8_t>(kbc.io_read(0x60, 1)); }
  void command(uint8_t c) { kbc.io_write(0x64, 1, c); }
  void write_data(uint8_t v) { kbc.io_write(0x60, 1, v); }
  // Read every byte waiting in the output buffer.
  std::vector<uint8_t> drain() {
    std::vector<uint8_t> out;
    while (status() & I8042::ST_OBF) out.push_back(data());
    return out;
  }
};

TEST_F(KbcTest, PowerOnState) {
  EXPECT_EQ(status(), I8042::ST_UNLOCKED);
  EXPECT_FALSE(irqs.level[1]);
  command(0x20);
  EXPECT_EQ(status(), I8042::ST_UNLOCKED | I8042::ST_A2 | I8042::ST_OBF);
  EXPECT_EQ(data(), I8042::CB_KBD_INT | I8042::CB_AUX_INT);
  EXPECT_TRUE(a20_events.empty());
  EXPECT_TRUE(kbc.a20_enabled());
}

TEST_F(KbcTest, SelfTestAnswers55AndSetsSystemFlag) {
  command(0xAA);
  EXPECT_EQ(status() & (I8042::ST_OBF | I8042::ST_SYS | I8042::ST_IBF),
            I8042::ST_OBF | I8042::ST_SYS);
  EXPECT_EQ(data(), 0x55);
  EXPECT_EQ(status() & I8042::ST_OBF, 0);
  EXPECT_EQ(data(), 0x55);  // an empty buffer reads its last byte again
}

TEST_F(KbcTest, InterfaceTests) {
  command(0xAB);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x00}));
  command(0xA9);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x00}));
}

TEST_F(KbcTest, CommandByteReadWrite) {
  command(0x60);
  write_data(0x65);  // XLAT, kbd disable, SYS, IRQ1
  EXPECT_EQ(status() & (I8042::ST_A2 | I8042::ST_SYS), I8042::ST_SYS);  // last write was data
  command(0x20);
  EXPECT_EQ(data(), 0x65);
  EXPECT_EQ(kbc.command_byte(), 0x65);
  command(0x60);
  write_data(0x00);
  EXPECT_EQ(status() & I8042::ST_SYS, 0);
}

TEST_F(KbcTest, EnableDisableCommandsEditTheCommandByte) {
  command(0xAD);
  command(0xA7);
  EXPECT_EQ(kbc.command_byte() & 0x30, 0x30);
  command(0xAE);
  EXPECT_EQ(kbc.command_byte() & 0x30, 0x20);
  command(0xA8);
  EXPECT_EQ(kbc.command_byte() & 0x30, 0x00);
}

TEST_F(KbcTest, OutputPortA20AndReadBack) {
  command(0xD1);
  write_data(0xDD);  // A20 off, reset line high
  EXPECT_EQ(a20_events, (std::vector<bool>{false}));
  EXPECT_FALSE(kbc.a20_enabled());
  command(0xD1);
  write_data(0xDF);
  EXPECT_EQ(a20_events, (std::vector<bool>{false, true}));
  command(0xD1);
  write_data(0xDF);  // no change: no callback
  EXPECT_EQ(a20_events.size(), 2u);
  command(0xD0);
  EXPECT_EQ(data(), 0xCF);  // bit 4 shows the (empty) output buffer, not what was written
  EXPECT_EQ(resets, 0u);
}

TEST_F(KbcTest, OutputPortResetBit) {
  command(0xD1);
  write_data(0xDE);  // bit 0 low pulls the CPU reset line
  EXPECT_EQ(resets, 1u);
}

TEST_F(KbcTest, PulseCommands) {
  command(0xFF);  // pulses nothing
  EXPECT_EQ(resets, 0u);
  command(0xFE);  // pulses bit 0: reset
  EXPECT_EQ(resets, 1u);
  command(0xF0);  // pulses bits 0-3
  EXPECT_EQ(resets, 2u);
  command(0xFD);  // bit 1 only
  EXPECT_EQ(resets, 2u);
}

TEST_F(KbcTest, KeyboardResetAnswersAckAndBatWithIrq1) {
  write_data(0xFF);
  EXPECT_TRUE(irqs.level[1]);
  EXPECT_EQ(status() & (I8042::ST_OBF | I8042::ST_AUXB), I8042::ST_OBF);
  EXPECT_EQ(data(), 0xFA);
  EXPECT_TRUE(irqs.level[1]);  // the next byte follows at once
  EXPECT_EQ(data(), 0xAA);
  EXPECT_FALSE(irqs.level[1]);
  EXPECT_EQ(irqs.rises[1], 2u);  // one edge per byte
  EXPECT_EQ(irqs.rises[12], 0u);
}

TEST_F(KbcTest, KeyboardIdentify) {
  write_data(0xF2);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA, 0xAB, 0x83}));
  command(0x60);
  write_data(0x41);  // translation on
  write_data(0xF2);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA, 0xAB, 0x41}));
}

TEST_F(KbcTest, KeyboardCommandsWithArguments) {
  write_data(0xED);
  write_data(0x07);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA, 0xFA}));
  EXPECT_EQ(kbc.keyboard().leds(), 7);
  write_data(0xF0);
  write_data(0x00);  // the argument is acknowledged, then the set number follows
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA, 0xFA, 0x02}));
  write_data(0xF0);
  write_data(0x01);
  write_data(0xF0);
  write_data(0x00);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA, 0xFA, 0xFA, 0xFA, 0x01}));
  write_data(0xF0);
  write_data(0x09);  // no such set
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA, 0xFE}));
  write_data(0xF3);
  write_data(0x20);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA, 0xFA}));
  EXPECT_EQ(kbc.keyboard().typematic(), 0x20);
  write_data(0xEE);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xEE}));
}

TEST_F(KbcTest, EnableDisableScanning) {
  write_data(0xF5);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA}));
  EXPECT_FALSE(kbc.keyboard().scanning());
  kbc.push_scancode(0x1C);  // a disabled keyboard sends nothing
  EXPECT_TRUE(drain().empty());
  write_data(0xF4);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA}));
  kbc.push_scancode(0x1C);
  kbc.push_scancode(0x9C);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x1C, 0x9C}));
}

TEST_F(KbcTest, CommandByteGatesIrq1) {
  command(0x60);
  write_data(0x00);  // no interrupts
  write_data(0xF4);
  EXPECT_TRUE(status() & I8042::ST_OBF);
  EXPECT_FALSE(irqs.level[1]);
  command(0x60);
  write_data(0x01);  // enabling with data waiting raises IRQ1
  EXPECT_TRUE(irqs.level[1]);
  EXPECT_EQ(data(), 0xFA);
  EXPECT_FALSE(irqs.level[1]);
}

TEST_F(KbcTest, DisabledKeyboardInterfaceHoldsItsBytes) {
  command(0xAD);
  write_data(0xF2);  // the keyboard answers, but its clock line is held
  EXPECT_FALSE(status() & I8042::ST_OBF);
  command(0xAA);  // controller replies still come through
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x55}));
  command(0xAE);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xFA, 0xAB, 0x83}));
}

TEST_F(KbcTest, WriteKeyboardAndAuxOutputBuffers) {
  command(0xD2);
  write_data(0x12);
  EXPECT_EQ(status() & (I8042::ST_OBF | I8042::ST_AUXB), I8042::ST_OBF);
  EXPECT_TRUE(irqs.level[1]);
  EXPECT_EQ(data(), 0x12);
  command(0xD3);
  write_data(0x5A);  // the aux loopback Linux uses to find an AUX port
  EXPECT_EQ(status() & (I8042::ST_OBF | I8042::ST_AUXB), I8042::ST_OBF | I8042::ST_AUXB);
  EXPECT_TRUE(irqs.level[12]);
  EXPECT_FALSE(irqs.level[1]);
  command(0xD0);  // output port read shows the aux buffer full
  EXPECT_EQ(data(), 0x5A);
  EXPECT_EQ(data() & (I8042::OP_KBD_OBF | I8042::OP_AUX_OBF), I8042::OP_AUX_OBF);
  EXPECT_FALSE(irqs.level[12]);
}

TEST_F(KbcTest, NoMouseBehindAuxPort) {
  command(0xD4);
  write_data(0xFF);  // reset the mouse
  EXPECT_EQ(status() & (I8042::ST_OBF | I8042::ST_AUXB | I8042::ST_TIMEOUT),
            I8042::ST_OBF | I8042::ST_AUXB | I8042::ST_TIMEOUT);
  EXPECT_EQ(data(), 0xFE);
  EXPECT_EQ(status() & I8042::ST_TIMEOUT, 0);
  EXPECT_TRUE(kbc.keyboard().scanning());  // the byte did not reach the keyboard
}

TEST_F(KbcTest, ResetRestoresPowerOnState) {
  command(0x60);
  write_data(0x74);
  write_data(0xF5);
  kbc.reset();
  EXPECT_EQ(status(), I8042::ST_UNLOCKED);
  EXPECT_EQ(kbc.command_byte(), 0x03);
  EXPECT_TRUE(kbc.keyboard().scanning());
}

TEST(SystemControlA, FastA20AndReset) {
  std::vector<bool> a20;
  unsigned resets = 0;
  SystemControlA port92([&](bool on) { a20.push_back(on); }, [&] { ++resets; });
  EXPECT_EQ(port92.io_read(0x92, 1), 0x00u);
  port92.io_write(0x92, 1, 0x02);
  EXPECT_EQ(a20, (std::vector<bool>{true}));
  EXPECT_EQ(port92.io_read(0x92, 1), 0x02u);
  EXPECT_EQ(resets, 0u);
  port92.io_write(0x92, 1, 0x03);  // read-modify-write setting the reset bit
  EXPECT_EQ(resets, 1u);
  EXPECT_EQ(a20.size(), 1u);
  EXPECT_EQ(port92.io_read(0x92, 1), 0x02u);  // bit 0 does not read back
  port92.io_write(0x92, 1, 0x00);
  EXPECT_EQ(a20, (std::vector<bool>{true, false}));
  port92.io_write(0x92, 1, 0x02);
  port92.reset();
  EXPECT_FALSE(port92.a20_enabled());
}

}  // namespace
}  // namespace softcpu
