// x87 backend on the host's own x87 unit (x86-64 hosts). See fpu_host.h.
#include "interp/fpu_host.h"

#include <cstring>

#include "interp/fpu_host_cases.h"

namespace softcpu {

namespace {

inline uint16_t get16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t get32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace

unsigned fpu_tag_of(const Float80& r) {
  const unsigned exp = r.se & 0x7FFF;
  if (exp == 0x7FFF) return 2;                      // infinity, NaN, pseudo-NaN/infinity
  if (exp == 0) return r.mant == 0 ? 1 : 2;         // zero; denormal, pseudo-denormal
  return (r.mant >> 63) ? 0 : 2;                    // normal; unnormal
}

uint16_t fpu_full_tag_word(const FpuState& f) {
  uint16_t tw = 0;
  for (unsigned k = 0; k < 8; ++k) {
    unsigned t = fpu_tag_at(f.tw, k);
    if (t != 3) t = fpu_tag_of(f.st[k]);
    tw |= uint16_t(t << (2 * k));
  }
  return tw;
}

namespace {

// The image with the tag word `tw` as given (the backend's state keeps computed tags already).
void write_image(const FpuState& f, FpuImage& img, uint16_t tw) {
  uint8_t* p = img.b;
  put32(p + 0, 0xFFFF0000u | f.cw);
  put32(p + 4, 0xFFFF0000u | f.sw);
  put32(p + 8, 0xFFFF0000u | tw);
  put32(p + 12, f.fip);
  put32(p + 16, f.fcs | (uint32_t(f.fop & 0x7FF) << 16));
  put32(p + 20, f.fdp);
  put32(p + 24, 0xFFFF0000u | f.fds);
  const unsigned top = fpu_top(f.sw);
  for (unsigned i = 0; i < 8; ++i) {
    const Float80& r = f.st[(top + i) & 7];
    std::memcpy(p + 28 + 10 * i, &r.mant, 8);
    put16(p + 28 + 10 * i + 8, r.se);
  }
}

// The state of an image, tag word as stored (neither recomputed nor summarised).
void read_image(FpuState& f, const FpuImage& img) {
  const uint8_t* p = img.b;
  // Reserved CW bits: 6 reads as 1, 7 and 13-15 as 0 (checked on the host).
  f.cw = uint16_t((get16(p + 0) & 0x1F3F) | 0x40);
  f.sw = get16(p + 4);
  f.tw = get16(p + 8);
  f.fip = get32(p + 12);
  f.fcs = get16(p + 16);
  f.fop = get16(p + 18) & 0x7FF;
  f.fdp = get32(p + 20);
  f.fds = get16(p + 24);
  const unsigned top = fpu_top(f.sw);
  for (unsigned i = 0; i < 8; ++i) {
    Float80& r = f.st[(top + i) & 7];
    std::memcpy(&r.mant, p + 28 + 10 * i, 8);
    r.se = get16(p + 28 + 10 * i + 8);
    r.pad[0] = r.pad[1] = r.pad[2] = 0;
  }
}

}  // namespace

void fpu_to_image(const FpuState& f, FpuImage& img) { write_image(f, img, fpu_full_tag_word(f)); }

void fpu_from_image(FpuState& f, const FpuImage& img) {
  read_image(f, img);
  f.tw = fpu_full_tag_word(f);
  fpu_update_summary(f);
}

#if defined(__x86_64__) || defined(__i386__)

namespace {

// Load the image, set the host flags from AH (FCMOVcc reads CF/ZF/PF), run the instruction,
// read the flags back (FCOMI writes CF/ZF/PF), save the state (FNSAVE also reinitializes the
// host FPU, so an unmasked exception the guest raised never reaches the host), and restore
// the host's control word. `mem` (RDI) is the memory operand of the normalized memory forms.
#define SOFTCPU_X87_RUN(bytes)                                                               \
  asm volatile("fnstcw %[hcw]\n\t"                                                           \
               "frstor %[img]\n\t"                                                           \
               "sahf\n\t" bytes "\n\t"                                                       \
               "lahf\n\t"                                                                    \
               "fnsave %[img]\n\t"                                                           \
               "fldcw %[hcw]"                                                                \
               : [img] "+m"(*img), [hcw] "+m"(hcw), "+a"(ax)                                 \
               : "D"(mem)                                                                    \
               : "memory", "cc")

#define SOFTCPU_X87_CASE(op, m) \
  case ((op) << 8) | (m): SOFTCPU_X87_RUN(".byte " #op ", " #m); break;
#define SOFTCPU_X87_ROW(op, m)                                                               \
  SOFTCPU_X87_CASE(op, m + 0) SOFTCPU_X87_CASE(op, m + 1) SOFTCPU_X87_CASE(op, m + 2)     \
  SOFTCPU_X87_CASE(op, m + 3) SOFTCPU_X87_CASE(op, m + 4) SOFTCPU_X87_CASE(op, m + 5)     \
  SOFTCPU_X87_CASE(op, m + 6) SOFTCPU_X87_CASE(op, m + 7)
#define SOFTCPU_X87_ALL(op) \
  SOFTCPU_X87_ROWS_OF(SOFTCPU_X87_ROW, op) SOFTCPU_X87_MEMS_OF(SOFTCPU_X87_CASE, op)

// Returns AH after the instruction (LAHF).
uint8_t host_run(uint16_t code, FpuImage* img, uint8_t* mem, uint8_t ah) {
  uint16_t hcw = 0;
  unsigned long ax = (unsigned long)ah << 8;
  switch (code) {
    SOFTCPU_X87_ALL(0xD8)
    SOFTCPU_X87_ALL(0xD9)
    SOFTCPU_X87_ALL(0xDA)
    SOFTCPU_X87_ALL(0xDB)
    SOFTCPU_X87_ALL(0xDC)
    SOFTCPU_X87_ALL(0xDD)
    SOFTCPU_X87_ALL(0xDE)
    SOFTCPU_X87_ALL(0xDF)
    default: break;
  }
  return uint8_t(ax >> 8);
}

}  // namespace

FpuExecResult fpu_roundtrip_exec(FpuState& f, uint16_t code, uint8_t* mem, unsigned mem_size,
                                 bool mem_store, uint8_t flags_in) {
  // Run with the sticky exception flags cleared (the instruction's behaviour does not depend
  // on them, and a pending unmasked one would trap on the host), then merge them back.
  const uint16_t sticky = f.sw & FSW_STICKY;
  FpuState in = f;
  in.sw &= uint16_t(~(FSW_STICKY | FSW_ES | FSW_B));
  // The tags go in as they are and come back as FNSAVE wrote them, without recomputing them
  // (two thirds of this function's own work): FRSTOR looks only at empty or not, and FNSAVE
  // stores tags computed from the registers (SDM vol.1 8.1.7), which is what Cpu::fpu keeps.
  FpuImage img0;
  write_image(in, img0, in.tw);
  // Memory forms run with the operand at [RDI].
  const uint16_t norm = (code & 0xC0) == 0xC0 ? code : uint16_t((code & 0xFF38) | 0x07);
  const uint8_t ah_in = uint8_t((flags_in & 0xD5) | 2);
  uint8_t buf[16] = {};
  FpuImage img = img0;
  uint8_t ah;
  bool stored = false;
  if (!mem_store) {
    if (mem) std::memcpy(buf, mem, mem_size);
    ah = host_run(norm, &img, buf, ah_in);
  } else {
    // Did the instruction store? Run with one fill pattern; if the bytes still hold it, run
    // again with another (same input state, same outcome) to tell "stored" from "not".
    std::memset(buf, 0xA5, sizeof buf);
    ah = host_run(norm, &img, buf, ah_in);
    for (unsigned k = 0; k < mem_size; ++k) stored |= buf[k] != 0xA5;
    if (!stored) {
      img = img0;
      std::memset(buf, 0x5A, sizeof buf);
      ah = host_run(norm, &img, buf, ah_in);
      for (unsigned k = 0; k < mem_size; ++k) stored |= buf[k] != 0x5A;
    }
    if (stored) std::memcpy(mem, buf, mem_size);
  }
  const uint32_t fip = f.fip, fdp = f.fdp;
  const uint16_t fcs = f.fcs, fds = f.fds, fop = f.fop;
  read_image(f, img);
  f.fip = fip; f.fdp = fdp; f.fcs = fcs; f.fds = fds; f.fop = fop;
  const uint16_t raised = f.sw & FSW_STICKY;
  f.sw |= sticky;
  fpu_update_summary(f);
  return {stored, raised, ah};
}

}  // namespace softcpu

extern "C" softcpu::FpuExecResult softcpu_jit_fpu_exec(softcpu::FpuState* f, uint16_t code,
                                                       uint8_t* mem, uint32_t mem_size,
                                                       bool mem_store, uint8_t flags_in) noexcept {
  softcpu::FpuExecResult r;
  if (softcpu::fpu_quick_exec(*f, code, mem, mem_size, mem_store, flags_in, r)) return r;
  return softcpu::fpu_roundtrip_exec(*f, code, mem, mem_size, mem_store, flags_in);
}

namespace softcpu {

#else
#error "fpu_host.cpp needs an x86 host; provide a software x87 backend for this host"
#endif

}  // namespace softcpu
