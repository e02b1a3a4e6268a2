#include "interp/segments.h"

#include <initializer_list>

#include "interp/access.h"
#include "interp/fault.h"

namespace softcpu {

bool protected_mode(const Cpu& c) { return (c.cr0 & CR0_PE) && !(c.eflags & VM); }
bool code32(const Cpu& c) { return c.seg[CS].attrs & SA_DB; }

void refresh_segment_ranges(const Cpu& c, SegmentCache& s) {
  const bool pm = protected_mode(c);
  if (pm && !s.valid) {  // null selector: every access faults
    s.rd_lo = s.wr_lo = 1;
    s.rd_hi = s.wr_hi = 0;
    return;
  }
  uint32_t lo = 0, hi = s.limit;
  const bool code = s.attrs & SA_CODE;
  if (!code && (s.attrs & SA_EXPAND_DOWN)) {  // SDM vol.3 3.4.5.1: offsets limit+1 .. top
    lo = s.limit + 1;
    hi = (s.attrs & SA_DB) ? 0xFFFFFFFFu : 0xFFFFu;
  }
  s.rd_lo = s.wr_lo = lo;
  s.rd_hi = s.wr_hi = hi;
  if (!pm) return;  // real mode and V86: no type checks
  bool readable = !code || (s.attrs & SA_WRITABLE);  // code: bit 1 = readable
  bool writable = !code && (s.attrs & SA_WRITABLE);
  if (!readable) { s.rd_lo = 1; s.rd_hi = 0; }
  if (!writable) { s.wr_lo = 1; s.wr_hi = 0; }
}

void refresh_all_segment_ranges(Cpu& c) {
  for (auto& s : c.seg) refresh_segment_ranges(c, s);
}

void update_mode(Cpu& c) {
  // CPL changes only when CS is loaded (load_code_segment sets it) or with the mode: it is 0
  // in real mode and stays 0 after CR0.PE is set until CS is reloaded; V86 runs at 3.
  if (!(c.cr0 & CR0_PE)) c.cpl = 0;
  else if (c.eflags & VM) c.cpl = 3;
  // Block key: everything that changes how bytes decode or how a block behaves.
  c.mode_key = (code32(c) ? 1u : 0u) | (stack32(c) ? 2u : 0u) | (uint32_t(c.cpl) << 2) |
               ((c.cr0 & CR0_PE) ? 16u : 0u) | ((c.eflags & VM) ? 32u : 0u);
}

void load_segment_real(Cpu& c, unsigned seg, uint16_t selector) {
  SegmentCache& s = c.seg[seg];
  s.selector = selector;
  s.base = uint32_t(selector) << 4;
  s.valid = 1;
  if (c.eflags & VM) {  // V86: limit 64 KiB, data attributes (SDM vol.3 20.2)
    s.limit = 0xFFFF;
    s.attrs = SA_P | SA_S | SA_WRITABLE | SA_ACCESSED | (3 << SA_DPL_SHIFT) |
              (seg == CS ? SA_CODE : 0);
  }
  refresh_segment_ranges(c, s);
  if (seg == CS || seg == SS) update_mode(c);
}

uint64_t read_descriptor(Cpu& c, uint16_t selector) {
  uint64_t d;
  if (!fetch_descriptor(c, selector, d)) raise_gp(selector & ~3u);
  return d;
}

void cache_from_descriptor(const Cpu& c, SegmentCache& s, uint16_t selector, uint64_t d) {
  uint32_t lo = uint32_t(d), hi = uint32_t(d >> 32);
  s.selector = selector;
  s.base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000u);
  uint32_t limit = (lo & 0xFFFF) | (hi & 0xF0000u);
  s.attrs = uint16_t((hi >> 8) & 0xF0FF);
  s.limit = (s.attrs & SA_G) ? (limit << 12) | 0xFFF : limit;
  s.valid = 1;
  refresh_segment_ranges(c, s);
}

void mark_accessed(Cpu& c, uint16_t selector, uint64_t desc) {
  if (desc & (1ull << 40)) return;
  uint32_t table = (selector & 4) ? c.ldtr.base : c.gdtr.base;
  uint32_t addr = table + (selector & ~7u) + 5;
  write_linear_system<1>(c, addr, uint32_t(desc >> 40) | 1);
}

void load_segment_protected(Cpu& c, unsigned seg, uint16_t selector) {
  const uint16_t err = selector & ~3u;
  const unsigned rpl = selector & 3;
  if ((selector & ~3u) == 0) {  // null selector
    if (seg == SS) raise_gp(0);
    load_null_segment(c, seg, selector);
    return;
  }
  uint64_t d = read_descriptor(c, selector);
  uint16_t attrs = uint16_t((d >> 40) & 0xF0FF);
  unsigned dpl = (attrs >> SA_DPL_SHIFT) & 3;
  bool is_code = attrs & SA_CODE;
  if (!(attrs & SA_S)) raise_gp(err);  // system descriptor
  if (seg == SS) {
    // SDM vol.2 MOV: SS needs a writable data segment with RPL = DPL = CPL.
    if (is_code || !(attrs & SA_WRITABLE) || rpl != c.cpl || dpl != c.cpl) raise_gp(err);
    if (!(attrs & SA_P)) raise_fault(VEC_SS, err);
  } else {
    // Data or readable code; for data and non-conforming code, DPL >= max(CPL, RPL).
    if (is_code && !(attrs & SA_WRITABLE)) raise_gp(err);
    bool conforming = is_code && (attrs & SA_EXPAND_DOWN);
    if (!conforming && (rpl > dpl || c.cpl > dpl)) raise_gp(err);
    if (!(attrs & SA_P)) raise_fault(VEC_NP, err);
  }
  mark_accessed(c, selector, d);
  cache_from_descriptor(c, c.seg[seg], selector, d | (1ull << 40));
  if (seg == SS) update_mode(c);
}

