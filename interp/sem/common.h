// What every semantics header (interp/sem/*.h) uses: guest state and memory access, lazy
// flags, faults and the handler tables. No decoder here: semantics headers are compiled into
// the translator's bitcode as well as into the interpreter.
#pragma once
#include "interp/access.h"
#include "interp/fault.h"
#include "interp/flags.h"
#include "interp/insn.h"
#include "interp/sem/handler_table.h"

namespace softcpu {

// Raises #UD when executed (invalid or unimplemented encodings).
void handler_ud(Cpu&, const Insn&);

// The operand sizes a size-templated handler family covers.
using Sizes = Dim<1u, 2u, 4u>;
using Sizes16_32 = Dim<2u, 4u>;
using Bools = Dim<false, true>;
// The r/m operand's form (interp/access.h RmForm): register or one of the memory forms.
using RmForms = Dim<RM_REG, RM_MEM, RM_BD32, RM_SIB32>;
using MemForms = Dim<RM_MEM, RM_BD32, RM_SIB32>;
// The stack size fixed at decode time (interp/access.h StackSize).
using StackSizes = Dim<STACK16, STACK32>;

}  // namespace softcpu
