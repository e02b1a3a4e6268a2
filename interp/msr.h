// Model-specific registers of the P6 we present (SDM vol.4, chapter 2, P6 family table).
// RDMSR/WRMSR run on the monitor trap path (interp/ops_trap.cpp); unknown MSRs raise #GP(0).
#pragma once
#include <cstdint>

namespace softcpu {

struct Cpu;

struct MsrState {
  uint32_t sysenter_cs, sysenter_esp, sysenter_eip;
  // P6 performance counters (SDM vol.3 "Performance Monitoring (P6 Family Processor)"):
  // PerfEvtSel0/1 (0x186/0x187), PerfCtr0/1 (0xC1/0xC2, 40 bits). perfctr[k] is the counter's
  // value when Cpu::icount was perfctr_icount[k]; a counter selecting "instructions retired"
  // advances with icount (read_pmc).
  uint64_t perfevtsel[2];
  uint64_t perfctr[2];
  uint64_t perfctr_icount[2];
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

// CR4.PCE (bit 8): RDPMC at any privilege level (SDM vol.3 2.5).
constexpr uint32_t CR4_PCE = 1u << 8;
// Number of P6 performance counters (RDPMC's valid ECX values are 0 and 1).
constexpr unsigned PMC_COUNT = 2;
// Performance counter `k` (< PMC_COUNT) now: 40 bits (SDM vol.2 RDPMC). Exact where icount is,
// i.e. on the trap path that RDPMC, RDMSR and WRMSR take.
uint64_t read_pmc(Cpu& c, unsigned k);

}  // namespace softcpu
