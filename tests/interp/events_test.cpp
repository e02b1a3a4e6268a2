// INTR/NMI recognition, interrupt shadows, TF single-step, DR0-DR7 and the debugger hooks.
#include <gtest/gtest.h>

#include "interp/debug.h"
#include "interp/events.h"
#include "interp/interrupts.h"
#include "interp/trap.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu::test {
namespace {

// The controller side of INTA: answers `vector` and counts the cycles.
struct FakeIntc : InterruptAcknowledge {
  int vector = 20;
  int acks = 0;
  int acknowledge() override {
    ++acks;
    return vector;
  }
};

struct NoPorts : IoBus {
  uint32_t in(uint16_t, unsigned) override { return 0xFFFFFFFFu; }
  void out(uint16_t, unsigned, uint32_t) override {}
};

constexpr uint32_t HANDLER = 0x3000;  // custom handlers go here

// Point IDT vector v (harness flat32 layout) at `off`, as an interrupt gate.
void set_gate(CpuHarness& h, unsigned v, uint32_t off) {
  const uint64_t g = gate_desc(0x08, off, 0xE, 0);
  h.mem.write_bytes(0x400 + v * 8, &g, 8);
}

void set_flags(CpuHarness& h, uint32_t set) {
  materialize_flags(h.cpu);
  h.cpu.eflags |= set;
}

// ---- INTR and NMI ----------------------------------------------------------------------

TEST(EventsIntr, DeliveredFirstThingWhenIfSet) {
  CpuHarness h;
  FakeIntc intc;
  cpu_set_interrupt_controller(h.cpu, &intc);
  h.code({0x43, 0x43});  // inc ebx x2
  set_flags(h, IF);
  cpu_set_intr(h.cpu, true);
  EXPECT_TRUE(cpu_interrupt_deliverable(h.cpu));
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 20);
  EXPECT_EQ(intc.acks, 1);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR);  // before the first instruction
  EXPECT_EQ(h.cpu.regs[EBX], 0u);
}

TEST(EventsIntr, NotWithIfClearAndNothingOnWithdrawnRequest) {
  CpuHarness h;
  FakeIntc intc;
  cpu_set_interrupt_controller(h.cpu, &intc);
  h.code({0x43, 0x43});
  cpu_set_intr(h.cpu, true);  // IF = 0 after the harness reset
  EXPECT_FALSE(cpu_interrupt_deliverable(h.cpu));
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(intc.acks, 0);
  EXPECT_EQ(h.cpu.regs[EBX], 2u);

  CpuHarness h2;
  FakeIntc gone;
  gone.vector = -1;  // the controller dropped the request before INTA
  cpu_set_interrupt_controller(h2.cpu, &gone);
  h2.code({0x43});
  set_flags(h2, IF);
  cpu_set_intr(h2.cpu, true);
  EXPECT_EQ(h2.run(), EXIT_HLT);
  EXPECT_EQ(h2.last_vector(), -1);
  EXPECT_GE(gone.acks, 1);
  EXPECT_EQ(h2.cpu.regs[EBX], 1u);
}

TEST(EventsIntr, StiShadowLetsOneInstructionRun) {
  CpuHarness h;
  FakeIntc intc;
  cpu_set_interrupt_controller(h.cpu, &intc);
  h.code({0xFB, 0x43, 0x43, 0x43});  // sti; inc ebx x3
  cpu_set_intr(h.cpu, true);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 20);
  EXPECT_EQ(h.cpu.regs[EBX], 1u);                        // the shadowed instruction ran
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 2);  // then the interrupt came
}

TEST(EventsIntr, StiWithIfAlreadySetHasNoShadow) {
  CpuHarness h;
  FakeIntc intc;
  cpu_set_interrupt_controller(h.cpu, &intc);
  h.code({0x43, 0xFB, 0x43, 0x43});  // inc ebx; sti; inc ebx; inc ebx
  set_flags(h, IF);
  EXPECT_EQ(h.interp.run(1), EXIT_BUDGET);  // runs the block up to STI
  EXPECT_EQ(h.cpu.eip, CpuHarness::CODE_ADDR + 2);
  cpu_set_intr(h.cpu, true);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 20);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 2);
  EXPECT_EQ(h.cpu.regs[EBX], 1u);
}

