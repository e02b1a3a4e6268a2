// DR7 I/O breakpoints (R/W = 10 with CR4.DE, SDM vol.3 17.2.4-17.2.5, 17.3.1.2) and RF in the
// EFLAGS image of fault-class exceptions (17.3.1.1).
#include <gtest/gtest.h>

#include <vector>

#include "interp/debug.h"
#include "interp/events.h"
#include "interp/trap.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu::test {
namespace {

constexpr uint32_t CODE = CpuHarness::CODE_ADDR;
constexpr uint32_t DE = CR4_DEBUG_EXT;

struct RecordingBus : IoBus {
  std::vector<uint16_t> ports;
  uint32_t in(uint16_t port, unsigned) override {
    ports.push_back(port);
    return 0x11;
  }
  void out(uint16_t port, unsigned, uint32_t) override { ports.push_back(port); }
};

// Run, executing trapped I/O instructions, until HLT.
ExitReason run_with_io(CpuHarness& h, IoBus& bus) {
  for (int k = 0; k < 100; ++k) {
    const ExitReason r = h.run();
    if (r != EXIT_IO) return r;
    if (!execute_trapped(h.cpu, bus)) return EXIT_TRIPLE_FAULT;
  }
  return EXIT_BUDGET;
}

// DR7 for breakpoint n: L enable, R/W = 10 (I/O), LEN code (0: 1, 1: 2, 3: 4 bytes).
uint32_t io_bp(unsigned n, unsigned len_code) {
  return 0x400u | (1u << (2 * n)) | (2u << (16 + 4 * n)) | (len_code << (18 + 4 * n));
}

TEST(DebugIo, OutToAWatchedPortTrapsAfterTheInstruction) {
  CpuHarness h;
  RecordingBus bus;
  h.cpu.cr4 |= DE;
  h.cpu.dr[0] = 0x61;  // LEN 2: the breakpoint covers 0x60-0x61 (the address is aligned down)
  h.cpu.dr[7] = io_bp(0, 1);
  debug_rebuild(h.cpu);
  h.code({0xE4, 0x70,   // in al, 0x70 (not watched)
          0xE6, 0x60,   // out 0x60, al
          0x43});       // inc ebx
  ASSERT_EQ(run_with_io(h, bus), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_DB);
  EXPECT_EQ(h.pushed_eip(), CODE + 4);  // a trap: after the OUT
  EXPECT_EQ(h.cpu.dr[6] & DR6_B_MASK, 1u);
  EXPECT_EQ(bus.ports, (std::vector<uint16_t>{0x70, 0x60}));
  EXPECT_EQ(h.cpu.regs[EBX], 0u);
}

TEST(DebugIo, InOverlappingA4ByteBreakpointSetsItsBit) {
  CpuHarness h;
  RecordingBus bus;
  h.cpu.cr4 |= DE;
  h.cpu.dr[0] = 0x60;
  h.cpu.dr[2] = 0x3FA;  // LEN 4: 0x3F8-0x3FB
  h.cpu.dr[7] = io_bp(0, 0) | io_bp(2, 3);
  debug_rebuild(h.cpu);
  h.code({0x66, 0xBA, 0xFB, 0x03,  // mov dx, 0x3FB
          0xEC});                  // in al, dx
  ASSERT_EQ(run_with_io(h, bus), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_DB);
  EXPECT_EQ(h.pushed_eip(), CODE + 5);
  EXPECT_EQ(h.cpu.dr[6] & DR6_B_MASK, 4u);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFF, 0x11u);  // the IN completed
}

TEST(DebugIo, IgnoredWithoutCr4DeOrEnable) {
  for (uint32_t dr7 : {io_bp(0, 0), 0x400u | (2u << 16)}) {  // no DE / DE but L0 clear
    SCOPED_TRACE(dr7);
    CpuHarness h;
    RecordingBus bus;
    if (dr7 != io_bp(0, 0)) h.cpu.cr4 |= DE;
    h.cpu.dr[0] = 0x60;
    h.cpu.dr[7] = dr7;
    debug_rebuild(h.cpu);
    h.code({0xE6, 0x60, 0x43});
    ASSERT_EQ(run_with_io(h, bus), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), -1);
    EXPECT_EQ(h.cpu.regs[EBX], 1u);
  }
}

TEST(DebugIo, RepOutsTrapsAfterEachIteration) {
  CpuHarness h;
  RecordingBus bus;
  h.cpu.cr4 |= DE;
  h.cpu.dr[1] = 0x80;
  h.cpu.dr[7] = io_bp(1, 0);
  debug_rebuild(h.cpu);
  h.cpu.regs[EDX] = 0x80;
  h.cpu.regs[ECX] = 3;
  h.cpu.regs[ESI] = CpuHarness::DATA_ADDR;
  h.code({0xF3, 0x6E});  // rep outsb
  ASSERT_EQ(run_with_io(h, bus), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_DB);
  EXPECT_EQ(bus.ports.size(), 1u);
  EXPECT_EQ(h.cpu.regs[ECX], 2u);
  EXPECT_EQ(h.pushed_eip(), CODE);  // the REP OUTSB continues after the handler
  EXPECT_EQ(h.cpu.dr[6] & DR6_B_MASK, 2u);
}

