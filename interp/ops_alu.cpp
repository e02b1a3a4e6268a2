// Integer ALU: ADD OR ADC SBB AND SUB XOR CMP, TEST, INC, DEC, NEG, NOT (SDM vol.2).
// All flags come from the lazy-flags record (interp/flags.h); NOT changes no flags.
// Handlers are specialized by operand size, operation and register/memory form.
#include "interp/ops_common.h"

namespace softcpu {

namespace {

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
enum Src : unsigned { SRC_REG, SRC_IMM };

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

// Destination r/m is memory.
template <unsigned S, unsigned OP, unsigned SRC>
void alu_rmmem(Cpu& c, const Insn& i) {
  const uint32_t ea = effective_address(c, i);
  const uint32_t a = read_mem<S>(c, i.seg, ea), b = alu_src<S, SRC>(c, i);
  const uint8_t cin = alu_cin<OP>(c);
  const uint32_t r = alu_compute<OP>(a, b, cin);
  if constexpr (alu_writes(OP)) write_mem<S>(c, i.seg, ea, r);
  alu_flags<S, OP>(c, a, b, r, cin);
}

// Destination is the register i.reg; source is r/m (register i.rm or memory).
template <unsigned S, unsigned OP, bool MEM>
void alu_reg_rm(Cpu& c, const Insn& i) {
  uint32_t b;
  if constexpr (MEM) b = read_mem<S>(c, i.seg, effective_address(c, i));
  else b = get_reg<S>(c, i.rm);
  const uint32_t a = get_reg<S>(c, i.reg);
  const uint8_t cin = alu_cin<OP>(c);
  const uint32_t r = alu_compute<OP>(a, b, cin);
  if constexpr (alu_writes(OP)) set_reg<S>(c, i.reg, r);
  alu_flags<S, OP>(c, a, b, r, cin);
}

// INC/DEC keep CF (SDM vol.2 INC, DEC).
template <unsigned S, bool DEC, bool MEM>
void incdec(Cpu& c, const Insn& i) {
  uint32_t ea = 0, a;
  if constexpr (MEM) { ea = effective_address(c, i); a = read_mem<S>(c, i.seg, ea); }
  else a = get_reg<S>(c, i.rm);
  const uint32_t r = DEC ? a - 1 : a + 1;
  const uint8_t cin = lazy_cf(c) ? 1 : 0;
  if constexpr (MEM) write_mem<S>(c, i.seg, ea, r);
  else set_reg<S>(c, i.rm, r);
  c.lz_cf_in = cin;
  set_lazy(c, DEC ? LZ_DEC : LZ_INC, S, a, 1, r);
}

// NEG: flags of 0 - a (CF = a != 0).
template <unsigned S, bool MEM>
void neg(Cpu& c, const Insn& i) {
  uint32_t ea = 0, a;
  if constexpr (MEM) { ea = effective_address(c, i); a = read_mem<S>(c, i.seg, ea); }
  else a = get_reg<S>(c, i.rm);
  const uint32_t r = 0u - a;
  if constexpr (MEM) write_mem<S>(c, i.seg, ea, r);
  else set_reg<S>(c, i.rm, r);
  set_lazy(c, LZ_SUB, S, 0, a, r);
}

template <unsigned S, bool MEM>
void not_op(Cpu& c, const Insn& i) {
  if constexpr (MEM) {
    const uint32_t ea = effective_address(c, i);
    write_mem<S>(c, i.seg, ea, ~read_mem<S>(c, i.seg, ea));
  } else {
    set_reg<S>(c, i.rm, ~get_reg<S>(c, i.rm));
  }
}

// ---- selection ------------------------------------------------------------------------

template <unsigned S, unsigned OP>
Handler pick_form(bool dst_is_rm, bool src_imm, bool mem) {
  if (src_imm) return mem ? &alu_rmmem<S, OP, SRC_IMM> : &alu_rmreg<S, OP, SRC_IMM>;
  if (dst_is_rm) return mem ? &alu_rmmem<S, OP, SRC_REG> : &alu_rmreg<S, OP, SRC_REG>;
  return mem ? &alu_reg_rm<S, OP, true> : &alu_reg_rm<S, OP, false>;
}

template <unsigned OP>
Handler pick_size(unsigned s, bool dst_is_rm, bool src_imm, bool mem) {
  return s == 1 ? pick_form<1, OP>(dst_is_rm, src_imm, mem)
         : s == 2 ? pick_form<2, OP>(dst_is_rm, src_imm, mem)
                  : pick_form<4, OP>(dst_is_rm, src_imm, mem);
}

Handler pick_alu(unsigned op, unsigned s, bool dst_is_rm, bool src_imm, bool mem) {
  switch (op) {
    case A_ADD: return pick_size<A_ADD>(s, dst_is_rm, src_imm, mem);
    case A_OR: return pick_size<A_OR>(s, dst_is_rm, src_imm, mem);
    case A_ADC: return pick_size<A_ADC>(s, dst_is_rm, src_imm, mem);
    case A_SBB: return pick_size<A_SBB>(s, dst_is_rm, src_imm, mem);
    case A_AND: return pick_size<A_AND>(s, dst_is_rm, src_imm, mem);
    case A_SUB: return pick_size<A_SUB>(s, dst_is_rm, src_imm, mem);
    case A_XOR: return pick_size<A_XOR>(s, dst_is_rm, src_imm, mem);
    case A_CMP: return pick_size<A_CMP>(s, dst_is_rm, src_imm, mem);
    default: return pick_size<A_TEST>(s, dst_is_rm, src_imm, mem);
  }
}

template <unsigned S, bool MEM>
Handler pick_unary(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_INC: return &incdec<S, false, MEM>;
    case ZYDIS_MNEMONIC_DEC: return &incdec<S, true, MEM>;
    case ZYDIS_MNEMONIC_NEG: return &neg<S, MEM>;
    default: return &not_op<S, MEM>;
  }
}

template <bool MEM>
Handler pick_unary_size(ZydisMnemonic m, unsigned s) {
  return s == 1 ? pick_unary<1, MEM>(m) : s == 2 ? pick_unary<2, MEM>(m) : pick_unary<4, MEM>(m);
}

bool has_modrm(const DecodeContext& ctx) { return ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM; }

}  // namespace

