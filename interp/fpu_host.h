// The x87 execution backend: runs one x87 instruction on an FpuState.
//
// This implementation (fpu_host.cpp, fpu_quick.cpp) runs the host's own x87 unit (the host is
// x86-64) with the guest's control word: the frequent cases with only their operands loaded
// (fpu_quick_exec), the rest with the whole guest state loaded (FRSTOR), the same instruction
// executed and the state saved back (FNSAVE), so results, status flags, C0-C3, tags and stack
// faults are bit-exact, masked or unmasked. A software implementation for other hosts would
// provide the same function.
#pragma once
#include <cstdint>

#include "interp/cpu.h"

namespace softcpu {

// Status word bits (SDM vol.1 8.1.3).
enum : uint16_t {
  FSW_IE = 1 << 0, FSW_DE = 1 << 1, FSW_ZE = 1 << 2, FSW_OE = 1 << 3, FSW_UE = 1 << 4,
  FSW_PE = 1 << 5, FSW_SF = 1 << 6, FSW_ES = 1 << 7, FSW_C0 = 1 << 8, FSW_C1 = 1 << 9,
  FSW_C2 = 1 << 10, FSW_TOP = 7 << 11, FSW_C3 = 1 << 14, FSW_B = 1 << 15,
  FSW_EXC = 0x3F,                       // the six exception flags (and mask bits in cw)
  FSW_STICKY = FSW_EXC | FSW_SF,
  FSW_CC = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3,
};

// TOP, the physical register that is ST(0), from a status word (SDM vol.1 8.1.3.1).
inline unsigned fpu_top(uint16_t sw) { return (sw & FSW_TOP) >> 11; }
// The tag-word entry of physical register `phys` (SDM vol.1 8.1.7: 0 valid, 1 zero, 2 special,
// 3 empty).
inline unsigned fpu_tag_at(uint16_t tw, unsigned phys) { return (tw >> (2 * phys)) & 3; }
// Set that entry of `f`'s tag word.
inline void fpu_set_tag(FpuState& f, unsigned phys, unsigned t) {
  f.tw = uint16_t((f.tw & ~(3u << (2 * phys))) | (t << (2 * phys)));
}

// The 108-byte image FNSAVE/FRSTOR use in 32-bit protected mode (SDM vol.1 8.1.10, figure
// 8-9 and 8-11): CW, SW, TW (each in the low half of a dword), FIP, FCS|FOP<<16, FDP, FDS,
// then ST(0)..ST(7) (10 bytes each, in stack order).
struct FpuImage {
  uint8_t b[108];
};

// The image of `f` (reserved halves as the P6 stores them: all ones).
void fpu_to_image(const FpuState& f, FpuImage& img);
// Load `f` from an image: registers, CW (reserved bits as the hardware keeps them), SW, tags
// (an entry that is not "empty" is recomputed from the register), pointers, opcode; then ES
// and B follow the unmasked exception flags.
void fpu_from_image(FpuState& f, const FpuImage& img);

// Tag of a register's contents (SDM vol.1 8.1.7): 0 valid, 1 zero, 2 special.
unsigned fpu_tag_of(const Float80& r);
// The tag word with every non-empty entry recomputed from the register contents.
uint16_t fpu_full_tag_word(const FpuState& f);
// ES and B summarize the exception flags not masked in CW (SDM vol.1 8.1.3.3). Inline, so
// FLDCW, which uses it, stays inlinable in compiled code.
inline void fpu_update_summary(FpuState& f) {
  if (f.sw & ~f.cw & FSW_EXC) f.sw |= FSW_ES | FSW_B;
  else f.sw &= uint16_t(~(FSW_ES | FSW_B));
}

// What one instruction did besides updating the state.
struct FpuExecResult {
  bool stored;      // a memory-destination form wrote `mem`
  uint16_t raised;  // exception flags (and SF) this instruction raised
  uint8_t flags;    // EFLAGS low byte after it (CF/ZF/PF from FCOMI and family)
};

// Execute one x87 instruction. `code` = ESC opcode byte (D8-DF) << 8 | ModRM byte. A
// memory form's operand is `mem` (`mem_size` bytes, at most 16): read for loads; for stores
// (`mem_store`), `mem` receives the value when the instruction stores it (an unmasked
// exception can suppress the store). `flags_in` is the EFLAGS low byte (FCMOVcc reads CF/ZF/PF).
// The caller has made sure the instruction is a valid computational or stack instruction (not
// FNSAVE/FRSTOR/FLDENV/FNSTENV/FNINIT/FNCLEX/FNSTSW/FLDCW/FNSTCW, which are done in software)
// and has checked CR0.EM/TS and pending exceptions. FIP/FDP/FOP are left alone.
//
// The backend is one host function both tiers call: softcpu_jit_fpu_exec (below), named in
// the JIT runtime's family (interp/jit_abi.h) because compiled code may call it too: it never
// throws and touches only `f` and `mem`, so the handlers that call it are inlined into a region
// (translator/semantics.cpp) and the region goes on after an x87 instruction.
inline FpuExecResult fpu_backend_exec(FpuState& f, uint16_t code, uint8_t* mem, unsigned mem_size,
                                      bool mem_store, uint8_t flags_in);

// The backend's two ways, which softcpu_jit_fpu_exec tries in this order (tests compare them):
// the quick paths (interp/fpu_quick.cpp: stack-only forms in software; arithmetic, compares,
// loads and stores on the host x87 with only the operands loaded), which return false and
// change nothing when a case is not theirs (a stack fault, an unmasked exception raised or
// #U unmasked, an instruction they do not do); and the round trip, which loads the whole
// state into the host FPU (FRSTOR), runs the instruction and saves it (FNSAVE): every case.
bool fpu_quick_exec(FpuState& f, uint16_t code, uint8_t* mem, unsigned mem_size, bool mem_store,
                    uint8_t flags_in, FpuExecResult& result);
FpuExecResult fpu_roundtrip_exec(FpuState& f, uint16_t code, uint8_t* mem, unsigned mem_size,
                                 bool mem_store, uint8_t flags_in);

}  // namespace softcpu

extern "C" softcpu::FpuExecResult softcpu_jit_fpu_exec(softcpu::FpuState* f, uint16_t code,
                                                       uint8_t* mem, uint32_t mem_size,
                                                       bool mem_store, uint8_t flags_in) noexcept;

namespace softcpu {
inline FpuExecResult fpu_backend_exec(FpuState& f, uint16_t code, uint8_t* mem, unsigned mem_size,
                                      bool mem_store, uint8_t flags_in) {
  return softcpu_jit_fpu_exec(&f, code, mem, mem_size, mem_store, flags_in);
}
}  // namespace softcpu
