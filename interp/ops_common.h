// Helpers shared by the instruction-group files (interp/ops_*.cpp).
#pragma once
#include "interp/access.h"
#include "interp/decode.h"
#include "interp/flags.h"

namespace softcpu {

// Pick the instantiation of a handler template for operand size 1, 2 or 4 bytes.
#define SOFTCPU_BY_SIZE(tmpl, size) \
  ((size) == 1 ? &tmpl<1> : (size) == 2 ? &tmpl<2> : &tmpl<4>)
// Pick tmpl<S, M> for size S and M = the r/m operand is memory.
#define SOFTCPU_BY_SIZE_MEM(tmpl, size, mem)                                             \
  ((mem) ? ((size) == 1 ? &tmpl<1, true> : (size) == 2 ? &tmpl<2, true> : &tmpl<4, true>) \
         : ((size) == 1 ? &tmpl<1, false> : (size) == 2 ? &tmpl<2, false> : &tmpl<4, false>))
// The same for templates that only exist for 16/32-bit operands.
#define SOFTCPU_BY_SIZE_WD(tmpl, size) ((size) == 2 ? &tmpl<2> : &tmpl<4>)

inline ZydisMnemonic mnemonic(const DecodeContext& ctx) { return ctx.zi.mnemonic; }
inline bool op_is_reg(const DecodeContext& ctx, unsigned k) {
  return k < ctx.zi.operand_count_visible && ctx.ops[k].type == ZYDIS_OPERAND_TYPE_REGISTER;
}
inline bool op_is_mem(const DecodeContext& ctx, unsigned k) {
  return k < ctx.zi.operand_count_visible && ctx.ops[k].type == ZYDIS_OPERAND_TYPE_MEMORY;
}
inline bool op_is_imm(const DecodeContext& ctx, unsigned k) {
  return k < ctx.zi.operand_count_visible && ctx.ops[k].type == ZYDIS_OPERAND_TYPE_IMMEDIATE;
}
inline unsigned op_size(const DecodeContext& ctx, unsigned k) { return ctx.ops[k].size / 8; }
// The stack size (SS.B) for the handlers that take it as a dimension (StackSizes,
// interp/sem/common.h).
inline unsigned stack_size(const DecodeContext& ctx) { return ctx.stack32 ? STACK32 : STACK16; }

// LOCK is legal only on these instructions with a memory destination (SDM vol.2 LOCK).
inline bool lock_allowed(const DecodeContext& ctx) {
  switch (ctx.zi.mnemonic) {
    case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_BTC: case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_CMPXCHG8B: case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_NOT:
    case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_SBB: case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_XADD: case ZYDIS_MNEMONIC_XCHG:
      return op_is_mem(ctx, 0);
    default:
      return false;
  }
}

}  // namespace softcpu
