// The one list of handler families. Compiled into the interpreter and, by clang with
// SOFTCPU_JIT_BITCODE, into the semantics bitcode the translator links regions against
// (CMakeLists.txt: semantics.bc); both see the same families in the same order.
#include "interp/sem/registry.h"

#include <cstddef>

#include "interp/sem/alu.h"
#include "interp/sem/string.h"
#include "interp/sem/system.h"
#include "interp/sem/control.h"
#include "interp/sem/sysenter.h"

#define SOFTCPU_FAMILY(table) \
  { #table, (table).fns.data(), static_cast<uint32_t>((table).fns.size()) }

extern "C" {

const softcpu::HandlerFamily softcpu_handler_families[] = {
    SOFTCPU_FAMILY(softcpu::kAluRmReg), SOFTCPU_FAMILY(softcpu::kAluRmMem),
    SOFTCPU_FAMILY(softcpu::kAluRegRm), SOFTCPU_FAMILY(softcpu::kIncDec),
    SOFTCPU_FAMILY(softcpu::kNeg),      SOFTCPU_FAMILY(softcpu::kNot),
    // strings (interp/sem/string.h)
    SOFTCPU_FAMILY(softcpu::kStringOnce), SOFTCPU_FAMILY(softcpu::kStringRep),
    // system (interp/sem/system.h)
    SOFTCPU_FAMILY(softcpu::kMovToSreg), SOFTCPU_FAMILY(softcpu::kMovFromSreg),
    SOFTCPU_FAMILY(softcpu::kLoadFarPointer), SOFTCPU_FAMILY(softcpu::kMovToCr),
    SOFTCPU_FAMILY(softcpu::kMovFromCr), SOFTCPU_FAMILY(softcpu::kMovToDr),
    SOFTCPU_FAMILY(softcpu::kMovFromDr), SOFTCPU_FAMILY(softcpu::kLoadDescTable),
    SOFTCPU_FAMILY(softcpu::kStoreDescTable), SOFTCPU_FAMILY(softcpu::kLldt),
    SOFTCPU_FAMILY(softcpu::kLtr), SOFTCPU_FAMILY(softcpu::kSldt),
    SOFTCPU_FAMILY(softcpu::kStoreTr), SOFTCPU_FAMILY(softcpu::kLmsw),
    SOFTCPU_FAMILY(softcpu::kSmsw), SOFTCPU_FAMILY(softcpu::kClts),
    SOFTCPU_FAMILY(softcpu::kCli), SOFTCPU_FAMILY(softcpu::kSti),
    SOFTCPU_FAMILY(softcpu::kInvdWbinvd), SOFTCPU_FAMILY(softcpu::kInvlpg),
    SOFTCPU_FAMILY(softcpu::kLar), SOFTCPU_FAMILY(softcpu::kLsl),
    SOFTCPU_FAMILY(softcpu::kVerrVerw), SOFTCPU_FAMILY(softcpu::kArpl),
    // Control transfer (interp/sem/control.h, sysenter.h).
    SOFTCPU_FAMILY(softcpu::kJmpNearRel),
    SOFTCPU_FAMILY(softcpu::kJmpNearRm),
    SOFTCPU_FAMILY(softcpu::kJccRel),
    SOFTCPU_FAMILY(softcpu::kJcxzRel),
    SOFTCPU_FAMILY(softcpu::kLoopRel),
    SOFTCPU_FAMILY(softcpu::kCallNearRel),
    SOFTCPU_FAMILY(softcpu::kCallNearRm),
    SOFTCPU_FAMILY(softcpu::kRetNear),
    SOFTCPU_FAMILY(softcpu::kJmpFarPtr),
    SOFTCPU_FAMILY(softcpu::kJmpFarMem),
    SOFTCPU_FAMILY(softcpu::kCallFarPtr),
    SOFTCPU_FAMILY(softcpu::kCallFarMem),
    SOFTCPU_FAMILY(softcpu::kRetFar),
    SOFTCPU_FAMILY(softcpu::kIntN),
    SOFTCPU_FAMILY(softcpu::kInt3),
    SOFTCPU_FAMILY(softcpu::kInto),
    SOFTCPU_FAMILY(softcpu::kInt1),
    SOFTCPU_FAMILY(softcpu::kIret),
    SOFTCPU_FAMILY(softcpu::kBound),
    SOFTCPU_FAMILY(softcpu::kSysenter),
    SOFTCPU_FAMILY(softcpu::kSysexit),
};
const uint32_t softcpu_handler_family_count =
    sizeof softcpu_handler_families / sizeof softcpu_handler_families[0];

const uint32_t softcpu_layout[] = {
    sizeof(softcpu::Cpu),
    offsetof(softcpu::Cpu, eip),
    offsetof(softcpu::Cpu, lz_src1),
    offsetof(softcpu::Cpu, seg),
    offsetof(softcpu::Cpu, icount),
    offsetof(softcpu::Cpu, icount_limit),
    offsetof(softcpu::Cpu, events),
    offsetof(softcpu::Cpu, tlb),
    sizeof(softcpu::SoftTlb),
    sizeof(softcpu::Insn),
    offsetof(softcpu::Insn, disp),
    offsetof(softcpu::Insn, flags),
};
const uint32_t softcpu_layout_count = sizeof softcpu_layout / sizeof softcpu_layout[0];

}  // extern "C"
