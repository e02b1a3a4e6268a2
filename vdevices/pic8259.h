// The PC/AT pair of 8259A programmable interrupt controllers (Intel 8259A datasheet), master at
// ports 0x20-0x21 and slave at 0xA0-0xA1, the slave's INT output cascaded on master IR2, plus
// the PIIX edge/level control registers (ELCR) at 0x4D0-0x4D1.
//
// Inputs are IRQ lines 0-15 (IrqSink). An edge-triggered input latches its IRR bit on a rising
// edge and the bit stays set until the interrupt is acknowledged, so a device may pulse its
// line (IrqLine::pulse). The real chip wants the line held until the first INTA and answers
// a vanished edge with a spurious IRQ7; with pulses that would lose every interrupt. A
// level-triggered input (ELCR bit set) has its IRR bit follow the line.
//
// The CPU side: the INTR pin level goes to the output callback, and the CPU's INTA cycle is
// acknowledge(), which returns the vector (a spurious IRQ7/IRQ15 vector when the request went
// away between INTR and INTA).
#pragma once
#include <cstdint>
#include <functional>

#include "interp/interrupt_ack.h"
#include "vdevices/io_device.h"
#include "vdevices/irq.h"

namespace softcpu {

class StateReader;
class StateWriter;

class PicPair final : public IoDevice, public IrqSink, public InterruptAcknowledge {
 public:
  static constexpr uint16_t MASTER_BASE = 0x20;
  static constexpr uint16_t SLAVE_BASE = 0xA0;
  static constexpr uint16_t ELCR_BASE = 0x4D0;  // 0x4D0 master, 0x4D1 slave
  static constexpr unsigned CASCADE_IRQ = 2;    // master input fed by the slave's INT
  // ELCR bits that exist (PIIX datasheet: IRQ0-2, IRQ8 and IRQ13 are always edge-triggered).
  static constexpr uint8_t ELCR_MASTER_MASK = 0xF8;
  static constexpr uint8_t ELCR_SLAVE_MASK = 0xDE;

  // ICW1 / OCW2 / OCW3 bits.
  enum : uint8_t { ICW1_IC4 = 0x01, ICW1_SNGL = 0x02, ICW1_LTIM = 0x08, ICW1_SELECT = 0x10 };
  enum : uint8_t { ICW4_AEOI = 0x02, ICW4_SFNM = 0x10 };
  enum : uint8_t {
    OCW3_SELECT = 0x08,
    OCW3_RIS = 0x01,
    OCW3_RR = 0x02,
    OCW3_POLL = 0x04,
    OCW3_SMM = 0x20,
    OCW3_ESMM = 0x40
  };

  // intr (optional) receives the INTR pin level whenever it changes.
  explicit PicPair(std::function<void(bool)> intr = {});

  const char* name() const override { return "pic8259"; }
  // Wider accesses are split into byte accesses at port, port+1, ... (ELCR is read as a word).
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // Power-on state: both chips uninitialized (vector base 0, nothing masked or in service),
  // ELCR all edge, cascade on IR2. Input line levels are kept (they belong to the devices).
  void reset() override;

  // IRQ 0-15 (IrqSink). Line 2 is the cascade input and ignores outside requests (on an AT
  // bus the ISA IRQ2 pin is wired to IRQ9).
  void set_irq(unsigned line, bool level) override;
  // The INTA cycle (InterruptAcknowledge): the highest-priority request moves from IRR to ISR
  // (or clears at once in AEOI mode) and its vector is returned; never -1.
  int acknowledge() override;

  void set_intr_callback(std::function<void(bool)> intr) { intr_ = std::move(intr); }
  bool intr_output() const { return intr_level_; }

  // Inspection for tests and the debugger (chip 0 = master, 1 = slave).
  uint8_t irr(unsigned chip) const { return chips_[chip].irr; }
  uint8_t isr(unsigned chip) const { return chips_[chip].isr; }
  uint8_t imr(unsigned chip) const { return chips_[chip].imr; }
  uint8_t elcr(unsigned chip) const { return chips_[chip].elcr; }
  uint8_t vector_base(unsigned chip) const { return chips_[chip].vector_base; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  struct Chip {
    uint8_t irr = 0, isr = 0, imr = 0;
    uint8_t lines = 0;  // input levels as last driven
    uint8_t elcr = 0;   // 1 = level-triggered input
    uint8_t elcr_mask = 0;
    uint8_t vector_base = 0;    // ICW2 & 0xF8
    uint8_t icw3 = 0;           // master: inputs with a slave; slave: its ID
    uint8_t priority_base = 0;  // the IR with the highest priority (rotation)
    uint8_t init_step = 0;      // 0: operating; 2, 3, 4: expecting that ICW
    bool icw4_expected = false;
    bool single = false;
    bool aeoi = false;
    bool rotate_on_aeoi = false;
    bool sfnm = false;  // special fully nested mode
    bool special_mask = false;
    bool read_isr = false;  // OCW3 RR/RIS: port A0 reads ISR instead of IRR
    bool poll = false;      // OCW3 P: the next read of port A0 is a poll

    void power_on(uint8_t mask);
    // Lower number = higher priority, counting from priority_base.
    unsigned priority(unsigned ir) const { return (ir - priority_base) & 7; }
    // The IR in `bits` with the highest priority, or -1.
    int highest(uint8_t bits) const;
    // The IR the chip would interrupt for now, or -1 (datasheet "Priority Resolver").
    int pending(bool is_master) const;
    void set_input(unsigned ir, bool level);
    void acknowledge(unsigned ir);
    void end_of_interrupt(unsigned ir);
    uint8_t read_command_port(bool is_master);
    void write_command_port(uint8_t value);
    void write_data_port(uint8_t value);
  };

  uint8_t read_byte(uint16_t port);
  void write_byte(uint16_t port, uint8_t value);
  bool cascaded(unsigned ir) const;
  void update();  // slave INT -> master IR2 -> INTR pin

  Chip chips_[2];
  std::function<void(bool)> intr_;
  bool intr_level_ = false;
};

}  // namespace softcpu
