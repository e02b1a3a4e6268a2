#include "interp/msr.h"

#include <cstring>

#include "interp/cpu.h"

namespace softcpu {

namespace {

enum : uint32_t {
  MSR_TSC = 0x10,
  MSR_PLATFORM_ID = 0x17,
  MSR_APIC_BASE = 0x1B,
  MSR_BIOS_SIGN_ID = 0x8B,  // microcode update signature: no update loaded, reads 0
  MSR_PERFCTR0 = 0xC1,
  MSR_PERFCTR1 = 0xC2,
  MSR_MTRRCAP = 0xFE,
  MSR_SYSENTER_CS = 0x174,
  MSR_SYSENTER_ESP = 0x175,
  MSR_SYSENTER_EIP = 0x176,
  MSR_PERFEVTSEL0 = 0x186,
  MSR_PERFEVTSEL1 = 0x187,
  MSR_MTRR_PHYS_FIRST = 0x200,
  MSR_MTRR_PHYS_LAST = 0x20F,
  MSR_MTRR_FIX64K = 0x250,
  MSR_MTRR_FIX16K_80000 = 0x258,
  MSR_MTRR_FIX16K_A0000 = 0x259,
  MSR_MTRR_FIX4K_FIRST = 0x268,
  MSR_MTRR_FIX4K_LAST = 0x26F,
  MSR_PAT = 0x277,
  MSR_MTRR_DEF_TYPE = 0x2FF,
};

// MTRRcap: 8 variable ranges, fixed ranges supported, write-combining supported.
constexpr uint64_t kMtrrCap = 8 | (1u << 8) | (1u << 10);

uint64_t* fixed_mtrr(MsrState& m, uint32_t index) {
  if (index == MSR_MTRR_FIX64K) return &m.mtrr_fixed[0];
  if (index == MSR_MTRR_FIX16K_80000) return &m.mtrr_fixed[1];
  if (index == MSR_MTRR_FIX16K_A0000) return &m.mtrr_fixed[2];
  if (index >= MSR_MTRR_FIX4K_FIRST && index <= MSR_MTRR_FIX4K_LAST)
    return &m.mtrr_fixed[3 + index - MSR_MTRR_FIX4K_FIRST];
  return nullptr;
}

// P6 PerfEvtSel fields (SDM vol.3 "PerfEvtSel0 and PerfEvtSel1 MSRs"; vol.4 P6 MSR table).
constexpr uint64_t EVTSEL_EVENT = 0xFF, EVTSEL_USR = 1u << 16, EVTSEL_OS = 1u << 17,
                   EVTSEL_E = 1u << 18, EVTSEL_INV = 1u << 23, EVTSEL_CMASK = 0xFFu << 24;
// EN (bit 22) exists only in PerfEvtSel0 and enables both counters; bit 21 and bits 63:32
// are reserved (writing 1 to one is #GP).
constexpr uint64_t EVTSEL_EN = 1u << 22;
constexpr uint64_t kEvtSelWritable[PMC_COUNT] = {0xFFDFFFFFu, 0xFF9FFFFFu};
constexpr uint64_t kPmcMask = (1ull << 40) - 1;
constexpr uint64_t EVENT_INST_RETIRED = 0xC0;  // SDM vol.3 P6 event table

// Whether counter k advances with Cpu::icount: EN set, event 0xC0 (instructions retired)
// counted in every ring (USR and OS) with no counter mask, edge or invert (those count cycles
// in which a condition held, which the interpreter has no notion of). Other events hold still.
bool counts_instructions(const MsrState& m, unsigned k) {
  const uint64_t s = m.perfevtsel[k];
  return (m.perfevtsel[0] & EVTSEL_EN) && (s & EVTSEL_EVENT) == EVENT_INST_RETIRED &&
         (s & (EVTSEL_USR | EVTSEL_OS)) == (EVTSEL_USR | EVTSEL_OS) &&
         !(s & (EVTSEL_E | EVTSEL_INV | EVTSEL_CMASK));
}

// Bring both counters up to date before their selection or value changes.
void sync_pmcs(Cpu& c) {
  for (unsigned k = 0; k < PMC_COUNT; ++k) {
    c.msr.perfctr[k] = read_pmc(c, k);
    c.msr.perfctr_icount[k] = c.icount;
  }
}

}  // namespace

uint64_t read_pmc(Cpu& c, unsigned k) {
  const MsrState& m = c.msr;
  uint64_t v = m.perfctr[k];
  if (counts_instructions(m, k)) v += c.icount - m.perfctr_icount[k];
  return v & kPmcMask;  // a 40-bit counter wraps (the overflow interrupt is not modelled)
}

void reset_msrs(MsrState& m) {
  std::memset(&m, 0, sizeof m);
  m.apic_base = 0xFEE00000u | (1u << 11) | (1u << 8);  // enabled, bootstrap processor
  m.pat = 0x0007040600070406ull;                       // SDM vol.3 11.12.4
}

bool read_msr(Cpu& c, uint32_t index, uint64_t& v) {
  MsrState& m = c.msr;
  switch (index) {
    case MSR_TSC: v = c.tsc; return true;
    case MSR_APIC_BASE: v = m.apic_base; return true;
    case MSR_PLATFORM_ID: v = 0; return true;
    case MSR_BIOS_SIGN_ID: v = 0; return true;
    case MSR_MTRRCAP: v = kMtrrCap; return true;
    case MSR_SYSENTER_CS: v = m.sysenter_cs; return true;
    case MSR_SYSENTER_ESP: v = m.sysenter_esp; return true;
    case MSR_SYSENTER_EIP: v = m.sysenter_eip; return true;
    case MSR_PAT: v = m.pat; return true;
    case MSR_MTRR_DEF_TYPE: v = m.mtrr_def_type; return true;
    case MSR_PERFEVTSEL0: case MSR_PERFEVTSEL1: v = m.perfevtsel[index - MSR_PERFEVTSEL0]; return true;
    case MSR_PERFCTR0: case MSR_PERFCTR1: v = read_pmc(c, index - MSR_PERFCTR0); return true;
    default: break;
  }
  if (index >= MSR_MTRR_PHYS_FIRST && index <= MSR_MTRR_PHYS_LAST) {
    v = m.mtrr_var[index - MSR_MTRR_PHYS_FIRST];
    return true;
  }
  if (uint64_t* f = fixed_mtrr(m, index)) {
    v = *f;
    return true;
  }
  return false;
}

bool write_msr(Cpu& c, uint32_t index, uint64_t v) {
  MsrState& m = c.msr;
  switch (index) {
    case MSR_TSC: c.tsc = v; return true;
    case MSR_APIC_BASE: m.apic_base = v; return true;
    case MSR_BIOS_SIGN_ID: return true;  // software writes 0 before CPUID; ignored
    case MSR_MTRRCAP: return false;  // read-only: #GP
    case MSR_SYSENTER_CS: m.sysenter_cs = uint32_t(v); return true;
    case MSR_SYSENTER_ESP: m.sysenter_esp = uint32_t(v); return true;
    case MSR_SYSENTER_EIP: m.sysenter_eip = uint32_t(v); return true;
    case MSR_PAT:
      // Each of the 8 entries must be a valid memory type: 0, 1, 4, 5, 6 or 7 (SDM vol.3 11.12.2).
      for (unsigned k = 0; k < 8; ++k) {
        unsigned t = unsigned(v >> (8 * k)) & 0xFF;
        if (t == 2 || t == 3 || t > 7) return false;
      }
      m.pat = v;
      return true;
    case MSR_MTRR_DEF_TYPE: m.mtrr_def_type = v; return true;
    case MSR_PERFEVTSEL0:
    case MSR_PERFEVTSEL1: {
      const unsigned k = index - MSR_PERFEVTSEL0;
      if (v & ~kEvtSelWritable[k]) return false;  // reserved bit set: #GP
      sync_pmcs(c);
      m.perfevtsel[k] = v;
      return true;
    }
    case MSR_PERFCTR0:
    case MSR_PERFCTR1: {
      // Only bits 31:0 are written; bits 39:32 take the sign of bit 31 (SDM vol.3 "PerfCtr0
      // and PerfCtr1 MSRs"), so a counter can be preset to overflow after 2^31 events or fewer.
      sync_pmcs(c);
      m.perfctr[index - MSR_PERFCTR0] = uint64_t(int64_t(int32_t(uint32_t(v)))) & kPmcMask;
      return true;
    }
    default: break;
  }
  if (index >= MSR_MTRR_PHYS_FIRST && index <= MSR_MTRR_PHYS_LAST) {
    m.mtrr_var[index - MSR_MTRR_PHYS_FIRST] = v;
    return true;
  }
  if (uint64_t* f = fixed_mtrr(m, index)) {
    *f = v;
    return true;
  }
  return false;
}

}  // namespace softcpu