TEST(EventsIntr, MovSsAndPopSsShadows) {
  for (bool pop : {false, true}) {
    CpuHarness h;
    FakeIntc intc;
    cpu_set_interrupt_controller(h.cpu, &intc);
    h.cpu.regs[EAX] = 0x10;
    if (pop) h.code({0x16, 0x17, 0x43, 0x43});  // push ss; pop ss; inc ebx; inc ebx
    else h.code({0x8E, 0xD0, 0x43, 0x43});      // mov ss, ax; inc ebx; inc ebx
    set_flags(h, IF);
    EXPECT_EQ(h.interp.run(1), EXIT_BUDGET);  // the block ends at the SS load
    EXPECT_EQ(h.cpu.shadow, SHADOW_SS);
    cpu_set_intr(h.cpu, true);
    cpu_raise_nmi(h.cpu);  // NMI is held back by the shadow too
    set_gate(h, 2, CpuHarness::STUBS + 2 * 16);
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), 2);  // NMI before INTR
    EXPECT_EQ(h.cpu.regs[EBX], 1u) << pop;
    EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 3) << pop;
  }
}

TEST(EventsNmi, BlockedUntilIret) {
  CpuHarness h;
  // NMI handler: inc ebx; jmp $+2; iret
  h.put(HANDLER, {0x43, 0xEB, 0x00, 0xCF});
  set_gate(h, 2, HANDLER);
  h.code({0x90, 0x90, 0x90});
  cpu_raise_nmi(h.cpu);
  EXPECT_TRUE(cpu_interrupt_deliverable(h.cpu));
  EXPECT_EQ(h.interp.run(1), EXIT_BUDGET);  // delivered, then the handler's first block
  EXPECT_EQ(h.cpu.regs[EBX], 1u);
  EXPECT_EQ(h.cpu.eip, HANDLER + 3);
  cpu_raise_nmi(h.cpu);
  EXPECT_FALSE(cpu_interrupt_deliverable(h.cpu));  // blocked inside the handler
  EXPECT_EQ(h.interp.run(1), EXIT_BUDGET);         // runs the IRET, no second NMI yet
  EXPECT_EQ(h.cpu.regs[EBX], 1u);
  EXPECT_EQ(h.cpu.eip, CpuHarness::CODE_ADDR);
  EXPECT_EQ(h.run(), EXIT_HLT);  // after the IRET the latched NMI comes in
  EXPECT_EQ(h.cpu.regs[EBX], 2u);
  EXPECT_EQ(h.last_vector(), -1);
}

TEST(EventsIntr, HltWakesOnInterrupt) {
  CpuHarness h;
  FakeIntc intc;
  NoPorts io;
  cpu_set_interrupt_controller(h.cpu, &intc);
  h.code({});  // just HLT
  set_flags(h, IF);
  EXPECT_EQ(h.interp.run(100), EXIT_HLT);
  ASSERT_TRUE(execute_trapped(h.cpu, io));
  EXPECT_TRUE(h.cpu.halted);
  EXPECT_FALSE(cpu_interrupt_deliverable(h.cpu));
  cpu_set_intr(h.cpu, true);
  EXPECT_TRUE(cpu_interrupt_deliverable(h.cpu));
  EXPECT_EQ(h.interp.run(100), EXIT_HLT);  // the stub's HLT
  EXPECT_EQ(h.last_vector(), 20);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 1);  // returns after the HLT
}

// ---- TF single-step ---------------------------------------------------------------------

// pushfd; or dword [esp], 0x100; popfd  (8 bytes): sets TF.
#define SET_TF 0x9C, 0x81, 0x0C, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9D

TEST(EventsTf, TrapAfterEachInstructionNotAfterPopfThatSetsIt) {
  CpuHarness h;
  h.put(HANDLER, {0x43, 0xCF});  // #DB: inc ebx; iret
  set_gate(h, 1, HANDLER);
  h.code({SET_TF, 0x90, 0x90, 0x90});
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX], 3u);  // three NOPs, not the POPF
  EXPECT_TRUE(h.cpu.dr[6] & DR6_BS);
}

TEST(EventsTf, PushedEipIsTheNextInstruction) {
  CpuHarness h;
  h.code({SET_TF, 0x90, 0x41});  // nop; inc ecx
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 1);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 10);  // after the first NOP
  EXPECT_TRUE(h.rd32(h.cpu.regs[ESP] + 8) & TF);         // pushed EFLAGS
  EXPECT_FALSE(h.flags() & TF);                          // the handler runs with TF = 0
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
}

TEST(EventsTf, IntNClearsTfInTheHandler) {
  CpuHarness h;
  h.put(HANDLER, {0x43, 0xCF});         // #DB: inc ebx; iret
  h.put(HANDLER + 16, {0x41, 0x41, 0xCF});  // INT 5: inc ecx; inc ecx; iret
  set_gate(h, 1, HANDLER);
  set_gate(h, 5, HANDLER + 16);
  h.code({SET_TF, 0xCD, 0x05, 0x90});  // int 5; nop
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ECX], 2u);
  EXPECT_EQ(h.cpu.regs[EBX], 1u);  // only the NOP after the return traps
}

