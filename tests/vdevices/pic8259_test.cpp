#include "vdevices/pic8259.h"

#include <gtest/gtest.h>

#include <vector>

namespace softcpu {
namespace {

struct PicTest : ::testing::Test {
  std::vector<bool> intr_events;
  PicPair pic{[this](bool level) { intr_events.push_back(level); }};

  uint8_t in(uint16_t port) { return static_cast<uint8_t>(pic.io_read(port, 1)); }
  void out(uint16_t port, uint8_t v) { pic.io_write(port, 1, v); }

  // The PC BIOS initialization: edge, cascade, ICW4 (8086 mode), vectors 0x08 and 0x70.
  void init_pc(uint8_t icw4 = 0x01) {
    out(0x20, 0x11);
    out(0x21, 0x08);
    out(0x21, 0x04);
    out(0x21, icw4);
    out(0xA0, 0x11);
    out(0xA1, 0x70);
    out(0xA1, 0x02);
    out(0xA1, icw4);
  }
  void eoi_master() { out(0x20, 0x20); }
  void eoi_slave() { out(0xA0, 0x20); }
};

TEST_F(PicTest, ResetStateHasNoRequest) {
  EXPECT_FALSE(pic.intr_output());
  EXPECT_EQ(in(0x21), 0);
  EXPECT_EQ(in(0xA1), 0);
  EXPECT_EQ(in(0x20), 0);  // IRR
  EXPECT_EQ(pic.elcr(0), 0);
  EXPECT_TRUE(intr_events.empty());
}

TEST_F(PicTest, InitializationSetsVectorsAndClearsMask) {
  out(0x21, 0xFF);
  EXPECT_EQ(in(0x21), 0xFF);
  init_pc();
  EXPECT_EQ(pic.vector_base(0), 0x08);
  EXPECT_EQ(pic.vector_base(1), 0x70);
  EXPECT_EQ(in(0x21), 0x00);  // ICW1 clears IMR
  out(0x21, 0xB8);            // after ICW4 the data port is OCW1
  EXPECT_EQ(in(0x21), 0xB8);
  EXPECT_EQ(pic.vector_base(0), 0x08);
}

TEST_F(PicTest, SingleModeSkipsIcw3) {
  out(0x20, 0x13);  // single, IC4
  out(0x21, 0x40);
  out(0x21, 0x01);  // ICW4 (no ICW3 in single mode)
  out(0x21, 0x0F);  // OCW1
  EXPECT_EQ(pic.vector_base(0), 0x40);
  EXPECT_EQ(in(0x21), 0x0F);
}

TEST_F(PicTest, FixedPriorityAndNesting) {
  init_pc();
  pic.set_irq(3, true);
  pic.set_irq(1, true);
  EXPECT_TRUE(pic.intr_output());
  EXPECT_EQ(pic.acknowledge(), 0x09);  // IRQ1 before IRQ3
  EXPECT_EQ(pic.isr(0), 0x02);
  EXPECT_EQ(pic.irr(0), 0x08);
  EXPECT_FALSE(pic.intr_output());  // IRQ3 is lower than the one in service
  pic.set_irq(0, true);             // IRQ0 is higher: it nests
  EXPECT_TRUE(pic.intr_output());
  EXPECT_EQ(pic.acknowledge(), 0x08);
  EXPECT_EQ(pic.isr(0), 0x03);
  EXPECT_FALSE(pic.intr_output());
  eoi_master();  // non-specific EOI ends the highest level in service: IRQ0
  EXPECT_EQ(pic.isr(0), 0x02);
  EXPECT_FALSE(pic.intr_output());
  eoi_master();
  EXPECT_EQ(pic.isr(0), 0x00);
  EXPECT_TRUE(pic.intr_output());
  EXPECT_EQ(pic.acknowledge(), 0x0B);
}

TEST_F(PicTest, SpecificEoi) {
  init_pc();
  pic.set_irq(4, true);
  pic.set_irq(6, true);
  EXPECT_EQ(pic.acknowledge(), 0x0C);
  out(0x20, 0x60 | 6);  // specific EOI for a level not in service changes nothing
  EXPECT_EQ(pic.isr(0), 0x10);
  out(0x20, 0x60 | 4);
  EXPECT_EQ(pic.isr(0), 0x00);
  EXPECT_EQ(pic.acknowledge(), 0x0E);
}

TEST_F(PicTest, MaskBlocksRequestButKeepsIrr) {
  init_pc();
  out(0x21, 0x02);
  pic.set_irq(1, true);
  EXPECT_FALSE(pic.intr_output());
  EXPECT_EQ(pic.irr(0), 0x02);
  out(0x21, 0x00);
  EXPECT_TRUE(pic.intr_output());
  EXPECT_EQ(intr_events, (std::vector<bool>{true}));
}

TEST_F(PicTest, AutoEoiLeavesIsrClear) {
  init_pc(0x03);  // ICW4: 8086 mode, AEOI
  pic.set_irq(5, true);
  pic.set_irq(3, true);
  EXPECT_EQ(pic.acknowledge(), 0x0B);
  EXPECT_EQ(pic.isr(0), 0);
  EXPECT_TRUE(pic.intr_output());  // nothing in service: IRQ5 follows at once
  EXPECT_EQ(pic.acknowledge(), 0x0D);
  EXPECT_FALSE(pic.intr_output());
}

TEST_F(PicTest, SpuriousIrq7WhenRequestVanishes) {
  init_pc();
  pic.set_irq(1, true);
  EXPECT_TRUE(pic.intr_output());
  out(0x21, 0x02);  // masked between INTR and INTA
  EXPECT_EQ(pic.acknowledge(), 0x0F);
  EXPECT_EQ(pic.isr(0), 0);  // the spurious IR7 is not put in service
  EXPECT_EQ(pic.irr(0), 0x02);
}

TEST_F(PicTest, SpuriousIrq15FromLevelInput) {
  init_pc();
  out(0x4D1, 0x04);  // IRQ10 level-triggered
  pic.set_irq(10, true);
  EXPECT_TRUE(pic.intr_output());
  pic.set_irq(10, false);  // the device withdrew its request
  EXPECT_EQ(pic.irr(1), 0);
  EXPECT_EQ(pic.acknowledge(), 0x77);
  EXPECT_EQ(pic.isr(1), 0);
  EXPECT_EQ(pic.isr(0), 0x04);  // the master's cascade level stays in service
}

TEST_F(PicTest, SlaveCascadeThroughIr2) {
  init_pc();
  pic.set_irq(12, true);
  EXPECT_TRUE(pic.intr_output());
  EXPECT_EQ(pic.irr(0), 0x04);
  EXPECT_EQ(pic.acknowledge(), 0x74);
  EXPECT_EQ(pic.isr(0), 0x04);
  EXPECT_EQ(pic.isr(1), 0x10);
  pic.set_irq(12, false);
  pic.set_irq(11, true);  // higher than IRQ12 on the slave, but master IR2 is in service
  EXPECT_FALSE(pic.intr_output());
  eoi_slave();
  EXPECT_FALSE(pic.intr_output());  // still blocked by master ISR2
  eoi_master();
  EXPECT_TRUE(pic.intr_output());
  EXPECT_EQ(pic.acknowledge(), 0x73);
}

TEST_F(PicTest, MasterIrqsOutrankSlaveByCascadePosition) {
  init_pc();
  pic.set_irq(8, true);
  pic.set_irq(3, true);
  EXPECT_EQ(pic.acknowledge(), 0x70);  // IR2 (slave) beats IR3
  eoi_slave();
  eoi_master();
  EXPECT_EQ(pic.acknowledge(), 0x0B);
}

TEST_F(PicTest, EdgeInputNeedsNewRisingEdge) {
  init_pc();
  pic.set_irq(4, true);
  EXPECT_EQ(pic.acknowledge(), 0x0C);
  eoi_master();
  EXPECT_FALSE(pic.intr_output());  // line still high: no new edge
  pic.set_irq(4, true);
  EXPECT_FALSE(pic.intr_output());
  pic.set_irq(4, false);
  pic.set_irq(4, true);
  EXPECT_TRUE(pic.intr_output());
}

TEST_F(PicTest, PulseLatchesEdgeRequest) {
  init_pc();
  IrqLine line{&pic, 0};
  line.pulse();
  EXPECT_TRUE(pic.intr_output());
  EXPECT_EQ(pic.acknowledge(), 0x08);
}

TEST_F(PicTest, LevelInputFollowsLine) {
  init_pc();
  out(0x4D0, 0x08);  // IRQ3 level
  pic.set_irq(3, true);
  EXPECT_EQ(pic.acknowledge(), 0x0B);
  EXPECT_EQ(pic.irr(0), 0x08);  // IRR still follows the high line
  eoi_master();
  EXPECT_TRUE(pic.intr_output());  // still asserted: interrupts again
  pic.set_irq(3, false);
  EXPECT_FALSE(pic.intr_output());
  EXPECT_EQ(pic.irr(0), 0);
}

TEST_F(PicTest, ElcrReservedBits) {
  out(0x4D0, 0xFF);
  out(0x4D1, 0xFF);
  EXPECT_EQ(in(0x4D0), 0xF8);
  EXPECT_EQ(in(0x4D1), 0xDE);
  EXPECT_EQ(pic.io_read(0x4D0, 2), 0xDEF8u);
}

TEST_F(PicTest, ReadIrrAndIsrThroughOcw3) {
  init_pc();
  pic.set_irq(1, true);
  pic.set_irq(6, true);
  EXPECT_EQ(in(0x20), 0x42);  // IRR by default
  pic.acknowledge();
  out(0x20, 0x0B);  // read ISR
  EXPECT_EQ(in(0x20), 0x02);
  EXPECT_EQ(in(0x20), 0x02);  // the selection sticks
  out(0x20, 0x0A);            // read IRR
  EXPECT_EQ(in(0x20), 0x40);
}

TEST_F(PicTest, PollCommand) {
  init_pc();
  out(0x21, 0xFF);  // polled systems mask everything
  out(0x20, 0x0C);
  EXPECT_EQ(in(0x20), 0x00);  // nothing pending
  out(0x21, 0x00);
  pic.set_irq(5, true);
  out(0x20, 0x0C);
  EXPECT_EQ(in(0x20), 0x85);
  EXPECT_EQ(pic.isr(0), 0x20);  // the poll read acted as INTA
  EXPECT_EQ(pic.irr(0), 0x00);
  EXPECT_EQ(in(0x20), 0x00);  // next read is an IRR read again
}

TEST_F(PicTest, RotateOnNonSpecificEoi) {
  init_pc();
  pic.set_irq(0, true);
  EXPECT_EQ(pic.acknowledge(), 0x08);
  out(0x20, 0xA0);  // rotate on non-specific EOI: IRQ0 becomes the lowest priority
  EXPECT_EQ(pic.isr(0), 0);
  pic.set_irq(0, false);
  pic.set_irq(0, true);
  pic.set_irq(7, true);
  EXPECT_EQ(pic.acknowledge(), 0x0F);  // IRQ7 now outranks IRQ0 (priority 1..7,0)
  out(0x20, 0x20);
  EXPECT_EQ(pic.acknowledge(), 0x08);
}

TEST_F(PicTest, SetPriorityCommand) {
  init_pc();
  out(0x20, 0xC0 | 4);  // IRQ4 lowest: IRQ5 highest
  pic.set_irq(3, true);
  pic.set_irq(6, true);
  EXPECT_EQ(pic.acknowledge(), 0x0E);
}

TEST_F(PicTest, RotateInAutoEoiMode) {
  init_pc(0x03);
  out(0x20, 0x80);  // set rotate in AEOI
  pic.set_irq(1, true);
  EXPECT_EQ(pic.acknowledge(), 0x09);
  pic.set_irq(1, false);
  pic.set_irq(1, true);
  pic.set_irq(5, true);
  EXPECT_EQ(pic.acknowledge(), 0x0D);  // IRQ1 rotated to lowest
}

TEST_F(PicTest, SpecialMaskModeEnablesLowerLevels) {
  init_pc();
  pic.set_irq(1, true);
  EXPECT_EQ(pic.acknowledge(), 0x09);
  pic.set_irq(5, true);
  EXPECT_FALSE(pic.intr_output());
  out(0x21, 0x02);  // mask the level in service
  out(0x20, 0x68);  // set special mask mode
  EXPECT_TRUE(pic.intr_output());
  out(0x20, 0x48);  // reset special mask mode
  EXPECT_FALSE(pic.intr_output());
}

TEST_F(PicTest, IcwResetsEdgeSenseAndInService) {
  init_pc();
  pic.set_irq(3, true);
  pic.acknowledge();
  init_pc();
  EXPECT_EQ(pic.isr(0), 0);
  EXPECT_FALSE(pic.intr_output());
  pic.set_irq(3, true);  // still high: no edge
  EXPECT_FALSE(pic.intr_output());
}

TEST_F(PicTest, IntrCallbackFollowsOutput) {
  init_pc();
  pic.set_irq(6, true);
  pic.acknowledge();
  eoi_master();
  EXPECT_EQ(intr_events, (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace softcpu
