// Guest memory reused from one input to the next. Making a PhysicalMemory is cheap since its
// per-page tables are zero pages on demand (interp/memory.h ZeroedTable), but it is still a
// dozen system calls, and the harnesses that map MMIO would map it again each time.
#pragma once
#include <cstdint>

#include "interp/memory.h"

namespace softcpu::fuzz {

// A PhysicalMemory of `ram_bytes` of RAM for harness `owner` (one instance per owner and
// size, so that MMIO handlers one harness mapped are never seen by another), its RAM cleared
// and no page marked as holding code. ROM and MMIO mappings stay as the owner left them: an
// owner that maps them maps the same ones every time (and replaces the handlers).
PhysicalMemory& reusable_memory(const char* owner, uint32_t ram_bytes);

}  // namespace softcpu::fuzz
