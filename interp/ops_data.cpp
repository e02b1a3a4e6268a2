// Data movement: MOV forms, MOVSX/MOVZX, XCHG, XADD, CMPXCHG, CMPXCHG8B, LEA, CBW..CDQ,
// LAHF/SAHF, CLC/STC/CMC/CLD/STD, SALC, XLAT, NOP, PAUSE.
#include "interp/ops_common.h"

namespace softcpu {

namespace {

// The hottest instructions: register or memory form chosen at decode time (M).
template <unsigned S, bool M> void mov_rm_r(Cpu& c, const Insn& i) { write_rm<S, M>(c, i, get_reg<S>(c, i.reg)); }
template <unsigned S, bool M> void mov_r_rm(Cpu& c, const Insn& i) { set_reg<S>(c, i.reg, read_rm<S, M>(c, i)); }
template <unsigned S, bool M> void mov_rm_imm(Cpu& c, const Insn& i) { write_rm<S, M>(c, i, i.imm); }
template <unsigned S> void mov_r_imm(Cpu& c, const Insn& i) { set_reg<S>(c, i.reg, i.imm); }
void nop(Cpu&, const Insn&) {}

// MOVZX/MOVSX: D = destination size, S = source size.
template <unsigned D, unsigned S, bool M> void movzx(Cpu& c, const Insn& i) {
  set_reg<D>(c, i.reg, read_rm<S, M>(c, i));
}
template <unsigned D, unsigned S, bool M> void movsx(Cpu& c, const Insn& i) {
  uint32_t v = read_rm<S, M>(c, i);
  if (v & sign_bit(S)) v |= ~size_mask(S);
  set_reg<D>(c, i.reg, v);
}

// XCHG r/m, reg (also 90+r with rm = EAX). The memory write comes before the register.
template <unsigned S> void xchg(Cpu& c, const Insn& i) {
  uint32_t a = read_rm<S>(c, i);
  uint32_t b = get_reg<S>(c, i.reg);
  write_rm<S>(c, i, b);
  set_reg<S>(c, i.reg, a);
}

// XADD r/m, reg: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP (SDM vol.2 XADD).
template <unsigned S> void xadd(Cpu& c, const Insn& i) {
  uint32_t dest = read_rm<S>(c, i);
  uint32_t src = get_reg<S>(c, i.reg);
  uint32_t sum = (dest + src) & size_mask(S);
  if (i.is_mem) {
    write_rm<S>(c, i, sum);
    set_reg<S>(c, i.reg, dest);
  } else {
    set_reg<S>(c, i.reg, dest);
    set_reg<S>(c, i.rm, sum);
  }
  set_lazy(c, LZ_ADD, S, dest, src, sum);
}

// CMPXCHG r/m, reg. Flags as CMP accumulator, dest. On mismatch the destination is written
// back unchanged (the processor always writes, SDM vol.2 CMPXCHG) and the accumulator loaded.
template <unsigned S> void cmpxchg(Cpu& c, const Insn& i) {
  uint32_t dest = read_rm<S>(c, i);
  uint32_t acc = get_reg<S>(c, EAX);
  if (acc == dest) {
    write_rm<S>(c, i, get_reg<S>(c, i.reg));
  } else {
    write_rm<S>(c, i, dest);
    set_reg<S>(c, EAX, dest);
  }
  set_lazy(c, LZ_SUB, S, acc, dest, acc - dest);
}

// CMPXCHG8B m64: only ZF is affected (SDM vol.2 CMPXCHG8B).
void cmpxchg8b(Cpu& c, const Insn& i) {
  if (!i.is_mem) raise_ud();
  uint32_t ea = effective_address(c, i);
  const uint32_t ea_hi = ea + 4;  // no 16-bit wrap: crossing the limit faults
  uint32_t lo = read_mem<4>(c, i.seg, ea);
  uint32_t hi = read_mem<4>(c, i.seg, ea_hi);
  probe_write_mem(c, i.seg, ea, 4);
  probe_write_mem(c, i.seg, ea_hi, 4);
  if (lo == c.regs[EAX] && hi == c.regs[EDX]) {
    write_mem<4>(c, i.seg, ea, c.regs[EBX]);
    write_mem<4>(c, i.seg, ea_hi, c.regs[ECX]);
    set_flags(c, ZF, ZF);
  } else {
    write_mem<4>(c, i.seg, ea, lo);
    write_mem<4>(c, i.seg, ea_hi, hi);
    c.regs[EAX] = lo;
    c.regs[EDX] = hi;
    set_flags(c, ZF, 0);
  }
}

// LEA: the address is computed in the address size and truncated/zero-extended to the
// operand size (SDM vol.2 LEA, table 3-53). effective_address already truncates to 16 bits
// for 16-bit addressing.
template <unsigned S> void lea(Cpu& c, const Insn& i) { set_reg<S>(c, i.reg, effective_address(c, i)); }

void cbw(Cpu& c, const Insn&) { set_reg<2>(c, EAX, uint32_t(int32_t(int8_t(c.regs[EAX])))); }
void cwde(Cpu& c, const Insn&) { c.regs[EAX] = uint32_t(int32_t(int16_t(c.regs[EAX]))); }
void cwd(Cpu& c, const Insn&) { set_reg<2>(c, EDX, (c.regs[EAX] & 0x8000) ? 0xFFFF : 0); }
void cdq(Cpu& c, const Insn&) { c.regs[EDX] = (c.regs[EAX] & 0x80000000u) ? 0xFFFFFFFFu : 0; }

// LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.
void lahf(Cpu& c, const Insn&) {
  uint32_t f = read_eflags(c) & (SF | ZF | AF | PF | CF);
  set_reg<1>(c, 4, f | 2u);
}
void sahf(Cpu& c, const Insn&) {
  set_flags(c, SF | ZF | AF | PF | CF, get_reg<1>(c, 4));
}
void clc(Cpu& c, const Insn&) { set_flags(c, CF, 0); }
void stc(Cpu& c, const Insn&) { set_flags(c, CF, CF); }
void cmc(Cpu& c, const Insn&) { set_flags(c, CF, read_eflags(c) ^ CF); }
// SALC (D6): AL = CF ? FFh : 00h, flags unchanged. Undocumented (Intel SDM vol.2 table A-2
// leaves D6 blank, invalid in 64-bit mode) but executed by every IA-32 CPU outside 64-bit mode.
void salc(Cpu& c, const Insn&) { set_reg<1>(c, EAX, lazy_cf(c) ? 0xFF : 0); }
void cld(Cpu& c, const Insn&) { c.eflags &= ~DF; }
void std_(Cpu& c, const Insn&) { c.eflags |= DF; }

// XLAT: AL = [seg:(E)BX + AL]; i.seg holds the (overridable) segment.
void xlat(Cpu& c, const Insn& i) {
  uint32_t off = c.regs[EBX] + (c.regs[EAX] & 0xFF);
  if (!i.addr32) off &= 0xFFFF;
  set_reg<1>(c, EAX, read_mem<1>(c, i.seg, off));
}

bool is_sreg(ZydisRegister r) { return r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS; }

}  // namespace

bool select_data(const DecodeContext& ctx, Insn& i) {
  const unsigned s = i.opsize;
  Handler fn = nullptr;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_NOP:
    case ZYDIS_MNEMONIC_PAUSE:
      fn = nop;  // 0F 1F /0 has a memory operand that is never accessed
      break;
    case ZYDIS_MNEMONIC_MOV: {
      if (!op_is_reg(ctx, 0) && !op_is_mem(ctx, 0)) return false;
      if (op_is_reg(ctx, 0) && is_sreg(ctx.ops[0].reg.value)) return false;  // MOV Sreg: system
      if (op_is_reg(ctx, 1) && is_sreg(ctx.ops[1].reg.value)) return false;
      if (op_is_reg(ctx, 0) && (ctx.ops[0].reg.value >= ZYDIS_REGISTER_CR0 ||
                                (op_is_reg(ctx, 1) && ctx.ops[1].reg.value >= ZYDIS_REGISTER_CR0)))
        return false;  // MOV CRn/DRn: system group
      if (op_is_imm(ctx, 1)) {
        if (ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM) fn = SOFTCPU_BY_SIZE_MEM(mov_rm_imm, s, i.is_mem);
        else fn = SOFTCPU_BY_SIZE(mov_r_imm, s);
      } else if (op_is_mem(ctx, 0) || ((ctx.zi.opcode & 2) == 0 && !op_is_mem(ctx, 1))) {
        // 88/89 (and A2/A3 moffs): r/m <- reg
        if (!(ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)) i.reg = EAX;  // moffs forms
        fn = SOFTCPU_BY_SIZE_MEM(mov_rm_r, s, i.is_mem);
      } else {
        // 8A/8B (and A0/A1 moffs): reg <- r/m
        if (!(ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)) i.reg = EAX;
        fn = SOFTCPU_BY_SIZE_MEM(mov_r_rm, s, i.is_mem);
      }
      break;
    }
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX: {
      const bool zx = mnemonic(ctx) == ZYDIS_MNEMONIC_MOVZX;
      const unsigned src = op_size(ctx, 1);
      if (i.is_mem) {
        if (s == 2) fn = zx ? (src == 1 ? &movzx<2, 1, true> : &movzx<2, 2, true>) : (src == 1 ? &movsx<2, 1, true> : &movsx<2, 2, true>);
        else fn = zx ? (src == 1 ? &movzx<4, 1, true> : &movzx<4, 2, true>) : (src == 1 ? &movsx<4, 1, true> : &movsx<4, 2, true>);
      } else {
        if (s == 2) fn = zx ? (src == 1 ? &movzx<2, 1, false> : &movzx<2, 2, false>) : (src == 1 ? &movsx<2, 1, false> : &movsx<2, 2, false>);
        else fn = zx ? (src == 1 ? &movzx<4, 1, false> : &movzx<4, 2, false>) : (src == 1 ? &movsx<4, 1, false> : &movsx<4, 2, false>);
      }
      break;
    }
    case ZYDIS_MNEMONIC_XCHG:
      if (!(ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)) {  // 90+r: XCHG r, eAX
        i.rm = EAX;
        i.is_mem = 0;
      }
      fn = SOFTCPU_BY_SIZE(xchg, s);
      break;
    case ZYDIS_MNEMONIC_XADD: fn = SOFTCPU_BY_SIZE(xadd, s); break;
    case ZYDIS_MNEMONIC_CMPXCHG: fn = SOFTCPU_BY_SIZE(cmpxchg, s); break;
    case ZYDIS_MNEMONIC_CMPXCHG8B: fn = i.is_mem ? cmpxchg8b : handler_ud; break;
    case ZYDIS_MNEMONIC_LEA:
      fn = i.is_mem ? SOFTCPU_BY_SIZE_WD(lea, s) : handler_ud;
      break;
    case ZYDIS_MNEMONIC_CBW: fn = cbw; break;
    case ZYDIS_MNEMONIC_CWDE: fn = cwde; break;
    case ZYDIS_MNEMONIC_CWD: fn = cwd; break;
    case ZYDIS_MNEMONIC_CDQ: fn = cdq; break;
    case ZYDIS_MNEMONIC_LAHF: fn = lahf; break;
    case ZYDIS_MNEMONIC_SAHF: fn = sahf; break;
    case ZYDIS_MNEMONIC_CLC: fn = clc; break;
    case ZYDIS_MNEMONIC_STC: fn = stc; break;
    case ZYDIS_MNEMONIC_CMC: fn = cmc; break;
    case ZYDIS_MNEMONIC_CLD: fn = cld; break;
    case ZYDIS_MNEMONIC_STD: fn = std_; break;
    case ZYDIS_MNEMONIC_SALC: fn = salc; break;
    case ZYDIS_MNEMONIC_XLAT: {
      // The memory operand is hidden; its segment carries any override.
      i.seg = DS;
      for (unsigned k = 0; k < ctx.zi.operand_count; ++k)
        if (ctx.ops[k].type == ZYDIS_OPERAND_TYPE_MEMORY) i.seg = segment_number(ctx.ops[k].mem.segment);
      fn = xlat;
      break;
    }
    default:
      return false;
  }
  if (i.lock && !lock_allowed(ctx)) fn = handler_ud;
  i.fn = fn;
  return true;
}

}  // namespace softcpu
