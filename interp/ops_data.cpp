// Data movement: MOV forms, NOP. (More of this group: see decode.h.)
#include "interp/ops_common.h"

namespace softcpu {

namespace {

template <unsigned S> void mov_rm_r(Cpu& c, const Insn& i) { write_rm<S>(c, i, get_reg<S>(c, i.reg)); }
template <unsigned S> void mov_r_rm(Cpu& c, const Insn& i) { set_reg<S>(c, i.reg, read_rm<S>(c, i)); }
template <unsigned S> void mov_rm_imm(Cpu& c, const Insn& i) { write_rm<S>(c, i, i.imm); }
template <unsigned S> void mov_r_imm(Cpu& c, const Insn& i) { set_reg<S>(c, i.reg, i.imm); }
void nop(Cpu&, const Insn&) {}

}  // namespace

bool select_data(const DecodeContext& ctx, Insn& i) {
  const unsigned s = i.opsize;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_NOP:
      i.fn = nop;
      return true;
    case ZYDIS_MNEMONIC_MOV: {
      if (!op_is_reg(ctx, 0) && !op_is_mem(ctx, 0)) return false;
      if (ctx.ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
          ctx.ops[0].reg.value >= ZYDIS_REGISTER_ES && ctx.ops[0].reg.value <= ZYDIS_REGISTER_GS)
        return false;  // MOV Sreg: system group
      if (op_is_reg(ctx, 1) && ctx.ops[1].reg.value >= ZYDIS_REGISTER_ES &&
          ctx.ops[1].reg.value <= ZYDIS_REGISTER_GS)
        return false;
      if (op_is_reg(ctx, 0) && (ctx.ops[0].reg.value >= ZYDIS_REGISTER_CR0 ||
                                (op_is_reg(ctx, 1) && ctx.ops[1].reg.value >= ZYDIS_REGISTER_CR0)))
        return false;  // MOV CRn/DRn: system group
      if (op_is_imm(ctx, 1)) {
        if (ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM) i.fn = SOFTCPU_BY_SIZE(mov_rm_imm, s);
        else i.fn = SOFTCPU_BY_SIZE(mov_r_imm, s);
      } else if (op_is_mem(ctx, 0) || ((ctx.zi.opcode & 2) == 0 && !op_is_mem(ctx, 1))) {
        // 88/89 (and A2/A3 moffs): r/m <- reg
        if (!(ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)) i.reg = EAX;  // moffs forms
        i.fn = SOFTCPU_BY_SIZE(mov_rm_r, s);
      } else {
        if (!(ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)) i.reg = EAX;
        i.fn = SOFTCPU_BY_SIZE(mov_r_rm, s);
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace softcpu
