// Issue 9: the P6 performance counters (PerfEvtSel0/1, PerfCtr0/1, RDPMC with CR4.PCE) and
// CPUID's leaves (basic, extended, above the maximum).
#include <gtest/gtest.h>

#include <cstring>

#include "interp/msr.h"
#include "interp/trap.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::make_desc;

struct NoPorts : IoBus {
  uint32_t in(uint16_t, unsigned) override { return 0xFFFFFFFF; }
  void out(uint16_t, unsigned, uint32_t) override {}
};

// Run to the HLT, executing the trapped instructions (MSR, RDPMC, CPUID) as the monitor does.
ExitReason run_with_traps(CpuHarness& h) {
  NoPorts ports;
  for (;;) {
    const ExitReason r = h.run();
    if (r != EXIT_MSR && r != EXIT_CPUID) return r;
    if (!execute_trapped(h.cpu, ports)) return EXIT_TRIPLE_FAULT;
  }
}

constexpr uint32_t PERFCTR0 = 0xC1, PERFCTR1 = 0xC2, PERFEVTSEL0 = 0x186, PERFEVTSEL1 = 0x187;
constexpr uint64_t INST_RETIRED_EN = 0x004300C0;  // event C0, USR, OS, EN

// ---- MSRs ----------------------------------------------------------------------------------

TEST(Pmc, CounterWritesSignExtendBit31To40Bits) {
  CpuHarness h;
  uint64_t v = 1;
  ASSERT_TRUE(read_msr(h.cpu, PERFCTR0, v));
  EXPECT_EQ(v, 0u);  // power-on
  ASSERT_TRUE(write_msr(h.cpu, PERFCTR0, 0x12345678FFFFFFF0ull));  // bits 63:32 ignored
  ASSERT_TRUE(read_msr(h.cpu, PERFCTR0, v));
  EXPECT_EQ(v, 0xFFFFFFFFF0ull);
  ASSERT_TRUE(write_msr(h.cpu, PERFCTR1, 0xFFFFFFFF7FFFFFFFull));
  ASSERT_TRUE(read_msr(h.cpu, PERFCTR1, v));
  EXPECT_EQ(v, 0x7FFFFFFFull);
  EXPECT_FALSE(read_msr(h.cpu, 0xC3, v));  // no third counter on a P6
  EXPECT_FALSE(read_msr(h.cpu, 0x188, v));
}

TEST(Pmc, EventSelectReservedBitsAreRejected) {
  CpuHarness h;
  EXPECT_FALSE(write_msr(h.cpu, PERFEVTSEL0, 1u << 21));         // reserved
  EXPECT_FALSE(write_msr(h.cpu, PERFEVTSEL0, 1ull << 32));       // reserved
  EXPECT_FALSE(write_msr(h.cpu, PERFEVTSEL1, 1u << 22));         // EN only in PerfEvtSel0
  EXPECT_TRUE(write_msr(h.cpu, PERFEVTSEL0, 0xFFDFFFFFu));       // every defined bit
  EXPECT_TRUE(write_msr(h.cpu, PERFEVTSEL1, 0xFF9FFFFFu));
  uint64_t v = 0;
  ASSERT_TRUE(read_msr(h.cpu, PERFEVTSEL1, v));
  EXPECT_EQ(v, 0xFF9FFFFFu);
  // The rejected write left the register alone.
  ASSERT_TRUE(read_msr(h.cpu, PERFEVTSEL0, v));
  EXPECT_EQ(v, 0xFFDFFFFFu);
}

