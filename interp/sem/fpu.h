// x87 FPU instructions (ESC opcodes D8-DF) and WAIT/FWAIT. The selector is in
// interp/ops_fpu.cpp.
//
// Computational and stack instructions run on the backend (interp/fpu_host.h: the host's x87,
// bit-exact); control instructions (FLDCW FNSTCW FNSTSW FNCLEX FNINIT FLDENV FNSTENV FRSTOR
// FNSAVE) are done here. Every x87 instruction ends its block, so cpu.eip is the next
// instruction and the FPU instruction pointer is cpu.eip - len.
//
// The backend is a non-throwing host function compiled code may call (softcpu_jit_fpu_exec,
// interp/fpu_host.h), so the computational handlers are inlined into regions like FNINIT FNCLEX
// FLDCW FNSTCW FNSTSW FWAIT and the legacy no-ops; the handlers that use the tag-word helper
// (FNSTENV FNSAVE FLDENV FRSTOR: host functions in interp/fpu_host.cpp) are called.
#pragma once
#include <cstring>

#include "interp/fpu_fast.h"
#include "interp/fpu_host.h"
#include "interp/sem/common.h"

namespace softcpu {

// i.imm: ESC opcode byte << 8 | ModRM byte (set by the selector).
inline uint16_t fpu_code_of(const Insn& i) { return uint16_t(i.imm); }

// SDM vol.3 2.5 and table 2-2: an ESC instruction raises #NM when CR0.EM or CR0.TS is set.
inline void fpu_check_nm(const Cpu& c) {
  if (SOFTCPU_UNLIKELY(c.cr0 & (CR0_EM | CR0_TS))) raise_fault(VEC_NM);
}
// A waiting instruction first reports a pending unmasked exception (SDM vol.1 8.6): #MF when
// CR0.NE = 1. With NE = 0 the PC reports it through FERR# (Cpu::ferr; the machine raises
// IRQ13) and the instruction proceeds as if IGNNE# were asserted (SDM vol.1 D.2.1: on a P6
// FERR# is asserted at the next waiting instruction). FERR# follows ES as sampled there, and
// FNINIT/FNCLEX (which clear ES) deassert it.
inline void fpu_check_pending(Cpu& c) {
  if (SOFTCPU_LIKELY(!(c.fpu.sw & FSW_ES))) {
    c.ferr = 0;
    return;
  }
  if (c.cr0 & CR0_NE) raise_fault(VEC_MF);
  c.ferr = 1;
}

// Non-control instructions record their address and opcode (SDM vol.1 8.1.8, 8.1.9).
inline void fpu_note_insn(Cpu& c, const Insn& i) {
  c.fpu.fip = c.eip - i.len;
  c.fpu.fcs = c.seg[CS].selector;
  c.fpu.fop = fpu_code_of(i) & 0x7FF;
}
inline void fpu_note_data(Cpu& c, const Insn& i, uint32_t ea) {
  c.fpu.fdp = ea;
  c.fpu.fds = c.seg[i.seg].selector;
}

inline void fpu_put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void fpu_put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline uint16_t fpu_get16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t fpu_get32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }

// Multi-byte guest operands: the whole range is checked first, so a fault leaves nothing done.
inline void fpu_read_guest(Cpu& c, unsigned seg, uint32_t off, uint8_t* p, unsigned n) {
  check_read(c, seg, off, n);
  unsigned k = 0;
  for (; k + 4 <= n; k += 4) fpu_put32(p + k, read_mem<4>(c, seg, off + k));
  for (; k + 2 <= n; k += 2) fpu_put16(p + k, uint16_t(read_mem<2>(c, seg, off + k)));
  for (; k < n; ++k) p[k] = uint8_t(read_mem<1>(c, seg, off + k));
}
inline void fpu_write_guest(Cpu& c, unsigned seg, uint32_t off, const uint8_t* p, unsigned n) {
  probe_write_mem(c, seg, off, n);
  unsigned k = 0;
  for (; k + 4 <= n; k += 4) write_mem<4>(c, seg, off + k, fpu_get32(p + k));
  for (; k + 2 <= n; k += 2) write_mem<2>(c, seg, off + k, fpu_get16(p + k));
  for (; k < n; ++k) write_mem<1>(c, seg, off + k, p[k]);
}

// ---- computational and stack instructions (backend) ----------------------------------