TEST(EventsTf, MovSsDelaysTheTrap) {
  CpuHarness h;
  h.put(HANDLER, {0x43, 0x8B, 0x74, 0x24, 0x00, 0xCF});  // inc ebx; mov esi,[esp]; iret
  set_gate(h, 1, HANDLER);
  h.cpu.regs[EAX] = 0x10;
  h.code({SET_TF, 0x8E, 0xD0, 0x90, 0xFA});  // mov ss, ax; nop; cli
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX], 2u);  // one trap for MOV SS + NOP, one for CLI
  EXPECT_EQ(h.cpu.regs[ESI], CpuHarness::CODE_ADDR + 13);  // last trap: after CLI
}

// ---- DR0-DR7 ------------------------------------------------------------------------------

TEST(EventsDr, InstructionBreakpointFaultAndRf) {
  CpuHarness h;
  // #DB: inc edx; or dword [esp+8], RF; iret  -> resume with RF, the breakpoint is skipped once
  h.put(HANDLER, {0x42, 0x81, 0x4C, 0x24, 0x08, 0x00, 0x00, 0x01, 0x00, 0xCF});
  set_gate(h, 1, HANDLER);
  h.code({0x43, 0x43, 0x43, 0x43});
  h.cpu.regs[EDX] = 0;  // reset leaves the CPU signature there
  h.cpu.dr[0] = CpuHarness::CODE_ADDR + 2;
  h.cpu.dr[7] = 0x401;  // L0, R/W0 = 00 (execute), LEN0 = 00
  debug_rebuild(h.cpu);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EDX], 1u);
  EXPECT_EQ(h.cpu.regs[EBX], 4u);
  EXPECT_EQ(h.cpu.dr[6] & 0xF, 1u);
  EXPECT_FALSE(h.flags() & RF);  // cleared after the instruction it covered
}

TEST(EventsDr, InstructionBreakpointPushesItsEip) {
  CpuHarness h;
  h.code({0x43, 0x43, 0x43});
  // mov eax, addr; mov dr3, eax; mov eax, 0x40440; mov dr7, eax would need CPL0 code: do it
  // through MOV DR to check the rebuild path.
  h.code({0xB8, 0x14, 0x00, 0x01, 0x00,  // mov eax, CODE+0x14
          0x0F, 0x23, 0xD8,              // mov dr3, eax
          0xB8, 0x40, 0x04, 0x00, 0x00,  // mov eax, 0x440 (L3)
          0x0F, 0x23, 0xF8,              // mov dr7, eax
          0x90, 0x90, 0x90, 0x90,        // +0x10 .. +0x13
          0x43, 0x43});                  // +0x14: inc ebx
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 1);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 0x14);
  EXPECT_EQ(h.cpu.dr[6] & 0xF, 8u);
  EXPECT_EQ(h.cpu.regs[EBX], 0u);
}

TEST(EventsDr, DataWriteBreakpointIsATrap) {
  CpuHarness h;
  const uint32_t d = CpuHarness::DATA_ADDR;
  h.cpu.dr[1] = d;
  h.cpu.dr[7] = 0x400 | (1u << 2) | (1u << 20) | (3u << 22);  // L1, write, 4 bytes
  debug_rebuild(h.cpu);
  h.code({0x8B, 0x0D, 0x00, 0x00, 0x02, 0x00,  // mov ecx, [d]      (a read: no hit)
          0xA3, 0x04, 0x00, 0x02, 0x00,        // mov [d+4], eax   (outside)
          0x88, 0x05, 0x03, 0x00, 0x02, 0x00,  // mov [d+3], al    (hit)
          0x43});                              // inc ebx
  h.cpu.regs[EAX] = 0x5A;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 1);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 17);  // after the write
  EXPECT_EQ(h.rd8(d + 3), 0x5A);                         // the write happened
  EXPECT_EQ(h.cpu.dr[6] & 0xF, 2u);
  EXPECT_EQ(h.cpu.regs[EBX], 0u);
}

