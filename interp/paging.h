// IA-32 32-bit paging of a P6 (SDM vol.3 chapter 4): the two-level page walk with 4 KiB and
// 4 MiB (CR4.PSE) pages, global pages (CR4.PGE), access rights with CR0.WP, accessed and
// dirty bits, and #PF. The soft TLB that caches walks is maintained in paging.cpp too.
#pragma once
#include <cstdint>

#include "interp/cpu.h"
#include "interp/tlb.h"

namespace softcpu {

// CR4 bits that paging uses (SDM vol.3 2.5).
constexpr uint32_t CR4_PSE = 1u << 4, CR4_PAE = 1u << 5, CR4_PGE = 1u << 7;

// Page-directory and page-table entry bits (SDM vol.3 tables 4-4 to 4-6).
constexpr uint32_t PTE_P = 1u << 0, PTE_RW = 1u << 1, PTE_US = 1u << 2, PTE_PWT = 1u << 3,
                   PTE_PCD = 1u << 4, PTE_A = 1u << 5, PTE_D = 1u << 6, PTE_PS = 1u << 7,
                   PTE_G = 1u << 8;

// #PF error code bits (SDM vol.3 4.7).
constexpr uint32_t PF_P = 1u << 0, PF_W = 1u << 1, PF_U = 1u << 2, PF_RSVD = 1u << 3;

struct PageWalk {
  uint32_t phys;    // physical address of the 4 KiB page holding the address (A20 applied)
  bool global;      // G set and CR4.PGE
  bool large;       // from a 4 MiB page
  bool user_ok;     // a CPL 3 access of the same kind would be allowed too
};

// Walk the page tables for an access of `kind` at `lin`; `user` for CPL 3 (SDM vol.3 4.6:
// the access rights are those of the access, not of the page). On success sets the
// accessed bits of the entries used (and the dirty bit of the page for a write) and returns
// true. Otherwise returns false with the #PF error code in `err` and changes nothing.
bool page_walk(Cpu& c, uint32_t lin, AccessKind kind, bool user, PageWalk& w, uint32_t& err);

// CR2 := lin, then #PF(err).
[[noreturn]] void raise_page_fault(Cpu& c, uint32_t lin, uint32_t err);

}  // namespace softcpu
