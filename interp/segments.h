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

// ---- descriptor helpers for gates, privilege changes and task switches --------------------

// System descriptor types (S = 0), SDM vol.3 table 3-2.
enum : unsigned {
  SYS_TSS16_AVAIL = 1, SYS_LDT = 2, SYS_TSS16_BUSY = 3, SYS_CALL16 = 4, SYS_TASK = 5,
  SYS_INT16 = 6, SYS_TRAP16 = 7, SYS_TSS32_AVAIL = 9, SYS_TSS32_BUSY = 11, SYS_CALL32 = 12,
  SYS_INT32 = 14, SYS_TRAP32 = 15,
};
inline unsigned desc_type(uint64_t d) { return unsigned(d >> 40) & 0xF; }
inline bool desc_s(uint64_t d) { return (d >> 44) & 1; }
inline unsigned desc_dpl(uint64_t d) { return unsigned(d >> 45) & 3; }
inline bool desc_present(uint64_t d) { return (d >> 47) & 1; }
inline bool desc_code(uint64_t d) { return desc_s(d) && (d >> 43) & 1; }
inline bool desc_conforming(uint64_t d) { return desc_code(d) && (d >> 42) & 1; }
inline bool desc_writable_data(uint64_t d) {
  return desc_s(d) && !((d >> 43) & 1) && ((d >> 41) & 1);
}
inline uint32_t desc_base(uint64_t d) {
  uint32_t lo = uint32_t(d), hi = uint32_t(d >> 32);
  return (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000u);
}
inline uint32_t desc_limit(uint64_t d) {  // byte-granular
  uint32_t lo = uint32_t(d), hi = uint32_t(d >> 32);
  uint32_t limit = (lo & 0xFFFF) | (hi & 0xF0000u);
  return (hi & (1u << 23)) ? (limit << 12) | 0xFFF : limit;
}
// Gate fields (call, interrupt, trap, task gates).
inline uint16_t gate_selector(uint64_t d) { return uint16_t(d >> 16); }
inline uint32_t gate_offset(uint64_t d) {
  return (uint32_t(d) & 0xFFFF) | (uint32_t(d >> 32) & 0xFFFF0000u);
}
inline unsigned gate_param_count(uint64_t d) { return unsigned(d >> 32) & 0x1F; }

// Read a descriptor without faulting: false for a selector outside its table (or an LDT
// selector with no valid LDT). Null selectors are read like any other (entry 0).
bool fetch_descriptor(Cpu& c, uint16_t selector, uint64_t& desc);

// Set or clear the busy bit (type bit 1) of a TSS descriptor in the GDT.
void set_tss_busy(Cpu& c, uint16_t selector, bool busy);

// Set the accessed bit of a code/data descriptor in memory if it is clear (SDM vol.3 3.4.5).
void mark_accessed(Cpu& c, uint16_t selector, uint64_t desc);

// Commit a checked code-segment descriptor to CS with RPL = CPL = new_cpl.
void commit_code_segment(Cpu& c, uint16_t selector, uint64_t desc, uint8_t new_cpl);
// Commit a checked descriptor to a data/stack segment register (SS updates the mode key).
void commit_segment(Cpu& c, unsigned seg, uint16_t selector, uint64_t desc);
// Load a null selector into a data segment register (protected mode).
void load_null_segment(Cpu& c, unsigned seg, uint16_t selector);

// After a return to an outer ring: ES, DS, FS, GS that are not usable at the new CPL (data or
// non-conforming code with DPL < CPL) become null (SDM vol.2 RET, IRET).
void invalidate_segments_for_cpl(Cpu& c);

// Is a write of `size` bytes at offset `off` inside the segment's writable range?
inline bool segment_write_ok(const SegmentCache& s, uint32_t off, unsigned size) {
  return off >= s.wr_lo && uint64_t(off) + size - 1 <= s.wr_hi;
}
inline bool segment_read_ok(const SegmentCache& s, uint32_t off, unsigned size) {
  return off >= s.rd_lo && uint64_t(off) + size - 1 <= s.rd_hi;
}

// ---- frames pushed by interrupts, call gates and task switches ----------------------------

// Check that `n` pushes of `w` bytes below `sp` fit the stack segment `ss` (which need not be
// loaded yet; SS.B picks SP or ESP): #SS(err) otherwise. Then probe the writes (paging), so
// write_stack_frame cannot fault.
void check_stack_frame(Cpu& c, const SegmentCache& ss, uint32_t sp, unsigned w, unsigned n,
                       uint32_t err);
// Push vals[0], vals[1], ... (vals[0] at the highest address); returns the new stack pointer.
uint32_t write_stack_frame(Cpu& c, const SegmentCache& ss, uint32_t sp, unsigned w,
                           const uint32_t* vals, unsigned n);

}  // namespace softcpu
