#include "interp/access.h"

#include "cache/block_cache.h"
#include "interp/memory.h"
#include "interp/tlb.h"

namespace softcpu {

void raise_segment_limit_fault(unsigned seg) { raise_fault(seg == SS ? VEC_SS : VEC_GP, 0); }

static void invalidate_entries(SoftTlbEntry* e) {
  for (unsigned k = 0; k < TLB_SIZE; ++k) e[k].tag = 1;  // never matches an aligned address
}

void tlb_flush(Cpu& c) {
  if (c.cache) c.cache->new_generation();  // chain links assume the old linear view
  invalidate_entries(c.tlb.read);
  invalidate_entries(c.tlb.write);
  invalidate_entries(c.tlb.fetch);
}

void tlb_flush_writes(Cpu& c) { invalidate_entries(c.tlb.write); }

bool tlb_fill(Cpu& c, uint32_t lin, AccessKind kind) {
  uint32_t page_lin = lin & ~0xFFFu;
  uint32_t phys_page = translate(c, page_lin, kind) / PAGE_SIZE;
  PhysicalMemory& m = *c.mem;
  PageKind pk = m.kind(phys_page);
  if (pk != PAGE_RAM && !(pk == PAGE_ROM && kind != ACCESS_WRITE)) return false;
  if (kind == ACCESS_WRITE && m.has_code(phys_page)) return false;  // SMC check on writes
  SoftTlbEntry* table = kind == ACCESS_READ ? c.tlb.read : kind == ACCESS_WRITE ? c.tlb.write
                                                                                 : c.tlb.fetch;
  SoftTlbEntry& e = table[(lin >> 12) % TLB_SIZE];
  e.tag = page_lin;
  e.addend = reinterpret_cast<uintptr_t>(m.host_page(phys_page)) - page_lin;
  return true;
}

uint32_t read_linear_slow(Cpu& c, uint32_t lin, unsigned size) {
  if (((lin & 0xFFF) + size) > PAGE_SIZE) {  // crosses a page: byte by byte, little endian
    uint32_t v = 0;
    for (unsigned k = 0; k < size; ++k) v |= read_linear<1>(c, lin + k) << (8 * k);
    return v;
  }
  if (tlb_fill(c, lin, ACCESS_READ)) {
    const SoftTlbEntry& e = c.tlb.read[(lin >> 12) % TLB_SIZE];
    return size == 1 ? load_host<1>(e.addend + lin)
                     : size == 2 ? load_host<2>(e.addend + lin) : load_host<4>(e.addend + lin);
  }
  return c.mem->read(translate(c, lin, ACCESS_READ), size);
}

void probe_write_linear(Cpu&, uint32_t, unsigned) {
  // Without paging a write to a valid linear address cannot fault.
}

void write_linear_slow(Cpu& c, uint32_t lin, unsigned size, uint32_t v) {
  if (((lin & 0xFFF) + size) > PAGE_SIZE) {
    for (unsigned k = 0; k < size; ++k) write_linear<1>(c, lin + k, v >> (8 * k));
    return;
  }
  if (tlb_fill(c, lin, ACCESS_WRITE)) {
    const SoftTlbEntry& e = c.tlb.write[(lin >> 12) % TLB_SIZE];
    if (size == 1) store_host<1>(e.addend + lin, v);
    else if (size == 2) store_host<2>(e.addend + lin, v);
    else store_host<4>(e.addend + lin, v);
    return;
  }
  uint32_t phys = translate(c, lin, ACCESS_WRITE);
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
  if (c.cache->invalidate(phys, size)) c.stop = 1;
  m.set_code_lines(page, c.cache->code_lines(page));
}

}  // namespace softcpu
