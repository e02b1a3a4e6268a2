// Data movement semantics: MOV forms, MOVSX/MOVZX, XCHG, XADD, CMPXCHG, CMPXCHG8B, LEA,
// CBW..CDQ, LAHF/SAHF, CLC/STC/CMC/CLD/STD, SALC, XLAT, NOP, PAUSE (SDM vol.2). The selector
// is in interp/ops_data.cpp.
#pragma once
#include "interp/sem/common.h"

namespace softcpu {

// The hottest instructions: register or memory form chosen at decode time (M).
template <unsigned S, unsigned M> void mov_rm_r(Cpu& c, const Insn& i) {
  write_rm<S, M>(c, i, get_reg<S>(c, i.reg));
}
template <unsigned S, unsigned M> void mov_r_rm(Cpu& c, const Insn& i) {
  read_rm_then<S, M>(c, i, [&](uint32_t v) { set_reg<S>(c, i.reg, v); });
}
template <unsigned S, unsigned M> void mov_rm_imm(Cpu& c, const Insn& i) {
  write_rm<S, M>(c, i, i.imm);
}
template <unsigned S> void mov_r_imm(Cpu& c, const Insn& i) { set_reg<S>(c, i.reg, i.imm); }
inline void nop_op(Cpu&, const Insn&) {}

// MOVZX/MOVSX: D = destination size, S = source size.
template <unsigned D, unsigned S, unsigned M> void movzx(Cpu& c, const Insn& i) {
  read_rm_then<S, M>(c, i, [&](uint32_t v) { set_reg<D>(c, i.reg, v); });
}
template <unsigned D, unsigned S, unsigned M> void movsx(Cpu& c, const Insn& i) {
  uint32_t v = read_rm<S, M>(c, i);
  if (v & sign_bit(S)) v |= ~size_mask(S);
  set_reg<D>(c, i.reg, v);
}

// XCHG r/m, reg (also 90+r with rm = EAX). The memory write comes before the register.
template <unsigned S, bool M> void xchg(Cpu& c, const Insn& i) {
  uint32_t a = read_rm<S, M>(c, i);
  uint32_t b = get_reg<S>(c, i.reg);
  write_rm<S, M>(c, i, b);
  set_reg<S>(c, i.reg, a);
}

// XADD r/m, reg: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP (SDM vol.2 XADD).
template <unsigned S, bool M> void xadd(Cpu& c, const Insn& i) {
  uint32_t dest = read_rm<S, M>(c, i);
  uint32_t src = get_reg<S>(c, i.reg);
  uint32_t sum = (dest + src) & size_mask(S);
  if constexpr (M) {
    write_rm<S, M>(c, i, sum);
    set_reg<S>(c, i.reg, dest);
  } else {
    set_reg<S>(c, i.reg, dest);
    set_reg<S>(c, i.rm, sum);
  }
  set_lazy(c, LZ_ADD, S, dest, src, sum);
}

// CMPXCHG r/m, reg. Flags as CMP accumulator, dest. On mismatch the destination is written
// back unchanged (the processor always writes, SDM vol.2 CMPXCHG) and the accumulator loaded.
template <unsigned S, bool M> void cmpxchg(Cpu& c, const Insn& i) {
  uint32_t dest = read_rm<S, M>(c, i);
  uint32_t acc = get_reg<S>(c, EAX);
  if (acc == dest) {
    write_rm<S, M>(c, i, get_reg<S>(c, i.reg));
  } else {
    write_rm<S, M>(c, i, dest);
    set_reg<S>(c, EAX, dest);
  }
  set_lazy(c, LZ_SUB, S, acc, dest, acc - dest);
}

// CMPXCHG8B m64: only ZF is affected (SDM vol.2 CMPXCHG8B).
inline void cmpxchg8b(Cpu& c, const Insn& i) {
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
template <unsigned S, unsigned F> void lea(Cpu& c, const Insn& i) {
  set_reg<S>(c, i.reg, effective_address<F>(c, i));
}

inline void cbw(Cpu& c, const Insn&) { set_reg<2>(c, EAX, uint32_t(int32_t(int8_t(c.regs[EAX])))); }
inline void cwde(Cpu& c, const Insn&) { c.regs[EAX] = uint32_t(int32_t(int16_t(c.regs[EAX]))); }
inline void cwd(Cpu& c, const Insn&) { set_reg<2>(c, EDX, (c.regs[EAX] & 0x8000) ? 0xFFFF : 0); }
inline void cdq(Cpu& c, const Insn&) { c.regs[EDX] = (c.regs[EAX] & 0x80000000u) ? 0xFFFFFFFFu : 0; }

// LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.
inline void lahf(Cpu& c, const Insn&) {
  uint32_t f = read_eflags(c) & (SF | ZF | AF | PF | CF);
  set_reg<1>(c, 4, f | 2u);
}
inline void sahf(Cpu& c, const Insn&) {
  set_flags(c, SF | ZF | AF | PF | CF, get_reg<1>(c, 4));
}
inline void clc(Cpu& c, const Insn&) { set_flags(c, CF, 0); }
inline void stc(Cpu& c, const Insn&) { set_flags(c, CF, CF); }
inline void cmc(Cpu& c, const Insn&) { set_flags(c, CF, read_eflags(c) ^ CF); }
// SALC (D6): AL = CF ? FFh : 00h, flags unchanged. Undocumented (Intel SDM vol.2 table A-2
// leaves D6 blank, invalid in 64-bit mode) but executed by every IA-32 CPU outside 64-bit mode.
inline void salc(Cpu& c, const Insn&) { set_reg<1>(c, EAX, lazy_cf(c) ? 0xFF : 0); }
inline void cld(Cpu& c, const Insn&) { c.eflags &= ~DF; }
inline void std_(Cpu& c, const Insn&) { c.eflags |= DF; }

// XLAT: AL = [seg:(E)BX + AL]; i.seg holds the (overridable) segment.
inline void xlat(Cpu& c, const Insn& i) {
  uint32_t off = c.regs[EBX] + (c.regs[EAX] & 0xFF);
  if (!i.addr32) off &= 0xFFFF;
  set_reg<1>(c, EAX, read_mem<1>(c, i.seg, off));
}

// ---- handler tables ---------------------------------------------------------------------

inline constexpr auto kMovRmReg =
    make_handlers<Sizes, RmForms>([]<unsigned S, unsigned M>() { return &mov_rm_r<S, M>; });
inline constexpr auto kMovRegRm =
    make_handlers<Sizes, RmForms>([]<unsigned S, unsigned M>() { return &mov_r_rm<S, M>; });
inline constexpr auto kMovRmImm =
    make_handlers<Sizes, RmForms>([]<unsigned S, unsigned M>() { return &mov_rm_imm<S, M>; });
inline constexpr auto kMovRegImm =
    make_handlers<Sizes>([]<unsigned S>() { return &mov_r_imm<S>; });
// MOVZX/MOVSX: destination size, source size, memory source.
inline constexpr auto kMovzx = make_handlers<Sizes16_32, Dim<1u, 2u>, RmForms>(
    []<unsigned D, unsigned S, unsigned M>() { return &movzx<D, S, M>; });
inline constexpr auto kMovsx = make_handlers<Sizes16_32, Dim<1u, 2u>, RmForms>(
    []<unsigned D, unsigned S, unsigned M>() { return &movsx<D, S, M>; });
inline constexpr auto kXchg =
    make_handlers<Sizes, Bools>([]<unsigned S, bool M>() { return &xchg<S, M>; });
inline constexpr auto kXadd =
    make_handlers<Sizes, Bools>([]<unsigned S, bool M>() { return &xadd<S, M>; });
inline constexpr auto kCmpxchg =
    make_handlers<Sizes, Bools>([]<unsigned S, bool M>() { return &cmpxchg<S, M>; });
inline constexpr auto kLea = make_handlers<Sizes16_32, MemForms>(
    []<unsigned S, unsigned F>() { return &lea<S, F>; });
inline constexpr auto kNop = kSingle<&nop_op>;  // also PAUSE and the hint NOPs 0F 18-1F
inline constexpr auto kCmpxchg8b = kSingle<&cmpxchg8b>;
inline constexpr auto kCbw = kSingle<&cbw>;
inline constexpr auto kCwde = kSingle<&cwde>;
inline constexpr auto kCwd = kSingle<&cwd>;
inline constexpr auto kCdq = kSingle<&cdq>;
inline constexpr auto kLahf = kSingle<&lahf>;
inline constexpr auto kSahf = kSingle<&sahf>;
inline constexpr auto kClc = kSingle<&clc>;
inline constexpr auto kStc = kSingle<&stc>;
inline constexpr auto kCmc = kSingle<&cmc>;
inline constexpr auto kCld = kSingle<&cld>;
inline constexpr auto kStd = kSingle<&std_>;
inline constexpr auto kSalc = kSingle<&salc>;
inline constexpr auto kXlat = kSingle<&xlat>;

}  // namespace softcpu
