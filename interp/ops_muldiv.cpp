// Placeholder: the muldiv instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_muldiv(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
