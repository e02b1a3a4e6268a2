// Stack instructions: PUSH/POP forms, segment registers, PUSHA/POPA, PUSHF/POPF privilege
// rules, ENTER/LEAVE, and restartability of multi-write instructions.
#include <gtest/gtest.h>

#include <vector>

#include "interp/decode.h"
#include "interp/paging.h"
#include "interp/sem/control.h"
#include "interp/sem/stack.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::make_desc;

// Run one instruction's handler directly (no exception delivery). Returns the vector raised,
// or -1. On a fault EIP is left at the instruction, as the interpreter would.
int exec_direct(CpuHarness& h, std::initializer_list<uint8_t> bytes, uint32_t* error = nullptr) {
  std::vector<uint8_t> b(bytes);
  b.resize(15, 0x90);
  InsnDecoder d;
  Insn i = d.decode(b.data(), 15, code32(h.cpu), stack32(h.cpu));
  const uint32_t start = h.cpu.eip;
  h.cpu.eip += i.len;
  try {
    i.fn(h.cpu, i);
  } catch (const GuestFault& f) {
    h.cpu.eip = start;
    if (error) *error = f.error;
    return f.vector;
  }
  return -1;
}

// Switch the flat harness to CPL 3 with DPL-3 flat code and data segments.
void enter_ring3(CpuHarness& h) {
  const uint64_t code3 = 0x00CFFB000000FFFFull, data3 = 0x00CFF3000000FFFFull;
  h.mem.write_bytes(CpuHarness::GDT_ADDR + 0x18, &code3, 8);
  h.mem.write_bytes(CpuHarness::GDT_ADDR + 0x20, &data3, 8);
  h.cpu.gdtr.limit = 5 * 8 - 1;
  cache_from_descriptor(h.cpu, h.cpu.seg[CS], 0x1B, code3);
  for (unsigned s : {ES, SS, DS, FS, GS}) cache_from_descriptor(h.cpu, h.cpu.seg[s], 0x23, data3);
  h.cpu.cpl = 3;  // CPL is CS's, set by a CS load (here done by hand)
  update_mode(h.cpu);
}

TEST(StackOps, PushPopRegistersAndImmediates32) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0xA1A2A3A4;
  h.cpu.regs[ECX] = 0xCCCC0000;
  h.code({0x50,                          // push eax
          0x54,                          // push esp (the value before the decrement)
          0x6A, 0x80,                    // push -128 (sign-extended)
          0x68, 0x78, 0x56, 0x34, 0x12,  // push 0x12345678
          0x66, 0x6A, 0x34,              // push word 0x34
          0x66, 0x59,                    // pop cx
          0x5B,                          // pop ebx
          0x5A,                          // pop edx
          0x5E,                          // pop esi
          0x5F});                        // pop edi
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[ECX], 0xCCCC0034u);
  EXPECT_EQ(h.cpu.regs[EBX], 0x12345678u);
  EXPECT_EQ(h.cpu.regs[EDX], 0xFFFFFF80u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x2FFFCu);
  EXPECT_EQ(h.cpu.regs[EDI], 0xA1A2A3A4u);
  EXPECT_EQ(h.cpu.regs[ESP], 0x30000u);
  EXPECT_EQ(h.rd32(0x2FFEC) >> 16, 0x0034u);  // the word slot at 0x2FFEE
}

TEST(StackOps, PopToMemoryUsesIncrementedEsp) {
  CpuHarness h;
  h.code({0x68, 0x11, 0x11, 0x00, 0x00,  // push 0x1111   -> [0x2FFFC]
          0x68, 0x22, 0x22, 0x00, 0x00,  // push 0x2222   -> [0x2FFF8]
          0x8F, 0x04, 0x24,              // pop dword [esp]: ESP = 0x2FFFC first, then [0x2FFFC]
          0xFF, 0x34, 0x24,              // push dword [esp]: reads [0x2FFFC] before the decrement
          0x5C});                        // pop esp
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.rd32(0x2FFFC), 0x2222u);
  EXPECT_EQ(h.rd32(0x2FFF8), 0x2222u);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2222u);
}

