// Decode guest code with Zydis into Insn records (once per instruction; blocks are cached).
#pragma once
#include <Zydis/Zydis.h>

#include <cstdint>

#include "interp/insn.h"

namespace softcpu {

// What an instruction-group selector sees. Before any selector runs, the decoder has filled
// the generic Insn fields: len, opsize (= operand width / 8 of the instruction), addr32,
// reg (ModRM.reg, or the register in the low 3 opcode bits when there is no ModRM), rm
// (ModRM.rm when mod == 3), is_mem/seg/base/index/scale/disp of the first memory operand,
// imm (first immediate, extended as Zydis defines) and imm2 (second immediate, or the
// selector of a far pointer whose offset goes to imm), disp for relative branches (the
// sign-extended displacement), cond (low opcode nibble, for Jcc/SETcc/CMOVcc), rep, lock.
struct DecodeContext {
  const ZydisDecodedInstruction& zi;
  const ZydisDecodedOperand* ops;  // zi.operand_count_visible visible operands first
  bool code32;                      // CS.D
  bool stack32;                     // SS.B (part of the block key, like CS.D)
};

// Our SegReg for a Zydis segment register (DS for anything else).
inline uint8_t segment_number(ZydisRegister r) {
  switch (r) {
    case ZYDIS_REGISTER_ES: return ES;
    case ZYDIS_REGISTER_CS: return CS;
    case ZYDIS_REGISTER_SS: return SS;
    case ZYDIS_REGISTER_FS: return FS;
    case ZYDIS_REGISTER_GS: return GS;
    default: return DS;
  }
}

// A selector sets insn.fn (and may adjust fields, e.g. opsize, flags) when the instruction
// belongs to its group and returns true; otherwise it leaves insn alone and returns false.
// An instruction that is not legal in the current form (e.g. LOCK on a register operand)
// may be given handler_ud. Each ops_*.cpp file defines one selector.
using GroupSelector = bool (*)(const DecodeContext&, Insn&);

bool select_alu(const DecodeContext&, Insn&);       // ops_alu.cpp: ADD..CMP, TEST, INC, DEC, NEG, NOT, MOV-free ALU
bool select_shift(const DecodeContext&, Insn&);     // ops_shift.cpp: shifts, rotates, SHLD/SHRD
bool select_muldiv(const DecodeContext&, Insn&);    // ops_muldiv.cpp: MUL, IMUL, DIV, IDIV
bool select_bcd(const DecodeContext&, Insn&);       // ops_bcd.cpp: DAA DAS AAA AAS AAM AAD
bool select_bits(const DecodeContext&, Insn&);      // ops_bits.cpp: BT*, BSF/BSR, SETcc, CMOVcc, BSWAP
bool select_data(const DecodeContext&, Insn&);      // ops_data.cpp: MOV*, MOVSX/ZX, XCHG, XADD, CMPXCHG*, LEA, CBW.., LAHF/SAHF, flag ops, XLAT, NOP
bool select_string(const DecodeContext&, Insn&);    // ops_string.cpp: MOVS CMPS SCAS LODS STOS (+REP)
bool select_stack(const DecodeContext&, Insn&);     // ops_stack.cpp: PUSH/POP (all), PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE
bool select_control(const DecodeContext&, Insn&);   // ops_control.cpp: JMP/CALL/RET near+far, Jcc, LOOP*, JCXZ, INT*, IRET, BOUND
bool select_system(const DecodeContext&, Insn&);    // ops_system.cpp: segment loads (MOV sreg, LDS..), CR moves, LGDT.., CLI/STI
bool select_sysenter(const DecodeContext&, Insn&);  // ops_sysenter.cpp: SYSENTER, SYSEXIT
bool select_trap(const DecodeContext&, Insn&);      // ops_trap.cpp: IN/OUT/INS/OUTS, CPUID, RDTSC, HLT, RDMSR/WRMSR
bool select_fpu(const DecodeContext&, Insn&);       // ops_fpu.cpp: x87 (ESC D8-DF) and WAIT/FWAIT

// Raises #UD when executed (invalid or unimplemented encodings).
void handler_ud(Cpu&, const Insn&);

class InsnDecoder {
 public:
  InsnDecoder();
  // Decode one instruction from `bytes` (up to 15 available) for CS.D = code32 and SS.B =
  // stack32: the stack instructions are specialised for SS.B, so the Insn is valid only while
  // SS.B is what it was decoded for (the block key holds both). Never fails: an undecodable
  // encoding becomes a #UD instruction (len 1, ends the block).
  Insn decode(const uint8_t* bytes, unsigned avail, bool code32, bool stack32) const;
  // Human-readable form, for --trace.
  void format(const uint8_t* bytes, unsigned avail, bool code32, uint32_t eip, char* out,
              unsigned out_size) const;

 private:
  ZydisDecoder dec16_, dec32_;
  ZydisFormatter fmt_;
};

}  // namespace softcpu
