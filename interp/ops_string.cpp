// Placeholder: the string instruction group is being written.
#include "interp/decode.h"
namespace softcpu {
bool select_string(const DecodeContext&, Insn&) { return false; }
}  // namespace softcpu
