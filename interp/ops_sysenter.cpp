// SYSENTER / SYSEXIT: which handler (interp/sem/sysenter.h) the encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/sysenter.h"

namespace softcpu {

bool select_sysenter(const DecodeContext& ctx, Insn& i) {
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_SYSENTER: i.fn = kSysenter.fns[0]; break;
    case ZYDIS_MNEMONIC_SYSEXIT: i.fn = kSysexit.fns[0]; break;
    default: return false;
  }
  if (i.lock) i.fn = handler_ud;
  i.flags |= INSN_ENDS_BLOCK;
  return true;
}

}  // namespace softcpu
