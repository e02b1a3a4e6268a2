#include "vdevices/uart16550.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/vdevices/test_backend.h"

namespace softcpu {
namespace {

using test::RecordingBackend;
using U = Uart16550;
constexpr uint16_t B = Uart16550::COM1_BASE;

struct UartTest : ::testing::Test {
  RecordingBackend backend;
  std::vector<bool> irq_events;
  Uart16550 uart{B, backend, [this](bool level) { irq_events.push_back(level); }};

  uint8_t in(unsigned off) { return static_cast<uint8_t>(uart.io_read(B + off, 1)); }
  void out(unsigned off, uint8_t v) { uart.io_write(B + off, 1, v); }
};

TEST_F(UartTest, ResetState) {
  EXPECT_EQ(in(U::IER_DLM), 0);
  EXPECT_EQ(in(U::IIR_FCR), 0x01);
  EXPECT_EQ(in(U::LCR), 0);
  EXPECT_EQ(in(U::MCR), 0);
  EXPECT_EQ(in(U::LSR), 0x60);
  EXPECT_EQ(in(U::MSR) & 0xF0, U::MSR_CTS | U::MSR_DSR | U::MSR_DCD);
  EXPECT_FALSE(uart.irq_pending());
  EXPECT_TRUE(irq_events.empty());
}

TEST_F(UartTest, DivisorLatch) {
  out(U::LCR, 0x80 | 0x03);  // DLAB, 8N1
  out(U::RBR_THR_DLL, 0x01);
  out(U::IER_DLM, 0x00);
  EXPECT_EQ(uart.divisor(), 1);
  EXPECT_EQ(uart.baud_rate(), 115200u);
  EXPECT_EQ(in(U::RBR_THR_DLL), 0x01);
  EXPECT_EQ(in(U::IER_DLM), 0x00);
  out(U::IER_DLM, 0x02);
  EXPECT_EQ(uart.divisor(), 0x0201);
  // 16-bit access reads DLL and DLM together.
  EXPECT_EQ(uart.io_read(B, 2), 0x0201u);
  // DLAB access does not touch THR/IER.
  EXPECT_TRUE(backend.out.empty());
  out(U::LCR, 0x03);
  EXPECT_EQ(in(U::LCR), 0x03);
  EXPECT_EQ(in(U::IER_DLM), 0x00);
  EXPECT_EQ(uart.divisor(), 0x0201);  // latched value survives DLAB=0
  uart.reset();
  EXPECT_EQ(uart.divisor(), 0x0201);  // and a master reset
}

TEST_F(UartTest, TransmitGoesToBackend) {
  out(U::RBR_THR_DLL, 'h');
  out(U::RBR_THR_DLL, 'i');
  EXPECT_EQ(backend.out, (std::vector<uint8_t>{'h', 'i'}));
  EXPECT_EQ(in(U::LSR), U::LSR_THRE | U::LSR_TEMT);  // sent at once
}

TEST_F(UartTest, LsrAfterInput) {
  EXPECT_EQ(in(U::LSR) & U::LSR_DR, 0);
  backend.feed({'a', 'b'});
  EXPECT_EQ(in(U::LSR), U::LSR_DR | U::LSR_THRE | U::LSR_TEMT);
  EXPECT_EQ(in(U::RBR_THR_DLL), 'a');
  EXPECT_EQ(in(U::LSR) & U::LSR_DR, U::LSR_DR);
  EXPECT_EQ(in(U::RBR_THR_DLL), 'b');
  EXPECT_EQ(in(U::LSR) & U::LSR_DR, 0);
  EXPECT_EQ(in(U::RBR_THR_DLL), 'b');  // empty receiver: RBR keeps the last byte
}

TEST_F(UartTest, FifoEnableAndIirBits) {
  out(U::IIR_FCR, 0x01);
  EXPECT_EQ(in(U::IIR_FCR), 0xC1);
  out(U::IIR_FCR, 0x00);
  EXPECT_EQ(in(U::IIR_FCR), 0x01);
}

TEST_F(UartTest, FifoHoldsSixteenBytes) {
  out(U::IIR_FCR, 0x07);
  for (int i = 0; i < 20; ++i) backend.in.push_back(static_cast<uint8_t>(i));
  uart.poll();
  EXPECT_EQ(backend.in.size(), 4u);  // 16 pulled into the FIFO
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(in(U::LSR) & U::LSR_DR);
    EXPECT_EQ(in(U::RBR_THR_DLL), i);
  }
  EXPECT_FALSE(in(U::LSR) & U::LSR_DR);
}

TEST_F(UartTest, FifoClearRx) {
  out(U::IIR_FCR, 0x01);
  backend.feed({1, 2, 3});
  uart.poll();
  out(U::IIR_FCR, 0x03);  // clear RX
  EXPECT_TRUE(backend.in.empty());
  EXPECT_FALSE(in(U::LSR) & U::LSR_DR);
}

TEST_F(UartTest, ReceiveInterruptAndThreInterrupt) {
  out(U::IER_DLM, U::IER_RDA);
  EXPECT_FALSE(uart.irq_pending());
  backend.feed({'x'});
  uart.poll();
  EXPECT_TRUE(uart.irq_pending());
  EXPECT_EQ(irq_events, (std::vector<bool>{true}));
  EXPECT_EQ(in(U::IIR_FCR), 0x04);
  EXPECT_EQ(in(U::RBR_THR_DLL), 'x');
  EXPECT_FALSE(uart.irq_pending());
  EXPECT_EQ(irq_events, (std::vector<bool>{true, false}));

  // Enabling ETBEI with THR empty raises THRE; reading IIR (reporting THRE) clears it.
  out(U::IER_DLM, U::IER_RDA | U::IER_THRE);
  EXPECT_TRUE(uart.irq_pending());
  EXPECT_EQ(in(U::IIR_FCR), 0x02);
  EXPECT_EQ(in(U::IIR_FCR), 0x01);
  // Writing THR: the byte leaves at once and THRE is pending again.
  out(U::RBR_THR_DLL, 'y');
  EXPECT_EQ(in(U::IIR_FCR), 0x02);
  // Disabling and re-enabling re-arms it (the 8250 driver's THRE probe).
  out(U::IER_DLM, 0);
  out(U::IER_DLM, U::IER_THRE);
  EXPECT_EQ(in(U::IIR_FCR), 0x02);
}

TEST_F(UartTest, IirPriorities) {
  // Loopback lets the test create line status, data and modem status conditions.
  out(U::IER_DLM, 0x0F);
  out(U::IER_DLM, 0x0F);
  EXPECT_EQ(in(U::IIR_FCR), 0x02);  // THRE (from enabling it), clears on this read
  out(U::MCR, U::MCR_LOOP | U::MCR_RTS);  // MSR deltas appear
  EXPECT_EQ(in(U::IIR_FCR), 0x00);        // modem status is lowest and the only one
  out(U::RBR_THR_DLL, 'a');               // loops back: data available, THRE pending again
  EXPECT_EQ(in(U::IIR_FCR), 0x04);        // RDA beats THRE and MS
  out(U::RBR_THR_DLL, 'b');               // RBR full (no FIFO): overrun
  EXPECT_EQ(in(U::IIR_FCR), 0x06);        // line status is highest
  EXPECT_EQ(in(U::LSR) & (U::LSR_OE | U::LSR_DR), U::LSR_OE | U::LSR_DR);  // clears OE
  EXPECT_EQ(in(U::IIR_FCR), 0x04);
  EXPECT_EQ(in(U::RBR_THR_DLL), 'b');  // the overrun overwrote RBR
  EXPECT_EQ(in(U::IIR_FCR), 0x02);     // THRE from the last THR write; cleared by this read
  EXPECT_EQ(in(U::IIR_FCR), 0x00);     // modem status
  in(U::MSR);                          // clears the deltas
  EXPECT_EQ(in(U::IIR_FCR), 0x01);
  EXPECT_FALSE(uart.irq_pending());
}

TEST_F(UartTest, FifoTriggerLevelAndTimeout) {
  out(U::IIR_FCR, 0x41);  // FIFO on, trigger 4
  out(U::IER_DLM, U::IER_RDA);
  backend.feed({1, 2});
  uart.poll();
  EXPECT_EQ(in(U::IIR_FCR), 0xCC);  // below trigger: character timeout
  backend.feed({3, 4});
  EXPECT_EQ(in(U::IIR_FCR), 0xC4);  // at trigger: data available
  for (int i = 0; i < 4; ++i) in(U::RBR_THR_DLL);
  EXPECT_EQ(in(U::IIR_FCR), 0xC1);
}

TEST_F(UartTest, LoopbackDoesNotTransmitAndIgnoresInput) {
  out(U::MCR, U::MCR_LOOP);
  backend.feed({'z'});
  out(U::RBR_THR_DLL, 0x55);
  EXPECT_TRUE(backend.out.empty());
  EXPECT_EQ(in(U::LSR) & U::LSR_DR, U::LSR_DR);
  EXPECT_EQ(in(U::RBR_THR_DLL), 0x55);
  EXPECT_EQ(in(U::LSR) & U::LSR_DR, 0);
  EXPECT_EQ(backend.in.size(), 1u);  // host input waits until loopback ends
  out(U::MCR, 0);
  EXPECT_EQ(in(U::RBR_THR_DLL), 'z');
}

TEST_F(UartTest, LoopbackModemLines) {
  // The Linux 8250 probe: MCR = LOOP|OUT2|RTS must read MSR status 0x90.
  out(U::MCR, U::MCR_LOOP | 0x0A);
  EXPECT_EQ(in(U::MSR) & 0xF0, 0x90);
  out(U::MCR, U::MCR_LOOP | 0x0F);
  EXPECT_EQ(in(U::MSR), 0xF0 | U::MSR_DDSR);  // DSR and RI rose; a rising RI sets no delta
  out(U::MCR, U::MCR_LOOP);
  // All four fell: CTS/DSR/DCD deltas and the RI trailing edge.
  EXPECT_EQ(in(U::MSR), U::MSR_DCTS | U::MSR_DDSR | U::MSR_TERI | U::MSR_DDCD);
  EXPECT_EQ(in(U::MSR), 0x00);  // deltas clear on read
  EXPECT_EQ(in(U::MCR), U::MCR_LOOP);
}

TEST_F(UartTest, Scratch) {
  out(U::SCR, 0xA5);
  EXPECT_EQ(in(U::SCR), 0xA5);
  out(U::SCR, 0x5A);
  EXPECT_EQ(in(U::SCR), 0x5A);
}

TEST_F(UartTest, WideAccessSplitsIntoBytes) {
  uart.io_write(B + U::LCR, 2, 0x0B03);  // LCR = 0x03, MCR = 0x0B
  EXPECT_EQ(in(U::LCR), 0x03);
  EXPECT_EQ(in(U::MCR), 0x0B);
  // SCR at base+7; base+8 is outside the device and reads 0xFF.
  out(U::SCR, 0x12);
  EXPECT_EQ(uart.io_read(B + U::SCR, 2), 0xFF12u);
}

TEST_F(UartTest, ResetClearsInterrupts) {
  out(U::IER_DLM, U::IER_THRE);
  EXPECT_TRUE(uart.irq_pending());
  uart.reset();
  EXPECT_FALSE(uart.irq_pending());
  EXPECT_EQ(irq_events, (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace softcpu
