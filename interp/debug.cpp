// Debugger breakpoints/watchpoints and the guest's DR0-DR7 share one data-watch list and one
// per-instruction check (interp/interpreter.cpp at_boundary).
#include "interp/debug.h"

#include <algorithm>

#include "interp/events.h"
#include "interp/tlb.h"

namespace softcpu {

namespace {

// DR7 fields of breakpoint n (SDM vol.3 17.2.4): L/G enable, R/W and LEN.
inline bool dr_enabled(const Cpu& c, unsigned n) { return (c.dr[7] >> (2 * n)) & 3; }
inline unsigned dr_rw(const Cpu& c, unsigned n) { return (c.dr[7] >> (16 + 4 * n)) & 3; }
inline uint32_t dr_len(const Cpu& c, unsigned n) {
  switch ((c.dr[7] >> (18 + 4 * n)) & 3) {
    case 0: return 1;
    case 1: return 2;
    case 2: return 8;  // undefined on a P6; 8 bytes on later CPUs
    default: return 4;
  }
}

inline bool overlaps(const WatchRange& w, uint32_t lo, uint32_t hi) {
  return lo <= w.hi && w.lo <= hi;
}

}  // namespace

void debug_rebuild(Cpu& c) {
  DebugPoints& d = c.dbg;
  d.nwatch = 0;
  uint8_t exec = d.nbp != 0;
  for (unsigned n = 0; n < 4; ++n) {
    if (!dr_enabled(c, n)) continue;
    switch (dr_rw(c, n)) {
      case 0: exec = 1; break;  // instruction breakpoint (LEN is 1)
      case 1:
      case 3: {                 // data write, data read/write: the address is LEN-aligned
        const uint32_t len = dr_len(c, n);
        const uint32_t lo = c.dr[n] & ~(len - 1);
        d.watch[d.nwatch++] = {lo, lo + len - 1, uint8_t(dr_rw(c, n) == 1 ? WATCH_WRITE
                                                                          : WATCH_ACCESS),
                               uint8_t(n)};
        break;
      }
      default: break;  // R/W = 10: I/O breakpoints, checked by execute_trapped
    }
  }
  for (unsigned k = 0; k < d.nwp; ++k) d.watch[d.nwatch++] = d.wp[k];
  c.exec_bp_active = exec;
  c.events = 1;
  tlb_flush(c);  // refill: watched pages must not be entered (paging.cpp fill_entry)
}

bool debug_page_watched(const Cpu& c, uint32_t lin) {
  const uint32_t lo = lin & ~0xFFFu, hi = lo + 0xFFF;
  for (unsigned k = 0; k < c.dbg.nwatch; ++k)
    if (overlaps(c.dbg.watch[k], lo, hi)) return true;
  return false;
}

void debug_check_access(Cpu& c, uint32_t lin, unsigned size, bool write) {
  const uint32_t hi = lin + size - 1;
  const uint8_t want = write ? WATCH_WRITE : WATCH_READ;
  for (unsigned k = 0; k < c.dbg.nwatch; ++k) {
    const WatchRange& w = c.dbg.watch[k];
    if (!(w.kind & want) || !overlaps(w, lin, hi)) continue;
    if (w.source < 4) {
      c.db_trap |= 1u << w.source;
    } else if (c.debug_pending.kind == HIT_NONE) {
      c.debug_pending = {HIT_WATCHPOINT, WatchKind(want), std::max(lin, w.lo)};
    }
    c.stop = 1;  // the trap is taken after this instruction
    c.events = 1;
  }
}

uint32_t debug_exec_breakpoints(const Cpu& c, uint32_t lin) {
  uint32_t bits = 0;
  for (unsigned n = 0; n < 4; ++n)
    if (dr_enabled(c, n) && dr_rw(c, n) == 0 && c.dr[n] == lin) bits |= 1u << n;
  return bits;
}

uint32_t debug_io_breakpoints(const Cpu& c, uint16_t port, unsigned size) {
  if (!(c.cr4 & CR4_DEBUG_EXT)) return 0;  // without DE, R/W = 10 is undefined
  uint32_t bits = 0;
  for (unsigned n = 0; n < 4; ++n) {
    if (!dr_enabled(c, n) || dr_rw(c, n) != 2) continue;
    const uint32_t len = dr_len(c, n);
    const uint32_t lo = c.dr[n] & ~(len - 1);
    if (overlaps({lo, lo + len - 1, 0, 0}, port, uint32_t(port) + size - 1)) bits |= 1u << n;
  }
  return bits;
}

bool debug_breakpoint_at(const Cpu& c, uint32_t lin) {
  for (unsigned k = 0; k < c.dbg.nbp; ++k)
    if (c.dbg.bp[k] == lin) return true;
  return false;
}

bool debug_add_breakpoint(Cpu& c, uint32_t linear) {
  DebugPoints& d = c.dbg;
  if (d.nbp == MAX_DEBUG_POINTS || debug_breakpoint_at(c, linear)) return false;
  d.bp[d.nbp++] = linear;
  debug_rebuild(c);
  return true;
}

bool debug_remove_breakpoint(Cpu& c, uint32_t linear) {
  DebugPoints& d = c.dbg;
  for (unsigned k = 0; k < d.nbp; ++k) {
    if (d.bp[k] != linear) continue;
    d.bp[k] = d.bp[--d.nbp];
    debug_rebuild(c);
    return true;
  }
  return false;
}

bool debug_add_watchpoint(Cpu& c, uint32_t linear, uint32_t len, WatchKind kind) {
  DebugPoints& d = c.dbg;
  if (d.nwp == MAX_DEBUG_POINTS || len == 0) return false;
  d.wp[d.nwp++] = {linear, linear + len - 1, uint8_t(kind), DEBUGGER_WATCH};
  debug_rebuild(c);
  return true;
}

bool debug_remove_watchpoint(Cpu& c, uint32_t linear, uint32_t len, WatchKind kind) {
  DebugPoints& d = c.dbg;
  for (unsigned k = 0; k < d.nwp; ++k) {
    const WatchRange& w = d.wp[k];
    if (w.lo != linear || w.hi != linear + len - 1 || w.kind != kind) continue;
    d.wp[k] = d.wp[--d.nwp];
    debug_rebuild(c);
    return true;
  }
  return false;
}

void debug_clear_all(Cpu& c) {
  c.dbg.nbp = 0;
  c.dbg.nwp = 0;
  c.debug_pending = {};
  debug_rebuild(c);
}

}  // namespace softcpu
