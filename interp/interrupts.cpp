#include "interp/interrupts.h"

#include "interp/events.h"

namespace softcpu {

void cpu_set_interrupt_controller(Cpu& c, InterruptAcknowledge* intc) { c.intc = intc; }

void cpu_set_intr(Cpu& c, bool level) {
  c.intr = level;
  if (level) c.events = 1;  // the run loop clears it once nothing is pending
}

void cpu_raise_nmi(Cpu& c) {
  c.nmi_pending = 1;
  c.events = 1;
}

bool cpu_interrupt_deliverable(const Cpu& c) {
  // Shadows do not matter here: they last one instruction, and HLT ends them.
  return (c.nmi_pending && !c.nmi_blocked) || (c.intr && (c.eflags & IF) && c.intc);
}

}  // namespace softcpu