TEST(StackOps, PopToMemoryFaultLeavesEsp) {
  CpuHarness h;
  h.cpu.seg[FS].limit = 0xFFF;
  refresh_segment_ranges(h.cpu, h.cpu.seg[FS]);
  h.wr32(0x2FFFC, 0x77);
  h.cpu.regs[ESP] = 0x2FFFC;
  // pop dword fs:[0x2000]
  EXPECT_EQ(exec_direct(h, {0x64, 0x8F, 0x05, 0x00, 0x20, 0x00, 0x00}), 13);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FFFCu);
}

TEST(StackOps, PushPopSegmentRegisters32) {
  CpuHarness h;
  h.wr32(0x2FFFC, 0xFFFFFFFF);
  h.wr32(0x2FFF8, 0xFFFFFFFF);
  h.wr32(0x2FFF4, 0xFFFFFFFF);
  h.code({0x1E,              // push ds  (4-byte slot, zero-extended)
          0x0E,              // push cs
          0x66, 0x06,        // o16 push es (2 bytes)
          0x66, 0x0F, 0xA1,  // o16 pop fs
          0x0F, 0xA9,        // pop gs  <- 0x08 (a readable code segment)
          0x07});            // pop es  <- 0x10
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.rd32(0x2FFFC), 0x10u);
  EXPECT_EQ(h.rd32(0x2FFF8), 0x08u);
  EXPECT_EQ(h.rd32(0x2FFF4), 0x0010FFFFu);  // only the word at 0x2FFF6 was written
  EXPECT_EQ(h.cpu.seg[FS].selector, 0x10u);
  EXPECT_EQ(h.cpu.seg[GS].selector, 0x08u);
  EXPECT_EQ(h.cpu.seg[ES].selector, 0x10u);
  EXPECT_EQ(h.cpu.regs[ESP], 0x30000u);
}

TEST(StackOps, PopSegmentFaultLeavesEsp) {
  CpuHarness h;
  h.code({0x68, 0x34, 0x12, 0x00, 0x00,  // push 0x1234 (beyond the GDT limit)
          0x1F});                        // pop ds -> #GP(0x1234)
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 13);
  EXPECT_EQ(h.cpu.seg[DS].selector, 0x10u);
  // The exception frame sits right below the unchanged ESP 0x2FFFC: error, EIP, CS, EFLAGS.
  EXPECT_EQ(h.rd32(0x2FFEC), 0x1234u);
  EXPECT_EQ(h.rd32(0x2FFF0), CpuHarness::CODE_ADDR + 5);
}

TEST(StackOps, RealModePushPopAndPopSs) {
  CpuHarness h(false);
  h.cpu.regs[EAX] = 0x1234ABCD;
  h.cpu.regs[EBX] = 0x55550000;
  h.code({0x50,              // push ax
          0x5B,              // pop bx
          0x68, 0x00, 0x20,  // push 0x2000
          0x17});            // pop ss
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX], 0x5555ABCDu);
  EXPECT_EQ(h.cpu.seg[SS].selector, 0x2000u);
  EXPECT_EQ(h.cpu.seg[SS].base, 0x20000u);
  EXPECT_EQ(h.cpu.regs[ESP], 0xFFF0u);
  uint16_t w;
  h.mem.read_bytes(0x10000 + 0xFFEE, &w, 2);
  EXPECT_EQ(w, 0x2000u);
}