// Instructions retired (event 0xC0) advance a counter only with EN (PerfEvtSel0 bit 22), USR
// and OS, and no counter mask/edge/invert.
TEST(Pmc, InstructionsRetiredCountWhileEnabled) {
  CpuHarness h;
  ASSERT_TRUE(write_msr(h.cpu, PERFEVTSEL1, INST_RETIRED_EN & ~(1u << 22)));  // EN from sel0
  ASSERT_TRUE(write_msr(h.cpu, PERFEVTSEL0, INST_RETIRED_EN));
  ASSERT_TRUE(write_msr(h.cpu, PERFCTR1, 100));
  h.code({0x90, 0x90, 0x90, 0x90, 0x90});
  RUN_OK(h);  // 5 NOPs (the HLT is not retired when the harness stops on it)
  uint64_t v0 = 0, v1 = 0;
  ASSERT_TRUE(read_msr(h.cpu, PERFCTR0, v0));
  ASSERT_TRUE(read_msr(h.cpu, PERFCTR1, v1));
  EXPECT_EQ(v1, 100 + v0);
  EXPECT_GE(v0, 5u);
  EXPECT_LE(v0, 6u);
  // EN off: both hold still.
  ASSERT_TRUE(write_msr(h.cpu, PERFEVTSEL0, INST_RETIRED_EN & ~(1u << 22)));
  h.cpu.icount += 1000;
  uint64_t w0 = 0;
  ASSERT_TRUE(read_msr(h.cpu, PERFCTR0, w0));
  EXPECT_EQ(w0, v0);
  // Counting only in ring 0 (OS without USR) is not modelled: the counter holds still.
  ASSERT_TRUE(write_msr(h.cpu, PERFEVTSEL0, 0x004200C0));
  h.cpu.icount += 1000;
  ASSERT_TRUE(read_msr(h.cpu, PERFCTR0, w0));
  EXPECT_EQ(w0, v0);
  // A 40-bit counter wraps.
  ASSERT_TRUE(write_msr(h.cpu, PERFCTR0, 0xFFFFFFFE));  // 0xFF_FFFF_FFFE
  ASSERT_TRUE(write_msr(h.cpu, PERFEVTSEL0, INST_RETIRED_EN));
  h.cpu.icount += 3;
  ASSERT_TRUE(read_msr(h.cpu, PERFCTR0, w0));
  EXPECT_EQ(w0, 1u);
}

// ---- RDPMC ----------------------------------------------------------------------------------

TEST(Pmc, RdpmcAtCpl0ReadsFortyBitsAndChecksEcx) {
  CpuHarness h;
  ASSERT_TRUE(write_msr(h.cpu, PERFCTR1, 0x87654321));
  h.code({0xB9, 0x01, 0x00, 0x00, 0x00,  // mov ecx, 1
          0x0F, 0x33,                    // rdpmc
          0x89, 0xC6, 0x89, 0xD7,        // mov esi, eax; mov edi, edx
          0xB9, 0x02, 0x00, 0x00, 0x00,  // mov ecx, 2
          0x0F, 0x33});                  // rdpmc: #GP(0)
  EXPECT_EQ(run_with_traps(h), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ESI], 0x87654321u);
  EXPECT_EQ(h.cpu.regs[EDI], 0xFFu);  // bits 39:32 (sign of bit 31), EDX 31:8 zero
  EXPECT_EQ(h.last_vector(), 13);
  EXPECT_EQ(h.pushed_error(), 0u);
  EXPECT_EQ(h.pushed_eip_after_error(), CpuHarness::CODE_ADDR + 16);
  // ECX is compared whole: 0x100000000 | 0 does not exist, but 0x00000100 is not counter 0.
  CpuHarness k;
  k.cpu.regs[ECX] = 0x100;
  k.code({0x0F, 0x33});
  EXPECT_EQ(run_with_traps(k), EXIT_HLT);
  EXPECT_EQ(k.last_vector(), 13);
}

TEST(Pmc, RdpmcCountsInstructionsBetweenTwoReads) {
  CpuHarness h;
  ASSERT_TRUE(write_msr(h.cpu, PERFEVTSEL0, INST_RETIRED_EN));
  h.code({0x31, 0xC9,              // xor ecx, ecx
          0x0F, 0x33,              // rdpmc
          0x89, 0xC6,              // mov esi, eax          1 (+ the rdpmc)
          0x90, 0x90, 0x90, 0x90,  // 4 nops
          0x0F, 0x33,              // rdpmc
          0x29, 0xF0});            // sub eax, esi
  EXPECT_EQ(run_with_traps(h), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], 6u);
}