TEST(EventsDr, DataReadWriteBreakpointSeesReads) {
  CpuHarness h;
  const uint32_t d = CpuHarness::DATA_ADDR + 0x100;
  h.cpu.dr[2] = d + 1;  // LEN 2: aligned down to d
  h.cpu.dr[7] = 0x400 | (1u << 4) | (3u << 24) | (1u << 26);  // L2, read/write, 2 bytes
  debug_rebuild(h.cpu);
  h.code({0x8B, 0x0D, 0xFC, 0x00, 0x02, 0x00,  // mov ecx, [d-4]: no hit
          0x8A, 0x0D, 0x00, 0x01, 0x02, 0x00,  // mov cl, [d]: hit
          0x43});
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 1);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 12);
  EXPECT_EQ(h.cpu.dr[6] & 0xF, 4u);
}

TEST(EventsDr, GeneralDetect) {
  CpuHarness h;
  h.cpu.dr[7] = 0x400 | DR7_GD;
  h.code({0x0F, 0x21, 0xC0});  // mov eax, dr0
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 1);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR);  // a fault
  EXPECT_TRUE(h.cpu.dr[6] & DR6_BD);
  EXPECT_FALSE(h.cpu.dr[7] & DR7_GD);
}

TEST(EventsDr, Dr4Dr5AliasOrUd) {
  CpuHarness h;
  h.code({0x0F, 0x21, 0xE0, 0x0F, 0x21, 0xE9});  // mov eax, dr4; mov ecx, dr5
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EAX], h.cpu.dr[6]);
  EXPECT_EQ(h.cpu.regs[ECX], h.cpu.dr[7]);

  CpuHarness h2;
  h2.cpu.cr4 |= CR4_DEBUG_EXT;
  h2.code({0x0F, 0x21, 0xE0});
  EXPECT_EQ(h2.run(), EXIT_HLT);
  EXPECT_EQ(h2.last_vector(), VEC_UD);
}

// ---- debugger hooks -----------------------------------------------------------------------

TEST(EventsDebugger, BreakpointStopsBeforeAndResumes) {
  CpuHarness h;
  h.code({0x43, 0x43, 0x43, 0x43});
  const uint32_t bp = CpuHarness::CODE_ADDR + 2;
  ASSERT_TRUE(debug_add_breakpoint(h.cpu, bp));
  EXPECT_FALSE(debug_add_breakpoint(h.cpu, bp));  // already there
  EXPECT_EQ(h.run(), EXIT_DEBUG);
  EXPECT_EQ(h.cpu.debug_hit.kind, HIT_BREAKPOINT);
  EXPECT_EQ(h.cpu.debug_hit.address, bp);
  EXPECT_EQ(h.cpu.eip, bp);
  EXPECT_EQ(h.cpu.regs[EBX], 2u);
  EXPECT_EQ(h.interp.step(), EXIT_BUDGET);  // stepping off the breakpoint runs it
  EXPECT_EQ(h.cpu.regs[EBX], 3u);
  EXPECT_EQ(h.cpu.eip, bp + 1);
  ASSERT_TRUE(debug_remove_breakpoint(h.cpu, bp));
  EXPECT_FALSE(debug_remove_breakpoint(h.cpu, bp));
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX], 4u);
}

TEST(EventsDebugger, BreakpointInALoopHitsEveryTime) {
  CpuHarness h;
  // l: inc ebx; cmp ebx, 3; jne l
  h.code({0x43, 0x83, 0xFB, 0x03, 0x75, 0xFA});
  ASSERT_TRUE(debug_add_breakpoint(h.cpu, CpuHarness::CODE_ADDR));
  unsigned hits = 0;
  ExitReason r;
  while ((r = h.run()) == EXIT_DEBUG) ++hits;
  EXPECT_EQ(r, EXIT_HLT);
  // Not where run() starts (it resumes from there), but at each of the 2 jumps back.
  EXPECT_EQ(hits, 2u);
  EXPECT_EQ(h.cpu.regs[EBX], 3u);
}

TEST(EventsDebugger, WatchpointStopsAfterTheAccess) {
  CpuHarness h;
  const uint32_t d = CpuHarness::DATA_ADDR + 8;
  ASSERT_TRUE(debug_add_watchpoint(h.cpu, d, 4, WATCH_WRITE));
  h.code({0x8B, 0x0D, 0x08, 0x00, 0x02, 0x00,  // mov ecx, [d]: a read, not watched
          0xA3, 0x0A, 0x00, 0x02, 0x00,        // mov [d+2], eax
          0x43});
  h.cpu.regs[EAX] = 0x11223344;
  EXPECT_EQ(h.run(), EXIT_DEBUG);
  EXPECT_EQ(h.cpu.debug_hit.kind, HIT_WATCHPOINT);
  EXPECT_EQ(h.cpu.debug_hit.watch, WATCH_WRITE);
  EXPECT_EQ(h.cpu.debug_hit.address, d + 2);
  EXPECT_EQ(h.cpu.eip, CpuHarness::CODE_ADDR + 11);
  EXPECT_EQ(h.rd32(d + 2), 0x11223344u);
  EXPECT_EQ(h.cpu.regs[EBX], 0u);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX], 1u);
  ASSERT_TRUE(debug_remove_watchpoint(h.cpu, d, 4, WATCH_WRITE));
  debug_clear_all(h.cpu);
  EXPECT_EQ(h.cpu.dbg.nwatch, 0u);
}