TEST(StackOps, PushaPopaRoundTrip32) {
  CpuHarness h;
  for (unsigned r = 0; r < 8; ++r)
    if (r != ESP) h.cpu.regs[r] = 0x11111111u * (r + 1);
  h.code({0x60,                                            // pusha
          0xC7, 0x44, 0x24, 0x0C, 0x99, 0x99, 0x99, 0x99,  // mov dword [esp+12], 0x99999999 (ESP slot)
          0xB8, 0, 0, 0, 0, 0xB9, 0, 0, 0, 0, 0xBA, 0, 0, 0, 0, 0xBB, 0, 0, 0, 0,
          0xBD, 0, 0, 0, 0, 0xBE, 0, 0, 0, 0, 0xBF, 0, 0, 0, 0,  // mov r32, 0 (not ESP)
          0x61});                                          // popa
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x2FFFC), 0x11111111u);  // EAX
  EXPECT_EQ(h.rd32(0x2FFF8), 0x22222222u);  // ECX
  EXPECT_EQ(h.rd32(0x2FFF4), 0x33333333u);  // EDX
  EXPECT_EQ(h.rd32(0x2FFF0), 0x44444444u);  // EBX
  EXPECT_EQ(h.rd32(0x2FFEC), 0x99999999u);  // ESP slot (original 0x30000, overwritten)
  EXPECT_EQ(h.rd32(0x2FFE8), 0x66666666u);  // EBP
  EXPECT_EQ(h.rd32(0x2FFE4), 0x77777777u);  // ESI
  EXPECT_EQ(h.rd32(0x2FFE0), 0x88888888u);  // EDI
  for (unsigned r = 0; r < 8; ++r) {
    if (r != ESP) { EXPECT_EQ(h.cpu.regs[r], 0x11111111u * (r + 1)) << r; }
  }
  EXPECT_EQ(h.cpu.regs[ESP], 0x30000u);
}

TEST(StackOps, PushaStoresOriginalEsp) {
  CpuHarness h;
  h.code({0x60});  // pusha
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x2FFEC), 0x30000u);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FFE0u);
}

TEST(StackOps, RealModePushaPopa16) {
  CpuHarness h(false);
  h.cpu.regs[EAX] = 0xAAAA0001;
  h.cpu.regs[ECX] = 0xCCCC0002;
  h.cpu.regs[EDI] = 0xDDDD0008;
  h.code({0x60,                    // pusha
          0xB8, 0x00, 0x00,        // mov ax, 0
          0xBF, 0x00, 0x00,        // mov di, 0
          0x61});                  // popa
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0xAAAA0001u);
  EXPECT_EQ(h.cpu.regs[ECX], 0xCCCC0002u);
  EXPECT_EQ(h.cpu.regs[EDI], 0xDDDD0008u);
  EXPECT_EQ(h.cpu.regs[ESP], 0xFFF0u);
  uint16_t w[8];
  h.mem.read_bytes(0x10000 + 0xFFE0, w, 16);
  EXPECT_EQ(w[7], 0x0001u);  // AX at the top
  EXPECT_EQ(w[3], 0xFFF0u);  // original SP
  EXPECT_EQ(w[0], 0x0008u);  // DI at the bottom
}

TEST(StackOps, PushaFaultWritesNothing) {
  CpuHarness h;
  h.cpu.seg[SS].limit = 0x3FFFF;
  refresh_segment_ranges(h.cpu, h.cpu.seg[SS]);
  h.wr32(0, 0xEEEEEEEE);
  h.wr32(4, 0xEEEEEEEE);
  h.cpu.regs[ESP] = 8;  // the third push wraps below 0, beyond the limit
  EXPECT_EQ(exec_direct(h, {0x60}), 12);
  EXPECT_EQ(h.cpu.regs[ESP], 8u);
  EXPECT_EQ(h.rd32(0), 0xEEEEEEEEu);
  EXPECT_EQ(h.rd32(4), 0xEEEEEEEEu);
  EXPECT_EQ(h.cpu.eip, CpuHarness::CODE_ADDR);
}

