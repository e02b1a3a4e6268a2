#include "monitor/cpu_debug_target.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "cache/block_cache.h"
#include "interp/fault.h"
#include "interp/flags.h"
#include "interp/memory.h"
#include "interp/paging.h"
#include "interp/segments.h"
#include "interp/tlb.h"
#include "monitor/i386_target_xml.h"

namespace softcpu {

namespace {

// gdb's segment register order (cs ss ds es fs gs) in our SegReg numbering.
constexpr SegReg kGdbSegOrder[6] = {CS, SS, DS, ES, FS, GS};

// errno-style codes for `E xx` replies.
constexpr int ERR_PERM = 0x01;   // read-only register
constexpr int ERR_INVAL = 0x16;  // the value would fault (bad selector)

uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
void put_le32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v >> 16);
  p[3] = uint8_t(v >> 24);
}

WatchKind watch_kind(GdbBreakKind k) {
  switch (k) {
    case GdbBreakKind::WATCH_READ: return WATCH_READ;
    case GdbBreakKind::WATCH_ACCESS: return WATCH_ACCESS;
    default: return WATCH_WRITE;
  }
}

}  // namespace

CpuDebugTarget::CpuDebugTarget(Cpu& cpu, Hooks hooks, bool start_stopped)
    : cpu_(cpu), hooks_(std::move(hooks)),
      state_(start_stopped ? RunState::STOPPED : RunState::FREE) {}

const GdbTargetDescription& CpuDebugTarget::description() const {
  return i386_target_description();
}

bool CpuDebugTarget::pc_is_linear() const { return !protected_mode(cpu_); }

// Physical register number of ST(i): TOP is FSW bits 11-13 (SDM vol.1 8.1.2).
static unsigned st_physical(const FpuState& f, unsigned i) { return ((f.sw >> 11) + i) & 7; }

bool CpuDebugTarget::read_register(unsigned r, uint8_t* out) {
  Cpu& c = cpu_;
  if (r >= GDB_ST0 && r <= GDB_ST7) {
    const Float80& st = c.fpu.st[st_physical(c.fpu, r - GDB_ST0)];
    std::memcpy(out, &st.mant, 8);  // the 80-bit format, little-endian (host is x86)
    out[8] = uint8_t(st.se);
    out[9] = uint8_t(st.se >> 8);
    return true;
  }
  uint32_t v;
  if (r <= GDB_EDI) {
    v = c.regs[r];
  } else if (r >= GDB_CS && r <= GDB_GS) {
    v = c.seg[kGdbSegOrder[r - GDB_CS]].selector;
  } else if (r >= GDB_CS_BASE && r <= GDB_GS_BASE) {
    v = c.seg[kGdbSegOrder[r - GDB_CS_BASE]].base;
  } else {
    switch (r) {
      case GDB_EIP: v = pc_is_linear() ? c.seg[CS].base + c.eip : c.eip; break;
      case GDB_EFLAGS: v = read_eflags(c); break;
      case GDB_FCTRL: v = c.fpu.cw; break;
      case GDB_FSTAT: v = c.fpu.sw; break;
      case GDB_FTAG: v = c.fpu.tw; break;
      case GDB_FISEG: v = c.fpu.fcs; break;
      case GDB_FIOFF: v = c.fpu.fip; break;
      case GDB_FOSEG: v = c.fpu.fds; break;
      case GDB_FOOFF: v = c.fpu.fdp; break;
      case GDB_FOP: v = c.fpu.fop; break;
      case GDB_CR0: v = c.cr0; break;
      case GDB_CR2: v = c.cr2; break;
      case GDB_CR3: v = c.cr3; break;
      case GDB_CR4: v = c.cr4; break;
      case GDB_GDTR_BASE: v = c.gdtr.base; break;
      case GDB_GDTR_LIMIT: v = c.gdtr.limit; break;
      case GDB_IDTR_BASE: v = c.idtr.base; break;
      case GDB_IDTR_LIMIT: v = c.idtr.limit; break;
      case GDB_LDTR: v = c.ldtr.selector; break;
      case GDB_TR: v = c.tr.selector; break;
      default: return false;
    }
  }
  put_le32(out, v);
  return true;
}

