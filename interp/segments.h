// Segment register loads and descriptor tables (SDM vol.3 chapter 3 and 5).
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

// Recompute the valid read/write offset ranges of a segment cache from its limit and
// attributes. In real mode (and V86) only the limit applies.
void refresh_segment_ranges(const Cpu& c, SegmentCache& s);
void refresh_all_segment_ranges(Cpu& c);

// Real-mode (and V86) load: base = selector * 16, limit and attributes kept.
void load_segment_real(Cpu& c, unsigned seg, uint16_t selector);

// Protected-mode load of a data or stack segment register with all descriptor checks
// (SDM vol.3 5.5-5.7; MOV/POP to a segment register in vol.2). CS is loaded by far
// transfers through load_code_segment.
void load_segment_protected(Cpu& c, unsigned seg, uint16_t selector);

// Load of a segment register in the current mode (MOV Sreg, POP Sreg, LDS..).
void load_segment(Cpu& c, unsigned seg, uint16_t selector);

// Read the 8-byte descriptor of `selector` from the GDT or LDT. Raises #GP(selector) when
// the selector is outside the table (error code `selector & ~3`).
uint64_t read_descriptor(Cpu& c, uint16_t selector);

// Fill a segment cache from a descriptor.
void cache_from_descriptor(const Cpu& c, SegmentCache& s, uint16_t selector, uint64_t desc);

// Load CS for a far JMP/CALL/RET/IRET or interrupt to a code segment (checks type,
// present, privilege; #GP/#NP with the selector). `new_cpl` is the CPL after the load.
void load_code_segment(Cpu& c, uint16_t selector, uint8_t new_cpl);

// Update cpu.mode_key and cpl after CS, SS, CR0 or EFLAGS.VM changed.
void update_mode(Cpu& c);

bool protected_mode(const Cpu& c);  // CR0.PE and not V86
bool code32(const Cpu& c);          // CS.D

}  // namespace softcpu
