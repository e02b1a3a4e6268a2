// Guest exceptions raised during an instruction (SDM vol.3 6.3.1, table 6-1).
#pragma once
#include <cstdint>

namespace softcpu {

enum Vector : uint8_t {
  VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4, VEC_BR = 5, VEC_UD = 6,
  VEC_NM = 7, VEC_DF = 8, VEC_TS = 10, VEC_NP = 11, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14,
  VEC_MF = 16, VEC_AC = 17, VEC_MC = 18,
};

// Thrown by a handler; caught by the interpreter, which restores EIP to the faulting
// instruction and delivers the exception. No guest state may have been committed.
struct GuestFault {
  uint8_t vector;
  bool has_error;
  uint32_t error;
};

#if SOFTCPU_JIT_BITCODE
}  // namespace softcpu
#include "interp/jit_abi.h"
namespace softcpu {
// Compiled code: a marker the translator turns into a branch to the region's fault exit.
[[noreturn]] inline void raise_fault(uint8_t vector) { softcpu_jit_raise(vector, 0); }
[[noreturn]] inline void raise_fault(uint8_t vector, uint32_t error) {
  softcpu_jit_raise(0x100u | vector, error);
}
#else
[[noreturn]] void raise_fault(uint8_t vector);                   // no error code
[[noreturn]] void raise_fault(uint8_t vector, uint32_t error);   // with error code
#endif
[[noreturn]] inline void raise_ud() { raise_fault(VEC_UD); }
[[noreturn]] inline void raise_gp(uint32_t error) { raise_fault(VEC_GP, error); }

// Does this vector push an error code when raised as an exception? (SDM vol.3 table 6-1)
inline bool vector_has_error_code(uint8_t v) {
  return v == VEC_DF || v == VEC_TS || v == VEC_NP || v == VEC_SS || v == VEC_GP ||
         v == VEC_PF || v == VEC_AC;
}

}  // namespace softcpu
