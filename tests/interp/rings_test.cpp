// Privilege changes (SDM vol.3 chapters 5-6): interrupts from ring 3 to ring 0 with the TSS
// stack switch and IRET back, call gates with parameters (32- and 16-bit), JMP through a
// call gate, RETF to an outer ring, conforming code, and every privilege fault with its
// error code (including #TS/#SS for bad TSS stacks and the EXT bit).
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::make_desc;

// Gate descriptor: type 4/12 call, 5 task, 6/14 interrupt, 7/15 trap.
uint64_t gate_desc(uint16_t sel, uint32_t off, unsigned type, unsigned dpl, unsigned count = 0,
                   bool present = true) {
  uint32_t lo = (uint32_t(sel) << 16) | (off & 0xFFFF);
  uint32_t hi = (off & 0xFFFF0000u) | (present ? 0x8000u : 0) | (dpl << 13) | (type << 8) | count;
  return (uint64_t(hi) << 32) | lo;
}

constexpr uint32_t CODE = CpuHarness::CODE_ADDR;
constexpr uint32_t STACK = CpuHarness::STACK_TOP;
constexpr uint32_t TSS = 0x3000;
constexpr uint32_t STACK0 = 0x38000;
constexpr uint32_t STACK1 = 0x36000;

struct Rings {
  CpuHarness h;

