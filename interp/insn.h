// The compact decoded-instruction record. Zydis decodes an instruction once; the decoder
// (interp/decode.cpp) turns it into an Insn whose handler runs it without decoding again.
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

using Handler = void (*)(Cpu&, const Insn&);

// Contract for every handler:
//  - On entry cpu.eip already holds the address of the NEXT instruction (EIP + len), so
//    relative branches are cpu.eip + disp and INT n pushes the right return address.
//  - A handler commits guest state (registers, flags, EIP) only after the last access that
//    can fault; a fault (raise_fault) unwinds to the interpreter, which restores EIP to the
//    instruction's start. Memory writes that may fault come before register updates.
//  - Only instructions that end a block (branches, traps) read or change cpu.eip: in the
//    middle of a block the interpreter does not keep it current.
struct Insn {
  Handler fn;
  uint32_t disp;    // memory displacement, or relative branch displacement (sign-extended)
  uint32_t imm;     // first immediate (sign/zero-extended as the instruction defines)
  uint16_t imm2;    // second immediate: ENTER nesting level, far pointer selector
  uint8_t len;      // instruction length in bytes
  uint8_t opsize;   // operand size in bytes: 1, 2 or 4
  uint8_t addr32;   // 1: 32-bit addressing, 0: 16-bit
  uint8_t seg;      // SegReg of the memory operand (default or override)
  uint8_t reg;      // ModRM.reg operand, or the instruction's register operand (0-7)
  uint8_t rm;       // register number when the r/m operand is a register (0-7)
  uint8_t base;     // memory operand base register, REG_NONE if absent
  uint8_t index;    // memory operand index register, REG_NONE if absent
  uint8_t scale;    // log2 of the index scale
  uint8_t is_mem;   // the r/m operand is memory
  uint8_t rep;      // REP_NONE / REP_E / REP_NE
  uint8_t cond;     // condition code 0-15 (Jcc/SETcc/CMOVcc), or a group-specific subcode
  uint8_t lock;     // LOCK prefix present
  uint8_t flags;    // INSN_* below
};

enum : uint8_t { REP_NONE = 0, REP_E = 1, REP_NE = 2 };

enum : uint8_t {
  INSN_ENDS_BLOCK = 1,  // control transfer or trap: last instruction of its block
  INSN_TRAPS = 2,       // executed by the monitor (I/O, CPUID, RDTSC, HLT, MSR), or retires
                        // and then exits to it (-smp's PAUSE): it may set Cpu::exit_reason
  INSN_PORT_IMM = 4,    // IN/OUT with an immediate port number in imm
  INSN_REL_BRANCH = 8,  // disp is a relative branch displacement (JMP/Jcc/CALL/LOOP/JCXZ rel)
};

}  // namespace softcpu
