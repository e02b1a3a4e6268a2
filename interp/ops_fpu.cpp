// x87 FPU instructions (ESC opcodes D8-DF) and WAIT/FWAIT: which handler (interp/sem/fpu.h)
// an encoding gets.
#include "interp/ops_common.h"
#include "interp/sem/fpu.h"

namespace softcpu {

bool select_fpu(const DecodeContext& ctx, Insn& i) {
  const ZydisDecodedInstruction& zi = ctx.zi;
  if (zi.mnemonic == ZYDIS_MNEMONIC_FWAIT) {
    i.fn = kFwait.get();
    i.flags |= INSN_ENDS_BLOCK;
    return true;
  }
  if (zi.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT || zi.opcode < 0xD8 || zi.opcode > 0xDF)
    return false;
  // Every x87 instruction ends its block: cpu.eip then gives the FPU instruction pointer.
  i.flags |= INSN_ENDS_BLOCK;
  const uint8_t modrm =
      uint8_t((zi.raw.modrm.mod << 6) | (zi.raw.modrm.reg << 3) | zi.raw.modrm.rm);
  i.imm = (uint32_t(zi.opcode) << 8) | modrm;
  const bool o16 = ctx.code32 == ((zi.attributes & ZYDIS_ATTRIB_HAS_OPERANDSIZE) != 0);
  i.opsize = o16 ? 2 : 4;  // selects the 14/28-byte environment formats
  if (i.lock) {
    i.fn = handler_ud;
    return true;
  }
  const unsigned esc = zi.opcode & 7, reg = zi.raw.modrm.reg;
  if (zi.raw.modrm.mod == 3) {
    switch (i.imm) {
      case 0xDBE2: i.fn = kFnclex.get(); return true;
      case 0xDBE3: i.fn = kFninit.get(); return true;
      case 0xDBE0: case 0xDBE1: case 0xDBE4: i.fn = kFpuLegacyNop.get(); return true;
      case 0xDFE0: i.fn = kFnstswAx.get(); return true;
      default: break;
    }
    if ((esc == 2 || esc == 3) && modrm < 0xE0) i.fn = kFpuReg.get(FPU_REG_FCMOV);
    else if ((esc == 3 || esc == 7) && modrm >= 0xE8 && modrm < 0xF8) i.fn = kFpuReg.get(FPU_REG_FCOMI);
    else i.fn = kFpuReg.get(FPU_REG_PLAIN);
    return true;
  }
  const Handler load2 = kFpuLoad.get(2u), load4 = kFpuLoad.get(4u), load8 = kFpuLoad.get(8u),
                load10 = kFpuLoad.get(10u);
  const Handler store2 = kFpuStore.get(2u), store4 = kFpuStore.get(4u),
                store8 = kFpuStore.get(8u), store10 = kFpuStore.get(10u);
  Handler h = handler_ud;
  switch (esc) {
    case 0: h = load4; break;  // FADD..FDIVR m32fp
    case 2: h = load4; break;  // FIADD..FIDIVR m32int
    case 4: h = load8; break;  // FADD..FDIVR m64fp
    case 6: h = load2; break;  // FIADD..FIDIVR m16int
    case 1: {
      const Handler t[8] = {load4,          handler_ud,    store4,         store4,
                            kFldenv.get(),  kFldcw.get(),  kFnstenv.get(), kFnstcw.get()};
      h = t[reg];
      break;
    }
    case 3: {  // /1 FISTTP is SSE3: #UD on this P6
      const Handler t[8] = {load4,      handler_ud, store4,     store4,
                            handler_ud, load10,     handler_ud, store10};
      h = t[reg];
      break;
    }
    case 5: {
      const Handler t[8] = {load8,          handler_ud, store8,        store8,
                            kFrstor.get(),  handler_ud, kFnsave.get(), kFnstswMem.get()};
      h = t[reg];
      break;
    }
    case 7: {
      const Handler t[8] = {load2,  handler_ud, store2,  store2,
                            load10, load8,      store10, store8};
      h = t[reg];
      break;
    }
  }
  i.fn = h;
  return true;
}

}  // namespace softcpu
