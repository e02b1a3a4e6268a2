// Placeholder: the control instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_control(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