// Register forms: plain, FCMOVcc (reads CF/ZF/PF), FCOMI/FUCOMI(P) (writes them).
enum FpuRegKind : unsigned { FPU_REG_PLAIN, FPU_REG_FCMOV, FPU_REG_FCOMI };

template <unsigned K>
void fpu_reg_op(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  fpu_check_pending(c);
  const uint8_t fl = K == FPU_REG_FCMOV ? uint8_t(read_eflags(c)) : 0;
  FpuExecResult r = fpu_backend_exec(c.fpu, fpu_code_of(i), nullptr, 0, false, fl);
  if constexpr (K == FPU_REG_FCOMI) {
    // ZF PF CF from the comparison, OF SF AF cleared: also when an unmasked #IA leaves the
    // result unordered (ZF PF CF = 111), as the hardware does (checked by the native oracle).
    set_flags(c, ZF | PF | CF | OF | SF | AF, r.flags & (ZF | PF | CF));
  }
  fpu_note_insn(c, i);
}

// Memory-source forms: loads and arithmetic with an N-byte operand.
template <unsigned N>
void fpu_load_op(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  fpu_check_pending(c);
  const uint32_t ea = effective_address(c, i);
  uint8_t buf[16];
  fpu_read_guest(c, i.seg, ea, buf, N);
  if (!(N == 8 && fpu_fast_fld64(c.fpu, fpu_code_of(i), buf)))
    fpu_backend_exec(c.fpu, fpu_code_of(i), buf, N, false, 0);
  fpu_note_insn(c, i);
  fpu_note_data(c, i, ea);
}

// Memory-destination forms: stores of an N-byte operand.
template <unsigned N>
void fpu_store_op(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  fpu_check_pending(c);
  const uint32_t ea = effective_address(c, i);
  probe_write_mem(c, i.seg, ea, N);  // nothing may fault after the FPU state changes
  uint8_t buf[16];
  const bool stored = (N == 8 && fpu_fast_fst64(c.fpu, fpu_code_of(i), buf)) ||
                      fpu_backend_exec(c.fpu, fpu_code_of(i), buf, N, true, 0).stored;
  if (stored) fpu_write_guest(c, i.seg, ea, buf, N);
  fpu_note_insn(c, i);
  fpu_note_data(c, i, ea);
}

// ---- control instructions ------------------------------------------------------------

inline void fpu_fninit_state(FpuState& f) {  // SDM vol.2 FINIT: registers keep their contents
  f.cw = 0x037F;
  f.sw = 0;
  f.tw = 0xFFFF;
  f.fip = f.fdp = 0;
  f.fcs = f.fds = 0;
  f.fop = 0;
}

inline void fpu_fninit(Cpu& c, const Insn&) {
  fpu_check_nm(c);
  fpu_fninit_state(c.fpu);
  c.ferr = 0;
}

inline void fpu_fnclex(Cpu& c, const Insn&) {
  fpu_check_nm(c);
  c.fpu.sw &= uint16_t(~(FSW_STICKY | FSW_ES | FSW_B));
  c.ferr = 0;
}

// FENI/FDISI/FSETPM (DB E0, E1, E4): 8087/287 instructions, no-ops on the 387 and later.
inline void fpu_legacy_nop(Cpu& c, const Insn&) { fpu_check_nm(c); }

inline void fpu_fldcw(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  fpu_check_pending(c);
  const uint16_t v = uint16_t(read_mem<2>(c, i.seg, effective_address(c, i)));
  c.fpu.cw = uint16_t((v & 0x1F3F) | 0x40);  // reserved bits as the hardware keeps them
  fpu_update_summary(c.fpu);  // newly unmasked flags become pending (SDM vol.2 FLDCW)
}

inline void fpu_fnstcw(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  write_mem<2>(c, i.seg, effective_address(c, i), c.fpu.cw);
}

inline void fpu_fnstsw_mem(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  write_mem<2>(c, i.seg, effective_address(c, i), c.fpu.sw);
}

inline void fpu_fnstsw_ax(Cpu& c, const Insn&) {
  fpu_check_nm(c);
  set_reg<2>(c, EAX, c.fpu.sw);
}

// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set (SDM vol.3 table 2-2), then pending
// unmasked exceptions.
inline void fpu_fwait(Cpu& c, const Insn&) {
  if (SOFTCPU_UNLIKELY((c.cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))) raise_fault(VEC_NM);
  fpu_check_pending(c);
}

// ---- environment and state images (SDM vol.1 8.1.10, figures 8-9 to 8-12) -------------

