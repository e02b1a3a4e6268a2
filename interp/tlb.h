// Soft TLB maintenance and linear -> physical translation.
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

enum AccessKind : uint8_t { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

// Translate a linear address to physical for an access (paging comes with the system CPU
// issue; for now linear = physical, with the A20 mask of a PC).
inline uint32_t translate(const Cpu& c, uint32_t lin, AccessKind) {
  return c.a20_enabled ? lin : lin & ~(1u << 20);
}

void tlb_flush(Cpu& c);
// Drop write entries so the next write to any page takes the slow path once (used when a
// page starts holding code).
void tlb_flush_writes(Cpu& c);
// Try to fill the TLB entry of `kind` for `lin`; false if the page must stay slow.
bool tlb_fill(Cpu& c, uint32_t lin, AccessKind kind);

}  // namespace softcpu
