// Shifts and rotates: which handler (interp/sem/shift.h) an encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/shift.h"

namespace softcpu {

bool select_shift(const DecodeContext& ctx, Insn& i) {
  unsigned op;
  const ZydisMnemonic m = mnemonic(ctx);
  switch (m) {
    case ZYDIS_MNEMONIC_ROL: op = S_ROL; break;
    case ZYDIS_MNEMONIC_ROR: op = S_ROR; break;
    case ZYDIS_MNEMONIC_RCL: op = S_RCL; break;
    case ZYDIS_MNEMONIC_RCR: op = S_RCR; break;
    case ZYDIS_MNEMONIC_SHL: op = S_SHL; break;  // D0..D3 /6 (SAL alias) decodes as SHL
    case ZYDIS_MNEMONIC_SHR: op = S_SHR; break;
    case ZYDIS_MNEMONIC_SAR: op = S_SAR; break;
    case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD: {
      if (i.lock) { i.fn = handler_ud; return true; }
      // 0F A4/AC: imm8 count; 0F A5/AD: CL.
      const unsigned cnt = (ctx.zi.opcode & 1) ? SHIFT_COUNT_CL : SHIFT_COUNT_IMM;
      if (cnt == SHIFT_COUNT_IMM) i.imm &= 0xFF;
      const bool right = m == ZYDIS_MNEMONIC_SHRD;
      i.fn = kShiftDouble.get(i.opsize, right, cnt, bool(i.is_mem));
      return true;
    }
    default:
      return false;
  }
  if (i.lock) { i.fn = handler_ud; return true; }
  // C0/C1: imm8; D0/D1: by 1; D2/D3: by CL.
  unsigned cnt = SHIFT_COUNT_IMM;
  switch (ctx.zi.opcode) {
    case 0xD0: case 0xD1: i.imm = 1; break;
    case 0xD2: case 0xD3: cnt = SHIFT_COUNT_CL; break;
    default: i.imm &= 0xFF; break;
  }
  i.fn = kShiftRotate.get(i.opsize, op, cnt, rm_form(i));
  return true;
}

}  // namespace softcpu
