// x87 FPU instructions (ESC opcodes D8-DF) and WAIT/FWAIT.
//
// Computational and stack instructions run on the backend (interp/fpu_host.h: the host's x87,
// bit-exact); control instructions (FLDCW FNSTCW FNSTSW FNCLEX FNINIT FLDENV FNSTENV FRSTOR
// FNSAVE) are done here. Every x87 instruction ends its block, so cpu.eip is the next
// instruction and the FPU instruction pointer is cpu.eip - len.
#include <cstring>

#include "interp/fpu_host.h"
#include "interp/ops_common.h"

namespace softcpu {

namespace {

inline uint16_t code_of(const Insn& i) { return uint16_t(i.imm); }

// SDM vol.3 2.5 and table 2-2: an ESC instruction raises #NM when CR0.EM or CR0.TS is set.
inline void check_nm(const Cpu& c) {
  if (SOFTCPU_UNLIKELY(c.cr0 & (CR0_EM | CR0_TS))) raise_fault(VEC_NM);
}
// A waiting instruction first reports a pending unmasked exception (SDM vol.1 8.6): #MF when
// CR0.NE = 1. With NE = 0 the PC reports it through FERR# (Cpu::ferr; the machine raises
// IRQ13) and the instruction proceeds as if IGNNE# were asserted (SDM vol.1 D.2.1: on a P6
// FERR# is asserted at the next waiting instruction). FERR# follows ES as sampled there, and
// FNINIT/FNCLEX (which clear ES) deassert it.
inline void check_pending(Cpu& c) {
  if (SOFTCPU_LIKELY(!(c.fpu.sw & FSW_ES))) {
    c.ferr = 0;
    return;
  }
  if (c.cr0 & CR0_NE) raise_fault(VEC_MF);
  c.ferr = 1;
}

// Non-control instructions record their address and opcode (SDM vol.1 8.1.8, 8.1.9).
inline void note_insn(Cpu& c, const Insn& i) {
  c.fpu.fip = c.eip - i.len;
  c.fpu.fcs = c.seg[CS].selector;
  c.fpu.fop = code_of(i) & 0x7FF;
}
inline void note_data(Cpu& c, const Insn& i, uint32_t ea) {
  c.fpu.fdp = ea;
  c.fpu.fds = c.seg[i.seg].selector;
}

inline void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline uint16_t get16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t get32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }

// Multi-byte guest operands: the whole range is checked first, so a fault leaves nothing done.
void read_guest(Cpu& c, unsigned seg, uint32_t off, uint8_t* p, unsigned n) {
  check_read(c, seg, off, n);
  unsigned k = 0;
  for (; k + 4 <= n; k += 4) put32(p + k, read_mem<4>(c, seg, off + k));
  for (; k + 2 <= n; k += 2) put16(p + k, uint16_t(read_mem<2>(c, seg, off + k)));
  for (; k < n; ++k) p[k] = uint8_t(read_mem<1>(c, seg, off + k));
}
void write_guest(Cpu& c, unsigned seg, uint32_t off, const uint8_t* p, unsigned n) {
  probe_write_mem(c, seg, off, n);
  unsigned k = 0;
  for (; k + 4 <= n; k += 4) write_mem<4>(c, seg, off + k, get32(p + k));
  for (; k + 2 <= n; k += 2) write_mem<2>(c, seg, off + k, get16(p + k));
  for (; k < n; ++k) write_mem<1>(c, seg, off + k, p[k]);
}

// ---- computational and stack instructions (backend) ----------------------------------

enum RegKind { RK_PLAIN, RK_FCMOV, RK_FCOMI };

template <int K>
void h_reg(Cpu& c, const Insn& i) {
  check_nm(c);
  check_pending(c);
  const uint8_t fl = K == RK_FCMOV ? uint8_t(read_eflags(c)) : 0;
  FpuExecResult r = fpu_backend_exec(c.fpu, code_of(i), nullptr, 0, false, fl);
  if constexpr (K == RK_FCOMI) {
    // ZF PF CF from the comparison, OF SF AF cleared: also when an unmasked #IA leaves the
    // result unordered (ZF PF CF = 111), as the hardware does (checked by the native oracle).
    set_flags(c, ZF | PF | CF | OF | SF | AF, r.flags & (ZF | PF | CF));
  }
  note_insn(c, i);
}

template <unsigned N>
void h_load(Cpu& c, const Insn& i) {
  check_nm(c);
  check_pending(c);
  const uint32_t ea = effective_address(c, i);
  uint8_t buf[16];
  read_guest(c, i.seg, ea, buf, N);
  fpu_backend_exec(c.fpu, code_of(i), buf, N, false, 0);
  note_insn(c, i);
  note_data(c, i, ea);
}

template <unsigned N>
void h_store(Cpu& c, const Insn& i) {
  check_nm(c);
  check_pending(c);
  const uint32_t ea = effective_address(c, i);
  probe_write_mem(c, i.seg, ea, N);  // nothing may fault after the FPU state changes
  uint8_t buf[16];
  FpuExecResult r = fpu_backend_exec(c.fpu, code_of(i), buf, N, true, 0);
  if (r.stored) write_guest(c, i.seg, ea, buf, N);
  note_insn(c, i);
  note_data(c, i, ea);
}

// ---- control instructions ------------------------------------------------------------

void fninit_state(FpuState& f) {  // SDM vol.2 FINIT: registers keep their contents
  f.cw = 0x037F;
  f.sw = 0;
  f.tw = 0xFFFF;
  f.fip = f.fdp = 0;
  f.fcs = f.fds = 0;
  f.fop = 0;
}

void h_fninit(Cpu& c, const Insn&) {
  check_nm(c);
  fninit_state(c.fpu);
  c.ferr = 0;
}

void h_fnclex(Cpu& c, const Insn&) {
  check_nm(c);
  c.fpu.sw &= uint16_t(~(FSW_STICKY | FSW_ES | FSW_B));
  c.ferr = 0;
}

// FENI/FDISI/FSETPM (DB E0, E1, E4): 8087/287 instructions, no-ops on the 387 and later.
void h_legacy_nop(Cpu& c, const Insn&) { check_nm(c); }

void h_fldcw(Cpu& c, const Insn& i) {
  check_nm(c);
  check_pending(c);
  const uint16_t v = uint16_t(read_mem<2>(c, i.seg, effective_address(c, i)));
  c.fpu.cw = uint16_t((v & 0x1F3F) | 0x40);  // reserved bits as the hardware keeps them
  fpu_update_summary(c.fpu);  // newly unmasked flags become pending (SDM vol.2 FLDCW)
}

void h_fnstcw(Cpu& c, const Insn& i) {
  check_nm(c);
  write_mem<2>(c, i.seg, effective_address(c, i), c.fpu.cw);
}

void h_fnstsw_mem(Cpu& c, const Insn& i) {
  check_nm(c);
  write_mem<2>(c, i.seg, effective_address(c, i), c.fpu.sw);
}

void h_fnstsw_ax(Cpu& c, const Insn&) {
  check_nm(c);
  set_reg<2>(c, EAX, c.fpu.sw);
}

// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set (SDM vol.3 table 2-2), then pending
// unmasked exceptions.
void h_fwait(Cpu& c, const Insn&) {
  if (SOFTCPU_UNLIKELY((c.cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))) raise_fault(VEC_NM);
  check_pending(c);
}

// ---- environment and state images (SDM vol.1 8.1.10, figures 8-9 to 8-12) -------------

inline bool real_format(const Cpu& c) { return !(c.cr0 & CR0_PE) || (c.eflags & VM); }
inline unsigned env_size(const Insn& i) { return i.opsize == 4 ? 28 : 14; }

// Store the environment in the format for the operand size and mode; returns its size.
unsigned env_store(const Cpu& c, const Insn& i, uint8_t* p) {
  const FpuState& f = c.fpu;
  const uint16_t tw = fpu_full_tag_word(f);
  const bool real = real_format(c);
  // Real-mode formats hold 20/32-bit linear pointers (FIP = CS * 16 + IP).
  const uint32_t ip = real ? (uint32_t(f.fcs) << 4) + f.fip : f.fip;
  const uint32_t dp = real ? (uint32_t(f.fds) << 4) + f.fdp : f.fdp;
  if (i.opsize == 4) {
    put32(p + 0, 0xFFFF0000u | f.cw);
    put32(p + 4, 0xFFFF0000u | f.sw);
    put32(p + 8, 0xFFFF0000u | tw);
    if (real) {
      put32(p + 12, 0xFFFF0000u | (ip & 0xFFFF));
      put32(p + 16, ((ip >> 16) << 12) | (f.fop & 0x7FF));
      put32(p + 20, 0xFFFF0000u | (dp & 0xFFFF));
      put32(p + 24, (dp >> 16) << 12);
    } else {
      put32(p + 12, f.fip);
      put32(p + 16, f.fcs | (uint32_t(f.fop & 0x7FF) << 16));
      put32(p + 20, f.fdp);
      put32(p + 24, 0xFFFF0000u | f.fds);
    }
    return 28;
  }
  put16(p + 0, f.cw);
  put16(p + 2, f.sw);
  put16(p + 4, tw);
  if (real) {
    put16(p + 6, uint16_t(ip));
    put16(p + 8, uint16_t((((ip >> 16) & 0xF) << 12) | (f.fop & 0x7FF)));
    put16(p + 10, uint16_t(dp));
    put16(p + 12, uint16_t(((dp >> 16) & 0xF) << 12));
  } else {
    put16(p + 6, uint16_t(f.fip));
    put16(p + 8, f.fcs);
    put16(p + 10, uint16_t(f.fdp));
    put16(p + 12, f.fds);
  }
  return 14;
}

// Load the environment into `f` (registers untouched); returns its size.
unsigned env_load(const Cpu& c, const Insn& i, const uint8_t* p, FpuState& f) {
  const bool real = real_format(c);
  uint16_t cw, sw, tw;
  if (i.opsize == 4) {
    cw = get16(p + 0);
    sw = get16(p + 4);
    tw = get16(p + 8);
    if (real) {
      f.fip = (get32(p + 12) & 0xFFFF) | (((get32(p + 16) >> 12) & 0xFFFF) << 16);
      f.fop = get32(p + 16) & 0x7FF;
      f.fdp = (get32(p + 20) & 0xFFFF) | (((get32(p + 24) >> 12) & 0xFFFF) << 16);
      f.fcs = f.fds = 0;
    } else {
      f.fip = get32(p + 12);
      f.fcs = get16(p + 16);
      f.fop = get16(p + 18) & 0x7FF;
      f.fdp = get32(p + 20);
      f.fds = get16(p + 24);
    }
  } else {
    cw = get16(p + 0);
    sw = get16(p + 2);
    tw = get16(p + 4);
    if (real) {
      f.fip = get16(p + 6) | (uint32_t(get16(p + 8) >> 12) << 16);
      f.fop = get16(p + 8) & 0x7FF;
      f.fdp = get16(p + 10) | (uint32_t(get16(p + 12) >> 12) << 16);
      f.fcs = f.fds = 0;
    } else {
      f.fip = get16(p + 6);
      f.fcs = get16(p + 8);
      f.fdp = get16(p + 10);
      f.fds = get16(p + 12);
      f.fop = 0;  // the 16-bit protected-mode format has no opcode field
    }
  }
  f.cw = uint16_t((cw & 0x1F3F) | 0x40);
  f.sw = sw;
  f.tw = tw;
  return env_size(i);
}

// After loading: non-empty tags follow the register contents, ES/B the unmasked flags.
void settle(FpuState& f) {
  f.tw = fpu_full_tag_word(f);
  fpu_update_summary(f);
}

void h_fldenv(Cpu& c, const Insn& i) {
  check_nm(c);
  check_pending(c);
  uint8_t buf[28];
  read_guest(c, i.seg, effective_address(c, i), buf, env_size(i));
  FpuState f = c.fpu;
  env_load(c, i, buf, f);
  settle(f);
  c.fpu = f;
}

void h_fnstenv(Cpu& c, const Insn& i) {
  check_nm(c);
  uint8_t buf[28];
  unsigned n = env_store(c, i, buf);
  write_guest(c, i.seg, effective_address(c, i), buf, n);
  c.fpu.cw |= FSW_EXC;  // FNSTENV then masks all exceptions (SDM vol.2 FSTENV)
  fpu_update_summary(c.fpu);
}

void h_frstor(Cpu& c, const Insn& i) {
  check_nm(c);
  check_pending(c);
  uint8_t buf[108];
  const unsigned n = env_size(i) + 80;
  read_guest(c, i.seg, effective_address(c, i), buf, n);
  FpuState f = c.fpu;
  const unsigned e = env_load(c, i, buf, f);
  const unsigned top = (f.sw >> 11) & 7;
  for (unsigned k = 0; k < 8; ++k) {
    Float80& r = f.st[(top + k) & 7];
    std::memcpy(&r.mant, buf + e + 10 * k, 8);
    r.se = get16(buf + e + 10 * k + 8);
    r.pad[0] = r.pad[1] = r.pad[2] = 0;
  }
  settle(f);
  c.fpu = f;
}

void h_fnsave(Cpu& c, const Insn& i) {
  check_nm(c);
  uint8_t buf[108];
  const unsigned e = env_store(c, i, buf);
  const unsigned top = (c.fpu.sw >> 11) & 7;
  for (unsigned k = 0; k < 8; ++k) {
    const Float80& r = c.fpu.st[(top + k) & 7];
    std::memcpy(buf + e + 10 * k, &r.mant, 8);
    put16(buf + e + 10 * k + 8, r.se);
  }
  write_guest(c, i.seg, effective_address(c, i), buf, e + 80);
  fninit_state(c.fpu);  // FNSAVE ends with FNINIT (SDM vol.2 FSAVE)
}

}  // namespace