void load_segment(Cpu& c, unsigned seg, uint16_t selector) {
  if (protected_mode(c)) load_segment_protected(c, seg, selector);
  else load_segment_real(c, seg, selector);
}

void load_code_segment(Cpu& c, uint16_t selector, uint8_t new_cpl) {
  if (!protected_mode(c)) {
    load_segment_real(c, CS, selector);
    return;
  }
  const uint16_t err = selector & ~3u;
  if (err == 0) raise_gp(0);
  uint64_t d = read_descriptor(c, selector);
  uint16_t attrs = uint16_t((d >> 40) & 0xF0FF);
  if (!(attrs & SA_S) || !(attrs & SA_CODE)) raise_gp(err);
  unsigned dpl = (attrs >> SA_DPL_SHIFT) & 3;
  bool conforming = attrs & SA_EXPAND_DOWN;
  if (conforming ? dpl > new_cpl : dpl != new_cpl) raise_gp(err);
  if (!(attrs & SA_P)) raise_fault(VEC_NP, err);
  mark_accessed(c, selector, d);
  cache_from_descriptor(c, c.seg[CS], uint16_t((selector & ~3u) | new_cpl), d | (1ull << 40));
  c.cpl = new_cpl;
  update_mode(c);
}

bool fetch_descriptor(Cpu& c, uint16_t selector, uint64_t& desc) {
  uint32_t base, limit;
  if (selector & 4) {
    if (!c.ldtr.valid) return false;
    base = c.ldtr.base;
    limit = c.ldtr.limit;
  } else {
    base = c.gdtr.base;
    limit = c.gdtr.limit;
  }
  uint32_t off = selector & ~7u;
  if (off + 7 > limit) return false;
  uint32_t lo = read_linear_system<4>(c, base + off);
  uint32_t hi = read_linear_system<4>(c, base + off + 4);
  desc = (uint64_t(hi) << 32) | lo;
  return true;
}

void set_tss_busy(Cpu& c, uint16_t selector, bool busy) {
  const uint32_t addr = c.gdtr.base + (selector & ~7u) + 5;
  uint32_t b = read_linear_system<1>(c, addr);
  b = busy ? (b | 2) : (b & ~2u);
  write_linear_system<1>(c, addr, b);
}

void commit_code_segment(Cpu& c, uint16_t selector, uint64_t desc, uint8_t new_cpl) {
  mark_accessed(c, selector, desc);
  cache_from_descriptor(c, c.seg[CS], uint16_t((selector & ~3u) | new_cpl), desc | (1ull << 40));
  c.cpl = new_cpl;
  update_mode(c);
}

void commit_segment(Cpu& c, unsigned seg, uint16_t selector, uint64_t desc) {
  mark_accessed(c, selector, desc);
  cache_from_descriptor(c, c.seg[seg], selector, desc | (1ull << 40));
  if (seg == SS) update_mode(c);
}

void load_null_segment(Cpu& c, unsigned seg, uint16_t selector) {
  SegmentCache& s = c.seg[seg];
  s.selector = selector;
  s.valid = 0;
  s.base = 0;
  s.limit = 0;
  s.attrs = 0;
  refresh_segment_ranges(c, s);
}

void invalidate_segments_for_cpl(Cpu& c) {
  for (unsigned seg : {ES, DS, FS, GS}) {
    SegmentCache& s = c.seg[seg];
    if (!s.valid) continue;
    const bool code = s.attrs & SA_CODE;
    const bool conforming = code && (s.attrs & SA_EXPAND_DOWN);
    const unsigned dpl = (s.attrs >> SA_DPL_SHIFT) & 3;
    if (!conforming && dpl < c.cpl) load_null_segment(c, seg, 0);
  }
}

void check_stack_frame(Cpu& c, const SegmentCache& ss, uint32_t sp, unsigned w, unsigned n,
                       uint32_t err) {
  const uint32_t m = (ss.attrs & SA_DB) ? 0xFFFFFFFFu : 0xFFFFu;
  for (unsigned k = 1; k <= n; ++k) {
    const uint32_t off = (sp - k * w) & m;
    if (!segment_write_ok(ss, off, w)) raise_fault(VEC_SS, err);
  }
  for (unsigned k = 1; k <= n; ++k) probe_write_linear(c, ss.base + ((sp - k * w) & m), w);
}

uint32_t write_stack_frame(Cpu& c, const SegmentCache& ss, uint32_t sp, unsigned w,
                           const uint32_t* vals, unsigned n) {
  const uint32_t m = (ss.attrs & SA_DB) ? 0xFFFFFFFFu : 0xFFFFu;
  for (unsigned k = 0; k < n; ++k) {
    sp = (sp - w) & m;
    if (w == 4) write_linear<4>(c, ss.base + sp, vals[k]);
    else write_linear<2>(c, ss.base + sp, vals[k]);
  }
  return sp;
}

}  // namespace softcpu