TEST(Pmc, RdpmcInRealModeIsAllowed) {
  CpuHarness r(false);
  ASSERT_TRUE(write_msr(r.cpu, PERFCTR0, 0x1234));
  r.cpu.regs[ECX] = 0;
  r.code({0x0F, 0x33});
  EXPECT_EQ(run_with_traps(r), EXIT_HLT);
  EXPECT_EQ(r.last_vector(), -1);
  EXPECT_EQ(r.cpu.regs[EAX], 0x1234u);
  EXPECT_EQ(r.cpu.regs[EDX], 0u);
}

// Ring 3 code and a TSS for the #GP's stack switch (as in rings_test.cpp).
struct Ring3 {
  CpuHarness h;
  static constexpr uint32_t TSS = 0x3000, STACK0 = 0x38000;
  Ring3() {
    h.set_gdt_entry(3, make_desc(0, 0xFFFFF, 0xFB, 0xC));  // 0x18 code, DPL 3
    h.set_gdt_entry(4, make_desc(0, 0xFFFFF, 0xF3, 0xC));  // 0x20 data, DPL 3
    h.set_gdt_entry(5, make_desc(TSS, 0x67, 0x8B, 0x0));   // 0x28 busy 32-bit TSS
    h.wr32(TSS + 4, STACK0);
    h.wr32(TSS + 8, 0x10);
    cache_from_descriptor(h.cpu, h.cpu.tr, 0x28, make_desc(TSS, 0x67, 0x8B, 0x0));
    cache_from_descriptor(h.cpu, h.cpu.seg[CS], 0x1B, make_desc(0, 0xFFFFF, 0xFB, 0xC));
    for (unsigned s : {ES, SS, DS, FS, GS})
      cache_from_descriptor(h.cpu, h.cpu.seg[s], 0x23, make_desc(0, 0xFFFFF, 0xF3, 0xC));
    h.cpu.cpl = 3;
    update_mode(h.cpu);
  }
};

TEST(Pmc, RdpmcAtCpl3NeedsCr4Pce) {
  {
    Ring3 r;
    r.h.cpu.regs[ECX] = 0;
    r.h.code({0x0F, 0x33});
    EXPECT_EQ(run_with_traps(r.h), EXIT_HLT);
    EXPECT_EQ(r.h.last_vector(), 13);
    EXPECT_EQ(r.h.pushed_error(), 0u);
    EXPECT_EQ(r.h.pushed_eip_after_error(), CpuHarness::CODE_ADDR);
    EXPECT_EQ(r.h.pushed_cs_after_error(), 0x1Bu);
  }
  {
    Ring3 r;
    r.h.cpu.cr4 |= CR4_PCE;
    ASSERT_TRUE(write_msr(r.h.cpu, PERFCTR1, 0xCAFE));
    r.h.cpu.regs[ECX] = 1;
    r.h.code({0x0F, 0x33, 0x89, 0xC6,        // rdpmc; mov esi, eax
              0xB9, 0x02, 0x00, 0x00, 0x00,  // mov ecx, 2
              0x0F, 0x33});                  // rdpmc: #GP(0) even with PCE
    EXPECT_EQ(run_with_traps(r.h), EXIT_HLT);
    EXPECT_EQ(r.h.cpu.regs[ESI], 0xCAFEu);
    EXPECT_EQ(r.h.last_vector(), 13);
    EXPECT_EQ(r.h.pushed_eip_after_error(), CpuHarness::CODE_ADDR + 9);
  }
}

TEST(Pmc, MovCr4AcceptsPce) {
  CpuHarness h;
  h.cpu.regs[EAX] = CR4_PCE;
  h.code({0x0F, 0x22, 0xE0,   // mov cr4, eax
          0x0F, 0x20, 0xE3});  // mov ebx, cr4
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EBX], CR4_PCE);
  CpuHarness g;  // bit 9 (OSFXSR) is not supported: #GP(0)
  g.cpu.regs[EAX] = 1u << 9;
  g.code({0x0F, 0x22, 0xE0});
  RUN_VECTOR(g, 13);
}