TEST(StackOps, PushfdPopfdAtCpl0) {
  CpuHarness h;
  h.cpu.eflags = 2 | CF | RF | AC;
  h.code({0x9C,                          // pushfd: RF not in the image
          0x68, 0xFF, 0xFE, 0xFF, 0xFF,  // push 0xFFFFFEFF (everything but TF)
          0x9D,                          // popfd
          0x9C});                        // pushfd
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x2FFFC), 2u | CF | AC);
  // Writable: CF PF AF ZF SF IF DF OF IOPL NT AC ID; bit 1 set; 3, 5, 15 and 22-31 clear;
  // VM, VIF, VIP keep their value (0); RF is cleared.
  EXPECT_EQ(h.rd32(0x2FFF8), 0x00247ED7u);
  EXPECT_EQ(h.flags(), 0x00247ED7u);
}

TEST(StackOps, Popf16ChangesLowHalfOnly) {
  CpuHarness h;
  h.cpu.eflags = 2 | AC | ID;
  h.code({0x66, 0x68, 0xFF, 0xFE,  // push word 0xFEFF
          0x66, 0x9D,              // popf
          0x66, 0x9C});            // pushf
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.flags(), 0x00247ED7u);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FFFEu);
  EXPECT_EQ(h.rd32(0x2FFFC) >> 16, 0x7ED7u);
}

TEST(StackOps, RealModePopfCanSetIoplAndNt) {
  CpuHarness h(false);
  h.code({0x68, 0xD5, 0x70,  // push 0x70D5
          0x9D});            // popf
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.flags(), 0x70D7u);
}

TEST(StackOps, PopfAtCpl3KeepsIoplAndIf) {
  CpuHarness h;
  enter_ring3(h);
  ASSERT_EQ(h.cpu.cpl, 3);
  h.cpu.eflags = 2;  // IOPL 0
  h.code({0x68, 0x01, 0x32, 0x24, 0x00,  // push 0x243201 (ID AC IOPL=3 IF CF)
          0x9D});                        // popfd
  EXPECT_EQ(h.interp.step(), EXIT_BUDGET);
  EXPECT_EQ(h.interp.step(), EXIT_BUDGET);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.flags(), 2u | CF | AC | ID);  // IF and IOPL unchanged
  EXPECT_EQ(h.cpu.regs[ESP], 0x30000u);
}

TEST(StackOps, PopfAtCpl3WithIopl3ChangesIfNotIopl) {
  CpuHarness h;
  enter_ring3(h);
  h.cpu.eflags = 2 | IOPL;
  h.code({0x68, 0x01, 0x02, 0x00, 0x00,  // push 0x201 (IOPL=0, IF, CF)
          0x9D});                        // popfd
  EXPECT_EQ(h.interp.step(), EXIT_BUDGET);
  EXPECT_EQ(h.interp.step(), EXIT_BUDGET);
  EXPECT_EQ(h.flags(), 2u | IOPL | IF | CF);
}

TEST(StackOps, PopfAndPushfInV86WithIoplBelow3Fault) {
  CpuHarness h;
  h.cpu.eflags = 2 | VM | (2u << 12);
  h.wr32(0x2FFFC, 0);
  h.cpu.regs[ESP] = 0x2FFFC;
  uint32_t err = 99;
  EXPECT_EQ(exec_direct(h, {0x9D}, &err), 13);  // popfd
  EXPECT_EQ(err, 0u);
  EXPECT_EQ(exec_direct(h, {0x9C}), 13);  // pushfd
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FFFCu);
  EXPECT_EQ(h.cpu.eflags & (VM | IOPL), VM | (2u << 12));
}