bool select_alu(const DecodeContext& ctx, Insn& i) {
  unsigned op;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_ADD: op = A_ADD; break;
    case ZYDIS_MNEMONIC_OR: op = A_OR; break;
    case ZYDIS_MNEMONIC_ADC: op = A_ADC; break;
    case ZYDIS_MNEMONIC_SBB: op = A_SBB; break;
    case ZYDIS_MNEMONIC_AND: op = A_AND; break;
    case ZYDIS_MNEMONIC_SUB: op = A_SUB; break;
    case ZYDIS_MNEMONIC_XOR: op = A_XOR; break;
    case ZYDIS_MNEMONIC_CMP: op = A_CMP; break;
    case ZYDIS_MNEMONIC_TEST: op = A_TEST; break;
    case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_NOT: {
      const unsigned s = i.opsize;
      if (i.lock && !lock_allowed(ctx)) { i.fn = handler_ud; return true; }
      if (!has_modrm(ctx)) { i.rm = i.reg; i.is_mem = 0; }  // 40+r / 48+r
      i.fn = i.is_mem ? pick_unary_size<true>(mnemonic(ctx), s)
                      : pick_unary_size<false>(mnemonic(ctx), s);
      return true;
    }
    default:
      return false;
  }
  if (ctx.zi.operand_count_visible < 2) return false;
  if (i.lock && !lock_allowed(ctx)) { i.fn = handler_ud; return true; }
  const unsigned s = i.opsize;
  const bool src_imm = op_is_imm(ctx, 1);
  bool dst_is_rm;
  if (src_imm) {
    i.imm &= size_mask(s);
    if (!has_modrm(ctx)) { i.rm = EAX; i.is_mem = 0; }  // accumulator short forms (04, 05, A8..)
    dst_is_rm = true;
  } else if (op_is_mem(ctx, 0)) {
    dst_is_rm = true;
  } else if (op_is_mem(ctx, 1)) {
    dst_is_rm = false;
  } else {
    // Register-register: the direction bit (opcode bit 1) tells whether reg is the
    // destination (02/03, 0A/0B...); TEST 84/85 has no direction bit.
    dst_is_rm = op == A_TEST || (ctx.zi.opcode & 2) == 0;
  }
  i.fn = pick_alu(op, s, dst_is_rm, src_imm, i.is_mem);
  return true;
}

}  // namespace softcpu
