// Control transfer semantics: JMP/CALL/RET near and far, Jcc, JCXZ/JECXZ, LOOP*, INT n/INT3/
// INTO/INT1, IRET, BOUND (SDM vol.2 instruction pages; vol.3 5.8 for far transfers). The
// selector is in interp/ops_control.cpp.
//
// Protected mode: direct far transfers (conforming and non-conforming code), call gates
// (JMP: same ring; CALL: to an inner ring with the TSS stack and parameter copy), task gates
// and TSS targets (interp/task.cpp), RETF/IRET to an outer ring, IRET with NT (task return),
// IRET to and within virtual-8086 mode.
//
// Compiled code inlines the near transfers (JMP, Jcc, JCXZ, LOOP, CALL, RET), which use only
// inline memory access; far transfers, interrupts and IRET reach segment loads, descriptor
// tables and interrupt delivery in the host and run as calls (which also end a compiled
// region: they may change the mode).
#pragma once
#include <cstdint>

#include "interp/events.h"
#include "interp/exceptions.h"
#include "interp/sem/common.h"
#include "interp/segments.h"
#include "interp/task.h"

namespace softcpu {

// EIP is IP for a 16-bit operand size: near targets wrap at 64 KiB.
template <unsigned S>
constexpr uint32_t ip_mask() { return S == 2 ? 0xFFFFu : 0xFFFFFFFFu; }

// Commit a near branch target; beyond the CS limit it is #GP(0) (SDM vol.2 JMP, Jcc, CALL).
inline void near_branch(Cpu& c, uint32_t target) {
  if (SOFTCPU_UNLIKELY(target > c.seg[CS].limit)) raise_gp(0);
  c.eip = target;
}

template <unsigned S>
inline uint32_t rel_target(const Cpu& c, const Insn& i) { return (c.eip + i.disp) & ip_mask<S>(); }

// ---- near JMP / Jcc / JCXZ / LOOP --------------------------------------------------------

template <unsigned S>
void jmp_near_rel(Cpu& c, const Insn& i) {
  near_branch(c, rel_target<S>(c, i));
}
template <unsigned S, unsigned M> void jmp_near_rm(Cpu& c, const Insn& i) {
  near_branch(c, read_rm<S, M>(c, i));
}

template <unsigned S, unsigned CC>
void jcc_rel(Cpu& c, const Insn& i) {
  if (condition(c, CC)) near_branch(c, rel_target<S>(c, i));
}

// The count register is CX or ECX by address size (SDM vol.2 JCXZ, LOOP).
template <bool A32>
inline uint32_t branch_count(const Cpu& c) { return A32 ? c.regs[ECX] : c.regs[ECX] & 0xFFFF; }

template <unsigned S, bool A32>
void jcxz_rel(Cpu& c, const Insn& i) {
  if (branch_count<A32>(c) == 0) near_branch(c, rel_target<S>(c, i));
}

enum LoopKind : unsigned { LOOP_ALWAYS, LOOP_E, LOOP_NE };

template <unsigned S, bool A32, LoopKind K>
void loop_rel(Cpu& c, const Insn& i) {
  uint32_t n = branch_count<A32>(c) - 1;
  if (!A32) n &= 0xFFFF;
  bool take = n != 0;
  if constexpr (K == LOOP_E) take = take && lazy_zf(c);
  if constexpr (K == LOOP_NE) take = take && !lazy_zf(c);
  if (take) near_branch(c, rel_target<S>(c, i));  // faults before the count is committed
  if (A32) c.regs[ECX] = n;
  else c.regs[ECX] = (c.regs[ECX] & ~0xFFFFu) | n;
}

// ---- near CALL / RET ---------------------------------------------------------------------

// B: the stack size, fixed at decode time (StackSize, interp/access.h).
template <unsigned S, unsigned B>
inline void call_near(Cpu& c, uint32_t target) {
  if (SOFTCPU_UNLIKELY(target > c.seg[CS].limit)) raise_gp(0);
  push<S, B>(c, c.eip);  // a stack fault leaves ESP and EIP unchanged
  c.eip = target;
}
template <unsigned S, unsigned B>
void call_near_rel(Cpu& c, const Insn& i) {
  call_near<S, B>(c, rel_target<S>(c, i));
}
template <unsigned S, unsigned M, unsigned B>
void call_near_rm(Cpu& c, const Insn& i) {
  call_near<S, B>(c, read_rm<S, M>(c, i));
}

template <unsigned S, bool Imm, unsigned B>
void ret_near(Cpu& c, const Insn& i) {
  uint32_t sp = stack_pointer<B>(c);
  uint32_t target = read_mem<S>(c, SS, sp);
  if (SOFTCPU_UNLIKELY(target > c.seg[CS].limit)) raise_gp(0);
  set_stack_pointer<B>(c, sp + S + (Imm ? i.imm : 0));
  c.eip = target;
}

// ---- far transfers -----------------------------------------------------------------------

// Checks of a code segment reached directly by a far JMP or CALL (SDM vol.2 JMP/CALL
// CONFORMING-CODE-SEGMENT and NONCONFORMING-CODE-SEGMENT): conforming code needs DPL <= CPL,
// non-conforming code RPL <= CPL and DPL = CPL. CPL does not change.
inline void check_direct_code(const Cpu& c, uint16_t sel, uint64_t d) {
  const uint32_t err = sel & ~3u;
  if (!desc_code(d)) raise_gp(err);
  const unsigned dpl = desc_dpl(d);
  if (desc_conforming(d) ? dpl > c.cpl : ((sel & 3u) > c.cpl || dpl != c.cpl)) raise_gp(err);
  if (!desc_present(d)) raise_fault(VEC_NP, err);
}

// Checks of the code segment a call gate leads to (SDM vol.2 CALL CALL-GATE / JMP CALL-GATE).
inline uint64_t gate_code_descriptor(Cpu& c, uint16_t cs, bool jmp) {
  const uint32_t err = cs & ~3u;
  if (err == 0) raise_gp(0);
  uint64_t d;
  if (!fetch_descriptor(c, cs, d)) raise_gp(err);
  const unsigned dpl = desc_dpl(d);
  if (!desc_code(d) || dpl > c.cpl) raise_gp(err);
  if (jmp && !desc_conforming(d) && dpl != c.cpl) raise_gp(err);
  if (!desc_present(d)) raise_fault(VEC_NP, err);
  return d;
}

// A call gate, task gate or TSS named by a far JMP/CALL: DPL >= CPL and DPL >= RPL, present.
inline void check_system_target(const Cpu& c, uint16_t sel, uint64_t d) {
  const uint32_t err = sel & ~3u;
  const unsigned dpl = desc_dpl(d);
  if (dpl < c.cpl || dpl < (sel & 3u)) raise_gp(err);
  if (!desc_present(d)) raise_fault(VEC_NP, err);
}

// The TSS of a task gate (SDM vol.2 JMP/CALL TASK-GATE): in the GDT, an available TSS, present.
inline uint64_t task_gate_tss(Cpu& c, uint16_t tss) {
  const uint32_t err = tss & ~3u;
  uint64_t d;
  if ((tss & 4) || !fetch_descriptor(c, tss, d)) raise_gp(err);
  if (desc_s(d) || (desc_type(d) != SYS_TSS16_AVAIL && desc_type(d) != SYS_TSS32_AVAIL))
    raise_gp(err);
  if (!desc_present(d)) raise_fault(VEC_NP, err);
  return d;
}

// JMP/CALL to a task gate or TSS descriptor `d` selected by `sel`: task switch.
inline void far_task(Cpu& c, uint16_t sel, uint64_t d, TaskSwitchKind kind) {
  check_system_target(c, sel, d);
  if (desc_type(d) == SYS_TASK) {
    const uint16_t tss = gate_selector(d);
    task_switch(c, tss, task_gate_tss(c, tss), kind);
  } else {
    if (sel & 4) raise_gp(sel & ~3u);  // TSS descriptors live in the GDT
    task_switch(c, sel, d, kind);
  }
}

// Far JMP (SDM vol.2 JMP). All faults are raised before anything is committed.
inline void far_jump(Cpu& c, uint16_t sel, uint32_t off) {
  if (!protected_mode(c)) {
    // Real mode (and V86): the CS limit in the cache stays what it was.
    if (off > c.seg[CS].limit) raise_gp(0);
    load_segment_real(c, CS, sel);
    c.eip = off;
    return;
  }
  if ((sel & ~3u) == 0) raise_gp(0);
  const uint64_t d = read_descriptor(c, sel);  // #GP(sel) outside the table
  if (desc_s(d)) {
    check_direct_code(c, sel, d);
    if (off > desc_limit(d)) raise_gp(0);
    commit_code_segment(c, sel, d, c.cpl);  // RPL := CPL
    c.eip = off;
    return;
  }
  switch (desc_type(d)) {
    case SYS_CALL16:
    case SYS_CALL32: {  // no privilege change through a gate with JMP
      check_system_target(c, sel, d);
      const uint16_t cs = gate_selector(d);
      const uint64_t cd = gate_code_descriptor(c, cs, true);
      const uint32_t eip = desc_type(d) == SYS_CALL32 ? gate_offset(d) : gate_offset(d) & 0xFFFF;
      if (eip > desc_limit(cd)) raise_gp(0);
      commit_code_segment(c, cs, cd, c.cpl);
      c.eip = eip;
      return;
    }
    case SYS_TASK:
    case SYS_TSS16_AVAIL:
    case SYS_TSS32_AVAIL:
      far_task(c, sel, d, TaskSwitchKind::JMP);
      return;
    default:
      raise_gp(sel & ~3u);  // busy TSS, LDT, interrupt/trap gate, reserved
  }
}

template <unsigned S>
void jmp_far_ptr(Cpu& c, const Insn& i) {
  far_jump(c, i.imm2, i.imm & ip_mask<S>());
}

// Offset then selector of an m16:16 / m16:32 operand.
template <unsigned S>
inline void read_far_pointer(Cpu& c, const Insn& i, uint32_t& off, uint16_t& sel) {
  uint32_t ea = effective_address(c, i);
  off = read_mem<S>(c, i.seg, ea);
  uint32_t ea2 = ea + S;
  if (!i.addr32) ea2 &= 0xFFFF;
  sel = uint16_t(read_mem<2>(c, i.seg, ea2));
}

template <unsigned S>
void jmp_far_mem(Cpu& c, const Insn& i) {
  uint32_t off;
  uint16_t sel;
  read_far_pointer<S>(c, i, off, sel);
  far_jump(c, sel, off);
}

// CALL through a call gate (SDM vol.2 CALL CALL-GATE, MORE-PRIVILEGE, SAME-PRIVILEGE; vol.3
// 5.8.5): to an inner ring the stack switches to the TSS's and the gate's parameter count
// of words/doublewords is copied from the caller's stack.
inline void call_gate(Cpu& c, uint16_t sel, uint64_t d) {
  check_system_target(c, sel, d);
  const uint16_t cs = gate_selector(d);
  const uint64_t cd = gate_code_descriptor(c, cs, false);
  const bool gate32 = desc_type(d) == SYS_CALL32;
  const unsigned w = gate32 ? 4 : 2;
  const uint32_t eip = gate32 ? gate_offset(d) : gate_offset(d) & 0xFFFF;
  const unsigned dpl = desc_dpl(cd);
  const uint32_t old_cs = c.seg[CS].selector, old_eip = c.eip;
  if (!desc_conforming(cd) && dpl < c.cpl) {
    uint16_t nss;
    uint32_t nesp;
    tss_ring_stack(c, dpl, 0, nss, nesp);
    const uint64_t sd = check_inner_stack(c, nss, dpl, 0);
    SegmentCache ss;
    cache_from_descriptor(c, ss, nss, sd);
    const unsigned count = gate_param_count(d);
    uint32_t vals[4 + 31];
    unsigned n = 0;
    vals[n++] = c.seg[SS].selector;
    vals[n++] = c.regs[ESP];
    const uint32_t osp = stack_pointer(c), om = stack_mask(c);
    for (unsigned k = count; k-- > 0;) vals[n++] = read_mem_n(c, SS, (osp + k * w) & om, w);
    vals[n++] = old_cs;
    vals[n++] = old_eip;
    {
      // The new stack is checked with the new privilege; CPL is back to the caller's when the
      // check is done or faults (no exceptions in the bitcode build: a guard, not try/catch).
      struct RestoreCpl {
        Cpu& c;
        uint8_t cpl;
        ~RestoreCpl() { c.cpl = cpl; }
      } restore{c, c.cpl};
      c.cpl = uint8_t(dpl);
      check_stack_frame(c, ss, nesp, w, n, nss & ~3u);
    }
    if (eip > desc_limit(cd)) raise_gp(0);
    c.cpl = uint8_t(dpl);
    const uint32_t nsp = write_stack_frame(c, ss, nesp, w, vals, n);
    commit_segment(c, SS, nss, sd);
    c.regs[ESP] = nesp;
    set_stack_pointer(c, nsp);
    commit_code_segment(c, cs, cd, uint8_t(dpl));
    c.eip = eip;
    return;
  }
  const uint32_t vals[2] = {old_cs, old_eip};
  check_stack_frame(c, c.seg[SS], c.regs[ESP], w, 2, 0);
  if (eip > desc_limit(cd)) raise_gp(0);
  set_stack_pointer(c, write_stack_frame(c, c.seg[SS], c.regs[ESP], w, vals, 2));
  commit_code_segment(c, cs, cd, c.cpl);
  c.eip = eip;
}

template <unsigned S>
void call_far(Cpu& c, uint16_t sel, uint32_t off) {
  const uint32_t ret_cs = c.seg[CS].selector, ret_ip = c.eip;
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  uint64_t d = 0;
  uint32_t limit = c.seg[CS].limit;
  const bool pm = protected_mode(c);
  if (pm) {
    if ((sel & ~3u) == 0) raise_gp(0);
    d = read_descriptor(c, sel);
    if (!desc_s(d)) {
      switch (desc_type(d)) {
        case SYS_CALL16:
        case SYS_CALL32: call_gate(c, sel, d); return;
        case SYS_TASK:
        case SYS_TSS16_AVAIL:
        case SYS_TSS32_AVAIL: far_task(c, sel, d, TaskSwitchKind::CALL); return;
        default: raise_gp(sel & ~3u);
      }
    }
    check_direct_code(c, sel, d);
    limit = desc_limit(d);
  }
  // SDM vol.2 CALL: room for the return address (#SS(0)) is checked before the EIP limit.
  probe_write_mem(c, SS, (sp - S) & m, S);
  probe_write_mem(c, SS, (sp - 2 * S) & m, S);
  if (off > limit) raise_gp(0);
  if (pm) commit_code_segment(c, sel, d, c.cpl);
  else load_segment_real(c, CS, sel);
  push<S>(c, ret_cs);  // zero-extended to 32 bits for a 32-bit operand size
  push<S>(c, ret_ip);
  c.eip = off;
}

template <unsigned S>
void call_far_ptr(Cpu& c, const Insn& i) {
  call_far<S>(c, i.imm2, i.imm & ip_mask<S>());
}

template <unsigned S>
void call_far_mem(Cpu& c, const Insn& i) {
  uint32_t off;
  uint16_t sel;
  read_far_pointer<S>(c, i, off, sel);
  call_far<S>(c, sel, off);
}

// Checks of the code segment a RETF/IRET returns to (SDM vol.2 RET, IRET PROTECTED-MODE-
// RETURN): RPL >= CPL; conforming DPL <= RPL, non-conforming DPL = RPL; present.
inline uint64_t check_return_code(Cpu& c, uint16_t sel) {
  const uint32_t err = sel & ~3u;
  if (err == 0) raise_gp(0);
  const uint64_t d = read_descriptor(c, sel);
  if (!desc_code(d)) raise_gp(err);
  const unsigned rpl = sel & 3u, dpl = desc_dpl(d);
  if (rpl < c.cpl) raise_gp(err);
  if (desc_conforming(d) ? dpl > rpl : dpl != rpl) raise_gp(err);
  if (!desc_present(d)) raise_fault(VEC_NP, err);
  return d;
}

// Checks of the stack segment of a return to an outer ring (RPL of the return CS = `rpl`).
inline uint64_t check_return_stack(Cpu& c, uint16_t ss, unsigned rpl) {
  const uint32_t err = ss & ~3u;
  if (err == 0) raise_gp(0);
  const uint64_t d = read_descriptor(c, ss);
  if ((ss & 3u) != rpl || !desc_writable_data(d) || desc_dpl(d) != rpl) raise_gp(err);
  if (!desc_present(d)) raise_fault(VEC_SS, err);
  return d;
}

// Commit a return to an outer ring: CS, SS:ESP (+ imm released from the outer stack), and
// data segment registers not usable at the new CPL become null.
inline void commit_outer_return(Cpu& c, uint16_t cs, uint64_t cd, uint16_t ss, uint64_t sd,
                         uint32_t esp, uint32_t release) {
  commit_code_segment(c, cs, cd, uint8_t(cs & 3u));
  commit_segment(c, SS, ss, sd);
  if (stack32(c)) c.regs[ESP] = esp + release;
  else c.regs[ESP] = (c.regs[ESP] & ~0xFFFFu) | ((esp + release) & 0xFFFF);
  invalidate_segments_for_cpl(c);
}

template <unsigned S, bool Imm>
void ret_far(Cpu& c, const Insn& i) {
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  const uint32_t off = read_mem<S>(c, SS, sp);
  const uint16_t sel = uint16_t(read_mem<S>(c, SS, (sp + S) & m));
  const uint32_t imm = Imm ? i.imm : 0;
  if (!protected_mode(c)) {
    if (off > c.seg[CS].limit) raise_gp(0);
    load_segment_real(c, CS, sel);
    set_stack_pointer(c, sp + 2 * S + imm);
    c.eip = off;
    return;
  }
  const uint64_t cd = check_return_code(c, sel);
  if ((sel & 3u) > c.cpl) {  // RETURN-TO-OUTER-PRIVILEGE-LEVEL
    const uint32_t esp = read_mem<S>(c, SS, (sp + 2 * S + imm) & m);
    const uint16_t ss = uint16_t(read_mem<S>(c, SS, (sp + 3 * S + imm) & m));
    const uint64_t sd = check_return_stack(c, ss, sel & 3u);
    if (off > desc_limit(cd)) raise_gp(0);
    commit_outer_return(c, sel, cd, ss, sd, esp, imm);
    c.eip = off;
    return;
  }
  if (off > desc_limit(cd)) raise_gp(0);
  commit_code_segment(c, sel, cd, c.cpl);
  set_stack_pointer(c, sp + 2 * S + imm);
  c.eip = off;
}

// ---- interrupts --------------------------------------------------------------------------

inline unsigned current_iopl(const Cpu& c) { return (c.eflags >> 12) & 3; }

// CR4.VME: is INT v redirected to the V86 task's own IVT? A clear bit in the interrupt
// redirection bitmap, the 32 bytes just below the I/O map base of a 32-bit TSS (SDM vol.3
// 20.3.3.5, figure 20-5). A bitmap outside the TSS limit counts as set (not redirected).
inline bool v86_redirected(Cpu& c, uint8_t v) {
  if (!(c.tr.attrs & 8)) return false;  // a 16-bit TSS has no bitmap
  const uint32_t iomap = read_linear_system<2>(c, c.tr.base + 0x66);
  const uint32_t at = iomap - 32 + v / 8;
  if (iomap < 32 || at > c.tr.limit) return false;
  return !((read_linear_system<1>(c, c.tr.base + at) >> (v % 8)) & 1);
}

// Methods 4 and 6 of SDM vol.3 table 20-2: an 8086-style interrupt inside V86 through the
// IVT at linear 0: FLAGS, CS, IP on the V86 stack, TF and RF cleared. With IOPL < 3 the image
// shows VIF as IF and IOPL as 3, and VIF is cleared instead of IF.
inline void v86_redirect_interrupt(Cpu& c, uint8_t v) {
  const uint32_t ip = read_linear<2>(c, uint32_t(v) * 4);
  const uint16_t cs = uint16_t(read_linear<2>(c, uint32_t(v) * 4 + 2));
  uint32_t flags = read_eflags(c) & 0xFFFF;
  const bool virtual_if = current_iopl(c) < 3;
  if (virtual_if) flags = (flags & ~IF) | IOPL | ((c.eflags & VIF) ? IF : 0u);
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  for (unsigned k = 1; k <= 3; ++k) probe_write_mem(c, SS, (sp - 2 * k) & m, 2);
  write_mem<2>(c, SS, (sp - 2) & m, flags);
  write_mem<2>(c, SS, (sp - 4) & m, c.seg[CS].selector);
  write_mem<2>(c, SS, (sp - 6) & m, c.eip);
  set_stack_pointer(c, sp - 6);
  c.eflags &= ~(TF | RF | (virtual_if ? VIF : IF));
  load_segment_real(c, CS, cs);
  c.eip = ip;
  c.int_delivered = 1;  // like any delivery: no single-step trap for the INT itself
}

// INT n, INT3, INTO are traps: cpu.eip already holds the return address.
inline void int_n(Cpu& c, const Insn& i) {
  const uint8_t v = uint8_t(i.imm);
  if (c.eflags & VM) {
    // SDM vol.3 20.3.3, table 20-2: without VME, INT n is IOPL-sensitive; with VME the
    // redirection bitmap picks the V86 IVT or the protected-mode IDT (IOPL < 3: #GP).
    if ((c.cr4 & CR4_VME) && v86_redirected(c, v)) return v86_redirect_interrupt(c, v);
    if (current_iopl(c) < 3) raise_gp(0);
  }
  deliver_interrupt(c, v, IntSource::SOFTWARE, false, 0);
}
inline void int3(Cpu& c, const Insn&) {
  deliver_interrupt(c, VEC_BP, IntSource::SOFTWARE, false, 0);
}
inline void into(Cpu& c, const Insn&) {
  if (lazy_of(c)) deliver_interrupt(c, VEC_OF, IntSource::SOFTWARE, false, 0);
}
// INT1 (ICEBP, F1) delivers #DB without the gate DPL check of INT n (SDM vol.2 INT n).
inline void int1(Cpu& c, const Insn&) {
  deliver_interrupt(c, VEC_DB, IntSource::EXCEPTION, false, 0);
}

// EFLAGS bits that exist on this CPU (bit 1 reads as 1 and is kept set).
inline constexpr uint32_t kEflagsDefinedBits =
    CF | 2u | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

inline void write_eflags_masked(Cpu& c, uint32_t value, uint32_t mask) {
  materialize_flags(c);
  mask &= kEflagsDefinedBits;
  c.eflags = ((c.eflags & ~mask) | (value & mask)) | 2u;
}

// IRET with NT = 1: return to the task in the back link (SDM vol.2 IRET TASK-RETURN).
inline void iret_task_return(Cpu& c) {
  const uint16_t link = uint16_t(read_linear<2>(c, c.tr.base));
  const uint32_t err = link & ~3u;
  uint64_t d;
  if ((link & 4) || !fetch_descriptor(c, link, d)) raise_fault(VEC_TS, err);
  if (desc_s(d) || (desc_type(d) != SYS_TSS16_BUSY && desc_type(d) != SYS_TSS32_BUSY))
    raise_fault(VEC_TS, err);
  if (!desc_present(d)) raise_fault(VEC_NP, err);
  task_switch(c, link, d, TaskSwitchKind::IRET);
}

// IRET in V86 mode with IOPL = 3: a real-mode style return that leaves IOPL (and VM, VIF,
// VIP) alone (SDM vol.2 IRET, VM = 1 branch). IOPL < 3 is #GP(0) (to the V86 monitor),
// except a 16-bit IRET with CR4.VME: the image's IF goes to VIF and IOPL, IF stay; IF set
// with VIP pending, or TF set, is #GP(0).
template <unsigned S>
void iret_v86(Cpu& c) {
  const bool virtual_if = current_iopl(c) < 3;
  if (virtual_if && (S == 4 || !(c.cr4 & CR4_VME))) raise_gp(0);
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  const uint32_t off = read_mem<S>(c, SS, sp);
  const uint16_t sel = uint16_t(read_mem<S>(c, SS, (sp + S) & m));
  const uint32_t fl = read_mem<S>(c, SS, (sp + 2 * S) & m);
  if (virtual_if && (((c.eflags & VIP) && (fl & IF)) || (fl & TF))) raise_gp(0);
  if (off > c.seg[CS].limit) raise_gp(0);
  uint32_t mask = S == 4 ? ~(VM | IOPL | VIF | VIP) : 0xFFFFu & ~IOPL;
  if (virtual_if) mask &= ~IF;
  load_segment_real(c, CS, sel);
  write_eflags_masked(c, fl, mask);
  if (virtual_if) c.eflags = (c.eflags & ~VIF) | ((fl & IF) ? VIF : 0u);
  set_stack_pointer(c, sp + 3 * S);
  c.eip = off;
}

// IRETD from CPL 0 with VM set in the popped EFLAGS (SDM vol.2 IRET RETURN-TO-VIRTUAL-8086-
// MODE; vol.3 20.2.5): the frame holds EIP CS EFLAGS ESP SS ES DS FS GS.
inline void iret_to_v86(Cpu& c, uint32_t sp, uint32_t m) {
  uint32_t f[9];
  for (unsigned k = 0; k < 9; ++k) f[k] = read_mem<4>(c, SS, (sp + 4 * k) & m);
  if (f[0] > 0xFFFF) raise_gp(0);  // beyond the 64 KiB V86 code segment
  materialize_flags(c);
  c.eflags = (f[2] & kEflagsDefinedBits) | 2u;  // VM = 1 from here: real-mode style loads
  load_segment_real(c, CS, uint16_t(f[1]));
  load_segment_real(c, SS, uint16_t(f[4]));
  load_segment_real(c, ES, uint16_t(f[5]));
  load_segment_real(c, DS, uint16_t(f[6]));
  load_segment_real(c, FS, uint16_t(f[7]));
  load_segment_real(c, GS, uint16_t(f[8]));
  c.regs[ESP] = f[3];
  update_mode(c);  // CPL 3
  c.eip = f[0];
}

template <unsigned S>
void iret_body(Cpu& c) {
  if (c.eflags & VM) return iret_v86<S>(c);
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  const bool pm = protected_mode(c);
  if (pm && (c.eflags & NT)) return iret_task_return(c);
  const uint32_t off = read_mem<S>(c, SS, sp);
  const uint16_t sel = uint16_t(read_mem<S>(c, SS, (sp + S) & m));
  const uint32_t fl = read_mem<S>(c, SS, (sp + 2 * S) & m);
  if (!pm) {
    if (off > c.seg[CS].limit) raise_gp(0);
    // SDM vol.2 IRET real-address mode: VM, VIF, VIP keep their values.
    load_segment_real(c, CS, sel);
    write_eflags_masked(c, fl, S == 4 ? 0x257FD5u : 0xFFFFu);
    set_stack_pointer(c, sp + 3 * S);
    c.eip = off;
    return;
  }
  if (S == 4 && (fl & VM) && c.cpl == 0) return iret_to_v86(c, sp, m);
  const uint64_t cd = check_return_code(c, sel);
  // Which flags the image may change, with the CPL before the return.
  uint32_t mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT;
  if (S == 4) mask |= RF | AC | ID;
  if (c.cpl <= current_iopl(c)) mask |= IF;
  if (c.cpl == 0) {
    mask |= IOPL;
    if (S == 4) mask |= VIF | VIP;
  }
  if ((sel & 3u) > c.cpl) {  // RETURN-TO-OUTER-PRIVILEGE-LEVEL
    const uint32_t esp = read_mem<S>(c, SS, (sp + 3 * S) & m);
    const uint16_t ss = uint16_t(read_mem<S>(c, SS, (sp + 4 * S) & m));
    const uint64_t sd = check_return_stack(c, ss, sel & 3u);
    if (off > desc_limit(cd)) raise_gp(0);
    write_eflags_masked(c, fl, mask);
    commit_outer_return(c, sel, cd, ss, sd, esp, 0);
    c.eip = off;
    return;
  }
  if (off > desc_limit(cd)) raise_gp(0);  // RETURN-TO-SAME-PRIVILEGE-LEVEL
  commit_code_segment(c, sel, cd, c.cpl);
  write_eflags_masked(c, fl, mask);
  set_stack_pointer(c, sp + 3 * S);
  c.eip = off;
}

// Every IRET ends NMI blocking (SDM vol.3 6.7.1) and may load TF/RF (interp/events.h).
template <unsigned S>
void iret(Cpu& c, const Insn&) {
  iret_body<S>(c);
  c.nmi_blocked = 0;
  if (c.nmi_pending) c.events = 1;
  note_flags_loaded(c);
}

// ---- BOUND -------------------------------------------------------------------------------

template <unsigned S>
inline int32_t bound_sext(uint32_t v) {
  return S == 2 ? int32_t(int16_t(v)) : int32_t(v);
}

template <unsigned S>
void bound(Cpu& c, const Insn& i) {
  uint32_t ea = effective_address(c, i);
  uint32_t ea2 = ea + S;
  if (!i.addr32) ea2 &= 0xFFFF;
  int32_t lo = bound_sext<S>(read_mem<S>(c, i.seg, ea));
  int32_t hi = bound_sext<S>(read_mem<S>(c, i.seg, ea2));
  int32_t idx = bound_sext<S>(get_reg<S>(c, i.reg));
  if (idx < lo || idx > hi) raise_fault(VEC_BR);  // a fault: EIP stays at BOUND
}

// ---- handler tables ---------------------------------------------------------------------

using CondCodes = Dim<0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u>;
using LoopKinds = Dim<LOOP_ALWAYS, LOOP_E, LOOP_NE>;

// Near transfers, by operand size (and address size for the count register).
inline constexpr auto kJmpNearRel =
    make_handlers<Sizes16_32>([]<unsigned S>() { return &jmp_near_rel<S>; });
inline constexpr auto kJmpNearRm =
    make_handlers<Sizes16_32, RmForms>([]<unsigned S, unsigned M>() { return &jmp_near_rm<S, M>; });
inline constexpr auto kJccRel = make_handlers<Sizes16_32, CondCodes>(
    []<unsigned S, unsigned CC>() { return &jcc_rel<S, CC>; });
inline constexpr auto kJcxzRel = make_handlers<Sizes16_32, Bools>(
    []<unsigned S, bool A32>() { return &jcxz_rel<S, A32>; });
inline constexpr auto kLoopRel = make_handlers<Sizes16_32, Bools, LoopKinds>(
    []<unsigned S, bool A32, LoopKind K>() { return &loop_rel<S, A32, K>; });
inline constexpr auto kCallNearRel = make_handlers<Sizes16_32, StackSizes>(
    []<unsigned S, unsigned B>() { return &call_near_rel<S, B>; });
inline constexpr auto kCallNearRm = make_handlers<Sizes16_32, RmForms, StackSizes>(
    []<unsigned S, unsigned M, unsigned B>() { return &call_near_rm<S, M, B>; });
inline constexpr auto kRetNear = make_handlers<Sizes16_32, Bools, StackSizes>(
    []<unsigned S, bool Imm, unsigned B>() { return &ret_near<S, Imm, B>; });

// Far transfers.
inline constexpr auto kJmpFarPtr =
    make_handlers<Sizes16_32>([]<unsigned S>() { return &jmp_far_ptr<S>; });
inline constexpr auto kJmpFarMem =
    make_handlers<Sizes16_32>([]<unsigned S>() { return &jmp_far_mem<S>; });
inline constexpr auto kCallFarPtr =
    make_handlers<Sizes16_32>([]<unsigned S>() { return &call_far_ptr<S>; });
inline constexpr auto kCallFarMem =
    make_handlers<Sizes16_32>([]<unsigned S>() { return &call_far_mem<S>; });
inline constexpr auto kRetFar = make_handlers<Sizes16_32, Bools>(
    []<unsigned S, bool Imm>() { return &ret_far<S, Imm>; });

// Interrupts and IRET.
inline constexpr auto kIntN = kSingle<&int_n>;
inline constexpr auto kInt3 = kSingle<&int3>;
inline constexpr auto kInto = kSingle<&into>;
inline constexpr auto kInt1 = kSingle<&int1>;
inline constexpr auto kIret = make_handlers<Sizes16_32>([]<unsigned S>() { return &iret<S>; });

inline constexpr auto kBound = make_handlers<Sizes16_32>([]<unsigned S>() { return &bound<S>; });

}  // namespace softcpu
