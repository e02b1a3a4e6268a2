// Placeholder: the stack instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_stack(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
