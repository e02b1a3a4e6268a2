// Stack instructions: PUSH/POP (registers, memory, immediates, segment registers),
// PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE (SDM vol.2 under each mnemonic). The selector is in
// interp/ops_stack.cpp. Every handler is specialized by operand size (2 or 4).
#pragma once
#include "interp/events.h"
#include "interp/segments.h"
#include "interp/sem/common.h"

namespace softcpu {

// B (StackSize, interp/access.h): the stack size, fixed at decode time by the block key for the
// commonest stack instructions (PUSH, POP, LEAVE; CALL and RET near in control.h).

// PUSH r (50+r): the value is read before the decrement, so PUSH ESP pushes the old ESP.
template <unsigned S, unsigned B> void push_r(Cpu& c, const Insn& i) {
  push<S, B>(c, get_reg<S>(c, i.reg));
}
// PUSH r/m (FF /6): the address uses ESP before the decrement.
template <unsigned S, unsigned B> void push_rm(Cpu& c, const Insn& i) {
  push<S, B>(c, read_rm<S>(c, i));
}
template <unsigned S, unsigned B> void push_imm(Cpu& c, const Insn& i) { push<S, B>(c, i.imm); }

template <unsigned S, unsigned B> void pop_r(Cpu& c, const Insn& i) {
  // POP ESP: the popped value replaces the incremented ESP.
  pop_then<S, B>(c, [&i](Cpu& cpu, uint32_t v) { set_reg<S>(cpu, i.reg, v); });
}

// POP r/m (8F /0). With a memory operand the address is computed after ESP is incremented
// (SDM vol.2 POP); ESP is committed only after the write.
template <unsigned S, unsigned B> void pop_rm(Cpu& c, const Insn& i) {
  const uint32_t sp = stack_pointer<B>(c);
  const uint32_t v = read_mem<S>(c, SS, sp);
  const uint32_t old_esp = c.regs[ESP];
  set_stack_pointer<B>(c, sp + S);
  if (!i.is_mem) {
    set_reg<S>(c, i.rm, v);
    return;
  }
  const uint32_t new_esp = c.regs[ESP];
  const uint32_t ea = effective_address(c, i);
  c.regs[ESP] = old_esp;
  write_mem<S>(c, i.seg, ea, v);
  c.regs[ESP] = new_esp;
}

// PUSH Sreg: a 32-bit push writes the zero-extended selector to a 4-byte slot. i.reg holds
// the segment register number.
template <unsigned S> void push_sreg(Cpu& c, const Insn& i) { push<S>(c, c.seg[i.reg].selector); }

// POP Sreg: the load may fault, so ESP is committed afterwards, in the stack size that was
// in effect before (POP SS may change SS.B). load_segment (interp/segments.cpp) reads
// descriptors: compiled code calls this handler.
template <unsigned S> void pop_sreg(Cpu& c, const Insn& i) {
  const bool s32 = stack32(c);
  const uint32_t sp = stack_pointer(c);
  const uint16_t sel = uint16_t(read_mem<S>(c, SS, sp));
  load_segment(c, i.reg, sel);
  set_stack_pointer_as(c, s32, sp + S);
  if (i.reg == SS) set_interrupt_shadow(c, SHADOW_SS);  // SDM vol.3 6.8.3
}

// PUSHA/PUSHAD: EAX ECX EDX EBX (original ESP) EBP ESI EDI. All slots are probed first so
// a fault writes nothing.
template <unsigned S> void pusha_op(Cpu& c, const Insn&) {
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  for (unsigned k = 1; k <= 8; ++k) probe_write_mem(c, SS, (sp - k * S) & m, S);
  for (unsigned r = 0; r < 8; ++r) write_mem<S>(c, SS, (sp - (r + 1) * S) & m, get_reg<S>(c, r));
  set_stack_pointer(c, sp - 8 * S);
}

// POPA/POPAD: the ESP slot is skipped.
template <unsigned S> void popa_op(Cpu& c, const Insn&) {
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  uint32_t v[8];
  for (unsigned k = 0; k < 8; ++k) v[k] = read_mem<S>(c, SS, (sp + k * S) & m);
  for (unsigned r = 0; r < 8; ++r)
    if (r != ESP) set_reg<S>(c, r, v[7 - r]);
  set_stack_pointer(c, sp + 8 * S);
}

// PUSHF/PUSHFD: VM and RF are cleared in the image; in V86 mode IOPL < 3 faults, except a
// 16-bit PUSHF with CR4.VME, which pushes VIF as IF and IOPL as 3 (SDM vol.2 PUSHF).
template <unsigned S> void pushf_op(Cpu& c, const Insn&) {
  const uint32_t f = read_eflags(c);
  if ((f & VM) && ((f & IOPL) >> 12) < 3) {
    if (S == 4 || !(c.cr4 & CR4_VME)) raise_gp(0);
    push<S>(c, (f & ~IF & 0xFFFF) | IOPL | ((f & VIF) ? IF : 0u));
    return;
  }
  push<S>(c, f & ~(VM | RF));
}

// POPF in V86 with IOPL < 3 and CR4.VME (16-bit only): the image's IF goes to VIF, IOPL and
// IF stay; setting IF with VIP pending, or TF, is #GP(0) (SDM vol.2 POPF).
inline void popf_v86_vme(Cpu& c, uint32_t f) {
  const uint32_t sp = stack_pointer(c);
  const uint32_t v = read_mem<2>(c, SS, sp);
  if (((f & VIP) && (v & IF)) || (v & TF)) raise_gp(0);
  const uint32_t mask = CF | PF | AF | ZF | SF | DF | OF | NT;  // FLAGS but IOPL, IF (TF is 0)
  c.eflags = (((f & ~mask) | (v & mask)) & ~VIF) | ((v & IF) ? VIF : 0u) | 2u;
  c.lz_kind = LZ_NONE;
  set_stack_pointer(c, sp + 2);
}

// POPF/POPFD (SDM vol.2 POPF): IOPL changes only at CPL 0 (not in V86), IF only when
// CPL <= IOPL; VM, VIP, VIF are kept; a 32-bit POPF clears RF. In V86 mode IOPL < 3 faults.
template <unsigned S> void popf_op(Cpu& c, const Insn&) {
  const uint32_t f = read_eflags(c);
  const bool v86 = f & VM;
  const unsigned iopl = (f & IOPL) >> 12;
  if (v86 && iopl < 3) {
    if (S == 4 || !(c.cr4 & CR4_VME)) raise_gp(0);
    return popf_v86_vme(c, f);
  }
  const uint32_t sp = stack_pointer(c);
  const uint32_t v = read_mem<S>(c, SS, sp);
  uint32_t mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT | AC | ID;
  if (c.cpl <= iopl) mask |= IF;
  if (c.cpl == 0 && !v86) mask |= IOPL;
  if (S == 2) mask &= 0xFFFF;
  uint32_t nf = (f & ~mask) | (v & mask);
  if (S == 4) nf &= ~RF;
  c.eflags = nf | 2u;  // bit 1 reads 1; bits 3, 5, 15, 22-31 stay 0
  c.lz_kind = LZ_NONE;
  set_stack_pointer(c, sp + S);
  note_flags_loaded(c);
}

// ENTER imm16, imm8 (SDM vol.2 ENTER). EBP/BP is chosen by the operand size, the stack
// pointer and the frame-pointer walk by the stack size. All pushes are probed and the
// nested frame pointers read before the first write, so a fault changes nothing.
// ENTER also checks that a write at the FINAL stack pointer (after the frame is allocated)
// would not fault: #SS(0) outside the SS limit, #PF if that page is not writable (SDM vol.2
// ENTER, "Protected Mode Exceptions"; Bochs probes an operand-size write there).
template <unsigned S> void enter_op(Cpu& c, const Insn& i) {
  const bool s32 = stack32(c);
  const uint32_t m = stack_mask(c);
  const unsigned level = i.imm2 & 31;
  const uint32_t alloc = i.imm & 0xFFFF;
  const uint32_t sp = stack_pointer(c);
  const unsigned pushes = level ? level + 1 : 1;
  for (unsigned k = 1; k <= pushes; ++k) probe_write_mem(c, SS, (sp - k * S) & m, S);
  const uint32_t frame_sp = (sp - S) & m;
  // FrameTemp: the stack pointer register after pushing EBP.
  const uint32_t frame = s32 ? frame_sp : (c.regs[ESP] & ~0xFFFFu) | frame_sp;
  uint32_t vals[32];
  vals[0] = get_reg<S>(c, EBP);
  uint32_t bp = c.regs[EBP] & m;
  for (unsigned k = 1; k < level; ++k) {
    bp = (bp - S) & m;
    vals[k] = read_mem<S>(c, SS, bp);
  }
  if (level) vals[level] = frame;
  const uint32_t new_sp = (sp - pushes * S - alloc) & m;
  if (alloc) probe_write_mem(c, SS, new_sp, S);  // alloc 0: new_sp is the last push, probed
  for (unsigned k = 0; k < pushes; ++k) write_mem<S>(c, SS, (sp - (k + 1) * S) & m, vals[k]);
  set_reg<S>(c, EBP, frame);
  set_stack_pointer_as(c, s32, new_sp);
}

// LEAVE: (E)SP = (E)BP by stack size, then pop (E)BP by operand size.
template <unsigned S, unsigned B> void leave_op(Cpu& c, const Insn&) {
  const uint32_t sp = c.regs[EBP] & stack_mask<B>(c);
  const uint32_t v = read_mem<S>(c, SS, sp);
  set_stack_pointer<B>(c, sp + S);
  set_reg<S>(c, EBP, v);
}

// ---- handler tables (operand size 2 or 4; stack size where it is a dimension) -------------

inline constexpr auto kPushReg = make_handlers<Sizes16_32, StackSizes>(
    []<unsigned S, unsigned B>() { return &push_r<S, B>; });
inline constexpr auto kPushRm = make_handlers<Sizes16_32, StackSizes>(
    []<unsigned S, unsigned B>() { return &push_rm<S, B>; });
inline constexpr auto kPushImm = make_handlers<Sizes16_32, StackSizes>(
    []<unsigned S, unsigned B>() { return &push_imm<S, B>; });
inline constexpr auto kPopReg = make_handlers<Sizes16_32, StackSizes>(
    []<unsigned S, unsigned B>() { return &pop_r<S, B>; });
inline constexpr auto kPopRm = make_handlers<Sizes16_32, StackSizes>(
    []<unsigned S, unsigned B>() { return &pop_rm<S, B>; });
inline constexpr auto kPushSreg =
    make_handlers<Sizes16_32>([]<unsigned S>() { return &push_sreg<S>; });
inline constexpr auto kPopSreg =
    make_handlers<Sizes16_32>([]<unsigned S>() { return &pop_sreg<S>; });
inline constexpr auto kPusha = make_handlers<Sizes16_32>([]<unsigned S>() { return &pusha_op<S>; });
inline constexpr auto kPopa = make_handlers<Sizes16_32>([]<unsigned S>() { return &popa_op<S>; });
inline constexpr auto kPushf = make_handlers<Sizes16_32>([]<unsigned S>() { return &pushf_op<S>; });
inline constexpr auto kPopf = make_handlers<Sizes16_32>([]<unsigned S>() { return &popf_op<S>; });
inline constexpr auto kEnter = make_handlers<Sizes16_32>([]<unsigned S>() { return &enter_op<S>; });
inline constexpr auto kLeave = make_handlers<Sizes16_32, StackSizes>(
    []<unsigned S, unsigned B>() { return &leave_op<S, B>; });

}  // namespace softcpu
