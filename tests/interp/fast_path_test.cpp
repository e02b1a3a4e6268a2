// The handlers' fast paths (docs/design.md "The tier-0 fast path", fourth round): the r/m forms
// chosen at decode time, the limit check skipped in a segment that allows every offset, and
// the conditions evaluated straight from a 32-bit CMP/SUB. Each is checked against what the
// general path or the SDM says.
#include <gtest/gtest.h>

#include "interp/decode.h"
#include "interp/sem/alu.h"
#include "interp/sem/data.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::make_desc;

// ---- r/m forms ----------------------------------------------------------------------------

TEST(RmForm, DecoderPicksTheFormOfTheAddress) {
  InsnDecoder d;
  const uint8_t bd[] = {0x8B, 0x43, 0x08};              // mov eax, [ebx+8]
  const uint8_t abs[] = {0x8B, 0x05, 0, 0x30, 0, 0};    // mov eax, [0x3000]
  const uint8_t sib[] = {0x8B, 0x44, 0xB3, 0x08};       // mov eax, [ebx+esi*4+8]
  const uint8_t a16[] = {0x67, 0x8B, 0x47, 0x08};       // mov eax, [bx+8]
  const uint8_t reg[] = {0x8B, 0xC3};                   // mov eax, ebx
  const uint8_t add[] = {0x03, 0x44, 0xB3, 0x08};       // add eax, [ebx+esi*4+8]
  const uint8_t lea[] = {0x8D, 0x43, 0x08};             // lea eax, [ebx+8]
  EXPECT_EQ(d.decode(bd, sizeof bd, true, true).fn, kMovRegRm.get(4u, unsigned(RM_BD32)));
  EXPECT_EQ(d.decode(abs, sizeof abs, true, true).fn, kMovRegRm.get(4u, unsigned(RM_BD32)));
  EXPECT_EQ(d.decode(sib, sizeof sib, true, true).fn, kMovRegRm.get(4u, unsigned(RM_SIB32)));
  EXPECT_EQ(d.decode(a16, sizeof a16, true, true).fn, kMovRegRm.get(4u, unsigned(RM_MEM)));
  EXPECT_EQ(d.decode(reg, sizeof reg, true, true).fn, kMovRegRm.get(4u, unsigned(RM_REG)));
  EXPECT_EQ(d.decode(add, sizeof add, true, true).fn,
            kAluRegRm.get(4u, unsigned(A_ADD), unsigned(RM_SIB32)));
  EXPECT_EQ(d.decode(lea, sizeof lea, true, true).fn, kLea.get(4u, unsigned(RM_BD32)));
}

// Each form computes the address the general formula does, 16-bit wrap included.
TEST(RmForm, EveryFormLoadsFromTheRightAddress) {
  CpuHarness h;
  h.wr32(0x3008, 0x11111111);   // [ebx+8]
  h.wr32(0x3000, 0x22222222);   // [0x3000]
  h.wr32(0x3018, 0x33333333);   // [ebx+esi*4+8], esi = 4
  h.wr32(0x0004, 0x44444444);   // [bx+8] with bx = 0xFFFC wraps to 4
  h.cpu.regs[EBX] = 0x3000;
  h.cpu.regs[ESI] = 4;
  h.cpu.regs[EBP] = 0xFFFC;
  h.code({0x8B, 0x43, 0x08,                    // mov eax, [ebx+8]
          0x8B, 0x0D, 0x00, 0x30, 0x00, 0x00,  // mov ecx, [0x3000]
          0x8B, 0x54, 0xB3, 0x08,              // mov edx, [ebx+esi*4+8]
          0x89, 0xEB,                          // mov ebx, ebp
          0x67, 0x8B, 0x7F, 0x08,              // mov edi, [bx+8]
          0x67, 0x8D, 0x77, 0x08});            // lea esi, [bx+8]
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x11111111u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x22222222u);
  EXPECT_EQ(h.cpu.regs[EDX], 0x33333333u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x44444444u);
  EXPECT_EQ(h.cpu.regs[ESI], 4u);
}

// ---- segments that allow every offset -------------------------------------------------------

// A flat segment skips the limit test on the fast path; an access that wraps past 4 GiB is
// unaligned, goes to the slow path and must still fault (#GP(0), #SS(0) for SS), with the
// destination unchanged (SDM vol.3 6.15, exceptions 12 and 13).
TEST(AnywhereSegment, AccessWrappingPast4GiBFaults) {
  struct Case {
    std::initializer_list<uint8_t> code;
    int vector;
  };
  const Case cases[] = {
      {{0xA1, 0xFE, 0xFF, 0xFF, 0xFF}, 13},        // mov eax, [0xFFFFFFFE]
      {{0xA3, 0xFD, 0xFF, 0xFF, 0xFF}, 13},        // mov [0xFFFFFFFD], eax
      {{0x66, 0xA1, 0xFF, 0xFF, 0xFF, 0xFF}, 13},  // mov ax, [0xFFFFFFFF]
      {{0x8B, 0x43, 0xFF}, 13},                    // mov eax, [ebx-1] (ebx = 0)
      {{0x03, 0x43, 0xFF}, 13},                    // add eax, [ebx-1]
      {{0x01, 0x43, 0xFF}, 13},                    // add [ebx-1], eax
      {{0x36, 0x8B, 0x43, 0xFE}, 12},              // mov eax, ss:[ebx-2]
  };
  for (const Case& k : cases) {
    CpuHarness h;
    h.cpu.regs[EAX] = 0x5A5A5A5A;
    h.cpu.regs[EBX] = 0;
    h.code(k.code);
    RUN_VECTOR(h, k.vector);
    EXPECT_EQ(h.cpu.regs[EAX], 0x5A5A5A5Au);
  }
}

