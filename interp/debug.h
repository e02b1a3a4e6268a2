// Debugger breakpoints and watchpoints (the GDB stub's Z0-Z4), separate from the guest's own
// DR0-DR7. Addresses are linear (CS.base + EIP for code), so they work in real mode too.
// When one is hit the interpreter returns EXIT_DEBUG with cpu.debug_hit describing it:
//  - a breakpoint stops *before* the instruction at that address runs (EIP points at it);
//    resuming from it runs that instruction (the interpreter ignores a breakpoint at the
//    address it resumes from once, like a debugger's step-over-breakpoint);
//  - a watchpoint stops *after* the instruction that made the access completes (a trap).
// Adding or removing a breakpoint invalidates the cached code of its page so that any tier
// sees it; watchpoint pages take the soft TLB's slow path.
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

// WatchKind, DebugHitKind and DebugHit live in interp/cpu.h (Cpu::debug_hit holds one).

// All return false if there is nothing to remove, or no room (the limits are generous).
bool debug_add_breakpoint(Cpu& c, uint32_t linear);
bool debug_remove_breakpoint(Cpu& c, uint32_t linear);
bool debug_add_watchpoint(Cpu& c, uint32_t linear, uint32_t len, WatchKind kind);
bool debug_remove_watchpoint(Cpu& c, uint32_t linear, uint32_t len, WatchKind kind);
void debug_clear_all(Cpu& c);

// ---- used by the interpreter and the memory slow path (shared with DR0-DR7) ----
// Rebuild the data-watch list and exec_bp_active from DR0-DR3/DR7 and the debugger's points;
// flushes the soft TLB so watched pages take the slow path.
void debug_rebuild(Cpu& c);
// A data access at [lin, lin + size): record DR6 B bits in c.db_trap and/or a debugger hit
// in c.debug_pending, and stop the block after this instruction.
void debug_check_access(Cpu& c, uint32_t lin, unsigned size, bool write);
// Does a data watch cover any byte of the page holding `lin`? (soft TLB fill)
bool debug_page_watched(const Cpu& c, uint32_t lin);
// DR6 B0-B3 bits of the enabled DR instruction breakpoints at `lin`.
uint32_t debug_exec_breakpoints(const Cpu& c, uint32_t lin);
// DR6 B0-B3 bits of the enabled DR I/O breakpoints (R/W = 10, only with CR4.DE) that an
// access to ports [port, port + size) hits (SDM vol.3 17.2.5: the DR address is LEN-aligned).
uint32_t debug_io_breakpoints(const Cpu& c, uint16_t port, unsigned size);
// Is there a debugger breakpoint at `lin`?
bool debug_breakpoint_at(const Cpu& c, uint32_t lin);

}  // namespace softcpu
