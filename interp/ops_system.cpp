// System instructions: which handler (interp/sem/system.h) an encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/system.h"

namespace softcpu {

namespace {

inline bool is_segment_register(ZydisRegister r) {
  return r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS;
}

}  // namespace

bool select_system(const DecodeContext& ctx, Insn& i) {
  const unsigned s = i.opsize;
  bool ends = false;  // beyond what the decoder derives from the instruction category
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_MOV: {
      if (ctx.zi.operand_count_visible < 2 || (!op_is_reg(ctx, 0) && !op_is_mem(ctx, 0)))
        return false;
      const ZydisRegister r0 = op_is_reg(ctx, 0) ? ctx.ops[0].reg.value : ZYDIS_REGISTER_NONE;
      const ZydisRegister r1 = op_is_reg(ctx, 1) ? ctx.ops[1].reg.value : ZYDIS_REGISTER_NONE;
      if (is_segment_register(r0)) {  // 8E: MOV Sreg, r/m16
        if (i.reg == CS || i.reg > GS) { i.fn = handler_ud; break; }
        i.fn = kMovToSreg.get();
        ends = i.reg == SS;  // SS.B changes the block key
      } else if (is_segment_register(r1)) {  // 8C: MOV r/m, Sreg
        if (i.reg > GS) { i.fn = handler_ud; break; }
        i.fn = kMovFromSreg.get();
      } else if (r0 >= ZYDIS_REGISTER_CR0 && r0 <= ZYDIS_REGISTER_CR15) {
        i.fn = kMovToCr.get();
        ends = true;  // CR0/CR3/CR4 change the mode or the translation
      } else if (r1 >= ZYDIS_REGISTER_CR0 && r1 <= ZYDIS_REGISTER_CR15) {
        i.fn = kMovFromCr.get();
      } else if (r0 >= ZYDIS_REGISTER_DR0 && r0 <= ZYDIS_REGISTER_DR15) {
        i.fn = kMovToDr.get();
        ends = true;  // breakpoints change: the run loop must look before the next one
      } else if (r1 >= ZYDIS_REGISTER_DR0 && r1 <= ZYDIS_REGISTER_DR15) {
        i.fn = kMovFromDr.get();
      } else {
        return false;
      }
      break;
    }
    case ZYDIS_MNEMONIC_LDS: i.cond = DS; goto far_pointer;
    case ZYDIS_MNEMONIC_LES: i.cond = ES; goto far_pointer;
    case ZYDIS_MNEMONIC_LFS: i.cond = FS; goto far_pointer;
    case ZYDIS_MNEMONIC_LGS: i.cond = GS; goto far_pointer;
    case ZYDIS_MNEMONIC_LSS:
      i.cond = SS;
      ends = true;
    far_pointer:
      i.fn = i.is_mem ? kLoadFarPointer.get(s) : handler_ud;
      break;
    case ZYDIS_MNEMONIC_LGDT: i.fn = i.is_mem ? kLoadDescTable.get(false) : handler_ud; break;
    case ZYDIS_MNEMONIC_LIDT: i.fn = i.is_mem ? kLoadDescTable.get(true) : handler_ud; break;
    case ZYDIS_MNEMONIC_SGDT: i.fn = i.is_mem ? kStoreDescTable.get(false) : handler_ud; break;
    case ZYDIS_MNEMONIC_SIDT: i.fn = i.is_mem ? kStoreDescTable.get(true) : handler_ud; break;
    case ZYDIS_MNEMONIC_LLDT: i.fn = kLldt.get(); break;
    case ZYDIS_MNEMONIC_LTR: i.fn = kLtr.get(); break;
    case ZYDIS_MNEMONIC_SLDT: i.fn = kSldt.get(); break;
    case ZYDIS_MNEMONIC_STR: i.fn = kStoreTr.get(); break;
    case ZYDIS_MNEMONIC_LMSW: i.fn = kLmsw.get(); ends = true; break;
    case ZYDIS_MNEMONIC_SMSW: i.fn = kSmsw.get(); break;
    case ZYDIS_MNEMONIC_CLTS: i.fn = kClts.get(); break;
    case ZYDIS_MNEMONIC_CLI: i.fn = kCli.get(); ends = true; break;
    case ZYDIS_MNEMONIC_STI: i.fn = kSti.get(); ends = true; break;
    case ZYDIS_MNEMONIC_INVD: case ZYDIS_MNEMONIC_WBINVD: i.fn = kInvdWbinvd.get(); break;
    case ZYDIS_MNEMONIC_INVLPG: i.fn = i.is_mem ? kInvlpg.get() : handler_ud; ends = true; break;
    case ZYDIS_MNEMONIC_LAR: i.fn = kLar.get(s); break;
    case ZYDIS_MNEMONIC_LSL: i.fn = kLsl.get(s); break;
    case ZYDIS_MNEMONIC_VERR: i.fn = kVerrVerw.get(false); break;
    case ZYDIS_MNEMONIC_VERW: i.fn = kVerrVerw.get(true); break;
    case ZYDIS_MNEMONIC_ARPL: i.opsize = 2; i.fn = kArpl.get(); break;
    case ZYDIS_MNEMONIC_UD2: i.fn = handler_ud; ends = true; break;
    default:
      return false;
  }
  if (i.lock) i.fn = handler_ud;
  if (ends) i.flags |= INSN_ENDS_BLOCK;
  return true;
}

}  // namespace softcpu
