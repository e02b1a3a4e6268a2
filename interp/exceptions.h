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

// Fault-class exceptions (SDM vol.3 table 6-1) as raised by an instruction (a GuestFault):
// everything but the traps #BP/#OF and the aborts #DF/#MC. A #DB raised as a GuestFault is the
// general-detect fault; instruction-breakpoint #DBs are delivered by the run loop instead.
inline bool is_fault_vector(uint8_t v) { return v != 3 && v != 4 && v != 8 && v != 18; }

// SDM vol.3 17.3.1.1: the EFLAGS image saved for a fault-class exception has RF = 1 (except
// instruction-breakpoint #DB), so the handler's IRET restarts the instruction without its
// instruction breakpoint firing again. Call before delivering a GuestFault.
inline void set_rf_for_fault(Cpu& c, uint8_t v) {
  if (is_fault_vector(v)) c.eflags |= RF;
}

// Put the CPU in its power-on state (SDM vol.3 9.1.1, table 9-1).
void reset_cpu(Cpu& c);

}  // namespace softcpu
