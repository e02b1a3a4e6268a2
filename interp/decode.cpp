#include "interp/decode.h"

#include <cstring>
#include <initializer_list>

#include "interp/fault.h"
#include "interp/sem/data.h"

namespace softcpu {

void handler_ud(Cpu&, const Insn&) { raise_ud(); }

namespace {

// Register number as encoded in ModRM (AH=4 for 8-bit registers); REG_NONE if not a GPR.
uint8_t gpr_number(ZydisRegister r) {
  if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BH) return uint8_t(r - ZYDIS_REGISTER_AL);
  if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_DI) return uint8_t(r - ZYDIS_REGISTER_AX);
  if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_EDI) return uint8_t(r - ZYDIS_REGISTER_EAX);
  return REG_NONE;
}

uint8_t log2_scale(uint8_t s) { return s == 8 ? 3 : s == 4 ? 2 : s == 2 ? 1 : 0; }

const GroupSelector kSelectors[] = {
    select_trap, select_control, select_data,   select_alu,   select_shift, select_muldiv,
    select_bits, select_bcd,     select_string, select_stack, select_system, select_fpu, select_sysenter,
};

bool ends_block(const ZydisDecodedInstruction& zi) {
  switch (zi.meta.category) {
    case ZYDIS_CATEGORY_COND_BR:
    case ZYDIS_CATEGORY_UNCOND_BR:
    case ZYDIS_CATEGORY_CALL:
    case ZYDIS_CATEGORY_RET:
    case ZYDIS_CATEGORY_INTERRUPT:
    case ZYDIS_CATEGORY_SYSTEM:
      return true;
    default:
      return zi.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE;
  }
}

Insn undefined_insn() {
  Insn i{};
  i.fn = handler_ud;
  i.len = 1;
  i.opsize = 4;
  i.base = i.index = REG_NONE;
  i.flags = INSN_ENDS_BLOCK;
  return i;
}

}  // namespace

InsnDecoder::InsnDecoder() {
  ZydisDecoderInit(&dec32_, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
  ZydisDecoderInit(&dec16_, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
  // MPX, CET and CLDEMOTE reuse the hint-NOP space 0F 18-1F (SDM vol.2 NOP; vol.2 table A-3);
  // with them on, Zydis rejects some of its encodings (e.g. 67 0F 1A, 66 0F 1B C4) that a P6
  // runs as NOPs. With them off every 0F 18-1F form with a ModRM decodes (as NOP).
  for (ZydisDecoder* d : {&dec32_, &dec16_})
    for (ZydisDecoderMode m : {ZYDIS_DECODER_MODE_MPX, ZYDIS_DECODER_MODE_CET,
                               ZYDIS_DECODER_MODE_CLDEMOTE})
      ZydisDecoderEnableMode(d, m, ZYAN_FALSE);
  ZydisFormatterInit(&fmt_, ZYDIS_FORMATTER_STYLE_INTEL);
}

Insn InsnDecoder::decode(const uint8_t* bytes, unsigned avail, bool code32, bool stack32) const {
  ZydisDecodedInstruction zi;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(code32 ? &dec32_ : &dec16_, bytes, avail, &zi, ops)))
    return undefined_insn();

  Insn i{};
  i.len = zi.length;
  i.opsize = static_cast<uint8_t>(zi.operand_width / 8);
  if (i.opsize == 0) i.opsize = code32 ? 4 : 2;
  i.addr32 = zi.address_width == 32;
  i.base = i.index = REG_NONE;
  i.seg = DS;
  if (zi.attributes & ZYDIS_ATTRIB_HAS_MODRM) {
    i.reg = zi.raw.modrm.reg;
    i.rm = zi.raw.modrm.rm;
  } else {
    i.reg = zi.opcode & 7;
  }
  if (zi.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE)) i.rep = REP_E;
  if (zi.attributes & ZYDIS_ATTRIB_HAS_REPNE) i.rep = REP_NE;
  i.lock = (zi.attributes & ZYDIS_ATTRIB_HAS_LOCK) != 0;
  i.cond = zi.opcode & 0xF;

  bool have_imm = false;
  for (unsigned k = 0; k < zi.operand_count_visible; ++k) {
    const ZydisDecodedOperand& op = ops[k];
    switch (op.type) {
      case ZYDIS_OPERAND_TYPE_MEMORY:
        if (!i.is_mem) {
          i.is_mem = 1;
          i.seg = segment_number(op.mem.segment);
          i.base = gpr_number(op.mem.base);
          i.index = gpr_number(op.mem.index);
          i.scale = log2_scale(op.mem.scale);
          i.disp = op.mem.disp.has_displacement ? uint32_t(op.mem.disp.value) : 0;
        }
        break;
      case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        if (op.imm.is_relative) {
          i.disp = uint32_t(op.imm.value.s);
          i.flags |= INSN_REL_BRANCH;
        } else if (!have_imm) {
          i.imm = uint32_t(op.imm.value.u);
          have_imm = true;
        } else {
          i.imm2 = uint16_t(op.imm.value.u);
        }
        break;
      case ZYDIS_OPERAND_TYPE_POINTER:
        i.imm = op.ptr.offset;
        i.imm2 = op.ptr.segment;
        break;
      default:
        break;
    }
  }

  // 0F 18-0F 1F is the hint-NOP space (SDM vol.2 NOP and "reserved NOP" opcodes): what later
  // extensions put there (PREFETCHh, MPX, CET's ENDBR32) is a NOP on this P6. No memory access.
  if (zi.opcode_map == ZYDIS_OPCODE_MAP_0F && zi.opcode >= 0x18 && zi.opcode <= 0x1F) {
    i.fn = i.lock ? handler_ud : kNop.get();
    return i;
  }

  if (ends_block(zi)) i.flags |= INSN_ENDS_BLOCK;
  DecodeContext ctx{zi, ops, code32, stack32};
  for (GroupSelector select : kSelectors) {
    if (select(ctx, i)) {
      if (!i.fn) break;  // a parameter outside its handler table: treat as undefined
      if (i.flags & INSN_TRAPS) i.flags |= INSN_ENDS_BLOCK;
      return i;
    }
  }
  Insn ud = undefined_insn();
  ud.len = i.len;
  return ud;
}

void InsnDecoder::format(const uint8_t* bytes, unsigned avail, bool code32, uint32_t eip,
                         char* out, unsigned out_size) const {
  ZydisDecodedInstruction zi;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(code32 ? &dec32_ : &dec16_, bytes, avail, &zi, ops)) ||
      !ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&fmt_, &zi, ops, zi.operand_count_visible,
                                                    out, out_size, eip, nullptr))) {
    std::strncpy(out, "(bad)", out_size);
  }
}

}  // namespace softcpu