  void gdt(unsigned index, uint64_t d) {
    h.mem.write_bytes(CpuHarness::GDT_ADDR + index * 8, &d, 8);
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
  uint16_t rd16(uint32_t a) { uint16_t v; h.mem.read_bytes(a, &v, 2); return v; }

  Rings() {
    // Exception stubs that address the vector record through SS (DS may be anything).
    for (unsigned v = 0; v < 32; ++v) {
      uint8_t stub[9] = {0x36, 0xC6, 0x05, 0x00, 0x05, 0x00, 0x00, uint8_t(v), 0xF4};
      h.mem.write_bytes(CpuHarness::STUBS + v * 16, stub, 9);
    }
    gdt(3, make_desc(0, 0xFFFFF, 0xFB, 0xC));           // 0x18 code, DPL 3
    gdt(4, make_desc(0, 0xFFFFF, 0xF3, 0xC));           // 0x20 data, DPL 3
    gdt(5, make_desc(TSS, 0x67, 0x8B, 0x0));            // 0x28 32-bit TSS (busy: current)
    gdt(6, gate_desc(0x08, CODE + 0x200, 12, 3, 2));   // 0x30 call gate DPL 3, 2 params
    gdt(7, gate_desc(0x08, CODE + 0x300, 12, 0));      // 0x38 call gate DPL 0
    gdt(8, make_desc(0, 0xFFFFF, 0x9F, 0xC));           // 0x40 conforming code, DPL 0
    gdt(9, make_desc(0, 0xFFFFF, 0xBB, 0xC));           // 0x48 code, DPL 1
    gdt(10, make_desc(0, 0xFFFFF, 0xB3, 0xC));          // 0x50 data, DPL 1
    gdt(11, gate_desc(0x08, CODE + 0x280, 4, 3, 3));   // 0x58 16-bit call gate, 3 params
    gdt(12, gate_desc(0x08, CODE + 0x200, 12, 3, 0, false));  // 0x60 not present
    gdt(13, make_desc(0, 0xFFFFF, 0x33, 0xC));          // 0x68 data DPL 1, not present
    // TSS: ring 0 stack 0x10:STACK0, ring 1 stack 0x51:STACK1.
    h.wr32(TSS + 4, STACK0);
    h.wr32(TSS + 8, 0x10);
    h.wr32(TSS + 12, STACK1);
    h.wr32(TSS + 16, 0x51);
    cache_from_descriptor(h.cpu, h.cpu.tr, 0x28, make_desc(TSS, 0x67, 0x8B, 0x0));
    idt(0x40, gate_desc(0x08, CODE + 0x100, 14, 3));  // interrupt gate DPL 3 -> ring 0
    idt(0x41, gate_desc(0x48, CODE + 0x180, 14, 3));  // -> ring 1
    idt(0x42, gate_desc(0x08, CODE + 0x100, 14, 0));  // DPL 0: not for INT n at CPL 3
    idt(0x43, gate_desc(0x08, CODE + 0x140, 6, 3));   // 16-bit interrupt gate -> ring 0
    h.cpu.lz_kind = LZ_NONE;
    h.cpu.eflags = 2 | IF;
  }

  void enter_ring3() {
    cache_from_descriptor(h.cpu, h.cpu.seg[CS], 0x1B, make_desc(0, 0xFFFFF, 0xFB, 0xC));
    for (unsigned s : {ES, SS, DS, FS, GS})
      cache_from_descriptor(h.cpu, h.cpu.seg[s], 0x23, make_desc(0, 0xFFFFF, 0xF3, 0xC));
    h.cpu.cpl = 3;
    update_mode(h.cpu);
    h.cpu.regs[ESP] = STACK;
  }
};

TEST(Rings, InterruptGateRing3ToRing0AndIretBack) {
  Rings r;
  r.enter_ring3();
  r.h.code({0xB8, 0x11, 0x11, 0x11, 0x11,  // mov eax, 0x11111111
            0xCD, 0x40,                    // int 0x40
            0xB9, 0x22, 0x22, 0x22, 0x22}); // mov ecx, 0x22222222
  r.put(CODE + 0x100, {0x9C, 0x5F,              // pushfd; pop edi
                       0x89, 0xE3,              // mov ebx, esp
                       0x8C, 0xD2,              // mov edx, ss
                       0x8C, 0xCE,              // mov esi, cs
                       0x66, 0xB8, 0x10, 0x00,  // mov ax, 0x10
                       0x8E, 0xD8,              // mov ds, ax (DPL 0: nulled by the IRET)
                       0xCF});                  // iretd
  ASSERT_EQ(r.h.run(), EXIT_HLT);
  EXPECT_EQ(r.h.last_vector(), -1);
  // In the handler: ring 0 stack from the TSS with SS, ESP, EFLAGS, CS, EIP.
  EXPECT_EQ(r.h.cpu.regs[EBX], STACK0 - 20);
  EXPECT_EQ(r.h.cpu.regs[EDX], 0x10u);
  EXPECT_EQ(r.h.cpu.regs[ESI], 0x08u);
  EXPECT_EQ(r.h.cpu.regs[EDI] & IF, 0u);  // interrupt gate cleared IF
  EXPECT_EQ(r.h.rd32(STACK0 - 4), 0x23u);
  EXPECT_EQ(r.h.rd32(STACK0 - 8), STACK);
  EXPECT_EQ(r.h.rd32(STACK0 - 12), 2u | IF);
  EXPECT_EQ(r.h.rd32(STACK0 - 16), 0x1Bu);
  EXPECT_EQ(r.h.rd32(STACK0 - 20), CODE + 7);
  // Back in ring 3 with its stack; DS (DPL 0) became null, ES kept.
  EXPECT_EQ(r.h.cpu.cpl, 3);
  EXPECT_EQ(r.h.cpu.seg[CS].selector, 0x1B);
  EXPECT_EQ(r.h.cpu.seg[SS].selector, 0x23);
  EXPECT_EQ(r.h.cpu.regs[ESP], STACK);
  EXPECT_EQ(r.h.cpu.regs[ECX], 0x22222222u);
  EXPECT_EQ(r.h.cpu.seg[DS].selector, 0);
  EXPECT_EQ(r.h.cpu.seg[DS].valid, 0);
  EXPECT_EQ(r.h.cpu.seg[ES].selector, 0x23);
  EXPECT_EQ(r.h.flags(), 2u | IF);
}

// 16-bit gates use 16-bit offsets: the ring 3 code and the handlers sit below 64 KiB.
constexpr uint32_t LOW_CODE = 0x5000;
constexpr uint32_t LOW_STACK = 0x8000;

TEST(Rings, SixteenBitInterruptGateFromRing3) {
  Rings r;
  r.enter_ring3();
  r.h.cpu.eip = LOW_CODE;
  r.h.cpu.regs[ESP] = LOW_STACK;
  r.h.code({0xCD, 0x43});                    // int 0x43 (16-bit gate -> 0x08:0x0140)
  r.put(0x140, {0x89, 0xE3, 0x66, 0xCF});    // mov ebx, esp; o16 iret
  ASSERT_EQ(r.h.run(), EXIT_HLT);
  EXPECT_EQ(r.h.last_vector(), -1);
  // Word frame: SS, SP, FLAGS, CS, IP.
  EXPECT_EQ(r.h.cpu.regs[EBX], STACK0 - 10);
  EXPECT_EQ(r.rd16(STACK0 - 2), 0x23);
  EXPECT_EQ(r.rd16(STACK0 - 4), LOW_STACK);
  EXPECT_EQ(r.rd16(STACK0 - 6), 2u | IF);
  EXPECT_EQ(r.rd16(STACK0 - 8), 0x1B);
  EXPECT_EQ(r.rd16(STACK0 - 10), LOW_CODE + 2);
  EXPECT_EQ(r.h.cpu.cpl, 3);
  EXPECT_EQ(r.h.cpu.seg[SS].selector, 0x23);
  EXPECT_EQ(r.h.cpu.regs[ESP], LOW_STACK);
  EXPECT_EQ(r.h.cpu.eip, LOW_CODE + 2);  // at the HLT
}

TEST(Rings, ExceptionFromRing3SwitchesToRing0StackWithErrorCode) {
  Rings r;
  r.enter_ring3();
  r.h.code({0x90, 0xFA});  // nop; cli (IOPL 0 < CPL 3)
  ASSERT_EQ(r.h.run(), EXIT_HLT);
  EXPECT_EQ(r.h.last_vector(), VEC_GP);
  EXPECT_EQ(r.h.cpu.cpl, 0);
  EXPECT_EQ(r.h.cpu.seg[SS].selector, 0x10);
  EXPECT_EQ(r.h.cpu.regs[ESP], STACK0 - 24);
  EXPECT_EQ(r.h.rd32(STACK0 - 24), 0u);  // error code
  EXPECT_EQ(r.h.rd32(STACK0 - 20), CODE + 1);
  EXPECT_EQ(r.h.rd32(STACK0 - 16), 0x1Bu);
  EXPECT_EQ(r.h.rd32(STACK0 - 12), 2u | IF | RF);  // a fault: RF set in the image (17.3.1.1)
  EXPECT_EQ(r.h.rd32(STACK0 - 8), STACK);
  EXPECT_EQ(r.h.rd32(STACK0 - 4), 0x23u);
}

TEST(Rings, CallGateCopiesParametersAndRetfReleasesThem) {
  Rings r;
  r.enter_ring3();
  r.h.code({0x68, 0x01, 0x00, 0xAA, 0xAA,                // push 0xAAAA0001
            0x68, 0x02, 0x00, 0xBB, 0xBB,                // push 0xBBBB0002
            0x9A, 0x00, 0x00, 0x00, 0x00, 0x33, 0x00,    // call 0x33:0 (gate)
            0xB9, 0x22, 0x22, 0x22, 0x22});              // mov ecx, 0x22222222
  r.put(CODE + 0x200, {0x89, 0xE3,              // mov ebx, esp
                       0x8C, 0xD2,              // mov edx, ss
                       0x8B, 0x44, 0x24, 0x08,  // mov eax, [esp+8]
                       0x8B, 0x7C, 0x24, 0x0C,  // mov edi, [esp+12]
                       0xCA, 0x08, 0x00});      // retf 8
  ASSERT_EQ(r.h.run(), EXIT_HLT);
  EXPECT_EQ(r.h.last_vector(), -1);
  EXPECT_EQ(r.h.cpu.regs[EBX], STACK0 - 24);
  EXPECT_EQ(r.h.cpu.regs[EDX], 0x10u);
  EXPECT_EQ(r.h.rd32(STACK0 - 4), 0x23u);
  EXPECT_EQ(r.h.rd32(STACK0 - 8), STACK - 8);
  EXPECT_EQ(r.h.rd32(STACK0 - 12), 0xAAAA0001u);
  EXPECT_EQ(r.h.rd32(STACK0 - 16), 0xBBBB0002u);
  EXPECT_EQ(r.h.rd32(STACK0 - 20), 0x1Bu);
  EXPECT_EQ(r.h.rd32(STACK0 - 24), CODE + 17);
  EXPECT_EQ(r.h.cpu.regs[EAX], 0xBBBB0002u);
  EXPECT_EQ(r.h.cpu.regs[EDI], 0xAAAA0001u);
  // RETF 8 to ring 3: both stacks released 8 bytes.
  EXPECT_EQ(r.h.cpu.cpl, 3);
  EXPECT_EQ(r.h.cpu.seg[CS].selector, 0x1B);
  EXPECT_EQ(r.h.cpu.seg[SS].selector, 0x23);
  EXPECT_EQ(r.h.cpu.regs[ESP], STACK);
  EXPECT_EQ(r.h.cpu.regs[ECX], 0x22222222u);
}

TEST(Rings, SixteenBitCallGateCopiesWords) {
  Rings r;
  r.enter_ring3();
  r.h.cpu.eip = LOW_CODE;
  r.h.cpu.regs[ESP] = LOW_STACK;
  r.h.code({0x66, 0x68, 0x11, 0x11,                   // push word 0x1111
            0x66, 0x68, 0x22, 0x22,                   // push word 0x2222
            0x66, 0x68, 0x33, 0x33,                   // push word 0x3333
            0x9A, 0x00, 0x00, 0x00, 0x00, 0x5B, 0x00}); // call 0x5B:0 (16-bit gate, 3 words)
  r.put(0x280, {0x89, 0xE3,               // mov ebx, esp
                0x66, 0xCA, 0x06, 0x00});  // o16 retf 6
  ASSERT_EQ(r.h.run(), EXIT_HLT);
  EXPECT_EQ(r.h.last_vector(), -1);
  EXPECT_EQ(r.h.cpu.regs[EBX], STACK0 - 14);
  EXPECT_EQ(r.rd16(STACK0 - 2), 0x23);
  EXPECT_EQ(r.rd16(STACK0 - 4), LOW_STACK - 6);
  EXPECT_EQ(r.rd16(STACK0 - 6), 0x1111);
  EXPECT_EQ(r.rd16(STACK0 - 8), 0x2222);
  EXPECT_EQ(r.rd16(STACK0 - 10), 0x3333);
  EXPECT_EQ(r.rd16(STACK0 - 12), 0x1B);
  EXPECT_EQ(r.rd16(STACK0 - 14), LOW_CODE + 19);
  EXPECT_EQ(r.h.cpu.cpl, 3);
  EXPECT_EQ(r.h.cpu.regs[ESP], LOW_STACK);
  EXPECT_EQ(r.h.cpu.eip, LOW_CODE + 19);
}

TEST(Rings, JmpThroughCallGateKeepsPrivilege) {
  Rings r;  // ring 0: jmp 0x38:0 -> gate -> 0x08:CODE+0x300
  r.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00});
  r.put(CODE + 0x300, {0xB9, 0x77, 0x00, 0x00, 0x00, 0xF4});  // mov ecx, 0x77; hlt
  ASSERT_EQ(r.h.run(), EXIT_HLT);
  EXPECT_EQ(r.h.last_vector(), -1);
  EXPECT_EQ(r.h.cpu.regs[ECX], 0x77u);
  EXPECT_EQ(r.h.cpu.seg[CS].selector, 0x08);
  EXPECT_EQ(r.h.cpu.regs[ESP], STACK);
}

