// Stack instructions: which handler (interp/sem/stack.h) an encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/stack.h"

namespace softcpu {

namespace {

int sreg_number(ZydisRegister r) {
  switch (r) {
    case ZYDIS_REGISTER_ES: return ES;
    case ZYDIS_REGISTER_CS: return CS;
    case ZYDIS_REGISTER_SS: return SS;
    case ZYDIS_REGISTER_DS: return DS;
    case ZYDIS_REGISTER_FS: return FS;
    case ZYDIS_REGISTER_GS: return GS;
    default: return -1;
  }
}

}  // namespace

bool select_stack(const DecodeContext& ctx, Insn& i) {
  const unsigned s = i.opsize == 2 ? 2 : 4;
  const unsigned b = stack_size(ctx);
  const bool modrm = ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM;
  Handler fn;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_PUSH:
      if (op_is_imm(ctx, 0)) {
        fn = kPushImm.get(s, b);
      } else if (op_is_reg(ctx, 0) && sreg_number(ctx.ops[0].reg.value) >= 0) {
        i.reg = uint8_t(sreg_number(ctx.ops[0].reg.value));
        fn = kPushSreg.get(s);
      } else {
        fn = (modrm ? kPushRm : kPushReg).get(s, b);
      }
      break;
    case ZYDIS_MNEMONIC_POP:
      if (op_is_reg(ctx, 0) && sreg_number(ctx.ops[0].reg.value) >= 0) {
        const int sr = sreg_number(ctx.ops[0].reg.value);
        if (sr == CS) return false;
        i.reg = uint8_t(sr);
        fn = kPopSreg.get(s);
        i.flags |= INSN_ENDS_BLOCK;  // SS.B is part of the block key
      } else {
        fn = (modrm ? kPopRm : kPopReg).get(s, b);
      }
      break;
    case ZYDIS_MNEMONIC_PUSHA:
    case ZYDIS_MNEMONIC_PUSHAD: fn = kPusha.get(s); break;
    case ZYDIS_MNEMONIC_POPA:
    case ZYDIS_MNEMONIC_POPAD: fn = kPopa.get(s); break;
    case ZYDIS_MNEMONIC_PUSHF:
    case ZYDIS_MNEMONIC_PUSHFD: fn = kPushf.get(s); break;
    case ZYDIS_MNEMONIC_POPF:
    case ZYDIS_MNEMONIC_POPFD:
      fn = kPopf.get(s);
      i.flags |= INSN_ENDS_BLOCK;  // TF and IF may change
      break;
    case ZYDIS_MNEMONIC_ENTER: fn = kEnter.get(s); break;
    case ZYDIS_MNEMONIC_LEAVE: fn = kLeave.get(s, b); break;
    default: return false;
  }
  i.opsize = uint8_t(s);
  i.fn = i.lock ? handler_ud : fn;
  return true;
}

}  // namespace softcpu
