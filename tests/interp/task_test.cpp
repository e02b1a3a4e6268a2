// Hardware task switching (SDM vol.3 chapter 7): CALL/JMP to a TSS, task gates for INT n
// and exceptions (error code on the new task's stack), IRET with NT through the back link,
// busy bits, NT, CR0.TS, 16-bit TSS, and the #GP/#TS faults before and after the commit point.
#include <gtest/gtest.h>

#include "interp/events.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::gate_desc;
using test::make_desc;


constexpr uint32_t CODE = CpuHarness::CODE_ADDR;
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;
constexpr uint32_t GDT = CpuHarness::GDT_ADDR;
constexpr uint32_t TSS_A = 0x3000, TSS_B = 0x3100, TSS_C = 0x3200, TSS_E = 0x3300;
constexpr uint32_t STACK_B = 0x38000;

struct Tasks {
  CpuHarness h;

  void gdt(unsigned index, uint64_t d) {
    h.mem.write_bytes(GDT + index * 8, &d, 8);
    if (h.cpu.gdtr.limit < index * 8 + 7) h.cpu.gdtr.limit = uint16_t(index * 8 + 7);
  }
  void idt(unsigned v, uint64_t d) {
    h.mem.write_bytes(0x400 + v * 8, &d, 8);
    if (h.cpu.idtr.limit < v * 8 + 7) h.cpu.idtr.limit = uint16_t(v * 8 + 7);
  }
  void put(uint32_t addr, std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> v(bytes);
    h.mem.write_bytes(addr, v.data(), uint32_t(v.size()));
  }
  uint8_t rd8(uint32_t a) { uint8_t v; h.mem.read_bytes(a, &v, 1); return v; }
  uint16_t rd16(uint32_t a) { uint16_t v; h.mem.read_bytes(a, &v, 2); return v; }
  void wr16(uint32_t a, uint16_t v) { h.mem.write_bytes(a, &v, 2); }

  // A 32-bit TSS for a flat ring 0 task starting at `eip`.
  void tss32(uint32_t base, uint32_t eip, uint32_t esp, uint16_t ldt = 0) {
    std::vector<uint8_t> zero(0x68, 0);
    h.mem.write_bytes(base, zero.data(), 0x68);
    h.wr32(base + 0x20, eip);
    h.wr32(base + 0x24, 2);
    for (unsigned r = 0; r < 8; ++r) h.wr32(base + 0x28 + 4 * r, 0xB0 + r);
    h.wr32(base + 0x38, esp);
    for (unsigned s = 0; s < 6; ++s) h.wr32(base + 0x48 + 4 * s, s == CS ? 0x08 : 0x10);
    h.wr32(base + 0x60, ldt);
  }

  Tasks() {
    gdt(3, make_desc(TSS_A, 0x67, 0x8B, 0));  // 0x18 TSS A, busy (the current task)
    gdt(4, make_desc(TSS_B, 0x67, 0x89, 0));  // 0x20 TSS B, available
    gdt(5, gate_desc(0x20, 0, 5, 0));        // 0x28 task gate -> B
    gdt(6, make_desc(TSS_C, 0x2B, 0x81, 0));  // 0x30 16-bit TSS C, available
    gdt(7, make_desc(0x3380, 0x50, 0x89, 0)); // 0x38 32-bit TSS with a limit below 0x67
    gdt(9, make_desc(TSS_E, 0x67, 0x89, 0));  // 0x48 TSS E whose LDT selector is a code segment
    std::vector<uint8_t> zero(0x68, 0);
    h.mem.write_bytes(TSS_A, zero.data(), 0x68);
    cache_from_descriptor(h.cpu, h.cpu.tr, 0x18, make_desc(TSS_A, 0x67, 0x8B, 0));
    tss32(TSS_B, CODE + 0x200, STACK_B);
    tss32(TSS_E, CODE + 0x400, STACK_B, 0x08);
    idt(0x30, gate_desc(0x20, 0, 5, 0));  // INT 0x30 -> task B
    h.cpu.lz_kind = LZ_NONE;
    h.cpu.eflags = 2;
  }
};