TEST(StackOps, EnterNestedAndLeave32) {
  CpuHarness h;
  h.cpu.regs[EBP] = 0x2FF00;
  h.wr32(0x2FEFC, 0xAAAA);
  h.wr32(0x2FEF8, 0xBBBB);
  h.code({0xC8, 0x10, 0x00, 0x03});  // enter 0x10, 3
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.rd32(0x2FFFC), 0x2FF00u);  // old EBP
  EXPECT_EQ(h.rd32(0x2FFF8), 0xAAAAu);   // outer frame pointers
  EXPECT_EQ(h.rd32(0x2FFF4), 0xBBBBu);
  EXPECT_EQ(h.rd32(0x2FFF0), 0x2FFFCu);  // this frame
  EXPECT_EQ(h.cpu.regs[EBP], 0x2FFFCu);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FFE0u);

  h.cpu.eip = CpuHarness::CODE_ADDR + 0x100;  // fresh code: EIP stays at the HLT
  h.code({0xC9});  // leave
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ESP], 0x30000u);
  EXPECT_EQ(h.cpu.regs[EBP], 0x2FF00u);
}

TEST(StackOps, EnterLevels0And1) {
  CpuHarness h;
  h.cpu.regs[EBP] = 0x12345678;
  h.code({0xC8, 0x08, 0x00, 0x00});  // enter 8, 0
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x2FFFC), 0x12345678u);
  EXPECT_EQ(h.cpu.regs[EBP], 0x2FFFCu);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FFF4u);

  CpuHarness g;
  g.cpu.regs[EBP] = 0x12345678;
  g.code({0xC8, 0x00, 0x00, 0x01});  // enter 0, 1
  EXPECT_EQ(g.run(), EXIT_HLT);
  EXPECT_EQ(g.rd32(0x2FFFC), 0x12345678u);
  EXPECT_EQ(g.rd32(0x2FFF8), 0x2FFFCu);
  EXPECT_EQ(g.cpu.regs[EBP], 0x2FFFCu);
  EXPECT_EQ(g.cpu.regs[ESP], 0x2FFF8u);
}

TEST(StackOps, RealModeEnterNestedAndLeave16) {
  CpuHarness h(false);
  h.cpu.regs[EBP] = 0x5555FF00;
  const uint16_t outer = 0x1234;
  h.mem.write_bytes(0x10000 + 0xFEFE, &outer, 2);
  h.code({0xC8, 0x04, 0x00, 0x02});  // enter 4, 2
  EXPECT_EQ(h.run(), EXIT_HLT);
  uint16_t w[3];
  h.mem.read_bytes(0x10000 + 0xFFEA, w, 6);
  EXPECT_EQ(w[2], 0xFF00u);  // old BP at 0xFFEE
  EXPECT_EQ(w[1], 0x1234u);  // outer frame pointer at 0xFFEC
  EXPECT_EQ(w[0], 0xFFEEu);  // this frame at 0xFFEA
  EXPECT_EQ(h.cpu.regs[EBP], 0x5555FFEEu);
  EXPECT_EQ(h.cpu.regs[ESP], 0xFFE6u);

  h.cpu.eip = 0x100;  // fresh code: EIP stays at the HLT
  h.code({0xC9});  // leave
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ESP], 0xFFF0u);
  EXPECT_EQ(h.cpu.regs[EBP], 0x5555FF00u);
}

TEST(StackOps, EnterFaultChangesNothing) {
  CpuHarness h;
  h.cpu.seg[SS].limit = 0x3FFFF;
  refresh_segment_ranges(h.cpu, h.cpu.seg[SS]);
  h.wr32(0, 0xEEEEEEEE);
  h.wr32(4, 0xEEEEEEEE);
  h.cpu.regs[ESP] = 8;
  h.cpu.regs[EBP] = 0x100;
  EXPECT_EQ(exec_direct(h, {0xC8, 0x00, 0x00, 0x03}), 12);  // enter 0, 3: 4 pushes
  EXPECT_EQ(h.cpu.regs[ESP], 8u);
  EXPECT_EQ(h.cpu.regs[EBP], 0x100u);
  EXPECT_EQ(h.rd32(0), 0xEEEEEEEEu);
  EXPECT_EQ(h.rd32(4), 0xEEEEEEEEu);
}

