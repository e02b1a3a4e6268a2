// Placeholder: the alu instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_alu(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
