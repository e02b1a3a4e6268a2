// Hardware task switching and the TSS (SDM vol.3 chapter 7): task switches by JMP/CALL to a
// TSS or task gate, by interrupts through task gates and by IRET with NT; the ring stacks
// of the current TSS (6.12.1, 5.8.5) and the I/O permission bitmap (vol.1 18.5.2).
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

enum class TaskSwitchKind : uint8_t { JMP, CALL, IRET, INT };

// Switch to the task whose TSS descriptor `desc` is selected by `sel` (GDT). The caller has
// done the checks that depend on how the switch was reached (type, busy state, privilege,
// present). cpu.eip is the EIP saved for the outgoing task. Faults found before the commit
// point are raised (GuestFault, nothing changed); faults after it (SDM 7.3 step 11: the new
// task's LDT, segments, EIP) are delivered in the new task's context before returning.
// For an exception through a task gate, `has_error` pushes `error` on the new task's stack.
// `ext` is the EXT bit for error codes (an event external to the program).
void task_switch(Cpu& c, uint16_t sel, uint64_t desc, TaskSwitchKind kind, bool has_error = false,
                 uint32_t error = 0, uint32_t ext = 0);

// SS:ESP for ring `dpl` from the current TSS (32- or 16-bit format). #TS(TR selector + ext)
// when the fields lie beyond the TSS limit.
void tss_ring_stack(Cpu& c, unsigned dpl, uint32_t ext, uint16_t& ss, uint32_t& esp);

// Checks of an inner-ring stack segment taken from the TSS for a privilege change to `dpl`
// (SDM vol.2 CALL MORE-PRIVILEGE, INT INTER-PRIVILEGE-LEVEL-INTERRUPT): #TS / #SS with the
// selector. Returns its descriptor.
uint64_t check_inner_stack(Cpu& c, uint16_t ss, unsigned dpl, uint32_t ext);

// Does the I/O permission bitmap of the current (32-bit) TSS allow an access of `size`
// bytes at `port`? (SDM vol.1 18.5.2; no bitmap or one beyond the TSS limit: no.)
bool io_bitmap_allows(Cpu& c, uint16_t port, unsigned size);

}  // namespace softcpu