bool select_fpu(const DecodeContext& ctx, Insn& i) {
  const ZydisDecodedInstruction& zi = ctx.zi;
  if (zi.mnemonic == ZYDIS_MNEMONIC_FWAIT) {
    i.fn = h_fwait;
    i.flags |= INSN_ENDS_BLOCK;
    return true;
  }
  if (zi.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT || zi.opcode < 0xD8 || zi.opcode > 0xDF)
    return false;
  // Every x87 instruction ends its block: cpu.eip then gives the FPU instruction pointer.
  i.flags |= INSN_ENDS_BLOCK;
  const uint8_t modrm =
      uint8_t((zi.raw.modrm.mod << 6) | (zi.raw.modrm.reg << 3) | zi.raw.modrm.rm);
  i.imm = (uint32_t(zi.opcode) << 8) | modrm;
  const bool o16 = ctx.code32 == ((zi.attributes & ZYDIS_ATTRIB_HAS_OPERANDSIZE) != 0);
  i.opsize = o16 ? 2 : 4;  // selects the 14/28-byte environment formats
  if (i.lock) {
    i.fn = handler_ud;
    return true;
  }
  const unsigned esc = zi.opcode & 7, reg = zi.raw.modrm.reg;
  if (zi.raw.modrm.mod == 3) {
    switch (i.imm) {
      case 0xDBE2: i.fn = h_fnclex; return true;
      case 0xDBE3: i.fn = h_fninit; return true;
      case 0xDBE0: case 0xDBE1: case 0xDBE4: i.fn = h_legacy_nop; return true;
      case 0xDFE0: i.fn = h_fnstsw_ax; return true;
      default: break;
    }
    if ((esc == 2 || esc == 3) && modrm < 0xE0) i.fn = &h_reg<RK_FCMOV>;
    else if ((esc == 3 || esc == 7) && modrm >= 0xE8 && modrm < 0xF8) i.fn = &h_reg<RK_FCOMI>;
    else i.fn = &h_reg<RK_PLAIN>;
    return true;
  }
  Handler h = handler_ud;
  switch (esc) {
    case 0: h = &h_load<4>; break;  // FADD..FDIVR m32fp
    case 2: h = &h_load<4>; break;  // FIADD..FIDIVR m32int
    case 4: h = &h_load<8>; break;  // FADD..FDIVR m64fp
    case 6: h = &h_load<2>; break;  // FIADD..FIDIVR m16int
    case 1: {
      const Handler t[8] = {&h_load<4>, handler_ud, &h_store<4>, &h_store<4>,
                            h_fldenv,   h_fldcw,    h_fnstenv,   h_fnstcw};
      h = t[reg];
      break;
    }
    case 3: {  // /1 FISTTP is SSE3: #UD on this P6
      const Handler t[8] = {&h_load<4>, handler_ud, &h_store<4>, &h_store<4>,
                            handler_ud, &h_load<10>, handler_ud, &h_store<10>};
      h = t[reg];
      break;
    }
    case 5: {
      const Handler t[8] = {&h_load<8>, handler_ud, &h_store<8>, &h_store<8>,
                            h_frstor,   handler_ud, h_fnsave,    h_fnstsw_mem};
      h = t[reg];
      break;
    }
    case 7: {
      const Handler t[8] = {&h_load<2>,  handler_ud,  &h_store<2>, &h_store<2>,
                            &h_load<10>, &h_load<8>,  &h_store<10>, &h_store<8>};
      h = t[reg];
      break;
    }
  }
  i.fn = h;
  return true;
}

}  // namespace softcpu
