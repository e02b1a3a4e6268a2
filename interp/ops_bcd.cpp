// BCD adjustments: which handler (interp/sem/bcd.h) an encoding gets. DAA DAS AAA AAS AAM AAD.
#include "interp/ops_common.h"
#include "interp/sem/bcd.h"

namespace softcpu {

bool select_bcd(const DecodeContext& ctx, Insn& i) {
  Handler h;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_DAA: h = kDaa.get(); break;
    case ZYDIS_MNEMONIC_DAS: h = kDas.get(); break;
    case ZYDIS_MNEMONIC_AAA: h = kAaa.get(); break;
    case ZYDIS_MNEMONIC_AAS: h = kAas.get(); break;
    case ZYDIS_MNEMONIC_AAM: h = kAam.get(); break;
    case ZYDIS_MNEMONIC_AAD: h = kAad.get(); break;
    default: return false;
  }
  i.fn = i.lock ? handler_ud : h;
  return true;
}

}  // namespace softcpu
