// Delivery of exceptions and interrupts through the IVT (real mode) or IDT (protected mode).
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

enum class IntSource : uint8_t {
  EXCEPTION,  // a fault or trap raised by the CPU
  SOFTWARE,   // INT n / INT3 / INTO: gate DPL is checked against CPL
  EXTERNAL,   // INTR / NMI from the platform
};

// Deliver vector `v`. cpu.eip must be the return address (the faulting instruction for
// faults, the next one for traps and INT n). May raise a GuestFault (e.g. a bad gate),
// which the caller escalates (double fault).
void deliver_interrupt(Cpu& c, uint8_t v, IntSource src, bool has_error, uint32_t error);

// Deliver an exception raised by an instruction, escalating to #DF and to a triple fault
// (SDM vol.3 6.15, table 6-5). Returns false on a triple fault.
bool deliver_exception(Cpu& c, uint8_t v, bool has_error, uint32_t error);

// Put the CPU in its power-on state (SDM vol.3 9.1.1, table 9-1).
void reset_cpu(Cpu& c);

}  // namespace softcpu
