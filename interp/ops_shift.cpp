// Placeholder: the shift instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_shift(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