TEST(Rings, ConformingCodeRunsAtCallerPrivilege) {
  Rings r;
  r.enter_ring3();
  r.h.code({0x9A, 0x80, 0x03, 0x01, 0x00, 0x43, 0x00,  // call 0x43:CODE+0x380 (conforming)
            0x89, 0xF7});                              // mov edi, esi
  r.put(CODE + 0x380, {0x8C, 0xCE,   // mov esi, cs
                       0xCB});       // retf
  ASSERT_EQ(r.h.run(), EXIT_HLT);
  EXPECT_EQ(r.h.last_vector(), -1);
  EXPECT_EQ(r.h.cpu.regs[EDI], 0x43u);  // RPL = CPL = 3 in the conforming segment
  EXPECT_EQ(r.h.cpu.cpl, 3);
  EXPECT_EQ(r.h.cpu.seg[CS].selector, 0x1B);
  EXPECT_EQ(r.h.cpu.regs[ESP], STACK);
}

struct FaultCase {
  const char* name;
  bool ring3;
  std::vector<uint8_t> code;
  int vector;
  uint32_t error;
  uint32_t ss1 = 0x51;  // TSS ring 1 stack selector
};

TEST(Rings, PrivilegeFaultsAndErrorCodes) {
  const std::vector<FaultCase> cases = {
      {"jmp to ring 0 code", true, {0xEA, 0, 0, 0, 0, 0x08, 0x00}, VEC_GP, 0x08},
      {"call gate DPL 0 from ring 3", true, {0x9A, 0, 0, 0, 0, 0x3B, 0x00}, VEC_GP, 0x38},
      {"call gate not present", true, {0x9A, 0, 0, 0, 0, 0x63, 0x00}, VEC_NP, 0x60},
      {"jmp through gate to inner ring", true, {0xEA, 0, 0, 0, 0, 0x33, 0x00}, VEC_GP, 0x08},
      {"mov ds, DPL 0 data", true, {0x66, 0xB8, 0x10, 0x00, 0x8E, 0xD8}, VEC_GP, 0x10},
      {"mov ss, RPL 3 DPL 0", true, {0x66, 0xB8, 0x13, 0x00, 0x8E, 0xD0}, VEC_GP, 0x10},
      {"int n, gate DPL 0", true, {0xCD, 0x42}, VEC_GP, 0x42 * 8 + 2},
      {"retf to an inner ring", true, {0x6A, 0x08, 0x68, 0x00, 0x00, 0x01, 0x00, 0xCB}, VEC_GP, 0x08},
      {"cli at ring 3, IOPL 0", true, {0xFA}, VEC_GP, 0},
      // Inner stacks from the TSS: INT n (EXT = 0) to a ring 1 gate with a bad SS1.
      {"#TS SS1 RPL 0", true, {0xCD, 0x41}, VEC_TS, 0x50, 0x50},
      {"#TS SS1 null", true, {0xCD, 0x41}, VEC_TS, 0, 0x00},
      {"#TS SS1 DPL 3", true, {0xCD, 0x41}, VEC_TS, 0x20, 0x21},
      {"#TS SS1 beyond GDT", true, {0xCD, 0x41}, VEC_TS, 0x1F8, 0x1F9},
      {"#SS SS1 not present", true, {0xCD, 0x41}, VEC_SS, 0x68, 0x69},
      // IRET from ring 0 to ring 3 with an SS whose RPL is not 3.
      {"iret outer bad SS", false,
       {0x6A, 0x20, 0x54, 0x9C, 0x6A, 0x1B, 0x68, 0x00, 0x00, 0x01, 0x00, 0xCF}, VEC_GP, 0x20},
      // RETF from ring 0 to ring 1 with a not-present SS.
      {"retf outer SS not present", false,
       {0x6A, 0x69, 0x54, 0x6A, 0x49, 0x68, 0x00, 0x00, 0x01, 0x00, 0xCB}, VEC_SS, 0x68},
  };
  for (const FaultCase& fc : cases) {
    SCOPED_TRACE(fc.name);
    Rings r;
    if (fc.ring3) r.enter_ring3();
    r.h.wr32(TSS + 16, fc.ss1);
    r.h.mem.write_bytes(CODE, fc.code.data(), uint32_t(fc.code.size()));
    r.h.mem.write_bytes(CODE + fc.code.size(), "\xF4", 1);
    r.h.mem.write_bytes(0x500, "\xFF", 1);
    r.h.run();
    EXPECT_EQ(r.h.last_vector(), fc.vector);
    EXPECT_EQ(r.h.cpu.cpl, 0);
    EXPECT_EQ(r.h.rd32(r.h.cpu.regs[ESP]), fc.error);  // error code on the ring 0 stack
    if (fc.ring3) {
      EXPECT_EQ(r.h.cpu.regs[ESP], STACK0 - 24);
      EXPECT_EQ(r.h.rd32(STACK0 - 16), 0x1Bu);
    }
  }
}

