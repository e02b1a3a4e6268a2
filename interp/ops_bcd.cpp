// Placeholder: the bcd instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_bcd(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
