// Model-specific registers of the P6 we present (SDM vol.4, chapter 2, P6 family table).
// RDMSR/WRMSR run on the monitor trap path (interp/ops_trap.cpp); unknown MSRs raise #GP(0).
#pragma once
#include <cstdint>

namespace softcpu {

struct Cpu;

struct MsrState {
  uint32_t sysenter_cs, sysenter_esp, sysenter_eip;
  uint64_t apic_base;
  uint64_t pat;
  uint64_t mtrr_def_type;
  uint64_t mtrr_var[16];    // PHYSBASE0/PHYSMASK0 .. PHYSBASE7/PHYSMASK7 (0x200-0x20F)
  uint64_t mtrr_fixed[11];  // 0x250, 0x258, 0x259, 0x268-0x26F
};

// Power-on values (SDM vol.3 table 9-1 and the PAT/APIC chapters).
void reset_msrs(MsrState& m);
// Read or write MSR `index`; false if there is no such MSR here (the caller raises #GP).
bool read_msr(Cpu& c, uint32_t index, uint64_t& value);
bool write_msr(Cpu& c, uint32_t index, uint64_t value);

}  // namespace softcpu
