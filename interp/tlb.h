// Soft TLB maintenance and linear -> physical translation (paging: interp/paging.h).
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

enum AccessKind : uint8_t { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

// The A20 gate of a PC masks bit 20 of every physical address when disabled.
inline uint32_t a20_mask(const Cpu& c, uint32_t phys) {
  return c.a20_enabled ? phys : phys & ~(1u << 20);
}

// Page walk for `lin` (paging.cpp); raises #PF (CR2 = lin) when the access is not allowed.
uint32_t translate_paged(Cpu& c, uint32_t lin, AccessKind kind);

// Physical address of an access of `kind` at `lin`, at the current CPL. With CR0.PG it walks
// the page tables (setting accessed/dirty bits) and may raise #PF; it does not use the TLB.
inline uint32_t translate(Cpu& c, uint32_t lin, AccessKind kind) {
  if (!(c.cr0 & CR0_PG)) return a20_mask(c, lin);
  return translate_paged(c, lin, kind);
}

// The same without faulting: false (and the #PF error code in *err if given) when the
// access would fault; nothing changes then. Uses and fills the TLB.
bool try_translate(Cpu& c, uint32_t lin, AccessKind kind, uint32_t& phys,
                   uint32_t* err = nullptr);

// Translate `lin` for `kind` (may raise #PF) and enter its page in the TLB of that kind when
// it may be cached (RAM; ROM except for writes; never writes to a page holding code).
// Returns the physical address; *entry (if given) is the entry filled or nullptr.
uint32_t tlb_fill(Cpu& c, uint32_t lin, AccessKind kind, const SoftTlbEntry** entry = nullptr);

// Drop every entry, global ones too (CR0.PG/WP, CR4.PGE/PSE/PAE changes, reset).
void tlb_flush(Cpu& c);
// Drop every entry but global ones (MOV CR3; SDM vol.3 4.10.4.1).
void tlb_flush_nonglobal(Cpu& c);
// Drop the entries of the page holding `lin`, global or not (INVLPG).
void tlb_invlpg(Cpu& c, uint32_t lin);
// Drop the write entries that map physical page `phys_page` (it starts holding code).
void tlb_drop_write_page(Cpu& c, uint32_t phys_page);
// Drop all write entries.
void tlb_flush_writes(Cpu& c);
// Drop entries that only supervisor accesses may use; call before code runs at CPL 3. They
// are set aside (SoftTlb::stash): a later miss at CPL 0-2 takes its entry back without a
// walk, unless an invalidation came between.
void tlb_drop_supervisor(Cpu& c);

// Physical write outside the TLB (slow path, page-table bits): ROM writes are ignored, MMIO
// reaches its device, and a write to decoded code invalidates the blocks it hits.
void write_physical(Cpu& c, uint32_t phys, unsigned size, uint32_t v);

// After c.cache changed its blocks on `page`: report its code lines to the physical map
// (per CPU with vCPUs on parallel threads, interp/smp.h).
void note_code_lines(Cpu& c, uint32_t page);

// Bytes [phys, phys + len) changed outside the CPU's stores (device DMA, the debugger, a
// memory remap): drop the decoded blocks holding them and refresh the pages' code lines.
// Call only between interpreter runs (no block is executing).
void drop_code(Cpu& c, uint32_t phys, uint32_t len);

}  // namespace softcpu
