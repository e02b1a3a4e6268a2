// Integer ALU instructions: which handler (interp/sem/alu.h) an encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/alu.h"

namespace softcpu {

namespace {

Handler pick_alu(unsigned op, unsigned s, bool dst_is_rm, bool src_imm, unsigned form) {
  const unsigned src = src_imm ? SRC_IMM : SRC_REG;
  if (src_imm || dst_is_rm)
    return form != RM_REG ? kAluRmMem.get(s, op, src, form) : kAluRmReg.get(s, op, src);
  return kAluRegRm.get(s, op, form);
}

Handler pick_unary(ZydisMnemonic m, unsigned s, unsigned form) {
  switch (m) {
    case ZYDIS_MNEMONIC_INC: return kIncDec.get(s, false, form);
    case ZYDIS_MNEMONIC_DEC: return kIncDec.get(s, true, form);
    case ZYDIS_MNEMONIC_NEG: return kNeg.get(s, form);
    default: return kNot.get(s, form);
  }
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
      i.fn = pick_unary(mnemonic(ctx), s, rm_form(i));
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
  i.fn = pick_alu(op, s, dst_is_rm, src_imm, rm_form(i));
  return true;
}

}  // namespace softcpu
