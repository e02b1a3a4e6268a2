// System instruction semantics: segment register loads (MOV Sreg, LDS..LSS), control and
// debug register moves, descriptor-table registers (LGDT.., LLDT, LTR and their stores), LMSW/
// SMSW/CLTS, CLI/STI, cache and TLB maintenance, LAR/LSL/VERR/VERW/ARPL (SDM vol.2; vol.3
// chapters 2-5 for the registers and descriptors). UD2 is handler_ud. The selector is in
// interp/ops_system.cpp.
//
// Paging (CR0.PG, CR3, CR4.PSE/PGE, INVLPG) is interp/paging.cpp; the handlers here keep the
// soft TLB coherent as SDM vol.3 4.10.4.1 says. CLI/STI follow CR4.VME/PVI (virtual IF).
//
// Compiled code inlines the handlers that only touch registers and guest memory (MOV r/m,
// Sreg, CLI/STI, MOV from CRn/DRn, SGDT/LGDT.., SMSW, CLTS, ARPL, ..); those that load
// segments, change CR0/CR3/CR4, DR7, LDTR/TR or the TLB call into the host (segments.cpp,
// paging.cpp, debug.cpp) and run as calls.
#pragma once
#include "interp/debug.h"
#include "interp/events.h"
#include "interp/paging.h"
#include "interp/segments.h"
#include "interp/sem/common.h"
#include "interp/tlb.h"

