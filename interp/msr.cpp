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
  MSR_MTRRCAP = 0xFE,
  MSR_SYSENTER_CS = 0x174,
  MSR_SYSENTER_ESP = 0x175,
  MSR_SYSENTER_EIP = 0x176,
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

}  // namespace

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
