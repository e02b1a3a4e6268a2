// Data movement: which handler (interp/sem/data.h) an encoding gets. MOV forms, MOVSX/MOVZX,
// XCHG, XADD, CMPXCHG, CMPXCHG8B, LEA, CBW..CDQ, LAHF/SAHF, CLC/STC/CMC/CLD/STD, SALC, XLAT,
// NOP, PAUSE.
#include "interp/ops_common.h"
#include "interp/sem/data.h"

namespace softcpu {

namespace {

bool is_sreg(ZydisRegister r) { return r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS; }

}  // namespace

bool select_data(const DecodeContext& ctx, Insn& i) {
  const unsigned s = i.opsize;
  Handler fn = nullptr;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_NOP:
    case ZYDIS_MNEMONIC_PAUSE:
      fn = kNop.get();  // 0F 1F /0 has a memory operand that is never accessed
      break;
    case ZYDIS_MNEMONIC_MOV: {
      if (!op_is_reg(ctx, 0) && !op_is_mem(ctx, 0)) return false;
      if (op_is_reg(ctx, 0) && is_sreg(ctx.ops[0].reg.value)) return false;  // MOV Sreg: system
      if (op_is_reg(ctx, 1) && is_sreg(ctx.ops[1].reg.value)) return false;
      if (op_is_reg(ctx, 0) && (ctx.ops[0].reg.value >= ZYDIS_REGISTER_CR0 ||
                                (op_is_reg(ctx, 1) && ctx.ops[1].reg.value >= ZYDIS_REGISTER_CR0)))
        return false;  // MOV CRn/DRn: system group
      if (op_is_imm(ctx, 1)) {
        if (ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM) fn = kMovRmImm.get(s, rm_form(i));
        else fn = kMovRegImm.get(s);
      } else if (op_is_mem(ctx, 0) || ((ctx.zi.opcode & 2) == 0 && !op_is_mem(ctx, 1))) {
        // 88/89 (and A2/A3 moffs): r/m <- reg
        if (!(ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)) i.reg = EAX;  // moffs forms
        fn = kMovRmReg.get(s, rm_form(i));
      } else {
        // 8A/8B (and A0/A1 moffs): reg <- r/m
        if (!(ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)) i.reg = EAX;
        fn = kMovRegRm.get(s, rm_form(i));
      }
      break;
    }
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX: {
      const bool zx = mnemonic(ctx) == ZYDIS_MNEMONIC_MOVZX;
      const unsigned src = op_size(ctx, 1);
      fn = (zx ? kMovzx : kMovsx).get(s, src, rm_form(i));
      break;
    }
    case ZYDIS_MNEMONIC_XCHG:
      if (!(ctx.zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)) {  // 90+r: XCHG r, eAX
        i.rm = EAX;
        i.is_mem = 0;
      }
      fn = kXchg.get(s, i.is_mem);
      break;
    case ZYDIS_MNEMONIC_XADD: fn = kXadd.get(s, i.is_mem); break;
    case ZYDIS_MNEMONIC_CMPXCHG: fn = kCmpxchg.get(s, i.is_mem); break;
    case ZYDIS_MNEMONIC_CMPXCHG8B: fn = i.is_mem ? kCmpxchg8b.get() : handler_ud; break;
    case ZYDIS_MNEMONIC_LEA:
      fn = i.is_mem ? kLea.get(s, rm_form(i)) : handler_ud;
      break;
    case ZYDIS_MNEMONIC_CBW: fn = kCbw.get(); break;
    case ZYDIS_MNEMONIC_CWDE: fn = kCwde.get(); break;
    case ZYDIS_MNEMONIC_CWD: fn = kCwd.get(); break;
    case ZYDIS_MNEMONIC_CDQ: fn = kCdq.get(); break;
    case ZYDIS_MNEMONIC_LAHF: fn = kLahf.get(); break;
    case ZYDIS_MNEMONIC_SAHF: fn = kSahf.get(); break;
    case ZYDIS_MNEMONIC_CLC: fn = kClc.get(); break;
    case ZYDIS_MNEMONIC_STC: fn = kStc.get(); break;
    case ZYDIS_MNEMONIC_CMC: fn = kCmc.get(); break;
    case ZYDIS_MNEMONIC_CLD: fn = kCld.get(); break;
    case ZYDIS_MNEMONIC_STD: fn = kStd.get(); break;
    case ZYDIS_MNEMONIC_SALC: fn = kSalc.get(); break;
    case ZYDIS_MNEMONIC_XLAT: {
      // The memory operand is hidden; its segment carries any override.
      i.seg = DS;
      for (unsigned k = 0; k < ctx.zi.operand_count; ++k)
        if (ctx.ops[k].type == ZYDIS_OPERAND_TYPE_MEMORY) i.seg = segment_number(ctx.ops[k].mem.segment);
      fn = kXlat.get();
      break;
    }
    default:
      return false;
  }
  if (i.lock && !lock_allowed(ctx)) fn = handler_ud;
  i.fn = fn;
  return true;
}

}  // namespace softcpu
