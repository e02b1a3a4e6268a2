#include "interp/exceptions.h"

#include <cstring>
#include <initializer_list>

#include "interp/access.h"
#include "interp/debug.h"
#include "interp/fault.h"
#include "interp/flags.h"
#include "interp/segments.h"
#include "interp/task.h"
#include "interp/tlb.h"
#include "interp/trap.h"

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

// SDM vol.2 INT n pseudocode (PROTECTED-MODE and the paths below it) and vol.3 6.12.
void deliver_protected(Cpu& c, uint8_t v, IntSource src, bool has_error, uint32_t error) {
  // EXT: set unless a software interrupt (INT n, INT3, INTO) is being delivered (SDM 6.13).
  const uint32_t ext = src == IntSource::SOFTWARE ? 0 : 1;
  const uint32_t gate_err = uint32_t(v) * 8 + 2 + ext;  // IDT flag set
  if (uint32_t(v) * 8 + 7 > c.idtr.limit) raise_gp(gate_err);
  const uint64_t gate = (uint64_t(read_linear_system<4>(c, c.idtr.base + uint32_t(v) * 8 + 4)) << 32) |
                        read_linear_system<4>(c, c.idtr.base + uint32_t(v) * 8);
  const unsigned type = desc_type(gate);
  if (desc_s(gate) || !(type == SYS_TASK || type == SYS_INT16 || type == SYS_TRAP16 ||
                        type == SYS_INT32 || type == SYS_TRAP32))
    raise_gp(gate_err);
  if (src == IntSource::SOFTWARE && desc_dpl(gate) < c.cpl) raise_gp(gate_err);
  if (!desc_present(gate)) raise_fault(VEC_NP, gate_err);

  if (type == SYS_TASK) {  // TASK-GATE
    const uint16_t tss = gate_selector(gate);
    const uint32_t err = (tss & ~3u) + ext;
    uint64_t td;
    if ((tss & 4) || !fetch_descriptor(c, tss, td)) raise_gp(err);
    if (desc_s(td) || (desc_type(td) != SYS_TSS16_AVAIL && desc_type(td) != SYS_TSS32_AVAIL))
      raise_gp(err);  // busy, or not a TSS
    if (!desc_present(td)) raise_fault(VEC_NP, err);
    task_switch(c, tss, td, TaskSwitchKind::INT, has_error, error, ext);
    return;
  }

  // TRAP-OR-INTERRUPT-GATE
  const bool gate32 = type >= SYS_INT32;
  const bool trap_gate = type & 1;
  const uint16_t selector = gate_selector(gate);
  const uint32_t offset = gate32 ? gate_offset(gate) : gate_offset(gate) & 0xFFFF;
  const uint32_t sel_err = (selector & ~3u) + ext;
  if ((selector & ~3u) == 0) raise_gp(ext);
  uint64_t cd;
  if (!fetch_descriptor(c, selector, cd)) raise_gp(sel_err);
  const unsigned dpl = desc_dpl(cd);
  if (!desc_code(cd) || dpl > c.cpl) raise_gp(sel_err);
  if (!desc_present(cd)) raise_fault(VEC_NP, sel_err);
  const bool v86 = c.eflags & VM;
  const bool inner = !desc_conforming(cd) && dpl < c.cpl;
  if (v86 && (!inner || dpl != 0)) raise_gp(sel_err);  // V86 handlers run at ring 0

  const unsigned w = gate32 ? 4 : 2;
  const uint32_t flags = read_eflags(c);
  uint32_t vals[10];
  unsigned n = 0;
  SegmentCache ss;
  uint16_t new_ss = 0;
  uint64_t sd = 0;
  uint32_t sp;
  uint8_t new_cpl;
  if (inner) {
    // INTER-PRIVILEGE-LEVEL-INTERRUPT / INTERRUPT-FROM-VIRTUAL-8086-MODE: the stack of the
    // handler's ring comes from the TSS; the old SS:ESP (and in V86 the data segments) go
    // on it (SDM vol.3 6.12.1, figure 6-4; 20.3.1.1, figure 20-5).
    new_cpl = uint8_t(dpl);
    uint32_t nesp;
    tss_ring_stack(c, dpl, ext, new_ss, nesp);
    sd = check_inner_stack(c, new_ss, dpl, ext);
    cache_from_descriptor(c, ss, new_ss, sd);
    sp = nesp;
    if (v86) {
      vals[n++] = c.seg[GS].selector;
      vals[n++] = c.seg[FS].selector;
      vals[n++] = c.seg[DS].selector;
      vals[n++] = c.seg[ES].selector;
    }
    vals[n++] = c.seg[SS].selector;
    vals[n++] = c.regs[ESP];
  } else {
    // INTRA-PRIVILEGE-LEVEL-INTERRUPT: conforming code or DPL = CPL, on the current stack.
    new_cpl = c.cpl;
    ss = c.seg[SS];
    sp = c.regs[ESP];
  }
  vals[n++] = flags;
  vals[n++] = c.seg[CS].selector;
  vals[n++] = c.eip;
  if (has_error) vals[n++] = error;
  const uint32_t ss_err = inner ? (new_ss & ~3u) + ext : ext;
  // The frame is written with the handler's privilege (implicit supervisor accesses).
  const uint8_t old_cpl = c.cpl;
  c.cpl = new_cpl;
  try {
    check_stack_frame(c, ss, sp, w, n, ss_err);
  } catch (...) {
    c.cpl = old_cpl;
    throw;
  }
  c.cpl = old_cpl;
  if (offset > desc_limit(cd)) raise_gp(ext);

  // Commit.
  c.cpl = new_cpl;
  const uint32_t new_sp = write_stack_frame(c, ss, sp, w, vals, n);
  c.eflags &= ~(TF | NT | VM | RF);
  if (!trap_gate) c.eflags &= ~IF;
  if (inner) {
    commit_segment(c, SS, new_ss, sd);
    if (v86) {
      for (unsigned s : {ES, DS, FS, GS}) load_null_segment(c, s, 0);
    }
  }
  c.regs[ESP] = sp;  // the new ESP's upper half stays with a 16-bit stack
  set_stack_pointer(c, new_sp);
  commit_code_segment(c, selector, cd, new_cpl);
  c.eip = offset;
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
  if (SOFTCPU_UNLIKELY(c.interrupt_trace != nullptr))
    c.interrupt_trace(c.interrupt_trace_ctx, c, v, uint8_t(src), has_error, error);
  c.halted = 0;
  c.int_delivered = 1;  // the single-step path reports no TF trap for this instruction
  if (c.cr0 & CR0_PE) deliver_protected(c, v, src, has_error, error);  // also from V86
  else deliver_real(c, v);
}

