#include "interp/fault.h"

namespace softcpu {

void raise_fault(uint8_t vector) { throw GuestFault{vector, false, 0}; }
void raise_fault(uint8_t vector, uint32_t error) { throw GuestFault{vector, true, error}; }

}  // namespace softcpu