// A 4 GiB segment with a base (a TLS or per-CPU segment) also skips the test: the linear
// address is base + offset mod 4 GiB, and the wrap past the limit still faults.
TEST(AnywhereSegment, BasedSegmentAddsItsBaseAndStillFaultsAtTheWrap) {
  CpuHarness h;
  h.set_gdt_entry(3, make_desc(0x1000, 0xFFFFF, 0x93, 0xC));  // data, base 0x1000, 4 GiB
  h.wr32(0x0000, 0xCAFEF00D);
  h.wr32(0x1004, 0x12345678);
  h.cpu.regs[EAX] = 0;
  h.code({0x66, 0xB8, 0x18, 0x00,              // mov ax, 0x18
          0x8E, 0xE0,                          // mov fs, ax
          0x64, 0x8B, 0x1D, 0x04, 0, 0, 0,     // mov ebx, fs:[4]          -> linear 0x1004
          0x64, 0x8B, 0x0D, 0x00, 0xF0, 0xFF, 0xFF,  // mov ecx, fs:[0xFFFFF000] -> linear 0
          0x64, 0xA1, 0xFE, 0xFF, 0xFF, 0xFF});      // mov eax, fs:[0xFFFFFFFE]: #GP
  RUN_VECTOR(h, 13);
  EXPECT_EQ(h.cpu.regs[EBX], 0x12345678u);
  EXPECT_EQ(h.cpu.regs[ECX], 0xCAFEF00Du);
  EXPECT_EQ(h.cpu.regs[EAX], 0x18u);
}

// A segment with a smaller limit keeps the check on the fast path, aligned accesses included.
TEST(AnywhereSegment, LimitedSegmentIsStillChecked) {
  CpuHarness h;
  h.set_gdt_entry(4, make_desc(0, 0xFFF, 0x93, 0x4));  // data, base 0, limit 0xFFF, byte granular
  h.wr32(0xFFC, 0x0BADF00D);
  h.code({0x66, 0xB8, 0x20, 0x00,              // mov ax, 0x20
          0x8E, 0xC0,                          // mov es, ax
          0x26, 0x8B, 0x1D, 0xFC, 0x0F, 0, 0,  // mov ebx, es:[0xFFC]: the last dword, fine
          0x26, 0x8B, 0x0D, 0x00, 0x10, 0, 0});  // mov ecx, es:[0x1000]: aligned, past the limit
  h.cpu.regs[ECX] = 7;
  RUN_VECTOR(h, 13);
  EXPECT_EQ(h.cpu.regs[EBX], 0x0BADF00Du);
  EXPECT_EQ(h.cpu.regs[ECX], 7u);
}

// ---- conditions after a 32-bit CMP/SUB ------------------------------------------------------

// condition() takes a shortcut for a 32-bit subtraction; check all 16 conditions against the
// flags computed from their definitions (SDM vol.1 3.4.3, appendix B), for pairs that set each
// flag both ways, and the general path (sizes 1 and 2) against the same definitions.
TEST(LazyFlags, ConditionsAfterSubtractionMatchTheFlags) {
  const uint32_t values[] = {0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
                             0x7FFFFFFF, 0x80000000u, 0x80000001u, 0xFFFFFFFEu, 0xFFFFFFFFu};
  for (unsigned size : {1u, 2u, 4u}) {
    const uint32_t m = size_mask(size), sign = sign_bit(size);
    for (uint32_t a0 : values) {
      for (uint32_t b0 : values) {
        const uint32_t a = a0 & m, b = b0 & m, r = (a - b) & m;
        const bool cf = a < b, zf = r == 0, sf = r & sign, of = ((a ^ b) & (a ^ r) & sign) != 0;
        const bool pf = parity_even(r);
        const bool want[8] = {of, cf, zf, cf || zf, sf, pf, sf != of, zf || (sf != of)};
        Cpu c{};
        set_lazy(c, LZ_SUB, size, a, b, a - b);
        for (unsigned cc = 0; cc < 16; ++cc)
          ASSERT_EQ(condition(c, cc), want[cc >> 1] ^ bool(cc & 1))
              << "size " << size << " " << a << " - " << b << " cc " << cc;
        EXPECT_EQ(lazy_cf(c), cf);
      }
    }
  }
}

}  // namespace
}  // namespace softcpu