namespace softcpu {

// Privileged instructions need CPL 0 (real mode is CPL 0; V86 is CPL 3) (SDM vol.3 5.9).
inline void require_cpl0(const Cpu& c) {
  if (SOFTCPU_UNLIKELY(c.cpl != 0)) raise_gp(0);
}
// Instructions that exist only in protected mode raise #UD in real mode and V86. (The test
// of protected_mode(), segments.cpp, written out so the handlers stay inlinable.)
inline void require_protected_mode(const Cpu& c) {
  if (SOFTCPU_UNLIKELY(!(c.cr0 & CR0_PE) || (c.eflags & VM))) raise_ud();
}

// The offset `delta` bytes past `ea` in the memory operand, wrapped to the address size.
inline uint32_t mem_operand_next(const Insn& i, uint32_t ea, unsigned delta) {
  uint32_t v = ea + delta;
  return i.addr32 ? v : v & 0xFFFF;
}

// A 16-bit selector operand from r/m (memory operands are always 16 bits wide).
inline uint16_t read_selector_rm(Cpu& c, const Insn& i) { return uint16_t(read_rm<2>(c, i)); }

// Store a 16-bit value to r/m: to memory 16 bits; to a 32-bit register zero-extended
// (P6 and later, SDM vol.2 MOV/SLDT/STR/SMSW).
inline void store_word_rm(Cpu& c, const Insn& i, uint32_t v) {
  if (i.is_mem) write_mem<2>(c, i.seg, effective_address(c, i), v);
  else if (i.opsize == 4) c.regs[i.rm] = v & 0xFFFF;
  else set_reg<2>(c, i.rm, v);
}

// ---- segment registers -------------------------------------------------------------------

// i.reg is the segment register (ModRM.reg; CS and 6/7 are #UD, filtered at decode).
inline void mov_sreg_rm(Cpu& c, const Insn& i) {
  load_segment(c, i.reg, read_selector_rm(c, i));
  if (i.reg == SS) set_interrupt_shadow(c, SHADOW_SS);  // SDM vol.3 6.8.3
}
inline void mov_rm_sreg(Cpu& c, const Insn& i) { store_word_rm(c, i, c.seg[i.reg].selector); }

// LDS/LES/LFS/LGS/LSS: i.cond holds the segment register.
template <unsigned S>
void load_far_pointer(Cpu& c, const Insn& i) {
  uint32_t ea = effective_address(c, i);
  uint32_t off = read_mem<S>(c, i.seg, ea);
  uint16_t sel = uint16_t(read_mem<2>(c, i.seg, mem_operand_next(i, ea, S)));
  load_segment(c, i.cond, sel);
  set_reg<S>(c, i.reg, off);
}

// ---- control registers -------------------------------------------------------------------

inline constexpr uint32_t kCr0Defined = CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE |
                                        CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG;
// CR4 bits accepted: VME, PVI, TSD, DE, PSE, PGE, as CPUID reports them (writing a bit of an
// unsupported feature is #GP(0), SDM vol.2 MOV CRn).
inline constexpr uint32_t kCr4Supported =
    CR4_VME | CR4_PVI | (1u << 2) | CR4_DEBUG_EXT | CR4_PSE | CR4_PGE;

inline void write_cr0(Cpu& c, uint32_t v) {
  v = (v & kCr0Defined) | CR0_ET;  // ET is hardwired to 1 from the i486DX on
  if ((v & CR0_PG) && !(v & CR0_PE)) raise_gp(0);
  if ((v & CR0_NW) && !(v & CR0_CD)) raise_gp(0);
  const uint32_t old = c.cr0;
  c.cr0 = v;
  if ((old ^ v) & CR0_PE) {
    refresh_all_segment_ranges(c);
    update_mode(c);
  }
  // Changing PG or WP invalidates all TLB entries, global ones too (SDM vol.3 4.10.4.1).
  if ((old ^ v) & (CR0_PE | CR0_PG | CR0_WP)) tlb_flush(c);
}

inline void mov_r_cr(Cpu& c, const Insn& i) {
  require_cpl0(c);
  uint32_t v;
  switch (i.reg) {
    case 0: v = c.cr0; break;
    case 2: v = c.cr2; break;
    case 3: v = c.cr3; break;
    case 4: v = c.cr4; break;
    default: raise_ud();
  }
  c.regs[i.rm] = v;
}

inline void mov_cr_r(Cpu& c, const Insn& i) {
  require_cpl0(c);
  const uint32_t v = c.regs[i.rm];
  switch (i.reg) {
    case 0: write_cr0(c, v); break;
    case 2: c.cr2 = v; break;
    case 3:
      c.cr3 = v & 0xFFFFF018u;  // page-directory base, PWT, PCD
      tlb_flush_nonglobal(c);   // global entries survive (SDM vol.3 4.10.4.1)
      break;
    case 4: {
      if (v & ~kCr4Supported) raise_gp(0);
      const uint32_t old = c.cr4;
      c.cr4 = v;
      if ((old ^ v) & (CR4_PSE | CR4_PAE | CR4_PGE)) tlb_flush(c);  // global ones too
      break;
    }
    default: raise_ud();
  }
}

// ---- debug registers (SDM vol.3 17.2); breakpoints are checked by interp/debug.cpp ----------

inline unsigned debug_reg_number(const Cpu& c, unsigned n) {
  // DR4/DR5 alias DR6/DR7 unless CR4.DE, which makes them #UD (SDM vol.3 17.2.2).
  if (n == 4 || n == 5) {
    if (c.cr4 & CR4_DEBUG_EXT) raise_ud();
    n += 2;
  }
  return n;
}

// DR7.GD: any MOV DR raises #DB (a fault) with DR6.BD set; GD is cleared so the handler can
// use the debug registers (SDM vol.3 17.2.4, 17.3.1.2).
inline void check_general_detect(Cpu& c) {
  if (!(c.dr[7] & DR7_GD)) return;
  c.dr[7] &= ~DR7_GD;
  c.dr[6] |= DR6_BD;
  raise_fault(VEC_DB);
}

inline void mov_r_dr(Cpu& c, const Insn& i) {
  require_cpl0(c);
  const unsigned n = debug_reg_number(c, i.reg);
  check_general_detect(c);
  c.regs[i.rm] = c.dr[n];
}

inline void mov_dr_r(Cpu& c, const Insn& i) {
  require_cpl0(c);
  const unsigned n = debug_reg_number(c, i.reg);
  check_general_detect(c);
  uint32_t v = c.regs[i.rm];
  if (n == 6) v = (v & 0x0000E00Fu) | 0xFFFF0FF0u;  // reserved bits read as 1 (bit 12 as 0)
  else if (n == 7) v = (v & 0xFFFF23FFu) | 0x400u;  // bits 11,12,14,15 are 0, bit 10 is 1
  c.dr[n] = v;
  if (n < 4 || n == 7) debug_rebuild(c);
}

// ---- descriptor-table registers ----------------------------------------------------------

// LGDT/LIDT: 16-bit limit then 32-bit base; with a 16-bit operand size only 24 bits of the
// base are used (SDM vol.2 LGDT/LIDT).
template <bool Idt>
void lgdt_lidt(Cpu& c, const Insn& i) {
  require_cpl0(c);
  uint32_t ea = effective_address(c, i);
  uint32_t limit = read_mem<2>(c, i.seg, ea);
  uint32_t base = read_mem<4>(c, i.seg, mem_operand_next(i, ea, 2));
  if (i.opsize == 2) base &= 0x00FFFFFFu;
  DescriptorTable& t = Idt ? c.idtr : c.gdtr;
  t.base = base;
  t.limit = uint16_t(limit);
}

// SGDT/SIDT: with a 16-bit operand size the top base byte is stored as 0 (SDM vol.2 SGDT
// pseudocode; the 286 stored 0xFF, and some P6 parts the real byte).
template <bool Idt>
void sgdt_sidt(Cpu& c, const Insn& i) {
  const DescriptorTable& t = Idt ? c.idtr : c.gdtr;
  uint32_t ea = effective_address(c, i);
  uint32_t ea2 = mem_operand_next(i, ea, 2);
  probe_write_mem(c, i.seg, ea, 2);
  probe_write_mem(c, i.seg, ea2, 4);
  write_mem<2>(c, i.seg, ea, t.limit);
  write_mem<4>(c, i.seg, ea2, i.opsize == 2 ? t.base & 0x00FFFFFFu : t.base);
}

// System descriptor types and field accessors: interp/segments.h.

inline void lldt_rm(Cpu& c, const Insn& i) {
  require_protected_mode(c);
  require_cpl0(c);
  const uint16_t sel = read_selector_rm(c, i);
  if ((sel & 0xFFFC) == 0) {  // bits 2-15 zero: LDTR becomes invalid (SDM vol.2 LLDT)
    c.ldtr.selector = sel;
    c.ldtr.valid = 0;
    return;
  }
  const uint32_t err = sel & ~3u;
  if (sel & 4) raise_gp(err);  // must be in the GDT
  const uint64_t d = read_descriptor(c, sel);
  if (desc_s(d) || desc_type(d) != SYS_LDT) raise_gp(err);
  if (!desc_present(d)) raise_fault(VEC_NP, err);
  cache_from_descriptor(c, c.ldtr, sel, d);
}

inline void ltr_rm(Cpu& c, const Insn& i) {
  require_protected_mode(c);
  require_cpl0(c);
  const uint16_t sel = read_selector_rm(c, i);
  const uint32_t err = sel & ~3u;
  if ((sel & 0xFFFC) == 0) raise_gp(0);
  if (sel & 4) raise_gp(err);
  const uint64_t d = read_descriptor(c, sel);
  const unsigned type = desc_type(d);
  if (desc_s(d) || (type != SYS_TSS16_AVAIL && type != SYS_TSS32_AVAIL)) raise_gp(err);
  if (!desc_present(d)) raise_fault(VEC_NP, err);
  // Mark the TSS busy in the GDT (type bit 1).
  const uint32_t type_byte = c.gdtr.base + (sel & ~7u) + 5;
  write_linear<1>(c, type_byte, uint32_t(d >> 40) | 2);
  cache_from_descriptor(c, c.tr, sel, d | (2ull << 40));
}

inline void sldt_rm(Cpu& c, const Insn& i) {
  require_protected_mode(c);
  store_word_rm(c, i, c.ldtr.selector);
}
inline void str_rm(Cpu& c, const Insn& i) {
  require_protected_mode(c);
  store_word_rm(c, i, c.tr.selector);
}

// ---- machine status word -----------------------------------------------------------------

inline void lmsw_rm(Cpu& c, const Insn& i) {
  require_cpl0(c);
  const uint32_t v = read_selector_rm(c, i);
  // Only PE, MP, EM, TS are loaded, and PE cannot be cleared (SDM vol.2 LMSW).
  write_cr0(c, (c.cr0 & ~0xEu) | (v & 0xF) | (c.cr0 & CR0_PE));
}

inline void smsw_rm(Cpu& c, const Insn& i) {
  if (i.is_mem) write_mem<2>(c, i.seg, effective_address(c, i), c.cr0);
  else if (i.opsize == 4) c.regs[i.rm] = c.cr0;  // P6: the whole CR0 (bits 31:16 "undefined")
  else set_reg<2>(c, i.rm, c.cr0);
}

inline void clts_op(Cpu& c, const Insn&) {
  require_cpl0(c);
  c.cr0 &= ~CR0_TS;
}

// ---- interrupt flag ----------------------------------------------------------------------

inline unsigned eflags_iopl(const Cpu& c) { return (c.eflags >> 12) & 3; }

// SDM vol.2 CLI/STI: in protected mode and V86, CPL > IOPL is #GP(0), unless the virtual
// interrupt flag stands in for IF: in V86 with CR4.VME, at CPL 3 in protected mode with
// CR4.PVI (vol.3 20.3.3, 20.4). (V86 runs at CPL 3, so CPL > IOPL there means IOPL < 3.)
inline bool uses_virtual_if(const Cpu& c) {
  return (c.eflags & VM) ? (c.cr4 & CR4_VME) != 0 : c.cpl == 3 && (c.cr4 & CR4_PVI);
}
inline void cli_op(Cpu& c, const Insn&) {
  if ((c.cr0 & CR0_PE) && c.cpl > eflags_iopl(c)) {
    if (!uses_virtual_if(c)) raise_gp(0);
    c.eflags &= ~VIF;
    return;
  }
  c.eflags &= ~IF;
}
inline void sti_op(Cpu& c, const Insn&) {
  if ((c.cr0 & CR0_PE) && c.cpl > eflags_iopl(c)) {
    // A pending virtual interrupt (VIP) makes STI fault so the monitor can deliver it.
    if (!uses_virtual_if(c) || (c.eflags & VIP)) raise_gp(0);
    c.eflags |= VIF;
    return;
  }
  // SDM vol.3 6.8.3: setting IF lets interrupts in only after the next instruction.
  if (!(c.eflags & IF)) set_interrupt_shadow(c, SHADOW_STI);
  c.eflags |= IF;
}

// ---- caches and TLB ----------------------------------------------------------------------

// INVD, WBINVD: no caches to write back; only the privilege check.
inline void privileged_nop(Cpu& c, const Insn&) { require_cpl0(c); }
// INVLPG m: drop the translation of the page holding the linear address of m, global or
// not. No segment limit check; the register form is #UD (decoder).
inline void invlpg_m(Cpu& c, const Insn& i) {
  require_cpl0(c);
  tlb_invlpg(c, c.seg[i.seg].base + effective_address(c, i));
}

// ---- LAR / LSL / VERR / VERW / ARPL ------------------------------------------------------

// Descriptor of `sel` without faulting: false for a null selector or one outside its table.
inline bool peek_descriptor(Cpu& c, uint16_t sel, uint64_t& d) {
  return (sel & 0xFFFC) != 0 && fetch_descriptor(c, sel, d);
}

inline bool is_conforming_code(uint64_t d) { return desc_s(d) && (desc_type(d) & 0xC) == 0xC; }

// Visible from CPL with this RPL: DPL >= CPL and DPL >= RPL, except conforming code.
inline bool descriptor_visible(const Cpu& c, uint16_t sel, uint64_t d) {
  if (is_conforming_code(d)) return true;
  unsigned dpl = desc_dpl(d);
  return dpl >= c.cpl && dpl >= unsigned(sel & 3);
}

// ZF alone (LAR, LSL, VERR, VERW, ARPL leave the other flags as they are).
inline void set_zf_only(Cpu& c, bool z) { set_flags(c, ZF, z ? uint32_t(ZF) : 0u); }

template <unsigned S>
void lar_op(Cpu& c, const Insn& i) {
  require_protected_mode(c);
  const uint16_t sel = read_selector_rm(c, i);
  uint64_t d;
  bool ok = peek_descriptor(c, sel, d);
  if (ok && !desc_s(d)) {
    switch (desc_type(d)) {
      case SYS_TSS16_AVAIL: case SYS_LDT: case SYS_TSS16_BUSY: case SYS_CALL16:
      case SYS_TASK: case SYS_TSS32_AVAIL: case SYS_TSS32_BUSY: case SYS_CALL32: break;
      default: ok = false;
    }
  }
  ok = ok && descriptor_visible(c, sel, d);
  if (ok) {
    // Access rights: descriptor bits 40-55 in place (SDM: masked by 00FxFF00H; the limit
    // nibble is undefined, we return the descriptor's).
    uint32_t ar = uint32_t(d >> 32) & 0x00FFFF00u;
    set_reg<S>(c, i.reg, S == 2 ? ar & 0xFF00 : ar);
  }
  set_zf_only(c, ok);
}

template <unsigned S>
void lsl_op(Cpu& c, const Insn& i) {
  require_protected_mode(c);
  const uint16_t sel = read_selector_rm(c, i);
  uint64_t d;
  bool ok = peek_descriptor(c, sel, d);
  if (ok && !desc_s(d)) {
    switch (desc_type(d)) {
      case SYS_TSS16_AVAIL: case SYS_LDT: case SYS_TSS16_BUSY: case SYS_TSS32_AVAIL:
      case SYS_TSS32_BUSY: break;
      default: ok = false;
    }
  }
  ok = ok && descriptor_visible(c, sel, d);
  if (ok) {
    uint32_t limit = (uint32_t(d) & 0xFFFF) | (uint32_t(d >> 32) & 0xF0000u);
    if ((d >> 55) & 1) limit = (limit << 12) | 0xFFF;
    set_reg<S>(c, i.reg, limit);
  }
  set_zf_only(c, ok);
}

template <bool Write>
void verr_verw(Cpu& c, const Insn& i) {
  require_protected_mode(c);
  const uint16_t sel = read_selector_rm(c, i);
  uint64_t d;
  bool ok = peek_descriptor(c, sel, d) && desc_s(d);
  if (ok) {
    const unsigned type = desc_type(d);
    const bool code = type & 8;
    if (Write) ok = !code && (type & 2);      // writable data
    else ok = !code || (type & 2);            // data, or readable code
    ok = ok && descriptor_visible(c, sel, d);  // conforming code: no privilege check
  }
  set_zf_only(c, ok);
}

// ARPL r/m16, r16: raise the destination's RPL to the source's (SDM vol.2 ARPL).
inline void arpl_op(Cpu& c, const Insn& i) {
  require_protected_mode(c);
  const uint32_t dst = read_rm<2>(c, i);
  const uint32_t src = get_reg<2>(c, i.reg);
  if ((dst & 3) < (src & 3)) {
    write_rm<2>(c, i, (dst & ~3u) | (src & 3));
    set_zf_only(c, true);
  } else {
    set_zf_only(c, false);
  }
}

// ---- handler tables ---------------------------------------------------------------------

inline constexpr auto kMovToSreg = kSingle<&mov_sreg_rm>;
inline constexpr auto kMovFromSreg = kSingle<&mov_rm_sreg>;
inline constexpr auto kLoadFarPointer =
    make_handlers<Sizes16_32>([]<unsigned S>() { return &load_far_pointer<S>; });
inline constexpr auto kMovToCr = kSingle<&mov_cr_r>;
inline constexpr auto kMovFromCr = kSingle<&mov_r_cr>;
inline constexpr auto kMovToDr = kSingle<&mov_dr_r>;
inline constexpr auto kMovFromDr = kSingle<&mov_r_dr>;
// Indexed by "the IDT" (LIDT/SIDT) rather than the GDT.
inline constexpr auto kLoadDescTable =
    make_handlers<Bools>([]<bool Idt>() { return &lgdt_lidt<Idt>; });
inline constexpr auto kStoreDescTable =
    make_handlers<Bools>([]<bool Idt>() { return &sgdt_sidt<Idt>; });
inline constexpr auto kLldt = kSingle<&lldt_rm>;
inline constexpr auto kLtr = kSingle<&ltr_rm>;
inline constexpr auto kSldt = kSingle<&sldt_rm>;
inline constexpr auto kStoreTr = kSingle<&str_rm>;  // STR
inline constexpr auto kLmsw = kSingle<&lmsw_rm>;
inline constexpr auto kSmsw = kSingle<&smsw_rm>;
inline constexpr auto kClts = kSingle<&clts_op>;
inline constexpr auto kCli = kSingle<&cli_op>;
inline constexpr auto kSti = kSingle<&sti_op>;
inline constexpr auto kInvdWbinvd = kSingle<&privileged_nop>;
inline constexpr auto kInvlpg = kSingle<&invlpg_m>;
inline constexpr auto kLar = make_handlers<Sizes16_32>([]<unsigned S>() { return &lar_op<S>; });
inline constexpr auto kLsl = make_handlers<Sizes16_32>([]<unsigned S>() { return &lsl_op<S>; });
// Indexed by "VERW" (write) rather than VERR.
inline constexpr auto kVerrVerw =
    make_handlers<Bools>([]<bool Write>() { return &verr_verw<Write>; });
inline constexpr auto kArpl = kSingle<&arpl_op>;

}  // namespace softcpu
