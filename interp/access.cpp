#include "interp/access.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "cache/block_cache.h"
#include "interp/debug.h"
#include "interp/memory.h"
#include "interp/paging.h"
#include "interp/smp.h"
#include "interp/tlb.h"

namespace softcpu {

#if SOFTCPU_DEBUG_CHECKS
void check_tlb_host(const Cpu& c, uintptr_t host, uint32_t lin, unsigned size) {
  if (c.mem->owns_host(reinterpret_cast<const void*>(host), size)) return;
  // A locked instruction running against its scratch copy (interp/ops_atomic.cpp).
  if (c.smp && host - uintptr_t(c.smp->scratch) < sizeof c.smp->scratch) return;
  std::fprintf(stderr, "softcpu: internal error: the soft TLB mapped linear %08x (%u bytes) "
               "to host %#lx, outside guest RAM and ROM\n", lin, size, (unsigned long)host);
  std::abort();
}
#endif

uint32_t read_linear_slow(Cpu& c, uint32_t lin, unsigned size) {
  ++c.tlb_counters.slow_accesses;
  if (((lin & 0xFFF) + size) > PAGE_SIZE) {  // crosses a page: byte by byte, little endian
    ++c.tlb_counters.page_crossings;
    uint32_t v = 0;
    for (unsigned k = 0; k < size; ++k) v |= read_linear<1>(c, lin + k) << (8 * k);
    return v;
  }
  // An unaligned access within a page whose entry is there: only the fast path's alignment
  // test sent it here (interp/access.h tlb_hit), so no walk (it walked every time before).
  const SoftTlbEntry& hit = tlb_entry(c.tlb.read, lin);
  if (hit.tag == (lin & ~0xFFFu)) {
    ++c.tlb_counters.unaligned;
    SOFTCPU_CHECK_TLB_HOST(c, hit.addend + lin, lin, size);
    return size == 1 ? load_host<1>(hit.addend + lin)
                     : size == 2 ? load_host<2>(hit.addend + lin) : load_host<4>(hit.addend + lin);
  }
  const SoftTlbEntry* e;
  const uint32_t phys = tlb_fill(c, lin, ACCESS_READ, &e);  // may raise #PF
  if (SOFTCPU_UNLIKELY(c.dbg.nwatch)) debug_check_access(c, lin, size, false);
  if (e) {
    SOFTCPU_CHECK_TLB_HOST(c, e->addend + lin, lin, size);
    return size == 1 ? load_host<1>(e->addend + lin)
                     : size == 2 ? load_host<2>(e->addend + lin) : load_host<4>(e->addend + lin);
  }
  return c.mem->read(phys, size);
}

// The limit is checked here again: read_mem skips the check in a segment that allows every
// offset (reads_anywhere), where only an access wrapping past 4 GiB fails it, and only
// unaligned accesses, which always come here, can wrap.
uint32_t read_mem_slow(Cpu& c, unsigned seg, uint32_t off, unsigned size) {
  check_read(c, seg, off, size);
  return read_linear_slow(c, c.seg[seg].base + off, size);
}

void write_mem_slow(Cpu& c, unsigned seg, uint32_t off, unsigned size, uint32_t v) {
  check_write(c, seg, off, size);
  write_linear_slow(c, c.seg[seg].base + off, size, v);
}

void probe_write_linear(Cpu& c, uint32_t lin, unsigned size) {
  if (!(c.cr0 & CR0_PG)) return;  // without paging a write to a valid linear address can't fault
  // Each page the range touches must be writable; a miss walks (and fills) now, so the
  // writes that follow cannot fault. (Dirty bits may thus be set a little early.)
  const uint32_t last_page = (lin + size - 1) & ~0xFFFu;
  for (uint32_t a = lin;; a = (a & ~0xFFFu) + PAGE_SIZE) {
    if (!tlb_hit(tlb_entry(c.tlb.write, a), a, 1)) tlb_fill(c, a, ACCESS_WRITE);
    if ((a & ~0xFFFu) == last_page) break;
  }
}

void write_physical(Cpu& c, uint32_t phys, unsigned size, uint32_t v) {
  PhysicalMemory& m = *c.mem;
  m.write(phys, size, v);
  uint32_t page = phys / PAGE_SIZE;
  uint64_t lines = m.code_lines(page);
  if (!lines) return;
  unsigned first = (phys % PAGE_SIZE) >> CODE_LINE_SHIFT;
  unsigned last = ((phys + size - 1) % PAGE_SIZE) >> CODE_LINE_SHIFT;
  uint64_t touched = (1ull << first) | (1ull << last);
  if (!(lines & touched)) return;
  // Self-modifying code: drop the blocks holding these bytes; the running block stops
  // after this instruction so the next one is decoded afresh.
  if (SOFTCPU_UNLIKELY(c.smp != nullptr)) {  // threads on: other CPUs' blocks too
    c.smp->code_written(phys, size);
    if (!(m.cpu_code_lines(c.smp->index, page) & touched)) return;
  }
  if (c.cache->invalidate(phys, size)) c.stop = 1;
  note_code_lines(c, page);
}

void note_code_lines(Cpu& c, uint32_t page) {
  c.mem->note_code_lines(c.smp ? c.smp->index : 0, page, c.cache->code_lines(page));
}

void drop_code(Cpu& c, uint32_t phys, uint32_t len) {
  if (len == 0 || !c.cache) return;
  if (uint64_t(phys) + len > (1ull << 32)) {
    // The range wraps at 4 GiB, as the write did (a PRD entry at the top of the address space;
    // PhysicalMemory::write_bytes wraps the same way): the bytes past 4 GiB are at 0. Without
    // the split the page index ran past the code-line table (fuzz_platform, ASan).
    const uint32_t below = uint32_t((1ull << 32) - phys);
    drop_code(c, 0, len - below);
    len = below;
  }
  PhysicalMemory& m = *c.mem;
  const uint64_t end = uint64_t(phys) + len;  // exclusive; at most 4 GiB
  for (uint64_t page = phys / PAGE_SIZE; page * PAGE_SIZE < end; ++page) {
    if (!m.has_code(uint32_t(page))) continue;
    const uint64_t lo = std::max<uint64_t>(phys, page * PAGE_SIZE);
    const uint64_t hi = std::min<uint64_t>(end, (page + 1) * PAGE_SIZE);
    c.cache->invalidate(uint32_t(lo), uint32_t(hi - lo));
    note_code_lines(c, uint32_t(page));
  }
}

void write_linear_slow(Cpu& c, uint32_t lin, unsigned size, uint32_t v) {
  ++c.tlb_counters.slow_accesses;
  if (((lin & 0xFFF) + size) > PAGE_SIZE) {
    ++c.tlb_counters.page_crossings;
    // Both pages must be writable before the first byte is written (no partial writes).
    probe_write_linear(c, lin, size);
    for (unsigned k = 0; k < size; ++k) write_linear<1>(c, lin + k, v >> (8 * k));
    return;
  }
  const SoftTlbEntry& hit = tlb_entry(c.tlb.write, lin);
  if (hit.tag == (lin & ~0xFFFu)) {  // unaligned within a page that has an entry (above)
    ++c.tlb_counters.unaligned;
    SOFTCPU_CHECK_TLB_HOST(c, hit.addend + lin, lin, size);
    if (size == 1) store_host<1>(hit.addend + lin, v);
    else if (size == 2) store_host<2>(hit.addend + lin, v);
    else store_host<4>(hit.addend + lin, v);
    return;
  }
  const SoftTlbEntry* e;
  const uint32_t phys = tlb_fill(c, lin, ACCESS_WRITE, &e);  // may raise #PF
  if (SOFTCPU_UNLIKELY(c.dbg.nwatch)) debug_check_access(c, lin, size, true);
  if (e) {
    SOFTCPU_CHECK_TLB_HOST(c, e->addend + lin, lin, size);
    if (size == 1) store_host<1>(e->addend + lin, v);
    else if (size == 2) store_host<2>(e->addend + lin, v);
    else store_host<4>(e->addend + lin, v);
    return;
  }
  write_physical(c, phys, size, v);
}

// Supervisor-rights access at CPL 3: walk without the TLB (paging on), byte by byte across
// pages so each byte's page is checked.
static uint32_t system_phys(Cpu& c, uint32_t lin, AccessKind kind) {
  if (!(c.cr0 & CR0_PG)) return a20_mask(c, lin);
  PageWalk w;
  uint32_t err;
  if (!page_walk(c, lin, kind, false, w, err)) raise_page_fault(c, lin, err);
  return w.phys | (lin & 0xFFF);
}

uint32_t read_system_slow(Cpu& c, uint32_t lin, unsigned size) {
  if (((lin & 0xFFF) + size) > PAGE_SIZE) {
    uint32_t v = 0;
    for (unsigned k = 0; k < size; ++k) v |= read_system_slow(c, lin + k, 1) << (8 * k);
    return v;
  }
  return c.mem->read(system_phys(c, lin, ACCESS_READ), size);
}

void write_system_slow(Cpu& c, uint32_t lin, unsigned size, uint32_t v) {
  if (((lin & 0xFFF) + size) > PAGE_SIZE) {
    system_phys(c, lin, ACCESS_WRITE);  // both pages writable before the first byte
    system_phys(c, (lin | 0xFFF) + 1, ACCESS_WRITE);
    for (unsigned k = 0; k < size; ++k) write_system_slow(c, lin + k, 1, v >> (8 * k));
    return;
  }
  write_physical(c, system_phys(c, lin, ACCESS_WRITE), size, v);
}

}  // namespace softcpu