// Paging on, the first 4 MiB identity mapped with user, writable pages.
void identity_paging(CpuHarness& h) {
  constexpr uint32_t PD = 0x200000, PT = 0x201000;
  for (uint32_t k = 0; k < 1024; ++k) h.wr32(PT + 4 * k, (k << 12) | PTE_P | PTE_RW | PTE_US);
  h.wr32(PD, PT | PTE_P | PTE_RW | PTE_US);
  h.cpu.cr3 = PD;
  h.cpu.cr0 |= CR0_PG;
  tlb_flush(h.cpu);
}
void set_pte(CpuHarness& h, uint32_t lin, uint32_t flags) {
  h.wr32(0x201000 + (lin >> 12) * 4, (lin & ~0xFFFu) | flags);
  tlb_flush(h.cpu);
}

// ENTER checks that a write at the final stack pointer would not fault (SDM vol.2 ENTER,
// "#PF ... if a write using the final value of the stack pointer would cause a page fault"):
// the push of EBP lands on a user page, the allocated frame ends on a supervisor page.
TEST(StackOps, EnterFaultsOnFinalStackPointerPage) {
  CpuHarness h;
  identity_paging(h);
  enter_ring3(h);
  set_pte(h, 0x2E000, PTE_P | PTE_RW);  // supervisor only
  h.wr32(0x2F000, 0x5A5A5A5A);
  h.cpu.regs[ESP] = 0x2F004;
  h.cpu.regs[EBP] = 0x11112222;
  h.cpu.cr2 = 0;
  uint32_t err = 0;
  EXPECT_EQ(exec_direct(h, {0xC8, 0x10, 0x00, 0x00}, &err), 14);  // enter 0x10, 0
  EXPECT_EQ(err, uint32_t(PF_P | PF_W | PF_U));
  EXPECT_EQ(h.cpu.cr2, 0x2EFF0u);  // final ESP = 0x2F004 - 4 - 0x10
  EXPECT_EQ(h.cpu.regs[ESP], 0x2F004u);
  EXPECT_EQ(h.cpu.regs[EBP], 0x11112222u);
  EXPECT_EQ(h.rd32(0x2F000), 0x5A5A5A5Au);  // EBP was not pushed

  // Nested levels: enter 0, 2 pushes 0x2F00C, 0x2F008, 0x2F004, all on the user page; enter
  // 0, 3 from ESP 0x2F008 pushes 0x2F004, 0x2F000, 0x2EFFC (supervisor): nothing is written.
  h.cpu.regs[ESP] = 0x2F010;
  h.cpu.regs[EBP] = 0x2F100;
  EXPECT_EQ(exec_direct(h, {0xC8, 0x00, 0x00, 0x02}, &err), -1);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2F004u);
  h.cpu.regs[ESP] = 0x2F008;
  h.cpu.regs[EBP] = 0x2F100;
  h.wr32(0x2F000, 0x5A5A5A5A);
  EXPECT_EQ(exec_direct(h, {0xC8, 0x00, 0x00, 0x03}, &err), 14);
  EXPECT_EQ(h.cpu.cr2, 0x2EFFCu);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2F008u);
  EXPECT_EQ(h.rd32(0x2F000), 0x5A5A5A5Au);

  // A read-only user page at the final stack pointer faults the same way.
  set_pte(h, 0x2E000, PTE_P | PTE_US);
  h.cpu.regs[ESP] = 0x2F004;
  EXPECT_EQ(exec_direct(h, {0xC8, 0x10, 0x00, 0x00}, &err), 14);
  EXPECT_EQ(err, uint32_t(PF_P | PF_W | PF_U));

  // The probe is an operand-size write: a final ESP of 0x2DFFE (user page) whose dword
  // reaches into the supervisor page at 0x2E000 faults; the word of the 16-bit form does not.
  set_pte(h, 0x2E000, PTE_P | PTE_RW);
  h.cpu.regs[ESP] = 0x2F004;
  EXPECT_EQ(exec_direct(h, {0xC8, 0x02, 0x10, 0x00}, &err), 14);  // enter 0x1002, 0
  EXPECT_EQ(h.cpu.regs[ESP], 0x2F004u);
  h.cpu.regs[ESP] = 0x2F002;
  EXPECT_EQ(exec_direct(h, {0x66, 0xC8, 0x02, 0x10, 0x00}), -1);  // o16 enter 0x1002, 0
  EXPECT_EQ(h.cpu.regs[ESP], 0x2DFFEu);

  // With the page writable the same ENTER completes.
  set_pte(h, 0x2E000, PTE_P | PTE_RW | PTE_US);
  h.cpu.regs[ESP] = 0x2F004;
  h.cpu.regs[EBP] = 0x11112222;
  EXPECT_EQ(exec_direct(h, {0xC8, 0x10, 0x00, 0x00}), -1);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2EFF0u);
  EXPECT_EQ(h.cpu.regs[EBP], 0x2F000u);
  EXPECT_EQ(h.rd32(0x2F000), 0x11112222u);
}