inline bool fpu_real_format(const Cpu& c) { return !(c.cr0 & CR0_PE) || (c.eflags & VM); }
inline unsigned fpu_env_size(const Insn& i) { return i.opsize == 4 ? 28 : 14; }

// Store the environment in the format for the operand size and mode; returns its size.
inline unsigned fpu_env_store(const Cpu& c, const Insn& i, uint8_t* p) {
  const FpuState& f = c.fpu;
  const uint16_t tw = fpu_full_tag_word(f);
  const bool real = fpu_real_format(c);
  // Real-mode formats hold 20/32-bit linear pointers (FIP = CS * 16 + IP).
  const uint32_t ip = real ? (uint32_t(f.fcs) << 4) + f.fip : f.fip;
  const uint32_t dp = real ? (uint32_t(f.fds) << 4) + f.fdp : f.fdp;
  if (i.opsize == 4) {
    fpu_put32(p + 0, 0xFFFF0000u | f.cw);
    fpu_put32(p + 4, 0xFFFF0000u | f.sw);
    fpu_put32(p + 8, 0xFFFF0000u | tw);
    if (real) {
      fpu_put32(p + 12, 0xFFFF0000u | (ip & 0xFFFF));
      fpu_put32(p + 16, ((ip >> 16) << 12) | (f.fop & 0x7FF));
      fpu_put32(p + 20, 0xFFFF0000u | (dp & 0xFFFF));
      fpu_put32(p + 24, (dp >> 16) << 12);
    } else {
      fpu_put32(p + 12, f.fip);
      fpu_put32(p + 16, f.fcs | (uint32_t(f.fop & 0x7FF) << 16));
      fpu_put32(p + 20, f.fdp);
      fpu_put32(p + 24, 0xFFFF0000u | f.fds);
    }
    return 28;
  }
  fpu_put16(p + 0, f.cw);
  fpu_put16(p + 2, f.sw);
  fpu_put16(p + 4, tw);
  if (real) {
    fpu_put16(p + 6, uint16_t(ip));
    fpu_put16(p + 8, uint16_t((((ip >> 16) & 0xF) << 12) | (f.fop & 0x7FF)));
    fpu_put16(p + 10, uint16_t(dp));
    fpu_put16(p + 12, uint16_t(((dp >> 16) & 0xF) << 12));
  } else {
    fpu_put16(p + 6, uint16_t(f.fip));
    fpu_put16(p + 8, f.fcs);
    fpu_put16(p + 10, uint16_t(f.fdp));
    fpu_put16(p + 12, f.fds);
  }
  return 14;
}

// Load the environment into `f` (registers untouched); returns its size.
inline unsigned fpu_env_load(const Cpu& c, const Insn& i, const uint8_t* p, FpuState& f) {
  const bool real = fpu_real_format(c);
  uint16_t cw, sw, tw;
  if (i.opsize == 4) {
    cw = fpu_get16(p + 0);
    sw = fpu_get16(p + 4);
    tw = fpu_get16(p + 8);
    if (real) {
      f.fip = (fpu_get32(p + 12) & 0xFFFF) | (((fpu_get32(p + 16) >> 12) & 0xFFFF) << 16);
      f.fop = fpu_get32(p + 16) & 0x7FF;
      f.fdp = (fpu_get32(p + 20) & 0xFFFF) | (((fpu_get32(p + 24) >> 12) & 0xFFFF) << 16);
      f.fcs = f.fds = 0;
    } else {
      f.fip = fpu_get32(p + 12);
      f.fcs = fpu_get16(p + 16);
      f.fop = fpu_get16(p + 18) & 0x7FF;
      f.fdp = fpu_get32(p + 20);
      f.fds = fpu_get16(p + 24);
    }
  } else {
    cw = fpu_get16(p + 0);
    sw = fpu_get16(p + 2);
    tw = fpu_get16(p + 4);
    if (real) {
      f.fip = fpu_get16(p + 6) | (uint32_t(fpu_get16(p + 8) >> 12) << 16);
      f.fop = fpu_get16(p + 8) & 0x7FF;
      f.fdp = fpu_get16(p + 10) | (uint32_t(fpu_get16(p + 12) >> 12) << 16);
      f.fcs = f.fds = 0;
    } else {
      f.fip = fpu_get16(p + 6);
      f.fcs = fpu_get16(p + 8);
      f.fdp = fpu_get16(p + 10);
      f.fds = fpu_get16(p + 12);
      f.fop = 0;  // the 16-bit protected-mode format has no opcode field
    }
  }
  f.cw = uint16_t((cw & 0x1F3F) | 0x40);
  f.sw = sw;
  f.tw = tw;
  return fpu_env_size(i);
}

