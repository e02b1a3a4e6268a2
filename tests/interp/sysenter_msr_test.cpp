#include <gtest/gtest.h>

#include "interp/trap.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;

// No devices: only the MSR and CPUID traps are run here.
struct NoPorts : IoBus {
  uint32_t in(uint16_t, unsigned) override { return 0xFFFFFFFF; }
  void out(uint16_t, unsigned, uint32_t) override {}
};

// Run to the HLT, executing MSR/CPUID traps the way the monitor does.
ExitReason run_with_traps(CpuHarness& h) {
  NoPorts ports;
  for (;;) {
    ExitReason r = h.run();
    if (r != EXIT_MSR && r != EXIT_CPUID) return r;
    EXPECT_TRUE(execute_trapped(h.cpu, ports));
  }
}

TEST(Msr, SysenterMsrsRoundTripAndUnknownMsrIsGp) {
  CpuHarness h;
  h.code({0xB9, 0x75, 0x01, 0x00, 0x00,  // mov ecx, 0x175 (SYSENTER_ESP)
          0xB8, 0x78, 0x56, 0x34, 0x12,  // mov eax, 0x12345678
          0x31, 0xD2,                    // xor edx, edx
          0x0F, 0x30,                    // wrmsr
          0x31, 0xC0,                    // xor eax, eax
          0x0F, 0x32,                    // rdmsr
          0x89, 0xC3,                    // mov ebx, eax
          0xB9, 0x34, 0x12, 0x00, 0x00,  // mov ecx, 0x1234 (no such MSR)
          0x0F, 0x32});                  // rdmsr -> #GP(0)
  EXPECT_EQ(run_with_traps(h), EXIT_HLT);
  EXPECT_EQ(h.cpu.msr.sysenter_esp, 0x12345678u);
  EXPECT_EQ(h.cpu.regs[EBX], 0x12345678u);
  EXPECT_EQ(h.last_vector(), VEC_GP);
}

TEST(Msr, PatRejectsReservedMemoryTypesAndMtrrCapIsReadOnly) {
  CpuHarness h;
  uint64_t v = 0;
  EXPECT_TRUE(read_msr(h.cpu, 0x277, v));
  EXPECT_EQ(v, 0x0007040600070406ull);  // power-on PAT
  EXPECT_FALSE(write_msr(h.cpu, 0x277, 0x0000000000000002ull));  // type 2 is reserved
  EXPECT_TRUE(write_msr(h.cpu, 0x277, 0x0000000000000001ull));
  EXPECT_TRUE(read_msr(h.cpu, 0xFE, v));
  EXPECT_EQ(v & 0xFF, 8u);  // 8 variable MTRRs
  EXPECT_FALSE(write_msr(h.cpu, 0xFE, 0));
  EXPECT_TRUE(write_msr(h.cpu, 0x200, 0x6));  // MTRR PHYSBASE0: storage
  EXPECT_TRUE(read_msr(h.cpu, 0x200, v));
  EXPECT_EQ(v, 6u);
}

TEST(Msr, CpuidReportsSep) {
  CpuHarness h;
  h.code({0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0xA2});  // mov eax, 1 ; cpuid
  EXPECT_EQ(run_with_traps(h), EXIT_HLT);
  EXPECT_TRUE(h.cpu.regs[EDX] & (1u << 11));
}

// SYSEXIT from ring 0 to ring 3 code, which SYSENTERs back to the kernel entry point.
TEST(Sysenter, RoundTripThroughRingThree) {
  CpuHarness h;
  // GDT layout SYSENTER/SYSEXIT expect: 0x08 kernel code, 0x10 kernel data (the harness's),
  // 0x18 user code, 0x20 user data.
  const uint64_t user[2] = {0x00CFFB000000FFFFull, 0x00CFF3000000FFFFull};
  h.mem.write_bytes(CpuHarness::GDT_ADDR + 0x18, user, sizeof user);
  h.cpu.gdtr.limit = 5 * 8 - 1;
  h.cpu.msr.sysenter_cs = 0x08;
  h.cpu.msr.sysenter_esp = 0x28000;
  const uint32_t kernel_entry = CpuHarness::CODE_ADDR + 0x100;
  const uint32_t user_code = CpuHarness::CODE_ADDR + 0x200;
  h.cpu.msr.sysenter_eip = kernel_entry;
  h.code({0xB9, 0x00, 0x70, 0x02, 0x00,  // mov ecx, 0x27000 (user ESP)
          0xBA, uint8_t(user_code), uint8_t(user_code >> 8), uint8_t(user_code >> 16), 0x00,
          // mov edx, user_code
          0x0F, 0x35});  // sysexit
  const uint8_t user_bytes[] = {0xBE, 0x2A, 0x00, 0x00, 0x00,  // mov esi, 42
                                0x0F, 0x34};                   // sysenter
  h.mem.write_bytes(user_code, user_bytes, sizeof user_bytes);
  const uint8_t kernel_bytes[] = {0xF4};  // hlt
  h.mem.write_bytes(kernel_entry, kernel_bytes, 1);
  h.cpu.lz_kind = LZ_NONE;
  h.cpu.eflags = 2 | IF;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[ESI], 42u);  // ran in ring 3
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x08);
  EXPECT_EQ(h.cpu.seg[SS].selector, 0x10);
  EXPECT_EQ(h.cpu.cpl, 0);
  EXPECT_EQ(h.cpu.regs[ESP], 0x28000u);
  EXPECT_EQ(h.cpu.eip, kernel_entry);
  EXPECT_FALSE(h.flags() & IF);  // SYSENTER clears IF
}

TEST(Sysenter, FaultsWithoutSysenterCsOrOutsideRingZero) {
  CpuHarness h;
  h.code({0x0F, 0x34});  // sysenter with SYSENTER_CS = 0
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_GP);
  CpuHarness r(false);
  r.code({0x0F, 0x34});  // real mode
  EXPECT_EQ(r.run(), EXIT_HLT);
  EXPECT_EQ(r.last_vector(), VEC_GP);
}

}  // namespace
}  // namespace softcpu
