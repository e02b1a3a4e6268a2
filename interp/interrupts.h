// The CPU's external interrupt pins as the platform sees them (SDM vol.3 6.3, 6.8.1, 6.7).
// The machine (monitor/) raises INTR from the interrupt controller's output and NMI from the
// chipset; the interpreter recognizes them at instruction boundaries: NMI first, then INTR
// when EFLAGS.IF = 1 and no STI / MOV SS / POP SS shadow is in effect. A recognized INTR
// asks the controller for its vector (the INTA cycle) and delivers it as an external
// interrupt; a pending interrupt also ends HLT. These functions are called on the CPU thread
// while the interpreter is not running (devices run between interpreter runs).
#pragma once
#include <cstdint>

#include "interp/cpu.h"
#include "interp/interrupt_ack.h"

namespace softcpu {

// Connect the controller (nullptr: INTR is never acknowledged).
void cpu_set_interrupt_controller(Cpu& c, InterruptAcknowledge* intc);
// Level of the INTR pin.
void cpu_set_intr(Cpu& c, bool level);
// Latch an NMI (edge): delivered through vector 2 once, blocked until the next IRET.
void cpu_raise_nmi(Cpu& c);
// True if the CPU would take an interrupt now, or leave HLT (pending NMI, or INTR with IF=1).
bool cpu_interrupt_deliverable(const Cpu& c);

}  // namespace softcpu