// The final stack pointer is also checked against the SS limit: #SS(0) with an expand-down
// stack whose limit the allocated frame goes below, nothing written.
TEST(StackOps, EnterChecksFinalStackPointerAgainstLimit) {
  CpuHarness h;
  const uint64_t down = make_desc(0, 0x2FF00, 0x96, 0x4);  // data, expand-down, writable, B=1
  h.set_gdt_entry(3, down);
  h.cpu.gdtr.limit = 4 * 8 - 1;
  cache_from_descriptor(h.cpu, h.cpu.seg[SS], 0x18, down);
  h.cpu.regs[ESP] = 0x30000;
  h.cpu.regs[EBP] = 0x77;
  h.wr32(0x2FFFC, 0xCCCCCCCC);
  uint32_t err = 99;
  EXPECT_EQ(exec_direct(h, {0xC8, 0x00, 0x02, 0x00}, &err), 12);  // enter 0x200, 0
  EXPECT_EQ(err, 0u);
  EXPECT_EQ(h.cpu.regs[ESP], 0x30000u);
  EXPECT_EQ(h.cpu.regs[EBP], 0x77u);
  EXPECT_EQ(h.rd32(0x2FFFC), 0xCCCCCCCCu);
  // The lowest valid final pointer for a dword probe is limit + 1.
  EXPECT_EQ(exec_direct(h, {0xC8, 0xFB, 0x00, 0x00}), -1);  // enter 0xFB, 0
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FF01u);
}

TEST(StackOps, Leave16InFlatMode) {
  CpuHarness h;
  h.cpu.regs[EBP] = 0x2FF00;
  h.wr32(0x2FF00, 0xCAFE1234);
  h.code({0x66, 0xC9});  // o16 leave: ESP = EBP, BP = pop16
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FF02u);
  EXPECT_EQ(h.cpu.regs[EBP], 0x21234u);
}


// PUSH, POP, CALL, RET and LEAVE are decoded for the stack size (SS.B) of their block's key.
TEST(StackOps, DecodeChoosesTheStackSize) {
  InsnDecoder d;
  const uint8_t push_eax[] = {0x50}, pop_ecx[] = {0x59}, ret[] = {0xC3}, leave[] = {0xC9},
                call[] = {0xE8, 0, 0, 0, 0}, push_imm[] = {0x6A, 1};
  for (bool s32 : {false, true}) {
    const unsigned b = s32 ? STACK32 : STACK16;
    EXPECT_EQ(d.decode(push_eax, 1, true, s32).fn, kPushReg.get(4u, b));
    EXPECT_EQ(d.decode(pop_ecx, 1, true, s32).fn, kPopReg.get(4u, b));
    EXPECT_EQ(d.decode(ret, 1, true, s32).fn, kRetNear.get(4u, false, b));
    EXPECT_EQ(d.decode(leave, 1, false, s32).fn, kLeave.get(2u, b));
    EXPECT_EQ(d.decode(call, 5, true, s32).fn, kCallNearRel.get(4u, b));
    EXPECT_EQ(d.decode(push_imm, 2, true, s32).fn, kPushImm.get(4u, b));
  }
}

