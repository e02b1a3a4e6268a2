// Guest memory reused from one input to the next: constructing a PhysicalMemory allocates and
// clears its per-page tables for all 4 GiB (about 25 MB), which would take most of each run.
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
