// Control transfer: which handler (interp/sem/control.h) a JMP/CALL/RET near or far, Jcc,
// JCXZ/JECXZ, LOOP*, INT n/INT3/INTO/INT1, IRET or BOUND encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/control.h"

namespace softcpu {

bool select_control(const DecodeContext& ctx, Insn& i) {
  const unsigned s = i.opsize == 2 ? 2 : 4;  // every form here is 16- or 32-bit
  const bool imm_form = op_is_imm(ctx, 0);
  const bool far_form = ctx.zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_JMP:
      if (ctx.ops[0].type == ZYDIS_OPERAND_TYPE_POINTER) i.fn = kJmpFarPtr.get(s);
      else if (imm_form) i.fn = kJmpNearRel.get(s);
      else if (far_form) i.fn = i.is_mem ? kJmpFarMem.get(s) : handler_ud;
      else i.fn = kJmpNearRm.get(s, rm_form(i));
      break;
    case ZYDIS_MNEMONIC_CALL:
      if (ctx.ops[0].type == ZYDIS_OPERAND_TYPE_POINTER) i.fn = kCallFarPtr.get(s);
      else if (imm_form) i.fn = kCallNearRel.get(s, stack_size(ctx));
      else if (far_form) i.fn = i.is_mem ? kCallFarMem.get(s) : handler_ud;
      else i.fn = kCallNearRm.get(s, rm_form(i), stack_size(ctx));
      break;
    case ZYDIS_MNEMONIC_RET: {
      const bool has_imm = op_is_imm(ctx, 0);
      i.imm &= 0xFFFF;
      i.fn = far_form ? kRetFar.get(s, has_imm) : kRetNear.get(s, has_imm, stack_size(ctx));
      break;
    }
    case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB:
    case ZYDIS_MNEMONIC_JNB: case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ:
    case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE: case ZYDIS_MNEMONIC_JS:
    case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
    case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE:
    case ZYDIS_MNEMONIC_JNLE:
      i.cond = ctx.zi.opcode & 0xF;  // 7x and 0F 8x both carry tttn in the low nibble
      i.fn = kJccRel.get(s, i.cond);
      break;
    case ZYDIS_MNEMONIC_JCXZ: case ZYDIS_MNEMONIC_JECXZ:
      i.fn = kJcxzRel.get(s, bool(i.addr32));
      break;
    case ZYDIS_MNEMONIC_LOOP: i.fn = kLoopRel.get(s, bool(i.addr32), LOOP_ALWAYS); break;
    case ZYDIS_MNEMONIC_LOOPE: i.fn = kLoopRel.get(s, bool(i.addr32), LOOP_E); break;
    case ZYDIS_MNEMONIC_LOOPNE: i.fn = kLoopRel.get(s, bool(i.addr32), LOOP_NE); break;
    case ZYDIS_MNEMONIC_INT:
      i.imm &= 0xFF;
      i.fn = kIntN.fns[0];
      break;
    case ZYDIS_MNEMONIC_INT3: i.fn = kInt3.fns[0]; break;
    case ZYDIS_MNEMONIC_INTO: i.fn = kInto.fns[0]; break;
    case ZYDIS_MNEMONIC_INT1: i.fn = kInt1.fns[0]; break;
    case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD:
      i.fn = kIret.get(s);
      break;
    case ZYDIS_MNEMONIC_BOUND:
      // BOUND does not end a block: it only faults.
      i.fn = i.is_mem ? kBound.get(s) : handler_ud;
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