TEST(EventsDebugger, StepOntoAWatchedWriteReportsIt) {
  CpuHarness h;
  const uint32_t d = CpuHarness::DATA_ADDR + 0x20;
  ASSERT_TRUE(debug_add_watchpoint(h.cpu, d, 4, WATCH_ACCESS));
  h.code({0x43, 0xA3, 0x20, 0x00, 0x02, 0x00, 0x43});  // inc ebx; mov [d], eax; inc ebx
  EXPECT_EQ(h.interp.step(), EXIT_BUDGET);
  EXPECT_EQ(h.interp.step(), EXIT_DEBUG);
  EXPECT_EQ(h.cpu.debug_hit.address, d);
  EXPECT_EQ(h.cpu.eip, CpuHarness::CODE_ADDR + 6);
  EXPECT_EQ(h.interp.step(), EXIT_BUDGET);  // nothing left over
  EXPECT_EQ(h.cpu.regs[EBX], 2u);
}

TEST(EventsDebugger, ReadWatchpointIgnoresWrites) {
  CpuHarness h;
  const uint32_t d = CpuHarness::DATA_ADDR + 0x40;
  ASSERT_TRUE(debug_add_watchpoint(h.cpu, d, 1, WATCH_READ));
  h.code({0xA2, 0x40, 0x00, 0x02, 0x00,        // mov [d], al
          0x8A, 0x0D, 0x40, 0x00, 0x02, 0x00,  // mov cl, [d]
          0x43});
  EXPECT_EQ(h.run(), EXIT_DEBUG);
  EXPECT_EQ(h.cpu.debug_hit.watch, WATCH_READ);
  EXPECT_EQ(h.cpu.eip, CpuHarness::CODE_ADDR + 11);
}

// ---- CPUID, FERR# --------------------------------------------------------------------------

TEST(EventsCpuid, ApicAndDebugExtensionBits) {
  for (uint8_t apic : {0, 1}) {
    CpuHarness h;
    NoPorts io;
    h.cpu.cpuid_apic = apic;
    h.code({0x0F, 0xA2});
    h.cpu.regs[EAX] = 1;
    ASSERT_EQ(h.interp.run(10), EXIT_CPUID);
    ASSERT_TRUE(execute_trapped(h.cpu, io));
    EXPECT_EQ((h.cpu.regs[EDX] >> 9) & 1, apic);
    EXPECT_TRUE(h.cpu.regs[EDX] & 4);  // DE
    EXPECT_TRUE(h.cpu.regs[EDX] & 2);  // VME (with PVI): interp/ops_system.cpp CLI/STI
    EXPECT_EQ(h.cpu.regs[EBX] >> 24, 0u);
  }
}

TEST(EventsFpu, UnmaskedExceptionWithNeClearAssertsFerr) {
  for (bool ne : {false, true}) {
    CpuHarness h;
    if (ne) h.cpu.cr0 |= CR0_NE;
    const uint16_t cw = 0x037B;  // ZE unmasked
    h.mem.write_bytes(CpuHarness::DATA_ADDR, &cw, 2);
    h.code({0xDB, 0xE3,                          // fninit
            0xD9, 0x2D, 0x00, 0x00, 0x02, 0x00,  // fldcw [DATA]
            0xD9, 0xE8, 0xD9, 0xEE, 0xDE, 0xF9,  // fld1; fldz; fdivp st1, st0 -> 1/0
            0x9B,                                // fwait
            0x43});                              // inc ebx
    EXPECT_EQ(h.run(), EXIT_HLT);
    if (ne) {
      EXPECT_EQ(h.last_vector(), VEC_MF);
      EXPECT_EQ(h.cpu.ferr, 0);
    } else {
      EXPECT_EQ(h.last_vector(), -1);
      EXPECT_EQ(h.cpu.ferr, 1);
      EXPECT_EQ(h.cpu.regs[EBX], 1u);
    }
  }
  CpuHarness h;  // FNCLEX drops FERR#
  h.cpu.ferr = 1;
  h.code({0xDB, 0xE2});
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.ferr, 0);
}

}  // namespace
}  // namespace softcpu::test
