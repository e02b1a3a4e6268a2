// String instructions: which handler (interp/sem/string.h) an encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/string.h"

namespace softcpu {

bool select_string(const DecodeContext& ctx, Insn& i) {
  if (ctx.zi.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) return false;  // SSE MOVSD/CMPSD
  StringOp op;
  unsigned s;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_MOVSB: op = STR_MOVS; s = 1; break;
    case ZYDIS_MNEMONIC_MOVSW: op = STR_MOVS; s = 2; break;
    case ZYDIS_MNEMONIC_MOVSD: op = STR_MOVS; s = 4; break;
    case ZYDIS_MNEMONIC_CMPSB: op = STR_CMPS; s = 1; break;
    case ZYDIS_MNEMONIC_CMPSW: op = STR_CMPS; s = 2; break;
    case ZYDIS_MNEMONIC_CMPSD: op = STR_CMPS; s = 4; break;
    case ZYDIS_MNEMONIC_SCASB: op = STR_SCAS; s = 1; break;
    case ZYDIS_MNEMONIC_SCASW: op = STR_SCAS; s = 2; break;
    case ZYDIS_MNEMONIC_SCASD: op = STR_SCAS; s = 4; break;
    case ZYDIS_MNEMONIC_LODSB: op = STR_LODS; s = 1; break;
    case ZYDIS_MNEMONIC_LODSW: op = STR_LODS; s = 2; break;
    case ZYDIS_MNEMONIC_LODSD: op = STR_LODS; s = 4; break;
    case ZYDIS_MNEMONIC_STOSB: op = STR_STOS; s = 1; break;
    case ZYDIS_MNEMONIC_STOSW: op = STR_STOS; s = 2; break;
    case ZYDIS_MNEMONIC_STOSD: op = STR_STOS; s = 4; break;
    default: return false;
  }
  i.opsize = uint8_t(s);
  // The source (DS:(E)SI) may be overridden; ES:(E)DI never is. The operands are hidden, so
  // the decoder did not fill i.seg: take it from the (E)SI memory operand.
  i.seg = DS;
  for (unsigned k = 0; k < ctx.zi.operand_count; ++k) {
    const ZydisDecodedOperand& o = ctx.ops[k];
    if (o.type == ZYDIS_OPERAND_TYPE_MEMORY &&
        (o.mem.base == ZYDIS_REGISTER_ESI || o.mem.base == ZYDIS_REGISTER_SI))
      i.seg = segment_number(o.mem.segment);
  }
  const bool rep = i.rep != REP_NONE;  // REPNE on MOVS/LODS/STOS acts as REP
  if (op != STR_CMPS && op != STR_SCAS && rep) i.rep = REP_E;
  const Handler fn = (rep ? kStringRep : kStringOnce).get(op, s, bool(i.addr32));
  if (rep) i.flags |= INSN_ENDS_BLOCK;
  i.fn = i.lock ? handler_ud : fn;
  return true;
}

}  // namespace softcpu
