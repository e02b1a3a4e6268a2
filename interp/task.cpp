#include "interp/task.h"

#include "interp/events.h"

#include <initializer_list>

#include "interp/access.h"
#include "interp/exceptions.h"
#include "interp/fault.h"
#include "interp/flags.h"
#include "interp/segments.h"
#include "interp/tlb.h"

namespace softcpu {

namespace {

// EFLAGS bits that exist on this CPU (bit 1 reads as 1).
constexpr uint32_t kEflagsDefined =
    CF | 2u | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

// The state a TSS holds (SDM vol.3 figures 7-2 and 7-11).
struct TaskState {
  uint32_t cr3, eip, eflags;
  uint32_t regs[8];
  uint16_t segs[6];  // ES CS SS DS FS GS
  uint16_t ldt;
  bool trap;  // T flag: #DB on entry to the task
};

void read_task_state(Cpu& c, uint32_t base, bool tss32, TaskState& t) {
  if (tss32) {
    t.cr3 = read_linear_system<4>(c, base + 0x1C);
    t.eip = read_linear_system<4>(c, base + 0x20);
    t.eflags = read_linear_system<4>(c, base + 0x24);
    for (unsigned r = 0; r < 8; ++r) t.regs[r] = read_linear_system<4>(c, base + 0x28 + 4 * r);
    for (unsigned s = 0; s < 6; ++s) t.segs[s] = uint16_t(read_linear_system<2>(c, base + 0x48 + 4 * s));
    t.ldt = uint16_t(read_linear_system<2>(c, base + 0x60));
    t.trap = read_linear_system<2>(c, base + 0x64) & 1;
  } else {
    // A 16-bit TSS has no CR3, FS, GS; the upper halves of the registers read as ones (as on
    // the 386/486 and in other emulators: the SDM leaves them undefined).
    t.cr3 = c.cr3;
    t.eip = read_linear_system<2>(c, base + 0x0E);
    t.eflags = read_linear_system<2>(c, base + 0x10);
    for (unsigned r = 0; r < 8; ++r) t.regs[r] = 0xFFFF0000u | read_linear_system<2>(c, base + 0x12 + 2 * r);
    for (unsigned s = 0; s < 4; ++s) t.segs[s] = uint16_t(read_linear_system<2>(c, base + 0x22 + 2 * s));
    t.segs[FS] = t.segs[GS] = 0;
    t.ldt = uint16_t(read_linear_system<2>(c, base + 0x2A));
    t.trap = false;
  }
}

// Save the outgoing task (SDM vol.3 7.3 step 7): the dynamic fields only.
void save_task_state(Cpu& c, uint32_t base, bool tss32, uint32_t eflags) {
  if (tss32) {
    probe_write_linear(c, base + 0x20, 0x40);
    write_linear_system<4>(c, base + 0x20, c.eip);
    write_linear_system<4>(c, base + 0x24, eflags);
    for (unsigned r = 0; r < 8; ++r) write_linear_system<4>(c, base + 0x28 + 4 * r, c.regs[r]);
    for (unsigned s = 0; s < 6; ++s) write_linear_system<2>(c, base + 0x48 + 4 * s, c.seg[s].selector);
  } else {
    probe_write_linear(c, base + 0x0E, 0x1C);
    write_linear_system<2>(c, base + 0x0E, c.eip);
    write_linear_system<2>(c, base + 0x10, eflags);
    for (unsigned r = 0; r < 8; ++r) write_linear_system<2>(c, base + 0x12 + 2 * r, c.regs[r]);
    for (unsigned s = 0; s < 4; ++s) write_linear_system<2>(c, base + 0x22 + 2 * s, c.seg[s].selector);
  }
}

// CR3 from the new TSS, as MOV CR3 stores it (interp/ops_system.cpp): a task switch that
// loads CR3 keeps global translations (SDM vol.3 4.10.4.1).
void load_cr3(Cpu& c, uint32_t v) {
  c.cr3 = v & 0xFFFFF018u;
  tlb_flush_nonglobal(c);
}

// Load the new task's LDTR and segment registers with the checks of SDM vol.3 table 7-1.
// Runs after the commit point: faults here belong to the new task.
void load_task_segments(Cpu& c, const TaskState& t, uint32_t ext) {
  // LDT first: the segment selectors may refer to it.
  const uint16_t ldt = t.ldt;
  c.ldtr.selector = ldt;
  if ((ldt & ~3u) == 0) {
    c.ldtr.valid = 0;
  } else {
    const uint32_t err = (ldt & ~3u) + ext;
    uint64_t d;
    c.ldtr.valid = 0;
    if ((ldt & 4) || !fetch_descriptor(c, ldt, d)) raise_fault(VEC_TS, err);
    if (desc_s(d) || desc_type(d) != SYS_LDT || !desc_present(d)) raise_fault(VEC_TS, err);
    cache_from_descriptor(c, c.ldtr, ldt, d);
  }
  if (c.eflags & VM) {  // a virtual-8086 task: real-mode style loads, CPL 3 (SDM 20.2.5)
    for (unsigned s = 0; s < 6; ++s) load_segment_real(c, s, t.segs[s]);
    return;
  }
  for (unsigned s = 0; s < 6; ++s) c.seg[s].selector = t.segs[s];
  // CS: the new CPL is its RPL.
  const uint16_t cs = t.segs[CS];
  const unsigned cpl = cs & 3;
  {
    const uint32_t err = (cs & ~3u) + ext;
    uint64_t d;
    if ((cs & ~3u) == 0 || !fetch_descriptor(c, cs, d) || !desc_code(d)) raise_fault(VEC_TS, err);
    const unsigned dpl = desc_dpl(d);
    if (desc_conforming(d) ? dpl > cpl : dpl != cpl) raise_fault(VEC_TS, err);
    if (!desc_present(d)) raise_fault(VEC_NP, err);
    commit_code_segment(c, cs, d, uint8_t(cpl));
  }
  {
    const uint16_t ss = t.segs[SS];
    const uint32_t err = (ss & ~3u) + ext;
    uint64_t d;
    if ((ss & ~3u) == 0 || !fetch_descriptor(c, ss, d) || !desc_writable_data(d))
      raise_fault(VEC_TS, err);
    if (desc_dpl(d) != cpl || (ss & 3) != cpl) raise_fault(VEC_TS, err);
    if (!desc_present(d)) raise_fault(VEC_SS, err);
    commit_segment(c, SS, ss, d);
  }
  for (unsigned s : {DS, ES, FS, GS}) {
    const uint16_t sel = t.segs[s];
    if ((sel & ~3u) == 0) {
      load_null_segment(c, s, sel);
      continue;
    }
    const uint32_t err = (sel & ~3u) + ext;
    uint64_t d;
    if (!fetch_descriptor(c, sel, d) || !desc_s(d)) raise_fault(VEC_TS, err);
    const bool code = desc_code(d);
    if (code && !((d >> 41) & 1)) raise_fault(VEC_TS, err);  // execute-only code
    if (!desc_conforming(d) && (desc_dpl(d) < cpl || desc_dpl(d) < (sel & 3u)))
      raise_fault(VEC_TS, err);
    if (!desc_present(d)) raise_fault(VEC_NP, err);
    commit_segment(c, s, sel, d);
  }
}

}  // namespace

void tss_ring_stack(Cpu& c, unsigned dpl, uint32_t ext, uint16_t& ss, uint32_t& esp) {
  const uint32_t err = (c.tr.selector & ~3u) + ext;
  if (!c.tr.valid) raise_fault(VEC_TS, err);
  if (c.tr.attrs & 8) {  // 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n
    const uint32_t at = (dpl << 3) + 4;
    if (at + 5 > c.tr.limit) raise_fault(VEC_TS, err);
    esp = read_linear_system<4>(c, c.tr.base + at);
    ss = uint16_t(read_linear_system<2>(c, c.tr.base + at + 4));
  } else {  // 16-bit TSS: SPn at 2 + 4n, SSn at 4 + 4n
    const uint32_t at = (dpl << 2) + 2;
    if (at + 3 > c.tr.limit) raise_fault(VEC_TS, err);
    esp = read_linear_system<2>(c, c.tr.base + at);
    ss = uint16_t(read_linear_system<2>(c, c.tr.base + at + 2));
  }
}

uint64_t check_inner_stack(Cpu& c, uint16_t ss, unsigned dpl, uint32_t ext) {
  const uint32_t err = (ss & ~3u) + ext;
  if ((ss & ~3u) == 0) raise_fault(VEC_TS, ext);
  uint64_t d;
  if (!fetch_descriptor(c, ss, d)) raise_fault(VEC_TS, err);
  if ((ss & 3u) != dpl || desc_dpl(d) != dpl || !desc_writable_data(d)) raise_fault(VEC_TS, err);
  if (!desc_present(d)) raise_fault(VEC_SS, err);
  return d;
}

bool io_bitmap_allows(Cpu& c, uint16_t port, unsigned size) {
  // Only a 32-bit TSS has a bitmap; its base is the word at offset 66H. Both bytes that hold
  // the port's bits must lie within the TSS limit.
  if (!c.tr.valid || !(c.tr.attrs & 8) || c.tr.limit < 0x67) return false;
  const uint32_t map = read_linear_system<2>(c, c.tr.base + 0x66);
  const uint32_t at = map + port / 8u;
  if (at + 1 > c.tr.limit) return false;
  const uint32_t bits = read_linear_system<2>(c, c.tr.base + at);
  const uint32_t mask = ((1u << size) - 1) << (port & 7);
  return (bits & mask) == 0;
}

void task_switch(Cpu& c, uint16_t sel, uint64_t desc, TaskSwitchKind kind, bool has_error,
                 uint32_t error, uint32_t ext) {
  // SDM vol.3 7.3 steps 3-4: the new TSS must be large enough.
  const bool new32 = desc_type(desc) & 8;
  const uint32_t nbase = desc_base(desc);
  if (desc_limit(desc) < (new32 ? 0x67u : 0x2Bu)) raise_fault(VEC_TS, (sel & ~3u) + ext);
  const bool old32 = c.tr.attrs & 8;
  const uint32_t obase = c.tr.base;

  TaskState t;
  read_task_state(c, nbase, new32, t);
  if (kind == TaskSwitchKind::CALL || kind == TaskSwitchKind::INT) {
    probe_write_linear(c, nbase, 2);  // back link
  }

  // Steps 5-9: old task's busy bit, NT in its saved image, its state; link and busy bit of
  // the new one. (The probes above and in save_task_state make these writes fault-free.)
  uint32_t eflags = read_eflags(c);
  if (kind == TaskSwitchKind::IRET) eflags &= ~NT;
  save_task_state(c, obase, old32, eflags);
  if (kind == TaskSwitchKind::JMP || kind == TaskSwitchKind::IRET) set_tss_busy(c, c.tr.selector, false);
  if (kind != TaskSwitchKind::IRET) set_tss_busy(c, sel, true);
  uint32_t new_flags = t.eflags;
  if (kind == TaskSwitchKind::CALL || kind == TaskSwitchKind::INT) {
    write_linear_system<2>(c, nbase, c.tr.selector);
    new_flags |= NT;
  }
  // Step 10: TR and CR0.TS. This is the commit point.
  cache_from_descriptor(c, c.tr, sel, desc | (2ull << 40));
  c.cr0 |= CR0_TS;

  // Step 11: the new task's state. Faults from here on happen in the new task.
  if (new32 && (c.cr0 & CR0_PG)) load_cr3(c, t.cr3);
  for (unsigned r = 0; r < 8; ++r) c.regs[r] = t.regs[r];
  c.eip = t.eip;
  c.lz_kind = LZ_NONE;
  c.eflags = (new_flags & kEflagsDefined) | 2u;
  note_flags_loaded(c);
  refresh_all_segment_ranges(c);  // V86 <-> protected changes how ranges are computed
  update_mode(c);
  try {
    load_task_segments(c, t, ext);
    if (has_error) {
      const unsigned w = new32 ? 4 : 2;
      check_stack_frame(c, c.seg[SS], stack_pointer(c), w, 1, ext);
      const uint32_t v = error;
      set_stack_pointer(c, write_stack_frame(c, c.seg[SS], stack_pointer(c), w, &v, 1));
    }
    if (c.eip > c.seg[CS].limit) raise_gp(0);
  } catch (const GuestFault& f) {
    set_rf_for_fault(c, f.vector);
    if (!deliver_exception(c, f.vector, f.has_error, f.error)) {
      c.exit_reason = EXIT_TRIPLE_FAULT;
      c.stop = 1;
    }
    return;
  }
  // SDM vol.3 17.3.1.5: the T flag raises a #DB trap (DR6.BT) once the switch completes,
  // before the new task's first instruction. It goes through db_trap so that it is one #DB
  // with a single-step trap of the switching instruction (at_boundary delivers it).
  if (t.trap) {
    c.db_trap |= DR6_BT;
    c.events = 1;
  }
}

}  // namespace softcpu
