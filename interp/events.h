// Things the run loop must look at between instructions (SDM vol.3 6.9 priorities): traps of
// the last instruction (#DB single-step and data breakpoints, debugger watchpoints), NMI,
// INTR, then instruction breakpoints of the next one. Cpu::events is the one flag the fast
// path tests at each block boundary; it may be set when nothing is pending (the boundary
// code then recomputes it) but must be set whenever something is:
//   INTR high, NMI latched      interp/interrupts.cpp
//   interrupt shadow            STI (IF 0 -> 1), MOV SS, POP SS
//   TF or RF in EFLAGS          POPF, IRET, task switch (note_flags_loaded); run() entry
//   breakpoints, data hits      MOV DR, interp/debug.cpp, the memory slow path
#pragma once
#include "interp/cpu.h"

namespace softcpu {

// Interrupt shadows (SDM vol.3 6.8.3): STI inhibits INTR/NMI; MOV SS / POP SS also delay
// #DB traps (single-step, data breakpoints) until after the next instruction.
enum : uint8_t { SHADOW_NONE = 0, SHADOW_STI = 1, SHADOW_SS = 2 };

// DR6 and DR7 bits (SDM vol.3 17.2.3, 17.2.4).
enum : uint32_t {
  DR6_B_MASK = 0xFu, DR6_BD = 1u << 13, DR6_BS = 1u << 14, DR6_BT = 1u << 15,
  DR7_GD = 1u << 13,
};
constexpr uint32_t CR4_DEBUG_EXT = 1u << 3;  // CR4.DE

inline bool events_pending(const Cpu& c) {
  return c.intr | c.nmi_pending | c.shadow | c.exec_bp_active | (c.db_trap != 0) |
         (c.debug_pending.kind != HIT_NONE) | ((c.eflags & (TF | RF)) != 0);
}
inline void refresh_events(Cpu& c) { c.events = events_pending(c); }

// After an instruction loaded EFLAGS wholesale.
inline void note_flags_loaded(Cpu& c) {
  if (c.eflags & (TF | RF)) c.events = 1;
}

inline void set_interrupt_shadow(Cpu& c, uint8_t kind) {
  c.shadow = kind;
  c.events = 1;
}

}  // namespace softcpu