TEST(Pmc, RdpmcWithLockIsUd) {
  CpuHarness h;
  h.code({0xF0, 0x0F, 0x33});
  EXPECT_EQ(run_with_traps(h), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 6);
}

// ---- CPUID ----------------------------------------------------------------------------------

struct Leaf {
  uint32_t a, b, c, d;
  bool operator==(const Leaf& o) const { return a == o.a && b == o.b && c == o.c && d == o.d; }
};

Leaf cpuid(uint32_t leaf, bool apic = true) {
  CpuHarness h;
  h.cpu.cpuid_apic = apic;
  h.cpu.regs[EAX] = leaf;
  h.cpu.regs[ECX] = 0x5A5A5A5A;
  h.code({0x0F, 0xA2});
  EXPECT_EQ(run_with_traps(h), EXIT_HLT);
  return {h.cpu.regs[EAX], h.cpu.regs[EBX], h.cpu.regs[ECX], h.cpu.regs[EDX]};
}

TEST(Cpuid, BasicLeaves) {
  const Leaf l0 = cpuid(0);
  EXPECT_EQ(l0.a, 1u);  // maximum basic leaf
  char vendor[13] = {};
  std::memcpy(vendor, &l0.b, 4);
  std::memcpy(vendor + 4, &l0.d, 4);
  std::memcpy(vendor + 8, &l0.c, 4);
  EXPECT_STREQ(vendor, "GenuineIntel");
  const Leaf l1 = cpuid(1);
  EXPECT_EQ(l1.a, CPUID_SIGNATURE);
  EXPECT_EQ((l1.a >> 8) & 0xF, 6u);  // family 6
  EXPECT_EQ(l1.b, 0u);
  EXPECT_EQ(l1.c, 0u);
  // What is implemented: FPU VME DE PSE TSC MSR CX8 APIC SEP PGE CMOV.
  EXPECT_EQ(l1.d, 0x0000AB3Fu);
  EXPECT_EQ(cpuid(1, false).d, 0x0000A93Fu);  // no local APIC: no bit 9
  // Not implemented, so not reported: PAE(6) MCE(7) MTRR(12) MCA(14) PAT(16) PSE36(17)
  // CLFSH(19) MMX(23) FXSR(24) SSE(25) SSE2(26).
  for (unsigned bit : {6u, 7u, 12u, 14u, 16u, 17u, 19u, 23u, 24u, 25u, 26u})
    EXPECT_FALSE(l1.d & (1u << bit)) << bit;
}

TEST(Cpuid, ExtendedLeavesAndBrandString) {
  EXPECT_EQ(cpuid(0x80000000), (Leaf{0x80000004, 0, 0, 0}));
  EXPECT_EQ(cpuid(0x80000001), (Leaf{0, 0, 0, 0}));  // no NX, LM, SYSCALL, LAHF64
  char brand[49] = {};
  for (unsigned k = 0; k < 3; ++k) {
    const Leaf l = cpuid(0x80000002 + k);
    std::memcpy(brand + 16 * k, &l.a, 4);
    std::memcpy(brand + 16 * k + 4, &l.b, 4);
    std::memcpy(brand + 16 * k + 8, &l.c, 4);
    std::memcpy(brand + 16 * k + 12, &l.d, 4);
  }
  EXPECT_STREQ(brand, "softcpu P6-class virtual CPU");
  EXPECT_EQ(brand[47], 0);  // NUL-terminated within the 48 bytes
}

// A leaf above the maximum basic or extended leaf returns the highest basic leaf's data
// (SDM vol.2 CPUID).
TEST(Cpuid, LeavesAboveTheMaximumRepeatLeafOne) {
  const Leaf l1 = cpuid(1);
  for (uint32_t leaf : {2u, 4u, 7u, 0xBu, 0x40000000u, 0x7FFFFFFFu, 0x80000005u, 0x80000008u,
                        0xC0000000u, 0xFFFFFFFFu})
    EXPECT_EQ(cpuid(leaf), l1) << std::hex << leaf;
}

}  // namespace
}  // namespace softcpu