bool CpuDebugTarget::write_register(unsigned r, const uint8_t* in, int* err) {
  Cpu& c = cpu_;
  if (r >= GDB_ST0 && r <= GDB_ST7) {
    Float80& st = c.fpu.st[st_physical(c.fpu, r - GDB_ST0)];
    std::memcpy(&st.mant, in, 8);
    st.se = uint16_t(in[8] | in[9] << 8);
    return true;
  }
  const uint32_t v = le32(in);
  if (r <= GDB_EDI) {
    c.regs[r] = v;
    return true;
  }
  if (r >= GDB_CS && r <= GDB_GS) {
    const SegReg s = kGdbSegOrder[r - GDB_CS];
    const uint16_t sel = uint16_t(v);
    if (sel == c.seg[s].selector) return true;  // `G` rewrites every register unchanged
    if (!protected_mode(c)) {
      load_segment_real(c, s, sel);  // base = selector * 16
      update_mode(c);
      return true;
    }
    // Protected mode: a new CS needs a far transfer's checks and a new CPL; refuse it.
    // Data and stack segments are loaded with the guest's own checks.
    if (s == CS) {
      *err = ERR_PERM;
      return false;
    }
    try {
      load_segment_protected(c, s, sel);
    } catch (const GuestFault&) {
      *err = ERR_INVAL;
      return false;
    }
    update_mode(c);
    return true;
  }
  switch (r) {
    case GDB_EIP: c.eip = pc_is_linear() ? v - c.seg[CS].base : v; return true;
    case GDB_EFLAGS:
      materialize_flags(c);
      c.eflags = v | 2u;
      update_mode(c);  // VM may have changed
      return true;
    case GDB_FCTRL: c.fpu.cw = uint16_t(v); return true;
    case GDB_FSTAT: c.fpu.sw = uint16_t(v); return true;
    case GDB_FTAG: c.fpu.tw = uint16_t(v); return true;
    case GDB_FISEG: c.fpu.fcs = uint16_t(v); return true;
    case GDB_FIOFF: c.fpu.fip = v; return true;
    case GDB_FOSEG: c.fpu.fds = uint16_t(v); return true;
    case GDB_FOOFF: c.fpu.fdp = v; return true;
    case GDB_FOP: c.fpu.fop = uint16_t(v & 0x7FF); return true;
    default: break;
  }
  // The system feature is read-only: control registers and descriptor tables change the
  // TLB, the block cache keys and the mode, which only the guest's own instructions handle.
  // Writing back the current value (as `G` does) is accepted.
  uint8_t cur[4];
  if (r < GDB_REG_COUNT && read_register(r, cur) && le32(cur) == v) return true;
  *err = ERR_PERM;
  return false;
}

bool CpuDebugTarget::debug_translate(uint32_t lin, uint32_t& phys) const {
  const Cpu& c = cpu_;
  if (!(c.cr0 & CR0_PG)) {
    phys = a20_mask(c, lin);
    return true;
  }
  // Two-level walk (SDM vol.3 4.3), reading the tables without setting A/D bits.
  PhysicalMemory& mem = *c.mem;
  uint32_t pde;
  mem.read_bytes(a20_mask(c, (c.cr3 & ~0xFFFu) + (lin >> 22) * 4), &pde, 4);
  if (!(pde & PTE_P)) return false;
  if ((pde & PTE_PS) && (c.cr4 & CR4_PSE)) {
    phys = a20_mask(c, (pde & 0xFFC00000u) | (lin & 0x3FFFFFu));
    return true;
  }
  uint32_t pte;
  mem.read_bytes(a20_mask(c, (pde & ~0xFFFu) + ((lin >> 12) & 0x3FF) * 4), &pte, 4);
  if (!(pte & PTE_P)) return false;
  phys = a20_mask(c, (pte & ~0xFFFu) | (lin & 0xFFFu));
  return true;
}

size_t CpuDebugTarget::read_memory(uint32_t addr, uint8_t* out, size_t len) {
  size_t done = 0;
  while (done < len) {
    const uint32_t lin = addr + uint32_t(done);
    uint32_t phys;
    if (!debug_translate(lin, phys)) break;
    // MMIO reads as 0xFF here: a debugger read must not have device side effects.
    const size_t n = std::min<size_t>(len - done, PAGE_SIZE - (lin & 0xFFF));
    cpu_.mem->read_bytes(phys, out + done, uint32_t(n));
    done += n;
  }
  return done;
}

size_t CpuDebugTarget::write_memory(uint32_t addr, const uint8_t* in, size_t len) {
  size_t done = 0;
  while (done < len) {
    const uint32_t lin = addr + uint32_t(done);
    uint32_t phys;
    if (!debug_translate(lin, phys)) break;
    const size_t n = std::min<size_t>(len - done, PAGE_SIZE - (lin & 0xFFF));
    cpu_.mem->write_bytes(phys, in + done, uint32_t(n));
    drop_code(cpu_, phys, uint32_t(n));  // no block is running now
    done += n;
  }
  return done;
}

bool CpuDebugTarget::insert_breakpoint(GdbBreakKind kind, uint32_t addr, uint32_t len) {
  if (kind == GdbBreakKind::SOFTWARE || kind == GdbBreakKind::HARDWARE)
    return debug_add_breakpoint(cpu_, addr);
  return debug_add_watchpoint(cpu_, addr, len, watch_kind(kind));
}

bool CpuDebugTarget::remove_breakpoint(GdbBreakKind kind, uint32_t addr, uint32_t len) {
  if (kind == GdbBreakKind::SOFTWARE || kind == GdbBreakKind::HARDWARE)
    return debug_remove_breakpoint(cpu_, addr);
  return debug_remove_watchpoint(cpu_, addr, len, watch_kind(kind));
}