// After loading: non-empty tags follow the register contents, ES/B the unmasked flags.
inline void fpu_settle(FpuState& f) {
  f.tw = fpu_full_tag_word(f);
  fpu_update_summary(f);
}

inline void fpu_fldenv(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  fpu_check_pending(c);
  uint8_t buf[28];
  fpu_read_guest(c, i.seg, effective_address(c, i), buf, fpu_env_size(i));
  FpuState f = c.fpu;
  fpu_env_load(c, i, buf, f);
  fpu_settle(f);
  c.fpu = f;
}

inline void fpu_fnstenv(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  uint8_t buf[28];
  unsigned n = fpu_env_store(c, i, buf);
  fpu_write_guest(c, i.seg, effective_address(c, i), buf, n);
  c.fpu.cw |= FSW_EXC;  // FNSTENV then masks all exceptions (SDM vol.2 FSTENV)
  fpu_update_summary(c.fpu);
}

inline void fpu_frstor(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  fpu_check_pending(c);
  uint8_t buf[108];
  const unsigned n = fpu_env_size(i) + 80;
  fpu_read_guest(c, i.seg, effective_address(c, i), buf, n);
  FpuState f = c.fpu;
  const unsigned e = fpu_env_load(c, i, buf, f);
  const unsigned top = fpu_top(f.sw);
  for (unsigned k = 0; k < 8; ++k) {
    Float80& r = f.st[(top + k) & 7];
    std::memcpy(&r.mant, buf + e + 10 * k, 8);
    r.se = fpu_get16(buf + e + 10 * k + 8);
    r.pad[0] = r.pad[1] = r.pad[2] = 0;
  }
  fpu_settle(f);
  c.fpu = f;
}

inline void fpu_fnsave(Cpu& c, const Insn& i) {
  fpu_check_nm(c);
  uint8_t buf[108];
  const unsigned e = fpu_env_store(c, i, buf);
  const unsigned top = fpu_top(c.fpu.sw);
  for (unsigned k = 0; k < 8; ++k) {
    const Float80& r = c.fpu.st[(top + k) & 7];
    std::memcpy(buf + e + 10 * k, &r.mant, 8);
    fpu_put16(buf + e + 10 * k + 8, r.se);
  }
  fpu_write_guest(c, i.seg, effective_address(c, i), buf, e + 80);
  fpu_fninit_state(c.fpu);  // FNSAVE ends with FNINIT (SDM vol.2 FSAVE)
}

// ---- handler tables ---------------------------------------------------------------------

using FpuRegKinds = Dim<FPU_REG_PLAIN, FPU_REG_FCMOV, FPU_REG_FCOMI>;
// Memory operand sizes: m16int, m32fp/m32int, m64fp/m64int, m80fp/m80bcd.
using FpuMemSizes = Dim<2u, 4u, 8u, 10u>;

inline constexpr auto kFpuReg =
    make_handlers<FpuRegKinds>([]<FpuRegKind K>() { return &fpu_reg_op<K>; });
inline constexpr auto kFpuLoad =
    make_handlers<FpuMemSizes>([]<unsigned N>() { return &fpu_load_op<N>; });
inline constexpr auto kFpuStore =
    make_handlers<FpuMemSizes>([]<unsigned N>() { return &fpu_store_op<N>; });
inline constexpr auto kFninit = kSingle<&fpu_fninit>;
inline constexpr auto kFnclex = kSingle<&fpu_fnclex>;
inline constexpr auto kFpuLegacyNop = kSingle<&fpu_legacy_nop>;
inline constexpr auto kFldcw = kSingle<&fpu_fldcw>;
inline constexpr auto kFnstcw = kSingle<&fpu_fnstcw>;
inline constexpr auto kFnstswMem = kSingle<&fpu_fnstsw_mem>;
inline constexpr auto kFnstswAx = kSingle<&fpu_fnstsw_ax>;
inline constexpr auto kFwait = kSingle<&fpu_fwait>;
inline constexpr auto kFldenv = kSingle<&fpu_fldenv>;
inline constexpr auto kFnstenv = kSingle<&fpu_fnstenv>;
inline constexpr auto kFrstor = kSingle<&fpu_frstor>;
inline constexpr auto kFnsave = kSingle<&fpu_fnsave>;

}  // namespace softcpu
