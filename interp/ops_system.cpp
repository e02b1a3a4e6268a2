// Placeholder: the system instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_system(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
