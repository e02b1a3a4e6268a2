// Bit operations: which handler (interp/sem/bits.h) an encoding gets. BT BTS BTR BTC, BSF
// BSR, SETcc, CMOVcc, BSWAP.
#include "interp/ops_common.h"
#include "interp/sem/bits.h"

namespace softcpu {

bool select_bits(const DecodeContext& ctx, Insn& i) {
  const ZydisMnemonic m = mnemonic(ctx);
  const unsigned s = i.opsize;
  const bool mem = i.is_mem;
  switch (m) {
    case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTC: {
      if (i.lock && !lock_allowed(ctx)) { i.fn = handler_ud; return true; }
      const bool imm = op_is_imm(ctx, 1);
      if (imm) i.imm &= 0xFF;
      const BitOp op = m == ZYDIS_MNEMONIC_BT    ? B_BT
                       : m == ZYDIS_MNEMONIC_BTS ? B_BTS
                       : m == ZYDIS_MNEMONIC_BTR ? B_BTR
                                                 : B_BTC;
      i.fn = (mem ? kBtMem : kBtReg).get(s, op, imm);
      return true;
    }
    case ZYDIS_MNEMONIC_BSF: case ZYDIS_MNEMONIC_BSR:
    case ZYDIS_MNEMONIC_TZCNT: case ZYDIS_MNEMONIC_LZCNT: {
      if (i.lock) { i.fn = handler_ud; return true; }
      // Zydis decodes F3 0F BC/BD as TZCNT/LZCNT; a P6 has no BMI1/ABM and ignores the REP
      // prefix, running BSF/BSR (SDM vol.2 TZCNT: "executes as BSF" without BMI1). Linux's
      // find-first-bit helpers use this encoding ("rep; bsf").
      const bool reverse = m == ZYDIS_MNEMONIC_BSR || m == ZYDIS_MNEMONIC_LZCNT;
      i.fn = kBitScan.get(s, reverse, mem);
      return true;
    }
    case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB:
    case ZYDIS_MNEMONIC_SETNB: case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ:
    case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE: case ZYDIS_MNEMONIC_SETS:
    case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
    case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE:
    case ZYDIS_MNEMONIC_SETNLE:
      i.fn = i.lock ? handler_ud : kSetcc.get(mem);
      return true;
    case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB:
    case ZYDIS_MNEMONIC_CMOVNB: case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ:
    case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE: case ZYDIS_MNEMONIC_CMOVS:
    case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
    case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE:
    case ZYDIS_MNEMONIC_CMOVNLE:
      if (i.lock) { i.fn = handler_ud; return true; }
      i.fn = kCmovcc.get(s, mem);
      return true;
    case ZYDIS_MNEMONIC_BSWAP:
      if (i.lock) { i.fn = handler_ud; return true; }
      i.fn = s == 2 ? kBswap16.get() : kBswap32.get();
      return true;
    default:
      return false;
  }
}

}  // namespace softcpu