void CpuDebugTarget::remove_all_breakpoints() { debug_clear_all(cpu_); }

void CpuDebugTarget::kill() {
  state_ = RunState::FREE;
  if (hooks_.kill) hooks_.kill();
}

void CpuDebugTarget::system_reset() {
  if (hooks_.reset) hooks_.reset();
}

std::string CpuDebugTarget::info_registers() {
  Cpu& c = cpu_;
  char buf[1024];
  int n = std::snprintf(
      buf, sizeof buf,
      "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n"
      "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n"
      "EIP=%08x EFL=%08x CPL=%u %s\n",
      c.regs[EAX], c.regs[EBX], c.regs[ECX], c.regs[EDX], c.regs[ESI], c.regs[EDI],
      c.regs[EBP], c.regs[ESP], c.eip, read_eflags(c), c.cpl,
      !(c.cr0 & CR0_PE) ? "real mode" : (c.eflags & VM) ? "v86 mode" : "protected mode");
  std::string s(buf, size_t(std::max(n, 0)));
  static const char* const kNames[6] = {"ES", "CS", "SS", "DS", "FS", "GS"};
  auto seg_line = [&](const char* name, const SegmentCache& sc) {
    std::snprintf(buf, sizeof buf, "%-4s %04x base=%08x limit=%08x attrs=%04x%s\n", name,
                  sc.selector, sc.base, sc.limit, sc.attrs, sc.valid ? "" : " (null)");
    s += buf;
  };
  for (unsigned k = 0; k < 6; ++k) seg_line(kNames[k], c.seg[k]);
  seg_line("LDT", c.ldtr);
  seg_line("TR", c.tr);
  std::snprintf(buf, sizeof buf,
                "GDT=%08x/%04x IDT=%08x/%04x\n"
                "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n"
                "DR0=%08x DR1=%08x DR2=%08x DR3=%08x DR6=%08x DR7=%08x\n"
                "FCW=%04x FSW=%04x FTW=%04x TSC=%016llx icount=%llu\n",
                c.gdtr.base, c.gdtr.limit, c.idtr.base, c.idtr.limit, c.cr0, c.cr2, c.cr3,
                c.cr4, c.dr[0], c.dr[1], c.dr[2], c.dr[3], c.dr[6], c.dr[7], c.fpu.cw, c.fpu.sw,
                c.fpu.tw, static_cast<unsigned long long>(c.tsc),
                static_cast<unsigned long long>(c.icount));
  s += buf;
  if (hooks_.extra) s += hooks_.extra();
  return s;
}

std::string CpuDebugTarget::info_tlb() {
  const Cpu& c = cpu_;
  std::string s;
  char buf[96];
  std::snprintf(buf, sizeof buf, "paging %s, CR3=%08x, CR4.PSE=%u CR4.PGE=%u\n",
                (c.cr0 & CR0_PG) ? "on" : "off", c.cr3, (c.cr4 & CR4_PSE) ? 1 : 0,
                (c.cr4 & CR4_PGE) ? 1 : 0);
  s += buf;
  const SoftTlbEntry* tables[3] = {c.tlb.read, c.tlb.write, c.tlb.fetch};
  static const char* const kKinds[3] = {"read", "write", "fetch"};
  unsigned valid = 0;
  // Only slots on the filled list can hold an entry; invalid ones hold an unaligned tag.
  for (unsigned k = 0; k < c.tlb.nfilled; ++k) {
    const unsigned slot = c.tlb.filled[k];
    const unsigned t = slot / TLB_SIZE;
    if (t >= 3) continue;
    const SoftTlbEntry& e = tables[t][slot % TLB_SIZE];
    if (e.tag & 0xFFF) continue;
    const uint8_t meta = c.tlb.meta[slot];
    std::snprintf(buf, sizeof buf, "%-5s %08x -> %08x%s%s\n", kKinds[t], e.tag, e.phys,
                  (meta & TLB_GLOBAL) ? " global" : "", (meta & TLB_LARGE) ? " 4M" : "");
    s += buf;
    ++valid;
  }
  std::snprintf(buf, sizeof buf, "%u valid entries\n", valid);
  s += buf;
  return s;
}

GdbStopEvent stop_event_from_hit(const DebugHit& hit) {
  switch (hit.kind) {
    case HIT_BREAKPOINT: return GdbStopEvent::breakpoint(hit.address);
    case HIT_WATCHPOINT: {
      GdbBreakKind k = hit.watch == WATCH_READ     ? GdbBreakKind::WATCH_READ
                       : hit.watch == WATCH_ACCESS ? GdbBreakKind::WATCH_ACCESS
                                                   : GdbBreakKind::WATCH_WRITE;
      return GdbStopEvent::watchpoint(k, hit.address);
    }
    default: return GdbStopEvent::sig(5);
  }
}

}  // namespace softcpu
