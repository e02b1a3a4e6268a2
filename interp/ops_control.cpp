// Control transfer: JMP/CALL/RET near and far, Jcc, JCXZ/JECXZ, LOOP*, INT n/INT3/INTO/INT1,
// IRET, BOUND (SDM vol.2 instruction pages; vol.3 5.8 for far transfers).
//
// Scope: real mode and protected mode at the same privilege level. Call gates, task gates,
// TSS targets (task switches), returns to an outer ring and V86 IRET come later; those cases
// raise #GP (with the selector where the SDM names one) instead of doing something wrong.
#include <array>
#include <utility>

#include "interp/exceptions.h"
#include "interp/fault.h"
#include "interp/ops_common.h"
#include "interp/segments.h"

namespace softcpu {

namespace {

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

template <unsigned S> void jmp_rel(Cpu& c, const Insn& i) { near_branch(c, rel_target<S>(c, i)); }
template <unsigned S> void jmp_rm(Cpu& c, const Insn& i) { near_branch(c, read_rm<S>(c, i)); }

template <unsigned S, unsigned CC>
void jcc(Cpu& c, const Insn& i) {
  if (condition(c, CC)) near_branch(c, rel_target<S>(c, i));
}

template <unsigned S, size_t... CC>
constexpr std::array<Handler, 16> make_jcc_table(std::index_sequence<CC...>) {
  return {&jcc<S, CC>...};
}
constexpr auto kJcc16 = make_jcc_table<2>(std::make_index_sequence<16>{});
constexpr auto kJcc32 = make_jcc_table<4>(std::make_index_sequence<16>{});

// The count register is CX or ECX by address size (SDM vol.2 JCXZ, LOOP).
template <bool A32>
inline uint32_t count_reg(const Cpu& c) { return A32 ? c.regs[ECX] : c.regs[ECX] & 0xFFFF; }

template <unsigned S, bool A32>
void jcxz(Cpu& c, const Insn& i) {
  if (count_reg<A32>(c) == 0) near_branch(c, rel_target<S>(c, i));
}

enum LoopKind { LOOP_ALWAYS, LOOP_E, LOOP_NE };

template <unsigned S, bool A32, LoopKind K>
void loop(Cpu& c, const Insn& i) {
  uint32_t n = count_reg<A32>(c) - 1;
  if (!A32) n &= 0xFFFF;
  bool take = n != 0;
  if constexpr (K == LOOP_E) take = take && lazy_zf(c);
  if constexpr (K == LOOP_NE) take = take && !lazy_zf(c);
  if (take) near_branch(c, rel_target<S>(c, i));  // faults before the count is committed
  if (A32) c.regs[ECX] = n;
  else c.regs[ECX] = (c.regs[ECX] & ~0xFFFFu) | n;
}

// ---- near CALL / RET ---------------------------------------------------------------------

template <unsigned S>
inline void call_near(Cpu& c, uint32_t target) {
  if (SOFTCPU_UNLIKELY(target > c.seg[CS].limit)) raise_gp(0);
  push<S>(c, c.eip);  // a stack fault leaves ESP and EIP unchanged
  c.eip = target;
}
template <unsigned S> void call_rel(Cpu& c, const Insn& i) { call_near<S>(c, rel_target<S>(c, i)); }
template <unsigned S> void call_rm(Cpu& c, const Insn& i) { call_near<S>(c, read_rm<S>(c, i)); }

template <unsigned S, bool Imm>
void ret_near(Cpu& c, const Insn& i) {
  uint32_t sp = stack_pointer(c);
  uint32_t target = read_mem<S>(c, SS, sp);
  if (SOFTCPU_UNLIKELY(target > c.seg[CS].limit)) raise_gp(0);
  set_stack_pointer(c, sp + S + (Imm ? i.imm : 0));
  c.eip = target;
}

// ---- far transfers -----------------------------------------------------------------------

enum class FarKind { JMP_CALL, RET };

// Protected-mode checks of a far JMP/CALL/RET/IRET target at the current privilege level
// (SDM vol.2 JMP, CALL, RET, IRET; vol.3 5.8.1). Raises the SDM's fault; returns the
// byte-granular limit of the target code segment so EIP can be checked before CS commits.
uint32_t check_far_code_target(Cpu& c, uint16_t sel, FarKind kind) {
  const uint32_t err = sel & ~3u;
  if (err == 0) raise_gp(0);  // null selector
  const uint64_t d = read_descriptor(c, sel);  // #GP(sel) outside the table
  const uint32_t hi = uint32_t(d >> 32);
  if (!(hi & (1u << 12))) {
    // System descriptor. Call gates (4, 12), task gates (5) and TSS (1, 9) are far-transfer
    // targets for JMP/CALL, but gates and task switches come later: #GP(sel) for now.
    raise_gp(err);
  }
  if (!(hi & (1u << 11))) raise_gp(err);  // data segment
  const unsigned dpl = (hi >> 13) & 3;
  const unsigned rpl = sel & 3;
  const bool conforming = hi & (1u << 10);
  if (kind == FarKind::RET) {
    // RPL < CPL is #GP(sel); RPL > CPL is a return to an outer ring, which comes later.
    if (rpl != c.cpl) raise_gp(err);
  } else if (!conforming && rpl > c.cpl) {
    raise_gp(err);
  }
  if (conforming ? dpl > c.cpl : dpl != c.cpl) raise_gp(err);
  if (!(hi & (1u << 15))) raise_fault(VEC_NP, err);
  uint32_t limit = (uint32_t(d) & 0xFFFF) | (hi & 0xF0000u);
  if (hi & (1u << 23)) limit = (limit << 12) | 0xFFF;
  return limit;
}

// Load CS:EIP for a far JMP (also the final step of far CALL/RET/IRET). All faults are
// raised before anything is committed.
void far_jump(Cpu& c, uint16_t sel, uint32_t off) {
  if (protected_mode(c)) {
    uint32_t limit = check_far_code_target(c, sel, FarKind::JMP_CALL);
    if (off > limit) raise_gp(0);
    load_code_segment(c, sel, c.cpl);  // conforming segments keep CPL; RPL := CPL
  } else {
    // Real mode (and V86): the CS limit in the cache stays what it was.
    if (off > c.seg[CS].limit) raise_gp(0);
    load_segment_real(c, CS, sel);
  }
  c.eip = off;
}

template <unsigned S> void jmp_ptr(Cpu& c, const Insn& i) { far_jump(c, i.imm2, i.imm & ip_mask<S>()); }

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
void jmp_mem_far(Cpu& c, const Insn& i) {
  uint32_t off;
  uint16_t sel;
  read_far_pointer<S>(c, i, off, sel);
  far_jump(c, sel, off);
}

template <unsigned S>
void call_far(Cpu& c, uint16_t sel, uint32_t off) {
  const uint32_t ret_cs = c.seg[CS].selector, ret_ip = c.eip;
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  uint32_t limit;
  if (protected_mode(c)) limit = check_far_code_target(c, sel, FarKind::JMP_CALL);
  else limit = c.seg[CS].limit;
  // SDM vol.2 CALL: room for the return address (#SS(0)) is checked before the EIP limit.
  probe_write_mem(c, SS, (sp - S) & m, S);
  probe_write_mem(c, SS, (sp - 2 * S) & m, S);
  if (off > limit) raise_gp(0);
  if (protected_mode(c)) load_code_segment(c, sel, c.cpl);
  else load_segment_real(c, CS, sel);
  push<S>(c, ret_cs);  // zero-extended to 32 bits for a 32-bit operand size
  push<S>(c, ret_ip);
  c.eip = off;
}

template <unsigned S> void call_ptr(Cpu& c, const Insn& i) { call_far<S>(c, i.imm2, i.imm & ip_mask<S>()); }

template <unsigned S>
void call_mem_far(Cpu& c, const Insn& i) {
  uint32_t off;
  uint16_t sel;
  read_far_pointer<S>(c, i, off, sel);
  call_far<S>(c, sel, off);
}

template <unsigned S, bool Imm>
void ret_far(Cpu& c, const Insn& i) {
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  const uint32_t off = read_mem<S>(c, SS, sp);
  const uint16_t sel = uint16_t(read_mem<S>(c, SS, (sp + S) & m));
  if (protected_mode(c)) {
    uint32_t limit = check_far_code_target(c, sel, FarKind::RET);
    if (off > limit) raise_gp(0);
    load_code_segment(c, sel, c.cpl);
  } else {
    if (off > c.seg[CS].limit) raise_gp(0);
    load_segment_real(c, CS, sel);
  }
  set_stack_pointer(c, sp + 2 * S + (Imm ? i.imm : 0));
  c.eip = off;
}

// ---- interrupts --------------------------------------------------------------------------

inline unsigned iopl(const Cpu& c) { return (c.eflags >> 12) & 3; }

// INT n, INT3, INTO are traps: cpu.eip already holds the return address.
void int_n(Cpu& c, const Insn& i) {
  // SDM vol.3 20.3.3: in V86 without VME, INT n is IOPL-sensitive.
  if ((c.eflags & VM) && iopl(c) < 3) raise_gp(0);
  deliver_interrupt(c, uint8_t(i.imm), IntSource::SOFTWARE, false, 0);
}
void int3(Cpu& c, const Insn&) { deliver_interrupt(c, VEC_BP, IntSource::SOFTWARE, false, 0); }
void into(Cpu& c, const Insn&) {
  if (lazy_of(c)) deliver_interrupt(c, VEC_OF, IntSource::SOFTWARE, false, 0);
}
// INT1 (ICEBP, F1) delivers #DB without the gate DPL check of INT n (SDM vol.2 INT n).
void int1(Cpu& c, const Insn&) { deliver_interrupt(c, VEC_DB, IntSource::EXCEPTION, false, 0); }

// EFLAGS bits that exist on this CPU (bit 1 reads as 1 and is kept set).
constexpr uint32_t kEflagsDefined =
    CF | 2u | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

inline void write_eflags_masked(Cpu& c, uint32_t value, uint32_t mask) {
  materialize_flags(c);
  mask &= kEflagsDefined;
  c.eflags = ((c.eflags & ~mask) | (value & mask)) | 2u;
}

template <unsigned S>
void iret(Cpu& c, const Insn&) {
  if (c.eflags & VM) raise_gp(0);  // IRET in V86 comes later (#GP(0) is its IOPL<3 case)
  const uint32_t sp = stack_pointer(c), m = stack_mask(c);
  const bool pm = protected_mode(c);
  if (pm && (c.eflags & NT)) raise_gp(0);  // task return (SDM IRET TASK-RETURN): later
  const uint32_t off = read_mem<S>(c, SS, sp);
  const uint16_t sel = uint16_t(read_mem<S>(c, SS, (sp + S) & m));
  const uint32_t fl = read_mem<S>(c, SS, (sp + 2 * S) & m);
  uint32_t mask;
  if (!pm) {
    if (off > c.seg[CS].limit) raise_gp(0);
    // SDM vol.2 IRET real-address mode: VM, VIF, VIP keep their values.
    mask = S == 4 ? 0x257FD5u : 0xFFFFu;
    load_segment_real(c, CS, sel);
  } else {
    if (S == 4 && (fl & VM) && c.cpl == 0) raise_gp(0);  // return to V86: later
    uint32_t limit = check_far_code_target(c, sel, FarKind::RET);
    if (off > limit) raise_gp(0);
    // SDM vol.2 IRET RETURN-TO-SAME-PRIVILEGE-LEVEL: which flags the image may change.
    mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT;
    if (S == 4) mask |= RF | AC | ID;
    if (c.cpl <= iopl(c)) mask |= IF;
    if (c.cpl == 0) {
      mask |= IOPL;
      if (S == 4) mask |= VIF | VIP;
    }
    load_code_segment(c, sel, c.cpl);
  }
  write_eflags_masked(c, fl, mask);
  set_stack_pointer(c, sp + 3 * S);
  c.eip = off;
}

// ---- BOUND -------------------------------------------------------------------------------

template <unsigned S>
inline int32_t sext(uint32_t v) {
  return S == 2 ? int32_t(int16_t(v)) : int32_t(v);
}

template <unsigned S>
void bound(Cpu& c, const Insn& i) {
  uint32_t ea = effective_address(c, i);
  uint32_t ea2 = ea + S;
  if (!i.addr32) ea2 &= 0xFFFF;
  int32_t lo = sext<S>(read_mem<S>(c, i.seg, ea));
  int32_t hi = sext<S>(read_mem<S>(c, i.seg, ea2));
  int32_t idx = sext<S>(get_reg<S>(c, i.reg));
  if (idx < lo || idx > hi) raise_fault(VEC_BR);  // a fault: EIP stays at BOUND
}

}  // namespace

bool select_control(const DecodeContext& ctx, Insn& i) {
  const bool o16 = i.opsize == 2;
  const bool imm_form = op_is_imm(ctx, 0);
  const bool far_form = ctx.zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_JMP:
      if (ctx.ops[0].type == ZYDIS_OPERAND_TYPE_POINTER) i.fn = SOFTCPU_BY_SIZE_WD(jmp_ptr, i.opsize);
      else if (imm_form) i.fn = SOFTCPU_BY_SIZE_WD(jmp_rel, i.opsize);
      else if (far_form) i.fn = i.is_mem ? SOFTCPU_BY_SIZE_WD(jmp_mem_far, i.opsize) : handler_ud;
      else i.fn = SOFTCPU_BY_SIZE_WD(jmp_rm, i.opsize);
      break;
    case ZYDIS_MNEMONIC_CALL:
      if (ctx.ops[0].type == ZYDIS_OPERAND_TYPE_POINTER) i.fn = SOFTCPU_BY_SIZE_WD(call_ptr, i.opsize);
      else if (imm_form) i.fn = SOFTCPU_BY_SIZE_WD(call_rel, i.opsize);
      else if (far_form) i.fn = i.is_mem ? SOFTCPU_BY_SIZE_WD(call_mem_far, i.opsize) : handler_ud;
      else i.fn = SOFTCPU_BY_SIZE_WD(call_rm, i.opsize);
      break;
    case ZYDIS_MNEMONIC_RET: {
      const bool has_imm = op_is_imm(ctx, 0);
      i.imm &= 0xFFFF;
      if (far_form) {  // CA/CB
        if (has_imm) i.fn = o16 ? &ret_far<2, true> : &ret_far<4, true>;
        else i.fn = o16 ? &ret_far<2, false> : &ret_far<4, false>;
      } else {
        if (has_imm) i.fn = o16 ? &ret_near<2, true> : &ret_near<4, true>;
        else i.fn = o16 ? &ret_near<2, false> : &ret_near<4, false>;
      }
      break;
    }
    case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
    case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
    case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
    case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
    case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
    case ZYDIS_MNEMONIC_JNLE:
      i.cond = ctx.zi.opcode & 0xF;  // 7x and 0F 8x both carry tttn in the low nibble
      i.fn = o16 ? kJcc16[i.cond] : kJcc32[i.cond];
      break;
    case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ:
      if (i.addr32) i.fn = o16 ? &jcxz<2, true> : &jcxz<4, true>;
      else i.fn = o16 ? &jcxz<2, false> : &jcxz<4, false>;
      break;
    case ZYDIS_MNEMONIC_LOOP:
      if (i.addr32) i.fn = o16 ? &loop<2, true, LOOP_ALWAYS> : &loop<4, true, LOOP_ALWAYS>;
      else i.fn = o16 ? &loop<2, false, LOOP_ALWAYS> : &loop<4, false, LOOP_ALWAYS>;
      break;
    case ZYDIS_MNEMONIC_LOOPE:
      if (i.addr32) i.fn = o16 ? &loop<2, true, LOOP_E> : &loop<4, true, LOOP_E>;
      else i.fn = o16 ? &loop<2, false, LOOP_E> : &loop<4, false, LOOP_E>;
      break;
    case ZYDIS_MNEMONIC_LOOPNE:
      if (i.addr32) i.fn = o16 ? &loop<2, true, LOOP_NE> : &loop<4, true, LOOP_NE>;
      else i.fn = o16 ? &loop<2, false, LOOP_NE> : &loop<4, false, LOOP_NE>;
      break;
    case ZYDIS_MNEMONIC_INT:
      i.imm &= 0xFF;
      i.fn = int_n;
      break;
    case ZYDIS_MNEMONIC_INT3: i.fn = int3; break;
    case ZYDIS_MNEMONIC_INTO: i.fn = into; break;
    case ZYDIS_MNEMONIC_INT1: i.fn = int1; break;
    case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD:
      i.fn = o16 ? &iret<2> : &iret<4>;
      break;
    case ZYDIS_MNEMONIC_BOUND:
      // BOUND does not end a block: it only faults.
      i.fn = i.is_mem ? SOFTCPU_BY_SIZE_WD(bound, i.opsize) : handler_ud;
      if (i.lock) i.fn = handler_ud;
      return true;
    default:
      return false;
  }
  if (i.lock) i.fn = handler_ud;
  i.flags |= INSN_ENDS_BLOCK;
  return true;
}

}  // namespace softcpu
