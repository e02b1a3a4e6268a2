// Interrupt request lines between devices and interrupt controllers. A device drives its
// line by level; a controller with an edge-triggered input reacts to the rising edge, so an
// edge-style device raises and lowers (pulse) its line. All calls happen on the CPU thread.
#pragma once

namespace softcpu {

// Something with numbered interrupt inputs: the 8259 pair, the IOAPIC, the machine's ISA
// router that feeds both.
class IrqSink {
 public:
  virtual ~IrqSink() = default;
  virtual void set_irq(unsigned line, bool level) = 0;
};

// One wire from a device to an input of a sink. A default-constructed line goes nowhere,
// so devices work unconnected in unit tests.
struct IrqLine {
  IrqSink* sink = nullptr;
  unsigned line = 0;

  void set(bool level) const {
    if (sink) sink->set_irq(line, level);
  }
  void raise() const { set(true); }
  void lower() const { set(false); }
  void pulse() const {
    set(true);
    set(false);
  }
};

}  // namespace softcpu