TEST(Tasks, CallToTssAndIretWithNtReturns) {
  Tasks t;
  t.h.code({0xB8, 0xA1, 0x00, 0x00, 0x00,                // mov eax, 0xA1
            0x9A, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00,    // call 0x20:0 (TSS B)
            0xB9, 0xA2, 0x00, 0x00, 0x00});              // mov ecx, 0xA2
  t.h.cpu.regs[EBX] = 0xA3;
  t.put(CODE + 0x200, {0x9C,                                // pushfd
                       0x8F, 0x05, 0x00, 0x00, 0x02, 0x00,  // pop dword [DATA]
                       0x0F, 0x00, 0x0D, 0x04, 0x00, 0x02, 0x00,  // str [DATA+4]
                       0xA0, 0x1D, 0x08, 0x00, 0x00,        // mov al, [GDT+0x18+5]
                       0xA2, 0x08, 0x00, 0x02, 0x00,        // mov [DATA+8], al
                       0xBB, 0xB1, 0x00, 0x00, 0x00,        // mov ebx, 0xB1
                       0xCF});                              // iretd
  ASSERT_EQ(t.h.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  // Inside B: NT set, TR = 0x20, A still busy (nested).
  EXPECT_EQ(t.h.rd32(DATA) & NT, uint32_t(NT));
  EXPECT_EQ(t.rd16(DATA + 4), 0x20);
  EXPECT_EQ(t.rd8(DATA + 8), 0x8B);
  // B's TSS: back link to A, its state saved by the IRET with NT clear in the image.
  EXPECT_EQ(t.rd16(TSS_B), 0x18);
  EXPECT_EQ(t.h.rd32(TSS_B + 0x20), CODE + 0x200 + 30);  // after the IRETD
  EXPECT_EQ(t.h.rd32(TSS_B + 0x24) & NT, 0u);
  EXPECT_EQ(t.h.rd32(TSS_B + 0x34), 0xB1u);              // EBX
  // A's TSS: state at the CALL (EIP after it).
  EXPECT_EQ(t.h.rd32(TSS_A + 0x20), CODE + 12);
  EXPECT_EQ(t.h.rd32(TSS_A + 0x28), 0xA1u);
  // Back in A: registers from A's TSS, B not busy any more, A busy, TR = A, CR0.TS.
  EXPECT_EQ(t.h.cpu.regs[EAX], 0xA1u);
  EXPECT_EQ(t.h.cpu.regs[ECX], 0xA2u);
  EXPECT_EQ(t.h.cpu.regs[EBX], 0xA3u);
  EXPECT_EQ(t.h.cpu.tr.selector, 0x18);
  EXPECT_EQ(t.rd8(GDT + 0x18 + 5), 0x8B);
  EXPECT_EQ(t.rd8(GDT + 0x20 + 5), 0x89);
  EXPECT_EQ(t.h.cpu.eflags & NT, 0u);
  EXPECT_NE(t.h.cpu.cr0 & CR0_TS, 0u);
}

TEST(Tasks, JmpToTssAndBackSwapsBusyBits) {
  Tasks t;
  t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00,   // jmp 0x20:0 (TSS B)
            0xB9, 0xA2, 0x00, 0x00, 0x00});             // mov ecx, 0xA2
  t.put(CODE + 0x200, {0xA0, 0x1D, 0x08, 0x00, 0x00,    // mov al, [GDT+0x18+5] (A's type)
                       0xA2, 0x00, 0x00, 0x02, 0x00,    // mov [DATA], al
                       0x9C,                            // pushfd
                       0x8F, 0x05, 0x04, 0x00, 0x02, 0x00,  // pop dword [DATA+4]
                       0xEA, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00});  // jmp 0x18:0 (back to A)
  ASSERT_EQ(t.h.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  EXPECT_EQ(t.rd8(DATA), 0x89);                 // A was available while B ran
  EXPECT_EQ(t.h.rd32(DATA + 4) & NT, 0u);       // JMP does not nest
  EXPECT_EQ(t.rd16(TSS_B), 0);                  // no back link
  EXPECT_EQ(t.rd8(GDT + 0x18 + 5), 0x8B);
  EXPECT_EQ(t.rd8(GDT + 0x20 + 5), 0x89);
  EXPECT_EQ(t.h.cpu.tr.selector, 0x18);
  EXPECT_EQ(t.h.cpu.regs[ECX], 0xA2u);
  EXPECT_EQ(t.h.rd32(TSS_B + 0x20), CODE + 0x200 + 24);  // B's EIP after its JMP
}