TEST(Rings, ExceptionThroughBadInnerStackSetsExt) {
  Rings r;  // #UD's gate leads to ring 1, whose stack is bad: #TS(0x50 | EXT)
  r.enter_ring3();
  r.idt(VEC_UD, gate_desc(0x48, CODE + 0x180, 14, 0));
  r.h.wr32(TSS + 16, 0x50);
  r.h.code({0x0F, 0x0B});  // ud2
  r.h.run();
  EXPECT_EQ(r.h.last_vector(), VEC_TS);
  EXPECT_EQ(r.h.rd32(r.h.cpu.regs[ESP]), 0x51u);
  EXPECT_EQ(r.h.rd32(r.h.cpu.regs[ESP] + 4), CODE);  // the faulting UD2
}

TEST(Rings, InterruptToRing1UsesTssStack1) {
  Rings r;
  r.enter_ring3();
  r.h.code({0xCD, 0x41});  // int 0x41 -> 0x48:CODE+0x180 (ring 1)
  r.put(CODE + 0x180, {0x89, 0xE3, 0x8C, 0xD2, 0xCF});  // mov ebx, esp; mov edx, ss; iretd
  ASSERT_EQ(r.h.run(), EXIT_HLT);
  EXPECT_EQ(r.h.last_vector(), -1);
  EXPECT_EQ(r.h.cpu.regs[EBX], STACK1 - 20);
  EXPECT_EQ(r.h.cpu.regs[EDX], 0x51u);
  EXPECT_EQ(r.h.rd32(STACK1 - 16), 0x1Bu);
  EXPECT_EQ(r.h.cpu.cpl, 3);
  EXPECT_EQ(r.h.cpu.regs[ESP], STACK);
}

}  // namespace
}  // namespace softcpu
