// Integer ALU semantics: ADD OR ADC SBB AND SUB XOR CMP, TEST, INC, DEC, NEG, NOT (SDM vol.2).
// All flags come from the lazy-flags record (interp/flags.h); NOT changes no flags. Handlers
// are specialized by operand size, operation and register/memory form; the selector is in
// interp/ops_alu.cpp.
#pragma once
#include "interp/sem/common.h"

namespace softcpu {

// ModRM.reg order of the 80-83 group, plus TEST.
enum AluOp : unsigned { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP, A_TEST };

constexpr bool alu_writes(unsigned op) { return op != A_CMP && op != A_TEST; }

constexpr LazyKind alu_kind(unsigned op) {
  switch (op) {
    case A_ADD: return LZ_ADD;
    case A_ADC: return LZ_ADC;
    case A_SBB: return LZ_SBB;
    case A_SUB: case A_CMP: return LZ_SUB;
    default: return LZ_LOGIC;
  }
}

// Carry-in for ADC/SBB is read before the operation; it is the only input flag.
template <unsigned OP>
inline uint8_t alu_cin(const Cpu& c) {
  if constexpr (OP == A_ADC || OP == A_SBB) return lazy_cf(c) ? 1 : 0;
  else return 0;
}

template <unsigned OP>
inline uint32_t alu_compute(uint32_t a, uint32_t b, uint8_t cin) {
  if constexpr (OP == A_ADD) return a + b;
  else if constexpr (OP == A_OR) return a | b;
  else if constexpr (OP == A_ADC) return a + b + cin;
  else if constexpr (OP == A_SBB) return a - b - cin;
  else if constexpr (OP == A_AND || OP == A_TEST) return a & b;
  else if constexpr (OP == A_SUB || OP == A_CMP) return a - b;
  else return a ^ b;
}

template <unsigned S, unsigned OP>
inline void alu_flags(Cpu& c, uint32_t a, uint32_t b, uint32_t r, uint8_t cin) {
  if constexpr (OP == A_ADC || OP == A_SBB) c.lz_cf_in = cin;
  set_lazy(c, alu_kind(OP), S, a, b, r);
}

// Source operand kinds.
enum AluSrc : unsigned { SRC_REG, SRC_IMM };

template <unsigned S, unsigned SRC>
inline uint32_t alu_src(const Cpu& c, const Insn& i) {
  if constexpr (SRC == SRC_REG) return get_reg<S>(c, i.reg);
  else return i.imm;  // masked to S by the selector
}

// Destination r/m is a register (i.rm); source is i.reg or imm.
template <unsigned S, unsigned OP, unsigned SRC>
void alu_rmreg(Cpu& c, const Insn& i) {
  const uint32_t a = get_reg<S>(c, i.rm), b = alu_src<S, SRC>(c, i);
  const uint8_t cin = alu_cin<OP>(c);
  const uint32_t r = alu_compute<OP>(a, b, cin);
  if constexpr (alu_writes(OP)) set_reg<S>(c, i.rm, r);
  alu_flags<S, OP>(c, a, b, r, cin);
}

// The read-modify-write of a writing ALU operation on a memory destination (modify_rm).
template <unsigned S, unsigned OP, unsigned SRC>
struct AluModify {
  static uint32_t result(Cpu& c, const Insn& i, uint32_t a) {
    return alu_compute<OP>(a, alu_src<S, SRC>(c, i), alu_cin<OP>(c));
  }
  static void commit(Cpu& c, const Insn& i, uint32_t a, uint32_t r) {
    alu_flags<S, OP>(c, a, alu_src<S, SRC>(c, i), r, alu_cin<OP>(c));
  }
};

// Destination r/m is memory, of form F (RmForm).
template <unsigned S, unsigned OP, unsigned SRC, unsigned F>
void alu_rmmem(Cpu& c, const Insn& i) {
  if constexpr (alu_writes(OP)) {
    modify_rm<S, F, AluModify<S, OP, SRC>>(c, i);
  } else {  // CMP, TEST write nothing back
    read_mem_then<S>(c, i.seg, effective_address<F>(c, i), [&c, &i](uint32_t a) {
      const uint32_t b = alu_src<S, SRC>(c, i);
      alu_flags<S, OP>(c, a, b, alu_compute<OP>(a, b, 0), 0);
    });
  }
}

// Destination is the register i.reg; source is r/m (register i.rm or memory).
template <unsigned S, unsigned OP, unsigned MEM>
void alu_reg_rm(Cpu& c, const Insn& i) {
  read_rm_then<S, MEM>(c, i, [&c, &i](uint32_t b) {
    const uint32_t a = get_reg<S>(c, i.reg);
    const uint8_t cin = alu_cin<OP>(c);
    const uint32_t r = alu_compute<OP>(a, b, cin);
    if constexpr (alu_writes(OP)) set_reg<S>(c, i.reg, r);
    alu_flags<S, OP>(c, a, b, r, cin);
  });
}

// INC/DEC keep CF (SDM vol.2 INC, DEC). M is the r/m operand's form (RmForm).
template <unsigned S, bool DEC>
struct IncDecModify {
  static uint32_t result(Cpu&, const Insn&, uint32_t a) { return DEC ? a - 1 : a + 1; }
  // Flattened: GCC's growth budget in the translation unit of all handlers otherwise leaves
  // lazy_cf out of line here (22 host instructions more per INC/DEC m32 in a Linux boot).
  [[gnu::flatten]] static void commit(Cpu& c, const Insn&, uint32_t a, uint32_t r) {
    c.lz_cf_in = lazy_cf(c) ? 1 : 0;
    set_lazy(c, DEC ? LZ_DEC : LZ_INC, S, a, 1, r);
  }
};
template <unsigned S, bool DEC, unsigned M>
void incdec(Cpu& c, const Insn& i) {
  modify_rm<S, M, IncDecModify<S, DEC>>(c, i);
}

// NEG: flags of 0 - a (CF = a != 0).
template <unsigned S>
struct NegModify {
  static uint32_t result(Cpu&, const Insn&, uint32_t a) { return 0u - a; }
  static void commit(Cpu& c, const Insn&, uint32_t a, uint32_t r) { set_lazy(c, LZ_SUB, S, 0, a, r); }
};
template <unsigned S, unsigned M>
void neg(Cpu& c, const Insn& i) {
  modify_rm<S, M, NegModify<S>>(c, i);
}

// NOT changes no flags.
struct NotModify {
  static uint32_t result(Cpu&, const Insn&, uint32_t a) { return ~a; }
  static void commit(Cpu&, const Insn&, uint32_t, uint32_t) {}
};
template <unsigned S, unsigned M>
void not_op(Cpu& c, const Insn& i) {
  modify_rm<S, M, NotModify>(c, i);
}

// ---- handler tables ---------------------------------------------------------------------

using AluOps = Dim<A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP, A_TEST>;
using AluSrcs = Dim<SRC_REG, SRC_IMM>;

inline constexpr auto kAluRmReg = make_handlers<Sizes, AluOps, AluSrcs>(
    []<unsigned S, AluOp OP, AluSrc SRC>() { return &alu_rmreg<S, OP, SRC>; });
inline constexpr auto kAluRmMem = make_handlers<Sizes, AluOps, AluSrcs, MemForms>(
    []<unsigned S, AluOp OP, AluSrc SRC, unsigned F>() { return &alu_rmmem<S, OP, SRC, F>; });
inline constexpr auto kAluRegRm = make_handlers<Sizes, AluOps, RmForms>(
    []<unsigned S, AluOp OP, unsigned M>() { return &alu_reg_rm<S, OP, M>; });
inline constexpr auto kIncDec = make_handlers<Sizes, Bools, RmForms>(
    []<unsigned S, bool DEC, unsigned M>() { return &incdec<S, DEC, M>; });
inline constexpr auto kNeg =
    make_handlers<Sizes, RmForms>([]<unsigned S, unsigned M>() { return &neg<S, M>; });
inline constexpr auto kNot =
    make_handlers<Sizes, RmForms>([]<unsigned S, unsigned M>() { return &not_op<S, M>; });

}  // namespace softcpu