TEST(Tasks, TaskGateForJmpAndInt) {
  {
    Tasks t;  // JMP through the task gate 0x28
    t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x28, 0x00});
    t.put(CODE + 0x200, {0xF4});
    ASSERT_EQ(t.h.run(), EXIT_HLT);
    EXPECT_EQ(t.h.cpu.tr.selector, 0x20);
    EXPECT_EQ(t.h.cpu.eip, CODE + 0x200);
    EXPECT_EQ(t.h.cpu.regs[ESP], STACK_B);
    EXPECT_EQ(t.h.cpu.regs[EAX], 0xB0u);
  }
  {
    Tasks t;  // INT 0x30 through an IDT task gate, IRET back
    t.h.code({0xCD, 0x30,                      // int 0x30
              0xB9, 0x01, 0x00, 0x00, 0x00});  // mov ecx, 1
    t.put(CODE + 0x200, {0xCF});               // iretd
    ASSERT_EQ(t.h.run(), EXIT_HLT);
    EXPECT_EQ(t.h.last_vector(), -1);
    EXPECT_EQ(t.rd16(TSS_B), 0x18);
    EXPECT_EQ(t.h.rd32(TSS_A + 0x20), CODE + 2);
    EXPECT_EQ(t.h.cpu.regs[ECX], 1u);
    EXPECT_EQ(t.h.cpu.tr.selector, 0x18);
    EXPECT_EQ(t.rd8(GDT + 0x20 + 5), 0x89);
  }
}

TEST(Tasks, ExceptionThroughTaskGatePushesErrorCodeOnNewStack) {
  Tasks t;
  t.idt(VEC_GP, gate_desc(0x20, 0, 5, 0));
  t.h.code({0x66, 0xB8, 0x38, 0x12,   // mov ax, 0x1238
            0x8E, 0xD8});             // mov ds, ax: #GP(0x1238)
  t.put(CODE + 0x200, {0x58,                              // pop eax
                       0xA3, 0x00, 0x00, 0x02, 0x00,      // mov [DATA], eax
                       0xF4});
  ASSERT_EQ(t.h.run(), EXIT_HLT);
  EXPECT_EQ(t.h.rd32(DATA), 0x1238u);
  EXPECT_EQ(t.h.cpu.regs[ESP], STACK_B);
  EXPECT_EQ(t.h.rd32(TSS_A + 0x20), CODE + 4);  // the faulting MOV DS
  EXPECT_EQ(t.rd16(TSS_B), 0x18);
  EXPECT_EQ(t.h.cpu.eflags & NT, uint32_t(NT));
}

TEST(Tasks, SixteenBitTss) {
  Tasks t;
  std::vector<uint8_t> zero(0x2C, 0);
  t.h.mem.write_bytes(TSS_C, zero.data(), 0x2C);
  t.wr16(TSS_C + 0x0E, 0x0280);  // IP
  t.wr16(TSS_C + 0x10, 0x0002);  // FLAGS
  t.wr16(TSS_C + 0x12, 0x1234);  // AX
  t.wr16(TSS_C + 0x1A, 0x7000);  // SP
  t.wr16(TSS_C + 0x22, 0x10);    // ES
  t.wr16(TSS_C + 0x24, 0x08);    // CS
  t.wr16(TSS_C + 0x26, 0x10);    // SS
  t.wr16(TSS_C + 0x28, 0x10);    // DS
  t.put(0x280, {0xF4});
  t.h.cpu.regs[EDX] = 0x12345678;
  t.h.code({0x9A, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00});  // call 0x30:0
  ASSERT_EQ(t.h.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  EXPECT_EQ(t.h.cpu.eip, 0x280u);
  EXPECT_EQ(t.h.cpu.regs[EAX] & 0xFFFF, 0x1234u);
  EXPECT_EQ(t.h.cpu.regs[ESP] & 0xFFFF, 0x7000u);
  EXPECT_EQ(t.h.cpu.seg[FS].selector, 0);
  EXPECT_EQ(t.h.cpu.seg[GS].selector, 0);
  EXPECT_EQ(t.rd16(TSS_C), 0x18);                 // back link
  EXPECT_EQ(t.rd8(GDT + 0x30 + 5), 0x83);         // 16-bit TSS now busy
  EXPECT_EQ(t.h.rd32(TSS_A + 0x30), 0x12345678u);  // A's EDX saved
}

TEST(Tasks, FaultsBeforeTheCommitPoint) {
  {
    Tasks t;  // the busy current TSS
    t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00});
    t.h.run();
    EXPECT_EQ(t.h.last_vector(), VEC_GP);
    EXPECT_EQ(t.h.rd32(t.h.cpu.regs[ESP]), 0x18u);
    EXPECT_EQ(t.h.cpu.tr.selector, 0x18);
  }
  {
    Tasks t;  // a TSS limit below 67H
    t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00});
    t.h.run();
    EXPECT_EQ(t.h.last_vector(), VEC_TS);
    EXPECT_EQ(t.h.rd32(t.h.cpu.regs[ESP]), 0x38u);
    EXPECT_EQ(t.h.cpu.tr.selector, 0x18);
    EXPECT_EQ(t.rd8(GDT + 0x38 + 5), 0x89);  // not marked busy
  }
  {
    Tasks t;  // IRET with NT whose back link is an available (not busy) TSS: #TS(link)
    t.wr16(TSS_A, 0x20);
    t.h.cpu.eflags = 2 | NT;
    t.h.code({0xCF});
    t.h.run();
    EXPECT_EQ(t.h.last_vector(), VEC_TS);
    EXPECT_EQ(t.h.rd32(t.h.cpu.regs[ESP]), 0x20u);
  }
  {
    Tasks t;  // a TSS descriptor in the LDT selector space / beyond the GDT: #GP(sel)
    t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x01});
    t.h.run();
    EXPECT_EQ(t.h.last_vector(), VEC_GP);
    EXPECT_EQ(t.h.rd32(t.h.cpu.regs[ESP]), 0x1F8u);
  }
}

