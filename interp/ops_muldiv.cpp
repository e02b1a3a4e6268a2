// MUL, IMUL, DIV, IDIV: which handler (interp/sem/muldiv.h) an encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/muldiv.h"

namespace softcpu {

bool select_muldiv(const DecodeContext& ctx, Insn& i) {
  const ZydisMnemonic m = mnemonic(ctx);
  if (m != ZYDIS_MNEMONIC_MUL && m != ZYDIS_MNEMONIC_IMUL && m != ZYDIS_MNEMONIC_DIV &&
      m != ZYDIS_MNEMONIC_IDIV)
    return false;
  if (i.lock) { i.fn = handler_ud; return true; }
  const unsigned s = i.opsize;
  const bool mem = i.is_mem;
  if (m == ZYDIS_MNEMONIC_IMUL && ctx.zi.operand_count_visible >= 2) {
    const bool imm = op_is_imm(ctx, 2);
    if (imm) i.imm &= size_mask(s);  // 6B: imm8 already sign-extended by the decoder
    i.fn = kImulReg.get(s, imm, mem);
    return true;
  }
  switch (m) {
    case ZYDIS_MNEMONIC_MUL: i.fn = kMulAcc.get(s, false, mem); break;
    case ZYDIS_MNEMONIC_IMUL: i.fn = kMulAcc.get(s, true, mem); break;
    case ZYDIS_MNEMONIC_DIV: i.fn = kDivAcc.get(s, false, mem); break;
    default: i.fn = kDivAcc.get(s, true, mem); break;
  }
  return true;
}

}  // namespace softcpu
