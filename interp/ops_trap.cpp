// IN/OUT/INS/OUTS, CPUID, RDTSC, HLT, RDMSR/WRMSR, RDPMC, VMCALL: decoded here, executed by the
// monitor (execute_trapped); their handler (interp/sem/trap.h) only leaves the block before them.
#include <cstring>

#include "interp/debug.h"
#include "interp/events.h"
#include "interp/exceptions.h"
#include "interp/fault.h"
#include "interp/ops_common.h"
#include "interp/sem/trap.h"
#include "interp/segments.h"
#include "interp/task.h"
#include "interp/trap.h"
#include "interp/msr.h"

namespace softcpu {

namespace {

// SDM vol.1 18.5.1-18.5.2: in protected mode with CPL > IOPL, and always in V86 mode, an
// I/O instruction needs every bit of its ports clear in the TSS I/O permission bitmap.
void check_io_privilege(Cpu& c, uint16_t port, unsigned size) {
  if (!(c.cr0 & CR0_PE)) return;
  if (!(c.eflags & VM) && c.cpl <= ((c.eflags >> 12) & 3)) return;
  if (!io_bitmap_allows(c, port, size)) raise_gp(0);
}

uint16_t io_port(const Cpu& c, const Insn& i) {
  return (i.flags & INSN_PORT_IMM) ? uint16_t(i.imm & 0xFF) : uint16_t(c.regs[EDX] & 0xFFFF);
}

uint32_t count_reg(const Cpu& c, const Insn& i) { return i.addr32 ? c.regs[ECX] : c.regs[ECX] & 0xFFFF; }
void set_count_reg(Cpu& c, const Insn& i, uint32_t v) {
  if (i.addr32) c.regs[ECX] = v; else c.regs[ECX] = (c.regs[ECX] & ~0xFFFFu) | (v & 0xFFFF);
}
uint32_t index_reg(const Cpu& c, const Insn& i, unsigned r) { return i.addr32 ? c.regs[r] : c.regs[r] & 0xFFFF; }
void step_index_reg(Cpu& c, const Insn& i, unsigned r, unsigned size) {
  uint32_t d = (c.eflags & DF) ? uint32_t(-int32_t(size)) : size;
  if (i.addr32) c.regs[r] += d;
  else c.regs[r] = (c.regs[r] & ~0xFFFFu) | ((c.regs[r] + d) & 0xFFFF);
}

}  // namespace

uint32_t cpuid_features_edx(const Cpu& c) {
  uint32_t d = (1u << 0) /*FPU*/ | (1u << 1) /*VME (and PVI)*/ | (1u << 2) /*DE*/ |
               (1u << 3) /*PSE*/ | (1u << 4) /*TSC*/ | (1u << 5) /*MSR*/ | (1u << 8) /*CX8*/ |
               (1u << 11) /*SEP*/ | (1u << 13) /*PGE*/ | (1u << 15) /*CMOV*/;
  // A local APIC (set by the machine): EDX bit 9; EBX[31:24] is its initial ID.
  if (c.cpuid_apic) d |= 1u << 9;
  return d;
}

namespace {

// CPUID leaves (SDM vol.2 CPUID). Basic leaves 0-1; extended leaves 0x80000000-0x80000004
// (maximum extended leaf, extended features: none of them on a 32-bit P6, brand string).
constexpr uint32_t kMaxBasicLeaf = 1;
constexpr uint32_t kMaxExtendedLeaf = 0x80000004;
// The brand string of leaves 0x80000002-4: 48 bytes, NUL-terminated (SDM vol.2 CPUID,
// "Processor Brand String").
constexpr char kBrand[48] = "softcpu P6-class virtual CPU";

struct CpuidRegs {
  uint32_t a, b, c, d;
};

CpuidRegs cpuid_leaf(const Cpu& c, uint32_t leaf) {
  const bool extended = leaf >= 0x80000000u;
  // A leaf above the maximum (basic or extended) returns the data of the highest basic leaf
  // (SDM vol.2 CPUID, "INPUT EAX = 0: Returns CPUID's Highest Value...").
  if ((!extended && leaf > kMaxBasicLeaf) || (extended && leaf > kMaxExtendedLeaf))
    leaf = kMaxBasicLeaf;
  switch (leaf) {
    case 0:
      return {kMaxBasicLeaf, 0x756E6547 /*Genu*/, 0x6C65746E /*ntel*/, 0x49656E69 /*ineI*/};
    case 1:
      // EBX: brand index 0, no CLFLUSH size, one logical processor, the initial APIC ID
      // (bits 31:24: the CPU's index). ECX: no SSE3-era features. EDX: what is implemented.
      return {CPUID_SIGNATURE, uint32_t(c.apic_id) << 24, 0, cpuid_features_edx(c)};
    case 0x80000000: return {kMaxExtendedLeaf, 0, 0, 0};
    case 0x80000001: return {0, 0, 0, 0};  // no LAHF64, SYSCALL, NX or long mode
    default: {  // 0x80000002-0x80000004: 16 bytes of the brand string each, EAX..EDX
      uint32_t w[4];
      std::memcpy(w, kBrand + 16 * (leaf - 0x80000002u), 16);
      return {w[0], w[1], w[2], w[3]};
    }
  }
}

void do_cpuid(Cpu& c) {
  const CpuidRegs r = cpuid_leaf(c, c.regs[EAX]);
  c.regs[EAX] = r.a; c.regs[EBX] = r.b; c.regs[ECX] = r.c; c.regs[EDX] = r.d;
}

// RDPMC (SDM vol.2 RDPMC, P6 family): ECX selects counter 0 or 1; #GP(0) for any other
// ECX, and at CPL > 0 in protected mode (V86 included) unless CR4.PCE. EDX:EAX = the 40-bit
// counter (EDX bits 31:8 zero).
void do_rdpmc(Cpu& c) {
  const uint32_t k = c.regs[ECX];
  if (k >= PMC_COUNT) raise_gp(0);
  if ((c.cr0 & CR0_PE) && c.cpl != 0 && !(c.cr4 & CR4_PCE)) raise_gp(0);
  const uint64_t v = read_pmc(c, k);
  c.regs[EAX] = uint32_t(v);
  c.regs[EDX] = uint32_t(v >> 32);
}

// RDMSR/WRMSR (SDM vol.2): CPL 0 only; an MSR we do not have raises #GP(0).
void do_rdmsr(Cpu& c) {
  uint64_t v;
  if (c.cpl != 0 || !read_msr(c, c.regs[ECX], v)) raise_gp(0);
  c.regs[EAX] = uint32_t(v);
  c.regs[EDX] = uint32_t(v >> 32);
}

void do_wrmsr(Cpu& c) {
  if (c.cpl != 0 || !write_msr(c, c.regs[ECX], (uint64_t(c.regs[EDX]) << 32) | c.regs[EAX]))
    raise_gp(0);
}

// Longest run of a REP INS/OUTS in one monitor call, so the run loop stays responsive.
constexpr uint32_t kRepChunk = 4096;

// `chunk`: most iterations to run now (1 when an I/O breakpoint must trap after each one).
void do_string_io(Cpu& c, const Insn& i, IoBus& io, bool input, uint32_t chunk) {
  const unsigned size = i.opsize;
  const uint16_t port = uint16_t(c.regs[EDX] & 0xFFFF);
  uint32_t n = i.rep ? count_reg(c, i) : 1;
  if (i.rep && n == 0) return;
  for (uint32_t k = 0; k < n && k < chunk; ++k) {
    if (input) {
      uint32_t di = index_reg(c, i, EDI);
      probe_write_mem(c, ES, di, size);  // fault before the port read has side effects
      write_mem_n(c, ES, di, size, io.in(port, size));
      step_index_reg(c, i, EDI, size);
    } else {
      uint32_t si = index_reg(c, i, ESI);
      io.out(port, size, read_mem_n(c, i.seg, si, size));
      step_index_reg(c, i, ESI, size);
    }
    if (i.rep) set_count_reg(c, i, count_reg(c, i) - 1);
  }
  if (i.rep && count_reg(c, i) != 0) c.eip -= i.len;  // continue next time round
}

}  // namespace

bool execute_trapped(Cpu& c, IoBus& io) {
  const Insn& i = *c.trap_insn;
  const uint32_t start = c.eip;
  c.exit_reason = EXIT_NONE;
  // DR I/O breakpoints hit by this instruction: #DB traps once it completes (SDM vol.3
  // 17.3.1.2). A REP INS/OUTS traps after each iteration that hit.
  uint32_t io_hits = 0;
  try {
    c.eip += i.len;
    switch (trap_op(i)) {
      case TRAP_IN:
        check_io_privilege(c, io_port(c, i), i.opsize);
        set_reg_n(c, EAX, i.opsize, io.in(io_port(c, i), i.opsize));
        io_hits = debug_io_breakpoints(c, io_port(c, i), i.opsize);
        break;
      case TRAP_OUT:
        check_io_privilege(c, io_port(c, i), i.opsize);
        io.out(io_port(c, i), i.opsize, get_reg_n(c, EAX, i.opsize));
        io_hits = debug_io_breakpoints(c, io_port(c, i), i.opsize);
        break;
      case TRAP_INS:
      case TRAP_OUTS: {
        const uint16_t port = uint16_t(c.regs[EDX]);
        check_io_privilege(c, port, i.opsize);
        io_hits = debug_io_breakpoints(c, port, i.opsize);
        if (i.rep && count_reg(c, i) == 0) io_hits = 0;  // no port was accessed
        do_string_io(c, i, io, trap_op(i) == TRAP_INS, io_hits ? 1 : kRepChunk);
        break;
      }
      case TRAP_CPUID: do_cpuid(c); break;
      case TRAP_RDTSC:
        // SDM vol.2 RDTSC: CR4.TSD restricts it to CPL 0.
        if ((c.cr4 & 4) && c.cpl != 0) raise_gp(0);
        c.regs[EAX] = uint32_t(c.tsc);
        c.regs[EDX] = uint32_t(c.tsc >> 32);
        break;
      case TRAP_HLT:
        if (c.cpl != 0) raise_gp(0);
        c.halted = 1;
        break;
      case TRAP_RDMSR: do_rdmsr(c); break;
      case TRAP_WRMSR: do_wrmsr(c); break;
      case TRAP_RDPMC: do_rdpmc(c); break;
      case TRAP_VMCALL: raise_ud();  // no VMX here; thin guests' monitors take it first
      default: raise_ud();
    }
    ++c.icount;
    // RF clears once the instruction completes (SDM vol.3 17.3.1.1); a REP INS/OUTS that
    // continues (EIP left on it) keeps it, so a breakpoint on it is not taken again.
    if (c.eip != start) c.eflags &= ~RF;
  } catch (const GuestFault& f) {
    c.eip = start;
    c.db_trap = 0;  // the instruction did not complete
    c.debug_pending.kind = HIT_NONE;
    set_rf_for_fault(c, f.vector);
    return deliver_exception(c, f.vector, f.has_error, f.error);
  }
  // #DB traps of this instruction: single-step (it began with TF = 1 in the interpreter's
  // per-instruction path) and data breakpoints of INS/OUTS. A debugger watchpoint hit stays
  // in debug_pending and ends the next run() first thing.
  c.db_trap |= io_hits;
  if (c.db_trap) {
    c.dr[6] |= c.db_trap;
    c.db_trap = 0;
    return deliver_exception(c, VEC_DB, false, 0);
  }
  return true;
}

bool select_trap(const DecodeContext& ctx, Insn& i) {
  TrapOp op;
  switch (mnemonic(ctx)) {
    case ZYDIS_MNEMONIC_IN: op = TRAP_IN; break;
    case ZYDIS_MNEMONIC_OUT: op = TRAP_OUT; break;
    case ZYDIS_MNEMONIC_INSB: case ZYDIS_MNEMONIC_INSW: case ZYDIS_MNEMONIC_INSD: op = TRAP_INS; break;
    case ZYDIS_MNEMONIC_OUTSB: case ZYDIS_MNEMONIC_OUTSW: case ZYDIS_MNEMONIC_OUTSD: op = TRAP_OUTS; break;
    case ZYDIS_MNEMONIC_CPUID: op = TRAP_CPUID; break;
    case ZYDIS_MNEMONIC_RDTSC: op = TRAP_RDTSC; break;
    case ZYDIS_MNEMONIC_HLT: op = TRAP_HLT; break;
    case ZYDIS_MNEMONIC_RDMSR: op = TRAP_RDMSR; break;
    case ZYDIS_MNEMONIC_WRMSR: op = TRAP_WRMSR; break;
    case ZYDIS_MNEMONIC_RDPMC: op = TRAP_RDPMC; break;
    case ZYDIS_MNEMONIC_VMCALL: op = TRAP_VMCALL; break;  // 0F 01 C1
    default: return false;
  }
  if (i.lock) { i.fn = handler_ud; return true; }
  i.cond = op;
  if (op == TRAP_IN || op == TRAP_OUT) {
    // Port-size operand: the accumulator; the immediate form has imm8 (E4-E7).
    unsigned acc = op == TRAP_IN ? 0 : 1;
    i.opsize = uint8_t(op_size(ctx, acc));
    if (op_is_imm(ctx, op == TRAP_IN ? 1 : 0)) i.flags |= INSN_PORT_IMM;
  }
  if (op == TRAP_INS || op == TRAP_OUTS) {
    i.opsize = mnemonic(ctx) == ZYDIS_MNEMONIC_INSB || mnemonic(ctx) == ZYDIS_MNEMONIC_OUTSB ? 1
               : mnemonic(ctx) == ZYDIS_MNEMONIC_INSW || mnemonic(ctx) == ZYDIS_MNEMONIC_OUTSW ? 2 : 4;
  }
  i.fn = kTrapExit.get(trap_exit_reason(op));
  i.flags |= INSN_TRAPS | INSN_ENDS_BLOCK;
  return true;
}

}  // namespace softcpu
