// SYSENTER / SYSEXIT semantics: fast system calls through the SYSENTER_CS/ESP/EIP MSRs (SDM
// vol.2 SYSENTER and SYSEXIT, 32-bit forms). The segments loaded are fixed flat ones; the GDT
// is not read. Both change CPL and the mode, so compiled code calls them (the segment cache
// and mode key are filled by host functions). The selector is in interp/ops_sysenter.cpp.
#pragma once
#include <cstdint>

#include "interp/sem/common.h"
#include "interp/segments.h"

namespace softcpu {

// Flat 4 GiB descriptors as SYSENTER/SYSEXIT load them: code execute/read accessed, data
// read/write accessed, 32-bit, at privilege `dpl`.
constexpr uint64_t flat_descriptor(bool code, unsigned dpl) {
  const uint64_t access = (code ? 0x9Bull : 0x93ull) | (uint64_t(dpl) << 5);
  return 0x00CF00000000FFFFull | (access << 40);
}

inline void load_flat_segments(Cpu& c, uint16_t cs, uint16_t ss, unsigned cpl) {
  cache_from_descriptor(c, c.seg[CS], cs, flat_descriptor(true, cpl));
  cache_from_descriptor(c, c.seg[SS], ss, flat_descriptor(false, cpl));
  c.cpl = uint8_t(cpl);
  update_mode(c);
}

inline void sysenter(Cpu& c, const Insn&) {
  const uint16_t cs = uint16_t(c.msr.sysenter_cs & 0xFFFC);
  if (!(c.cr0 & CR0_PE) || cs == 0) raise_gp(0);
  materialize_flags(c);
  c.eflags &= ~(VM | IF | RF);
  load_flat_segments(c, cs, uint16_t(cs + 8), 0);
  c.regs[ESP] = c.msr.sysenter_esp;
  c.eip = c.msr.sysenter_eip;
}

inline void sysexit(Cpu& c, const Insn&) {
  const uint16_t cs = uint16_t(c.msr.sysenter_cs & 0xFFFC);
  if (!(c.cr0 & CR0_PE) || (c.eflags & VM) || c.cpl != 0 || cs == 0) raise_gp(0);
  load_flat_segments(c, uint16_t((cs + 16) | 3), uint16_t((cs + 24) | 3), 3);
  c.regs[ESP] = c.regs[ECX];
  c.eip = c.regs[EDX];
}

// ---- handler tables ---------------------------------------------------------------------

inline constexpr auto kSysenter = kSingle<&sysenter>;
inline constexpr auto kSysexit = kSingle<&sysexit>;

}  // namespace softcpu
