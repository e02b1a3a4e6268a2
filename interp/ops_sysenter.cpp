// SYSENTER / SYSEXIT: fast system calls through the SYSENTER_CS/ESP/EIP MSRs (SDM vol.2
// SYSENTER and SYSEXIT, 32-bit forms). The segments loaded are fixed flat ones; the GDT is not
// read.
#include "interp/ops_common.h"
#include "interp/segments.h"

namespace softcpu {

namespace {

// Flat 4 GiB descriptors as SYSENTER/SYSEXIT load them: code execute/read accessed, data
// read/write accessed, 32-bit, at privilege `dpl`.
uint64_t flat_descriptor(bool code, unsigned dpl) {
  const uint64_t access = (code ? 0x9Bull : 0x93ull) | (uint64_t(dpl) << 5);
  return 0x00CF00000000FFFFull | (access << 40);
}

void load_flat(Cpu& c, uint16_t cs, uint16_t ss, unsigned cpl) {
  cache_from_descriptor(c, c.seg[CS], cs, flat_descriptor(true, cpl));
  cache_from_descriptor(c, c.seg[SS], ss, flat_descriptor(false, cpl));
  c.cpl = uint8_t(cpl);
  update_mode(c);
}

void sysenter(Cpu& c, const Insn&) {
  const uint16_t cs = uint16_t(c.msr.sysenter_cs & 0xFFFC);
  if (!(c.cr0 & CR0_PE) || cs == 0) raise_gp(0);
  materialize_flags(c);
  c.eflags &= ~(VM | IF | RF);
  load_flat(c, cs, uint16_t(cs + 8), 0);
  c.regs[ESP] = c.msr.sysenter_esp;
  c.eip = c.msr.sysenter_eip;
}

void sysexit(Cpu& c, const Insn&) {
  const uint16_t cs = uint16_t(c.msr.sysenter_cs & 0xFFFC);
  if (!(c.cr0 & CR0_PE) || (c.eflags & VM) || c.cpl != 0 || cs == 0) raise_gp(0);
  load_flat(c, uint16_t((cs + 16) | 3), uint16_t((cs + 24) | 3), 3);
  c.regs[ESP] = c.regs[ECX];
  c.eip = c.regs[EDX];
}

}  // namespace

bool select_sysenter(const DecodeContext& ctx, Insn& i) {
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_SYSENTER: i.fn = sysenter; break;
    case ZYDIS_MNEMONIC_SYSEXIT: i.fn = sysexit; break;
    default: return false;
  }
  if (i.lock) i.fn = handler_ud;
  i.flags |= INSN_ENDS_BLOCK;
  return true;
}

}  // namespace softcpu