bool deliver_exception(Cpu& c, uint8_t v, bool has_error, uint32_t error) {
  // In real mode no error code is pushed (SDM vol.3 20.1.4); in V86 it is.
  try {
    deliver_interrupt(c, v, IntSource::EXCEPTION, has_error && (c.cr0 & CR0_PE), error);
    return true;
  } catch (const GuestFault& second) {
    if (v == VEC_DF) return false;  // triple fault
    set_rf_for_fault(c, second.vector);
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
  const uint64_t icount = c.icount;           // counters describe the whole run,
  const uint64_t pauses_retired = c.pauses_retired;
  const TlbCounters tlb_counters = c.tlb_counters;  // across resets
  // Wiring and the debugger's points are not CPU state: they survive a reset.
  const uint8_t intr = c.intr, cpuid_apic = c.cpuid_apic, apic_id = c.apic_id;
  Cpu* const smp_next = c.smp_next;
  SmpHooks* const smp = c.smp;
  InterruptAcknowledge* const intc = c.intc;
  const DebugPoints dbg = c.dbg;
  auto* const interrupt_trace = c.interrupt_trace;
  void* const interrupt_trace_ctx = c.interrupt_trace_ctx;
  // Everything but `events`, which another thread may store to at any time (a kick: an SMP
  // machine's INIT job runs this on the AP's thread while CPU 0 sends the SIPI; ThreadSanitizer,
  // hv.both): it keeps its value, which at worst makes the run loop look once for nothing.
  auto* const bytes = reinterpret_cast<unsigned char*>(&c);
  const size_t ev = size_t(reinterpret_cast<unsigned char*>(&c.events) - bytes);
  std::memset(bytes, 0, ev);
  std::memset(bytes + ev + sizeof c.events, 0, sizeof c - ev - sizeof c.events);
  c.interrupt_trace = interrupt_trace;
  c.interrupt_trace_ctx = interrupt_trace_ctx;
  c.intr = intr;
  c.cpuid_apic = cpuid_apic;
  c.apic_id = apic_id;
  c.smp_next = smp_next;
  c.smp = smp;
  c.intc = intc;
  c.dbg = dbg;
  c.mem = mem;
  c.cache = cache;
  c.icount = icount;
  c.pauses_retired = pauses_retired;
  c.tlb_counters = tlb_counters;
  c.eflags = 2;
  // LZ_NONE, but with a valid operand size: lazy_of() and lazy_sf() compute sign_bit(lz_size)
  // before looking at the kind, and 1 << -1 is undefined (found by fuzz_insn).
  c.lz_size = 4;
  c.eip = 0xFFF0;
  c.regs[EDX] = CPUID_SIGNATURE;  // SDM vol.3 9.1.4: EDX holds the processor signature
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
  // x87 after RESET (SDM vol.3 table 9-1): CW 0040H, SW 0, TW 5555H (all +0.0), pointers 0.
  c.fpu.cw = 0x0040;
  c.fpu.tw = 0x5555;
  reset_msrs(c.msr);
  // IA32_APIC_BASE.BSP (SDM vol.3 8.4.1): set only on the bootstrap processor, APIC ID 0.
  if (c.apic_id != 0) c.msr.apic_base &= ~(uint64_t(1) << 8);
  refresh_all_segment_ranges(c);
  update_mode(c);
  debug_rebuild(c);  // DR7 = 400H: only the debugger's points remain; flushes the TLB
}

}  // namespace softcpu