// ---- RF in fault frames ---------------------------------------------------------------------

TEST(FaultRf, GeneralProtectionFaultPushesRfSet) {
  CpuHarness h;
  h.code({0x8E, 0xD8});  // mov ds, ax with AX = 0x1234: #GP
  h.cpu.regs[EAX] = 0x1234;
  ASSERT_EQ(h.run(), EXIT_HLT);
  ASSERT_EQ(h.last_vector(), VEC_GP);
  EXPECT_EQ(h.pushed_eip_after_error(), CODE);
  EXPECT_TRUE(h.rd32(h.cpu.regs[ESP] + 12) & RF);  // error, EIP, CS, EFLAGS
  EXPECT_FALSE(h.flags() & RF);                    // the handler runs with RF clear
}

TEST(FaultRf, UdAndGeneralDetectDbPushRfSet) {
  {
    CpuHarness h;
    h.code({0x0F, 0x0B});  // ud2
    RUN_VECTOR(h, VEC_UD);
    EXPECT_TRUE(h.rd32(h.cpu.regs[ESP] + 8) & RF);
  }
  {
    CpuHarness h;  // DR7.GD: MOV DR is a fault-class #DB
    h.cpu.dr[7] = 0x400 | DR7_GD;
    h.code({0x0F, 0x21, 0xC0});
    RUN_VECTOR(h, VEC_DB);
    EXPECT_TRUE(h.rd32(h.cpu.regs[ESP] + 8) & RF);
  }
}

TEST(FaultRf, InstructionBreakpointTrapsAndSoftwareInterruptsPushRfClear) {
  {
    CpuHarness h;  // instruction breakpoint #DB: the one fault without RF
    h.cpu.dr[0] = CODE + 1;
    h.cpu.dr[7] = 0x401;
    debug_rebuild(h.cpu);
    h.code({0x90, 0x90});
    RUN_VECTOR(h, VEC_DB);
    EXPECT_EQ(h.pushed_eip(), CODE + 1);
    EXPECT_FALSE(h.rd32(h.cpu.regs[ESP] + 8) & RF);
  }
  {
    CpuHarness h;  // single-step trap
    materialize_flags(h.cpu);
    h.cpu.eflags |= TF;
    h.code({0x90});
    RUN_VECTOR(h, VEC_DB);
    EXPECT_FALSE(h.rd32(h.cpu.regs[ESP] + 8) & RF);
  }
  {
    CpuHarness h;  // INT n (gate DPL 0 at CPL 0)
    h.code({0xCD, 0x05});
    RUN_VECTOR(h, 5);
    EXPECT_FALSE(h.rd32(h.cpu.regs[ESP] + 8) & RF);
  }
}

TEST(FaultRf, BreakpointSetByTheFaultHandlerIsSkippedOnRestart) {
  // The #GP handler puts an instruction breakpoint on the faulting MOV DS, fixes AX and
  // returns: the image's RF = 1 lets the MOV run without a #DB.
  CpuHarness h;
  const uint32_t gp_handler = 0x3000, db_handler = 0x3100;
  h.put(gp_handler, {0x83, 0xC4, 0x04,                    // add esp, 4 (error code)
                     0xB9, 0x01, 0x00, 0x01, 0x00,        // mov ecx, CODE + 1
                     0x0F, 0x23, 0xC1,                    // mov dr0, ecx
                     0xB9, 0x01, 0x04, 0x00, 0x00,        // mov ecx, 0x401 (L0, execute)
                     0x0F, 0x23, 0xF9,                    // mov dr7, ecx
                     0xB8, 0x10, 0x00, 0x00, 0x00,        // mov eax, 0x10
                     0xCF});                              // iretd
  // #DB: inc edx; set RF in the image; iretd
  h.put(db_handler, {0x42, 0x81, 0x4C, 0x24, 0x08, 0x00, 0x00, 0x01, 0x00, 0xCF});
  const uint64_t ggp = gate_desc(0x08, gp_handler, 0xE, 0);
  const uint64_t gdb = gate_desc(0x08, db_handler, 0xE, 0);
  h.mem.write_bytes(0x400 + VEC_GP * 8, &ggp, 8);
  h.mem.write_bytes(0x400 + VEC_DB * 8, &gdb, 8);
  h.cpu.regs[EAX] = 0x1234;
  h.cpu.regs[EDX] = 0;
  h.code({0x90,          // nop
          0x8E, 0xD8,    // mov ds, ax (#GP once)
          0x43});        // inc ebx
  ASSERT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EDX], 0u);  // no #DB
  EXPECT_EQ(h.cpu.regs[EBX], 1u);
  EXPECT_EQ(h.cpu.seg[DS].selector, 0x10);
  EXPECT_EQ(h.cpu.dr[7] & 3, 1u);
}

}  // namespace
}  // namespace softcpu::test