// 32-bit code with a 16-bit stack (SS.B = 0, loaded by MOV SS in the middle of the program):
// every push and pop uses SP, wraps at 64 KiB and keeps ESP's upper half (SDM vol.3 3.4.5;
// vol.2 PUSH, POP, CALL, RET, LEAVE). The subroutine runs first with the 32-bit stack, then
// with the 16-bit one: its block must be decoded again for the new SS.B (the block key holds
// it), not reused with the 32-bit stack's handlers.
TEST(StackOps, SixteenBitStackIn32BitCodeAfterMovSs) {
  CpuHarness h;
  h.set_gdt_entry(3, make_desc(0x40000, 0xFFFF, 0x93, 0x0));  // 0x18: data, 64 KiB, B = 0
  h.cpu.regs[EAX] = 0x11223344;
  h.cpu.regs[ECX] = 0xCCCC0000;
  h.cpu.regs[ESI] = CpuHarness::DATA_ADDR;
  h.cpu.regs[EDI] = CpuHarness::DATA_ADDR + 0x10;
  h.wr32(CpuHarness::DATA_ADDR, 0xDEADBEEF);
  h.code({0xE8, 0x21, 0x00, 0x00, 0x00,  //  0: call sub (SS.B = 1)
          0x66, 0xBB, 0x18, 0x00,        //  5: mov bx, 0x18
          0x8E, 0xD3,                    //  9: mov ss, bx (SS.B = 0)
          0xBC, 0x00, 0x00, 0xCD, 0xAB,  // 11: mov esp, 0xABCD0000 (SP = 0)
          0xE8, 0x11, 0x00, 0x00, 0x00,  // 16: call sub: SP 0xFFFC
          0x6A, 0x55,                    // 21: push 0x55: SP 0xFFFC
          0xBD, 0xFC, 0xFF, 0x34, 0x12,  // 23: mov ebp, 0x1234FFFC
          0xC9,                          // 28: leave: SP = BP, pop EBP, SP 0
          0xFF, 0x36,                    // 29: push dword [esi]: SP 0xFFFC
          0x8F, 0x07,                    // 31: pop dword [edi]: SP 0
          0x66, 0x50,                    // 33: push ax: SP 0xFFFE
          0x66, 0x59,                    // 35: pop cx: SP 0
          0xF4,                          // 37: hlt
          0x50, 0x5B, 0xC3});            // 38: sub: push eax; pop ebx; ret
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EBX], 0x11223344u);
  EXPECT_EQ(h.cpu.regs[ESP], 0xABCD0000u);  // SP wrapped back to 0, the upper half kept
  EXPECT_EQ(h.cpu.regs[EBP], 0x55u);
  EXPECT_EQ(h.cpu.regs[ECX], 0xCCCC3344u);
  EXPECT_EQ(h.rd32(0x2FFFC), CpuHarness::CODE_ADDR + 5);  // the first call, 32-bit stack
  EXPECT_EQ(h.rd32(0x2FFF8), 0x11223344u);
  EXPECT_EQ(h.rd32(0x4FFF8), 0x11223344u);  // the subroutine's push under SS.B = 0
  EXPECT_EQ(h.rd32(CpuHarness::DATA_ADDR + 0x10), 0xDEADBEEFu);
  EXPECT_EQ(h.rd16(0x4FFFC), 0xBEEFu);  // push dword [esi] at SP 0xFFFC ...
  EXPECT_EQ(h.rd16(0x4FFFE), 0x3344u);  // ... then push ax at SP 0xFFFE
}

}  // namespace
}  // namespace softcpu
