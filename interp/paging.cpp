#include "interp/paging.h"

#include <cstring>

#include "cache/block_cache.h"
#include "interp/debug.h"
#include "interp/fault.h"
#include "interp/guest_ram.h"
#include "interp/memory.h"

namespace softcpu {

namespace {

constexpr uint32_t kInvalidTag = TLB_INVALID_TAG;

inline SoftTlbEntry& slot_entry(SoftTlb& t, unsigned slot) {
  const unsigned k = slot % TLB_SIZE;
  switch (slot / TLB_SIZE) {
    case ACCESS_READ: return t.read[k];
    case ACCESS_WRITE: return t.write[k];
    default: return t.fetch[k];
  }
}

inline SoftTlbEntry* table(SoftTlb& t, AccessKind kind) {
  return kind == ACCESS_READ ? t.read : kind == ACCESS_WRITE ? t.write : t.fetch;
}

inline bool entry_valid(const SoftTlbEntry& e) { return (e.tag & 0xFFF) == 0; }

// Miss causes for --stats (TlbCounters::misses): when a valid entry leaves the TLB its page is
// recorded with the cause in SoftTlb::gone, a table per access kind hashed by page (four
// times the TLB's entries, so a page evicted and soon wanted again is usually still there); a
// fill finds there why its page was missing. Slow paths only; a page with no record (never
// entered, or its record reused by another page) counts as cold.
inline uint32_t& gone_record(SoftTlb& t, unsigned kind, uint32_t page_lin) {
  static_assert((TLB_GONE & (TLB_GONE - 1)) == 0 && TLB_MISS_CAUSES <= 0x1000);
  constexpr unsigned bits = __builtin_ctz(TLB_GONE);
  const uint32_t h = ((page_lin >> 12) * 0x9E3779B1u) >> (32 - bits);  // Fibonacci hashing
  return t.gone[kind * TLB_GONE + h];
}
inline void note_gone(SoftTlb& t, unsigned kind, const SoftTlbEntry& e, TlbMissCause why) {
  if (entry_valid(e)) gone_record(t, kind, e.tag) = e.tag | why;
}
inline void note_gone_slot(SoftTlb& t, unsigned slot, TlbMissCause why) {
  note_gone(t, slot / TLB_SIZE, slot_entry(t, slot), why);
}
// The set-aside supervisor entries (tlb_drop_supervisor) all become unusable: a new stash
// generation. At the wrap the stamps are cleared, so no entry of 2^32 generations ago comes
// back; generation 0 is never current (a zeroed Cpu's stamps are 0).
inline void discard_stash(SoftTlb& t) {
  if (__builtin_expect(++t.stash_generation == 0, 0)) {
    std::memset(t.stash_gen, 0, sizeof t.stash_gen);
    t.stash_generation = 1;
  }
}

inline TlbMissCause miss_cause(SoftTlb& t, unsigned kind, uint32_t page_lin) {
  const uint32_t g = gone_record(t, kind, page_lin);
  return (g & ~0xFFFu) == page_lin ? TlbMissCause(g & 0xFFF) : TLB_MISS_COLD;
}

// Page-table reads and accessed/dirty updates are physical accesses (A20 applied by the
// caller). Page tables normally sit in RAM: read it directly.
inline uint32_t pt_read(Cpu& c, uint32_t phys) {
  if (const uint8_t* h = c.mem->host_page(phys / PAGE_SIZE)) return ram_load<uint32_t>(h + (phys % PAGE_SIZE));
  return c.mem->read(phys, 4);
}

// Set accessed/dirty bits in a paging entry. With vCPUs on parallel threads (interp/smp.h) an
// atomic OR on the RAM bytes: the update is a locked operation (SDM vol.3 8.1.2.1), so a
// guest's XCHG or CMPXCHG of the entry on another CPU is not lost.
inline void pt_set_bits(Cpu& c, uint32_t phys, uint32_t bits) {
  if (c.smp && phys % 4 == 0 && c.mem->kind(phys / PAGE_SIZE) == PAGE_RAM &&
      !c.mem->has_code(phys / PAGE_SIZE)) {
    __atomic_fetch_or(reinterpret_cast<uint32_t*>(c.mem->host_page(phys / PAGE_SIZE) + phys % PAGE_SIZE),
                      bits, __ATOMIC_SEQ_CST);
    return;
  }
  write_physical(c, phys, 4, pt_read(c, phys) | bits);
}

// SDM vol.3 4.6.1 (no SMEP, SMAP or NX on a P6): `rights` is the AND of the U/S and R/W bits
// of the entries used.
inline bool access_allowed(const Cpu& c, uint32_t rights, AccessKind kind, bool user) {
  if (user) {
    if (!(rights & PTE_US)) return false;
    return kind != ACCESS_WRITE || (rights & PTE_RW);
  }
  // Supervisor writes to read-only pages fault only with CR0.WP.
  return kind != ACCESS_WRITE || (rights & PTE_RW) || !(c.cr0 & CR0_WP);
}

inline bool user_allowed(uint32_t rights, AccessKind kind) {
  return (rights & PTE_US) && (kind != ACCESS_WRITE || (rights & PTE_RW));
}

}  // namespace

bool page_walk(Cpu& c, uint32_t lin, AccessKind kind, bool user, PageWalk& w, uint32_t& err) {
  ++c.tlb_counters.walks;
  const bool write = kind == ACCESS_WRITE;
  err = (write ? PF_W : 0) | (user ? PF_U : 0);
  const uint32_t pde_addr = a20_mask(c, (c.cr3 & 0xFFFFF000u) | ((lin >> 20) & 0xFFC));
  const uint32_t pde = pt_read(c, pde_addr);
  if (!(pde & PTE_P)) return false;
  if ((pde & PTE_PS) && (c.cr4 & CR4_PSE)) {
    // 4 MiB page (SDM vol.3 table 4-4). Without PSE-36 bits 21:13 are reserved; bit 12 (PAT)
    // is left alone.
    if (pde & 0x003FE000u) {
      err |= PF_P | PF_RSVD;
      return false;
    }
    if (!access_allowed(c, pde, kind, user)) {
      err |= PF_P;
      return false;
    }
    const uint32_t set = PTE_A | (write ? PTE_D : 0);  // SDM vol.3 4.8
    if ((pde & set) != set) pt_set_bits(c, pde_addr, set);
    w.phys = a20_mask(c, (pde & 0xFFC00000u) | (lin & 0x003FF000u));
    w.global = (pde & PTE_G) && (c.cr4 & CR4_PGE);
    w.large = true;
    w.user_ok = user_allowed(pde, kind);
    return true;
  }
  const uint32_t pte_addr = a20_mask(c, (pde & 0xFFFFF000u) | ((lin >> 10) & 0xFFC));
  const uint32_t pte = pt_read(c, pte_addr);
  if (!(pte & PTE_P)) return false;
  const uint32_t rights = pde & pte;
  if (!access_allowed(c, rights, kind, user)) {
    err |= PF_P;
    return false;
  }
  // Accessed bits only when the translation succeeds (as Bochs does; the SDM allows either).
  if (!(pde & PTE_A)) pt_set_bits(c, pde_addr, PTE_A);
  const uint32_t set = PTE_A | (write ? PTE_D : 0);
  if ((pte & set) != set) {
    // Re-read: with a self-referencing directory the PDE just updated may be this PTE.
    pt_set_bits(c, pte_addr, set);
  }
  w.phys = a20_mask(c, pte & 0xFFFFF000u);
  w.global = (pte & PTE_G) && (c.cr4 & CR4_PGE);
  w.large = false;
  w.user_ok = user_allowed(rights, kind);
  return true;
}

void raise_page_fault(Cpu& c, uint32_t lin, uint32_t err) {
  c.cr2 = lin;
  raise_fault(VEC_PF, err);
}

uint32_t translate_paged(Cpu& c, uint32_t lin, AccessKind kind) {
  PageWalk w;
  uint32_t err;
  if (!page_walk(c, lin, kind, c.cpl == 3, w, err)) raise_page_fault(c, lin, err);
  return w.phys | (lin & 0xFFF);
}

// ---- soft TLB ------------------------------------------------------------------------------

namespace {

// Enter the translation `w` of the page of `lin` in the TLB of `kind` if the page may be
// cached there. Returns the entry or nullptr.
const SoftTlbEntry* fill_entry(Cpu& c, uint32_t lin, AccessKind kind, const PageWalk& w) {
  ++c.tlb_counters.fills;
  const uint32_t phys_page = w.phys / PAGE_SIZE;
  PhysicalMemory& m = *c.mem;
  uint64_t* const misses = c.tlb_counters.misses[kind];
  const PageKind pk = m.kind(phys_page);
  const bool uncached =
      (pk != PAGE_RAM && !(pk == PAGE_ROM && kind != ACCESS_WRITE)) ||
      (kind == ACCESS_WRITE && m.has_code(phys_page)) ||  // SMC check on writes
      // Data watches (DR0-DR3, debugger): every access to a watched page takes the slow path.
      (kind != ACCESS_FETCH && c.dbg.nwatch && debug_page_watched(c, lin));
  if (uncached) {
    ++misses[TLB_MISS_UNCACHED];
    return nullptr;
  }
  SoftTlb& t = c.tlb;
  const unsigned index = tlb_index(lin);
  const unsigned slot = unsigned(kind) * TLB_SIZE + index;
  SoftTlbEntry& e = table(t, kind)[index];
  const uint32_t page_lin = lin & ~0xFFFu;
  if (e.tag != page_lin) {  // else a refill of the entry (an unaligned access: TlbCounters)
    ++misses[miss_cause(t, kind, page_lin)];
    note_gone(t, kind, e, TLB_MISS_CONFLICT);
  }
  e.tag = page_lin;
  e.phys = w.phys;
  e.addend = reinterpret_cast<uintptr_t>(m.host_page(phys_page)) - page_lin;
  uint8_t meta = t.meta[slot] & (TLB_LISTED | TLB_SUP_LISTED);
  if (!(meta & TLB_LISTED)) {
    t.filled[t.nfilled++] = uint16_t(slot);
    meta |= TLB_LISTED;
  }
  if (!w.user_ok && !(meta & TLB_SUP_LISTED)) {
    t.sup[t.nsup++] = uint16_t(slot);
    meta |= TLB_SUP_LISTED;
  }
  if (w.global) meta |= TLB_GLOBAL;
  if (w.large) {
    meta |= TLB_LARGE;
    t.any_large = 1;
  }
  t.meta[slot] = meta;
  return &e;
}

// Translation with paging off: identity with the A20 mask; no page protection.
inline PageWalk identity(const Cpu& c, uint32_t lin) {
  return PageWalk{a20_mask(c, lin & ~0xFFFu), false, false, true};
}

}  // namespace

namespace {

// A miss at CPL 0-2 on a page whose supervisor entry tlb_drop_supervisor set aside, with no
// invalidation since: the entry goes back into its slot (which is empty or holds another
// page: a user page the CPL 3 code filled, which it evicts like a fill) and is listed again
// as supervisor-only. Returns it, or nullptr (walk).
const SoftTlbEntry* take_back(Cpu& c, uint32_t lin, AccessKind kind) {
  SoftTlb& t = c.tlb;
  const unsigned index = tlb_index(lin);
  const unsigned slot = unsigned(kind) * TLB_SIZE + index;
  if (t.stash_gen[slot] != t.stash_generation || t.stash[slot].tag != (lin & ~0xFFFu))
    return nullptr;
  t.stash_gen[slot] = 0;  // taken: only the slot's entry is valid from now on
  SoftTlbEntry& e = table(t, kind)[index];
  note_gone(t, kind, e, TLB_MISS_CONFLICT);
  e = t.stash[slot];
  uint8_t meta = (t.meta[slot] & (TLB_LISTED | TLB_SUP_LISTED)) | t.stash_meta[slot];
  if (!(meta & TLB_LISTED)) {
    t.filled[t.nfilled++] = uint16_t(slot);
    meta |= TLB_LISTED;
  }
  if (!(meta & TLB_SUP_LISTED)) {
    t.sup[t.nsup++] = uint16_t(slot);
    meta |= TLB_SUP_LISTED;
  }
  if (meta & TLB_LARGE) t.any_large = 1;
  t.meta[slot] = meta;
  ++c.tlb_counters.restored;
  return &e;
}

}  // namespace

uint32_t tlb_fill(Cpu& c, uint32_t lin, AccessKind kind, const SoftTlbEntry** entry) {
  if (c.cpl != 3 && c.tlb.stash_generation != 0) {
    if (const SoftTlbEntry* e = take_back(c, lin, kind)) {
      if (entry) *entry = e;
      return e->phys | (lin & 0xFFF);
    }
  }
  PageWalk w;
  if (c.cr0 & CR0_PG) {
    uint32_t err;
    if (!page_walk(c, lin, kind, c.cpl == 3, w, err)) raise_page_fault(c, lin, err);
  } else {
    w = identity(c, lin);
  }
  const SoftTlbEntry* e = fill_entry(c, lin, kind, w);
  if (entry) *entry = e;
  return w.phys | (lin & 0xFFF);
}

bool try_translate(Cpu& c, uint32_t lin, AccessKind kind, uint32_t& phys, uint32_t* err) {
  if (!(c.cr0 & CR0_PG)) {
    phys = a20_mask(c, lin);
    return true;
  }
  const SoftTlbEntry& e = tlb_entry(table(c.tlb, kind), lin);
  if (e.tag == (lin & ~0xFFFu)) {
    phys = e.phys | (lin & 0xFFF);
    return true;
  }
  PageWalk w;
  uint32_t code;
  if (!page_walk(c, lin, kind, c.cpl == 3, w, code)) {
    if (err) *err = code;
    return false;
  }
  fill_entry(c, lin, kind, w);
  phys = w.phys | (lin & 0xFFF);
  return true;
}

void tlb_flush(Cpu& c) {
  ++c.tlb_counters.flushes;
  discard_stash(c.tlb);  // the set-aside supervisor entries may be stale now
  if (c.cache) c.cache->new_generation();  // chain links assume the old linear view
  SoftTlb& t = c.tlb;
  for (unsigned k = 0; k < t.nfilled; ++k) note_gone_slot(t, t.filled[k], TLB_MISS_FLUSH);
  // Every entry, not just the listed ones: this also initialises a zeroed Cpu (reset).
  for (unsigned k = 0; k < TLB_SIZE; ++k) {
    t.read[k].tag = kInvalidTag;
    t.write[k].tag = kInvalidTag;
    t.fetch[k].tag = kInvalidTag;
  }
  std::memset(t.meta, 0, sizeof t.meta);
  t.nfilled = 0;
  t.nsup = 0;
  t.any_large = 0;
}

void tlb_flush_nonglobal(Cpu& c) {
  ++c.tlb_counters.nonglobal_flushes;
  discard_stash(c.tlb);  // the set-aside supervisor entries may be stale now
  // Chain links go; linear jump cache entries of global pages stay (Interpreter::lookup_slow).
  if (c.cache) c.cache->new_address_space();
  SoftTlb& t = c.tlb;
  unsigned kept = 0;
  for (unsigned k = 0; k < t.nfilled; ++k) {
    const unsigned slot = t.filled[k];
    SoftTlbEntry& e = slot_entry(t, slot);
    if ((t.meta[slot] & TLB_GLOBAL) && entry_valid(e)) {
      t.filled[kept++] = uint16_t(slot);
    } else {
      note_gone(t, slot / TLB_SIZE, e, TLB_MISS_CR3);
      e.tag = kInvalidTag;
      t.meta[slot] &= TLB_SUP_LISTED;  // still in `sup` if it was: keep it listed once
    }
  }
  t.nfilled = uint16_t(kept);
}

void tlb_invlpg(Cpu& c, uint32_t lin) {
  ++c.tlb_counters.invlpg;
  discard_stash(c.tlb);  // the set-aside supervisor entries may be stale now
  // Only a page (or 4 MiB page) code was looked up at since the last new generation can hold
  // the target of a chain link or a linear jump cache entry (Interpreter::lookup_slow).
  if (c.cache && c.cache->linear_code_noted(lin)) c.cache->new_generation();
  SoftTlb& t = c.tlb;
  const uint32_t page = lin & ~0xFFFu;
  const unsigned index = tlb_index(lin);
  for (unsigned kind = 0; kind < 3; ++kind) {
    SoftTlbEntry& e = table(t, AccessKind(kind))[index];
    if (e.tag == page) {
      note_gone(t, kind, e, TLB_MISS_INVLPG);
      e.tag = kInvalidTag;
    }
  }
  if (t.any_large) {
    // A 4 MiB translation is one TLB entry on the CPU: drop all our 4 KiB pieces of it.
    for (unsigned k = 0; k < t.nfilled; ++k) {
      const unsigned slot = t.filled[k];
      SoftTlbEntry& e = slot_entry(t, slot);
      if ((t.meta[slot] & TLB_LARGE) && entry_valid(e) && (e.tag >> 22) == (lin >> 22)) {
        note_gone(t, slot / TLB_SIZE, e, TLB_MISS_INVLPG);
        e.tag = kInvalidTag;
      }
    }
  }
}

void tlb_drop_write_page(Cpu& c, uint32_t phys_page) {
  discard_stash(c.tlb);  // a set-aside write entry may map the page
  const uint32_t phys = phys_page * PAGE_SIZE;
  for (SoftTlbEntry& e : c.tlb.write)
    if (e.phys == phys && entry_valid(e)) {
      note_gone(c.tlb, ACCESS_WRITE, e, TLB_MISS_CODE);
      e.tag = kInvalidTag;
    }
}

void tlb_flush_writes(Cpu& c) {
  discard_stash(c.tlb);
  for (SoftTlbEntry& e : c.tlb.write) {
    note_gone(c.tlb, ACCESS_WRITE, e, TLB_MISS_FLUSH);
    e.tag = kInvalidTag;
  }
}

void tlb_drop_supervisor(Cpu& c) {
  // Entries listed here were filled at CPL 0-2 and allow something CPL 3 may not. Dropping
  // them changes no translation, so chain links (made only between blocks of one mode) stay.
  // They are set aside, not forgotten: code at CPL 3 cannot invalidate a TLB entry (MOV CR3,
  // INVLPG and the CR0/CR4 writes are privileged), so unless something else does (a page
  // starting to hold code, a device remapping memory, INVLPG or MOV CR3 back at CPL 0: each
  // moves the stash generation), they stay as valid as they are now. A P6 keeps them in its
  // TLB across user code the same way (SDM vol.3 4.10.2); Linux returns to user mode after
  // every interrupt and system call, and walked again for each kernel page it touched next.
  SoftTlb& t = c.tlb;
  if (t.stash_generation == 0) t.stash_generation = 1;  // a zeroed Cpu
  for (unsigned k = 0; k < t.nsup; ++k) {
    const unsigned slot = t.sup[k];
    SoftTlbEntry& e = slot_entry(t, slot);
    if (entry_valid(e)) {
      t.stash[slot] = e;
      t.stash_meta[slot] = t.meta[slot] & (TLB_GLOBAL | TLB_LARGE);
      t.stash_gen[slot] = t.stash_generation;
      note_gone(t, slot / TLB_SIZE, e, TLB_MISS_USER);
    }
    e.tag = kInvalidTag;
    t.meta[slot] &= ~TLB_SUP_LISTED;
  }
  t.nsup = 0;
}

}  // namespace softcpu
