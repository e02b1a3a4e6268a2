#include "interp/exceptions.h"

#include <cstring>

#include "interp/access.h"
#include "interp/fault.h"
#include "interp/flags.h"
#include "interp/segments.h"
#include "interp/tlb.h"

namespace softcpu {

namespace {

void deliver_real(Cpu& c, uint8_t v) {
  // SDM vol.3 20.1.4: the IVT entry is 4 bytes (offset, segment) at IDTR.base + 4*v.
  uint32_t entry = uint32_t(v) * 4;
  if (entry + 3 > c.idtr.limit) raise_gp(uint32_t(v) * 8 + 2);
  uint32_t ip = read_linear<2>(c, c.idtr.base + entry);
  uint32_t cs = read_linear<2>(c, c.idtr.base + entry + 2);
  uint32_t flags = read_eflags(c);
  uint32_t sp = stack_pointer(c);
  uint32_t m = stack_mask(c);
  write_mem<2>(c, SS, (sp - 2) & m, flags);
  write_mem<2>(c, SS, (sp - 4) & m, c.seg[CS].selector);
  write_mem<2>(c, SS, (sp - 6) & m, c.eip);
  set_stack_pointer(c, sp - 6);
  c.eflags &= ~(IF | TF | AC | RF);
  load_segment_real(c, CS, uint16_t(cs));
  c.eip = ip;
}

void deliver_protected(Cpu& c, uint8_t v, IntSource src, bool has_error, uint32_t error) {
  const uint32_t ext = src == IntSource::EXTERNAL ? 1 : 0;
  const uint32_t gate_err = uint32_t(v) * 8 + 2 + ext;  // IDT flag set (SDM vol.3 6.13)
  if (uint32_t(v) * 8 + 7 > c.idtr.limit) raise_gp(gate_err);
  uint32_t lo = read_linear<4>(c, c.idtr.base + uint32_t(v) * 8);
  uint32_t hi = read_linear<4>(c, c.idtr.base + uint32_t(v) * 8 + 4);
  unsigned type = (hi >> 8) & 0x1F;  // S bit and type
  unsigned dpl = (hi >> 13) & 3;
  bool gate32;
  bool trap_gate;
  switch (type) {
    case 0x06: gate32 = false; trap_gate = false; break;
    case 0x07: gate32 = false; trap_gate = true; break;
    case 0x0E: gate32 = true; trap_gate = false; break;
    case 0x0F: gate32 = true; trap_gate = true; break;
    default: raise_gp(gate_err);  // task gates come with hardware task switching
  }
  if (src == IntSource::SOFTWARE && dpl < c.cpl) raise_gp(gate_err);
  if (!(hi & 0x8000)) raise_fault(VEC_NP, gate_err);
  uint16_t selector = uint16_t(lo >> 16);
  uint32_t offset = (hi & 0xFFFF0000u) | (lo & 0xFFFF);
  if ((selector & ~3u) == 0) raise_gp(ext);
  uint64_t d = read_descriptor(c, selector);
  uint16_t attrs = uint16_t((d >> 40) & 0xF0FF);
  if (!(attrs & SA_S) || !(attrs & SA_CODE)) raise_gp((selector & ~3u) + ext);
  unsigned target_dpl = (attrs >> SA_DPL_SHIFT) & 3;
  bool conforming = attrs & SA_EXPAND_DOWN;
  if (target_dpl > c.cpl) raise_gp((selector & ~3u) + ext);
  if (!(attrs & SA_P)) raise_fault(VEC_NP, (selector & ~3u) + ext);
  uint8_t new_cpl = conforming ? c.cpl : uint8_t(target_dpl);
  if (new_cpl != c.cpl) raise_gp((selector & ~3u) + ext);  // inter-privilege: next issue

  // Push the frame; probe the whole frame first so a fault leaves the stack untouched.
  unsigned w = gate32 ? 4 : 2;
  unsigned n = has_error ? 4 : 3;
  uint32_t sp = stack_pointer(c), m = stack_mask(c);
  uint32_t frame = (sp - w * n) & m;
  probe_write_mem(c, SS, frame, w * n);
  uint32_t flags = read_eflags(c);
  uint32_t vals[4] = {c.eip, c.seg[CS].selector, flags, error};
  uint32_t at = sp;
  for (unsigned k = 0; k < 3; ++k) {
    at = (at - w) & m;
    write_mem_n(c, SS, at, w, vals[2 - k]);
  }
  if (has_error) {
    at = (at - w) & m;
    write_mem_n(c, SS, at, w, error);
  }
  load_code_segment(c, uint16_t((selector & ~3u) | new_cpl), new_cpl);
  set_stack_pointer(c, at);
  c.eip = gate32 ? offset : offset & 0xFFFF;
  c.eflags &= ~(TF | NT | VM | RF);
  if (!trap_gate) c.eflags &= ~IF;
}

enum class FaultClass { BENIGN, CONTRIBUTORY, PAGE_FAULT };

FaultClass fault_class(uint8_t v) {
  switch (v) {
    case VEC_DE: case VEC_TS: case VEC_NP: case VEC_SS: case VEC_GP:
      return FaultClass::CONTRIBUTORY;
    case VEC_PF:
      return FaultClass::PAGE_FAULT;
    default:
      return FaultClass::BENIGN;
  }
}

}  // namespace

void deliver_interrupt(Cpu& c, uint8_t v, IntSource src, bool has_error, uint32_t error) {
  c.halted = 0;
  if (protected_mode(c)) deliver_protected(c, v, src, has_error, error);
  else deliver_real(c, v);  // V86 delivery comes with the system CPU issue
}

bool deliver_exception(Cpu& c, uint8_t v, bool has_error, uint32_t error) {
  // In real mode no error code is pushed (SDM vol.3 20.1.4).
  try {
    deliver_interrupt(c, v, IntSource::EXCEPTION, has_error && protected_mode(c), error);
    return true;
  } catch (const GuestFault& second) {
    if (v == VEC_DF) return false;  // triple fault
    FaultClass a = fault_class(v), b = fault_class(second.vector);
    bool dbl = (a == FaultClass::CONTRIBUTORY && b == FaultClass::CONTRIBUTORY) ||
               (a == FaultClass::PAGE_FAULT && b != FaultClass::BENIGN);
    if (dbl) return deliver_exception(c, VEC_DF, true, 0);
    return deliver_exception(c, second.vector, second.has_error, second.error);
  }
}

void reset_cpu(Cpu& c) {
  PhysicalMemory* mem = c.mem;
  BlockCache* cache = c.cache;
  std::memset(static_cast<void*>(&c), 0, sizeof c);
  c.mem = mem;
  c.cache = cache;
  c.eflags = 2;
  c.eip = 0xFFF0;
  c.regs[EDX] = 0x00000663;  // family 6, model 6, stepping 3 (matches CPUID leaf 1)
  c.cr0 = CR0_ET | CR0_CD | CR0_NW;
  c.a20_enabled = 1;
  for (unsigned s = 0; s < 6; ++s) {
    SegmentCache& sc = c.seg[s];
    sc.selector = 0;
    sc.base = 0;
    sc.limit = 0xFFFF;
    sc.attrs = SA_P | SA_S | SA_WRITABLE | SA_ACCESSED | (s == CS ? SA_CODE : 0);
    sc.valid = 1;
  }
  c.seg[CS].selector = 0xF000;
  c.seg[CS].base = 0xFFFF0000u;
  c.gdtr = {0, 0xFFFF};
  c.idtr = {0, 0xFFFF};
  c.ldtr.limit = 0xFFFF;
  c.tr.limit = 0xFFFF;
  c.dr[6] = 0xFFFF0FF0u;
  c.dr[7] = 0x00000400u;
  refresh_all_segment_ranges(c);
  update_mode(c);
  tlb_flush(c);
}

}  // namespace softcpu
