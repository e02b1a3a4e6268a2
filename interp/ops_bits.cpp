// Placeholder: the bits instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_bits(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