TEST(Tasks, FaultAfterTheCommitPointIsDeliveredInTheNewTask) {
  Tasks t;  // TSS E names a code segment as its LDT: #TS(0x08) with E's EIP on E's stack
  t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x48, 0x00});
  t.h.run();
  EXPECT_EQ(t.h.last_vector(), VEC_TS);
  EXPECT_EQ(t.h.cpu.tr.selector, 0x48);
  EXPECT_EQ(t.h.cpu.regs[ESP], STACK_B - 16);
  EXPECT_EQ(t.h.rd32(STACK_B - 16), 0x08u);        // error code
  EXPECT_EQ(t.h.rd32(STACK_B - 12), CODE + 0x400);  // the new task's EIP
  EXPECT_EQ(t.rd8(GDT + 0x18 + 5), 0x89);           // A released (JMP)
  EXPECT_EQ(t.rd8(GDT + 0x48 + 5), 0x8B);
}

// SDM vol.3 7.2.1, 17.3.1.5: T = 1 in the new TSS raises a #DB trap with DR6.BT before the
// new task's first instruction; with TF set in the old task it is one #DB with BS as well.
TEST(Tasks, TrapBitRaisesDebugTrapBeforeTheFirstInstruction) {
  for (bool tf : {false, true}) {
    SCOPED_TRACE(tf);
    Tasks t;
    t.wr16(TSS_B + 0x64, 1);  // T
    t.put(CODE + 0x200, {0x43, 0xF4});  // inc ebx (must not run before the #DB); hlt
    t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00});  // jmp 0x20:0 (TSS B)
    if (tf) t.h.cpu.eflags |= TF;
    ASSERT_EQ(t.h.run(), EXIT_HLT);
    EXPECT_EQ(t.h.last_vector(), VEC_DB);
    EXPECT_EQ(t.h.cpu.tr.selector, 0x20);
    EXPECT_EQ(t.h.cpu.regs[ESP], STACK_B - 12);  // one frame, in the new task
    EXPECT_EQ(t.h.pushed_eip(), CODE + 0x200);
    EXPECT_EQ(t.h.cpu.regs[EBX], 0xB3u);         // B's EBX from its TSS, not incremented
    EXPECT_TRUE(t.h.cpu.dr[6] & DR6_BT);
    EXPECT_EQ((t.h.cpu.dr[6] & DR6_BS) != 0, tf);
  }
}

TEST(Tasks, NoDebugTrapWithoutTheTrapBit) {
  Tasks t;
  t.put(CODE + 0x200, {0x43, 0xF4});  // inc ebx; hlt
  t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00});
  ASSERT_EQ(t.h.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  EXPECT_EQ(t.h.cpu.regs[EBX], 0xB4u);
  EXPECT_FALSE(t.h.cpu.dr[6] & DR6_BT);
}

}  // namespace
}  // namespace softcpu
