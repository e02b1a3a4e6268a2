// System instructions: segment loads, CR/DR moves, descriptor-table registers, LLDT/LTR,
// LAR/LSL/VERR/VERW/ARPL, CLI/STI, privilege checks.
// Test programs use only MOV/NOP/HLT and control transfers besides the instructions tested.
#include <gtest/gtest.h>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::make_desc;

constexpr uint32_t CODE = CpuHarness::CODE_ADDR;
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;

// ---- CR0: real -> protected -> real ------------------------------------------------------

TEST(SystemOps, MovCr0RealToProtectedToReal) {
  CpuHarness h(false);
  // GDT: null, 0x08 flat code32, 0x10 flat data, 0x18 code16 base 0x10000.
  h.set_gdt_entry(0, 0);
  h.set_gdt_entry(1, make_desc(0, 0xFFFFF, 0x9B, 0xC));
  h.set_gdt_entry(2, make_desc(0, 0xFFFFF, 0x93, 0xC));
  h.set_gdt_entry(3, make_desc(0x10000, 0xFFFF, 0x9B, 0x0));
  h.wr32(0x10F00, 0x08000000u | 0x1F);  // limit 0x1F, base 0x800 ...
  h.wr32(0x10F04, 0);                   // ... (bytes 2-5 = 00 08 00 00)
  h.code({0x0F, 0x01, 0x16, 0x00, 0x0F,        // 00: lgdt [0x0F00]
                0x66, 0xB8, 0x11, 0x00, 0x00, 0x00,  // 05: mov eax, PE|ET
                0x0F, 0x22, 0xC0,                    // 0B: mov cr0, eax
                0xEA, 0x13, 0x00, 0x18, 0x00,        // 0E: jmp 0x18:0x13
                0xB8, 0x10, 0x00,                    // 13: mov ax, 0x10
                0x8E, 0xD8,                          // 16: mov ds, ax
                0x26, 0x8C, 0x0E, 0x00, 0x0E,        // 18: mov es:[0x0E00], cs
                0x0F, 0x20, 0xC1,                    // 1D: mov ecx, cr0
                0x66, 0xB8, 0x10, 0x00, 0x00, 0x00,  // 20: mov eax, ET
                0x0F, 0x22, 0xC0,                    // 26: mov cr0, eax
                0xEA, 0x2E, 0x00, 0x00, 0x10});      // 29: jmp 0x1000:0x2E; 2E: hlt
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.gdtr.base, 0x800u);
  EXPECT_EQ(h.cpu.gdtr.limit, 0x1F);
  EXPECT_EQ(h.cpu.regs[ECX], 0x11u);           // CR0 read in protected mode
  EXPECT_EQ(h.rd16(0x10E00), 0x18);           // CS selector in protected mode
  EXPECT_EQ(h.cpu.cr0, 0x10u);
  EXPECT_EQ(h.cpu.seg[CS].selector, 0x1000);
  EXPECT_EQ(h.cpu.seg[CS].base, 0x10000u);
  EXPECT_EQ(h.cpu.eip, 0x2Eu);
  EXPECT_EQ(h.cpu.seg[DS].selector, 0x10);     // the protected-mode cache stays loaded
  EXPECT_EQ(h.cpu.seg[DS].base, 0u);
  EXPECT_EQ(h.cpu.seg[DS].limit, 0xFFFFFFFFu);  // "unreal" DS
  EXPECT_FALSE(protected_mode(h.cpu));
  EXPECT_EQ(h.cpu.mode_key & 16u, 0u);
}

TEST(SystemOps, Cr0WriteRules) {
  {  // PG without PE: #GP(0) (real mode: no error code)
    CpuHarness h(false);
    h.code({0x66, 0xB8, 0x10, 0x00, 0x00, 0x80,  // mov eax, PG|ET
                  0x0F, 0x22, 0xC0});
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.cpu.cr0 & CR0_PG, 0u);
  }
  {  // NW without CD: #GP(0)
    CpuHarness h;
    h.code({0xB8, 0x01, 0x00, 0x00, 0x20, 0x0F, 0x22, 0xC0});  // mov eax, NW|PE; mov cr0, eax
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.pushed_error(), 0u);
  }
  {  // ET stays set; CR0 read back; CR2/CR3/CR4 storage
    CpuHarness h;
    h.code({0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0x22, 0xC0,  // mov cr0, PE
            0x0F, 0x20, 0xC3,                                // mov ebx, cr0
            0xB8, 0xFF, 0x5F, 0x34, 0x12, 0x0F, 0x22, 0xD8,  // mov cr3, 0x12345FFF
            0x0F, 0x20, 0xD9,                                // mov ecx, cr3
            0xB8, 0x78, 0x56, 0x34, 0x12, 0x0F, 0x22, 0xD0,  // mov cr2, 0x12345678
            0x0F, 0x20, 0xD2,                                // mov edx, cr2
            0xB8, 0x04, 0x00, 0x00, 0x00, 0x0F, 0x22, 0xE0,  // mov cr4, TSD
            0x0F, 0x20, 0xE6});                              // mov esi, cr4
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), -1);
    EXPECT_EQ(h.cpu.regs[EBX], 0x11u);
    EXPECT_EQ(h.cpu.regs[ECX], 0x12345018u);
    EXPECT_EQ(h.cpu.regs[EDX], 0x12345678u);
    EXPECT_EQ(h.cpu.regs[ESI], 4u);
  }
  {  // unsupported CR4 bit (PAE): #GP(0)
    CpuHarness h;
    h.code({0xB8, 0x20, 0x00, 0x00, 0x00, 0x0F, 0x22, 0xE0});
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.pushed_eip_after_error(), CODE + 5);
    EXPECT_EQ(h.cpu.cr4, 0u);
  }
}

TEST(SystemOps, LmswSmswClts) {
  CpuHarness h(false);
  h.code({0xB8, 0x0F, 0x00,        // mov ax, 0x000F (PE MP EM TS)
                0x0F, 0x01, 0xF0,        // lmsw ax -> protected mode
                0x0F, 0x06,              // clts
                0xB8, 0x00, 0x00,  // mov ax, 0
                0x0F, 0x01, 0xF0,        // lmsw ax: PE cannot be cleared
                0x0F, 0x01, 0xE3,        // smsw bx
                0x66, 0x0F, 0x01, 0xE1});  // smsw ecx
  h.cpu.regs[EBX] = 0xAAAA5555;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.cr0, 0x60000011u);  // reset CD|NW|ET, plus PE
  EXPECT_EQ(h.cpu.regs[EBX], 0xAAAA0011u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x60000011u);
  EXPECT_TRUE(protected_mode(h.cpu));
}

// ---- descriptor-table registers ----------------------------------------------------------

TEST(SystemOps, LgdtSgdtLidtSidtBothOperandSizes) {
  CpuHarness h;
  h.put(DATA, {0x34, 0x12, 0xDD, 0xCC, 0xBB, 0xAA});         // limit 0x1234, base 0xAABBCCDD
  h.put(DATA + 0x18, {0xFF, 0x00, 0x44, 0x33, 0x22, 0x11});  // limit 0xFF, base 0x11223344
  h.wr32(DATA + 0x10, 0xFFFFFFFF);
  h.wr32(DATA + 0x14, 0xFFFFFFFF);
  h.code({0x0F, 0x01, 0x15, 0x00, 0x00, 0x02, 0x00,         // lgdt [DATA]
          0x0F, 0x01, 0x05, 0x08, 0x00, 0x02, 0x00,         // sgdt [DATA+8]
          0x66, 0x0F, 0x01, 0x05, 0x10, 0x00, 0x02, 0x00,   // o16 sgdt [DATA+0x10]
          0x66, 0x0F, 0x01, 0x1D, 0x18, 0x00, 0x02, 0x00,   // o16 lidt [DATA+0x18]
          0x0F, 0x01, 0x0D, 0x20, 0x00, 0x02, 0x00});       // sidt [DATA+0x20]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.gdtr.base, 0xAABBCCDDu);
  EXPECT_EQ(h.cpu.gdtr.limit, 0x1234);
  EXPECT_EQ(h.rd16(DATA + 8), 0x1234);
  EXPECT_EQ(h.rd32(DATA + 10), 0xAABBCCDDu);
  EXPECT_EQ(h.rd16(DATA + 0x10), 0x1234);
  EXPECT_EQ(h.rd32(DATA + 0x12), 0x00BBCCDDu);  // 16-bit operand size: top byte stored as 0
  EXPECT_EQ(h.rd16(DATA + 0x16), 0xFFFF);      // untouched
  EXPECT_EQ(h.cpu.idtr.base, 0x00223344u);      // 16-bit operand size: 24-bit base
  EXPECT_EQ(h.cpu.idtr.limit, 0xFF);
  EXPECT_EQ(h.rd16(DATA + 0x20), 0xFF);
  EXPECT_EQ(h.rd32(DATA + 0x22), 0x00223344u);
}

// ---- segment registers -------------------------------------------------------------------

TEST(SystemOps, MovSregLoadsAndStores) {
  CpuHarness h;
  h.wr32(DATA, 0xAAAAAAAA);
  h.code({0x66, 0xB8, 0x10, 0x00,              // mov ax, 0x10
          0x8E, 0xE0,                          // mov fs, ax
          0x8C, 0xC3,                          // mov ebx, es (zero-extended)
          0x66, 0x8C, 0xCA,                    // mov dx, cs
          0x8C, 0x25, 0x00, 0x00, 0x02, 0x00,  // mov [DATA], fs (16-bit store)
          0x66, 0xB8, 0x00, 0x00,              // mov ax, 0
          0x8E, 0xE8});                        // mov gs, ax (null is fine)
  h.cpu.regs[EBX] = 0xFFFFFFFF;
  h.cpu.regs[EDX] = 0xFFFFFFFF;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EBX], 0x10u);
  EXPECT_EQ(h.cpu.regs[EDX], 0xFFFF0008u);
  EXPECT_EQ(h.rd32(DATA), 0xAAAA0010u);
  EXPECT_EQ(h.cpu.seg[FS].selector, 0x10);
  EXPECT_EQ(h.cpu.seg[GS].selector, 0);
  EXPECT_FALSE(h.cpu.seg[GS].valid);
}

TEST(SystemOps, NullSegmentAccessIsGp0) {
  CpuHarness h;
  h.code({0x66, 0xB8, 0x00, 0x00,                     // mov ax, 0
          0x8E, 0xC0,                                 // mov es, ax
          0x26, 0xA1, 0x00, 0x00, 0x02, 0x00});       // mov eax, es:[DATA]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_GP);
  EXPECT_EQ(h.pushed_error(), 0u);
  EXPECT_EQ(h.pushed_eip_after_error(), CODE + 6);
}

struct BadSreg {
  uint8_t modrm;  // 8E /r with rm = ax
  uint16_t selector;
  int vector;
  uint32_t error;
};

TEST(SystemOps, SegmentLoadFaultsCarrySelectorErrorCode) {
  const BadSreg cases[] = {
      {0xD0, 0x0008, VEC_GP, 0x08},    // SS := code segment
      {0xD0, 0x0000, VEC_GP, 0x00},    // SS := null
      {0xD0, 0x0013, VEC_GP, 0x10},    // SS with RPL 3 != CPL
      {0xD0, 0x0018, VEC_SS, 0x18},    // SS := not-present data
      {0xD8, 0x1230, VEC_GP, 0x1230},  // DS: beyond the GDT limit
      {0xD8, 0x1237, VEC_GP, 0x1234},  // DS: LDT selector, no LDT (TI kept in the code)
      {0xD8, 0x000B, VEC_GP, 0x08},    // DS: RPL 3 > DPL 0 (readable code)
      {0xD8, 0x0018, VEC_NP, 0x18},    // DS := not-present data
      {0xD8, 0x0020, VEC_GP, 0x20},    // DS := execute-only code
      {0xD8, 0x0028, VEC_GP, 0x28},    // DS := system descriptor (LDT)
  };
  for (const BadSreg& bc : cases) {
    CpuHarness h;
    h.set_gdt_entry(3, make_desc(0, 0xFFFFF, 0x13, 0xC));      // data, not present
    h.set_gdt_entry(4, make_desc(0, 0xFFFFF, 0x99, 0xC));      // execute-only code
    h.set_gdt_entry(5, make_desc(0x3000, 0x17, 0x82, 0x0));    // LDT
    h.code({0x66, 0xB8, uint8_t(bc.selector), uint8_t(bc.selector >> 8),  // mov ax, sel
            0x8E, bc.modrm});                                             // mov ss/ds, ax
    SCOPED_TRACE(testing::Message() << "modrm " << int(bc.modrm) << " sel " << bc.selector);
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), bc.vector);
    EXPECT_EQ(h.pushed_error(), bc.error);
    EXPECT_EQ(h.pushed_eip_after_error(), CODE + 4);
    EXPECT_EQ(h.cpu.seg[SS].selector, 0x10);
    EXPECT_EQ(h.cpu.seg[DS].selector, 0x10);
  }
}

TEST(SystemOps, LssLdsAndFaultingLds) {
  CpuHarness h;
  h.wr32(DATA, 0x2FF00);
  h.wr32(DATA + 4, 0x10);
  h.wr32(DATA + 8, 0x1234);
  h.wr32(DATA + 12, 0x18);  // beyond the GDT limit
  h.wr32(DATA + 0x10, 0x0010FF00);  // m16:16 -> 0x10:0xFF00
  h.code({0x0F, 0xB2, 0x25, 0x00, 0x00, 0x02, 0x00,   // lss esp, [DATA]
          0xC5, 0x1D, 0x00, 0x00, 0x02, 0x00,         // lds ebx, [DATA]
          0x66, 0x0F, 0xB4, 0x35, 0x10, 0x00, 0x02, 0x00,  // lfs si, [DATA+0x10]
          0xC5, 0x0D, 0x08, 0x00, 0x02, 0x00});       // lds ecx, [DATA+8] -> #GP(0x18)
  h.cpu.regs[ECX] = 0x77;
  h.cpu.regs[ESI] = 0xFFFFFFFF;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_GP);
  EXPECT_EQ(h.pushed_error(), 0x18u);
  EXPECT_EQ(h.pushed_eip_after_error(), CODE + 21);
  EXPECT_EQ(h.cpu.regs[ESP], 0x2FF00u - 16);  // fault frame on the new stack
  EXPECT_EQ(h.cpu.regs[EBX], 0x2FF00u);
  EXPECT_EQ(h.cpu.regs[ESI], 0xFFFFFF00u);  // 16-bit offset: 0xFF00
  EXPECT_EQ(h.cpu.regs[ECX], 0x77u);        // unchanged by the faulting LDS
  EXPECT_EQ(h.cpu.seg[FS].selector, 0x10);
}

TEST(SystemOps, RealModeLesAndMovSreg) {
  CpuHarness h(false);
  h.wr32(0x10E00, 0x23451234);  // offset 0x1234, segment 0x2345
  h.code({0xC4, 0x1E, 0x00, 0x0E,  // les bx, [0x0E00]
                0xB8, 0x00, 0x30,        // mov ax, 0x3000
                0x8E, 0xE0});            // mov fs, ax
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EBX] & 0xFFFF, 0x1234u);
  EXPECT_EQ(h.cpu.seg[ES].selector, 0x2345);
  EXPECT_EQ(h.cpu.seg[ES].base, 0x23450u);
  EXPECT_EQ(h.cpu.seg[FS].base, 0x30000u);
}

// ---- LDT / TSS ---------------------------------------------------------------------------

TEST(SystemOps, LldtLtrSldtStr) {
  CpuHarness h;
  h.set_gdt_entry(5, make_desc(0x3000, 0x17, 0x82, 0x0));  // 0x28: LDT
  h.set_gdt_entry(6, make_desc(0x3100, 0x67, 0x89, 0x0));  // 0x30: 32-bit TSS, available
  const uint64_t ldt_data = make_desc(0x50000, 0xFFF, 0x93, 0x4);
  h.mem.write_bytes(0x3008, &ldt_data, 8);  // LDT entry 1: selector 0x0C
  h.code({0x66, 0xB8, 0x28, 0x00,  // mov ax, 0x28
          0x0F, 0x00, 0xD0,        // lldt ax
          0x66, 0xB8, 0x30, 0x00,  // mov ax, 0x30
          0x0F, 0x00, 0xD8,        // ltr ax
          0x0F, 0x00, 0xC1,        // sldt ecx
          0x0F, 0x00, 0xCA,        // str edx
          0x66, 0xB8, 0x0C, 0x00,  // mov ax, 0x0C
          0x8E, 0xC0,              // mov es, ax (from the LDT)
          0x0F, 0x00, 0x0D, 0x00, 0x00, 0x02, 0x00});  // str [DATA]
  h.cpu.regs[ECX] = h.cpu.regs[EDX] = 0xFFFFFFFF;
  h.wr32(DATA, 0xAAAAAAAA);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.ldtr.base, 0x3000u);
  EXPECT_EQ(h.cpu.ldtr.limit, 0x17u);
  EXPECT_EQ(h.cpu.tr.base, 0x3100u);
  EXPECT_EQ(h.cpu.tr.limit, 0x67u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x28u);
  EXPECT_EQ(h.cpu.regs[EDX], 0x30u);
  EXPECT_EQ(h.rd8(CpuHarness::GDT_ADDR + 0x30 + 5), 0x8B);  // TSS now busy
  EXPECT_EQ(h.cpu.seg[ES].base, 0x50000u);
  EXPECT_EQ(h.cpu.seg[ES].selector, 0x0C);
  EXPECT_EQ(h.rd32(DATA), 0xAAAA0030u);
}

TEST(SystemOps, LtrOfBusyTssAndLldtOfNonLdtFault) {
  {
    CpuHarness h;
    h.set_gdt_entry(6, make_desc(0x3100, 0x67, 0x8B, 0x0));  // busy TSS
    h.code({0x66, 0xB8, 0x30, 0x00, 0x0F, 0x00, 0xD8});
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.pushed_error(), 0x30u);
  }
  {
    CpuHarness h;
    h.code({0x66, 0xB8, 0x10, 0x00, 0x0F, 0x00, 0xD0});  // lldt with a data selector
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.pushed_error(), 0x10u);
  }
  {
    CpuHarness h;  // lldt 0: LDTR invalid; a later LDT selector load faults
    h.code({0x66, 0xB8, 0x00, 0x00, 0x0F, 0x00, 0xD0,
            0x66, 0xB8, 0x0C, 0x00, 0x8E, 0xC0});
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.pushed_error(), 0x0Cu);
    EXPECT_FALSE(h.cpu.ldtr.valid);
  }
}

// ---- LAR / LSL / VERR / VERW / ARPL ------------------------------------------------------

struct ProbeResult {
  uint32_t eax;
  bool zf;
};

// Run one probe instruction (reading BX as the selector, writing EAX) in protected mode.
// It runs twice, with ZF preset to 0 and to 1, and both runs must agree.
ProbeResult run_probe_once(std::initializer_list<uint8_t> insn, uint16_t selector, uint32_t eax,
                           bool zf_in) {
  CpuHarness h;
  h.set_gdt_entry(3, make_desc(0x1000, 0x2345, 0xF3, 0x4));  // 0x18: data DPL 3, byte limit
  h.set_gdt_entry(4, make_desc(0, 0xFFFFF, 0x99, 0xC));      // 0x20: execute-only code
  h.set_gdt_entry(5, make_desc(0x3000, 0x17, 0x82, 0x0));    // 0x28: LDT
  h.set_gdt_entry(6, make_desc(0, 0xFFFFF, 0x9C, 0xC));      // 0x30: conforming, not readable
  h.set_gdt_entry(7, make_desc(0x3100, 0x67, 0x8E, 0x0));    // 0x38: interrupt gate type
  h.code(insn);
  h.cpu.regs[EBX] = selector;
  h.cpu.regs[EAX] = eax;
  h.cpu.lz_kind = LZ_NONE;
  h.cpu.eflags = 2u | (zf_in ? uint32_t(ZF) : 0u);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  return {h.cpu.regs[EAX], (h.flags() & ZF) != 0};
}

ProbeResult run_probe(std::initializer_list<uint8_t> insn, uint16_t selector,
                      uint32_t eax = 0xEEEEEEEE) {
  ProbeResult a = run_probe_once(insn, selector, eax, false);
  ProbeResult b = run_probe_once(insn, selector, eax, true);
  EXPECT_EQ(a.eax, b.eax);
  EXPECT_EQ(a.zf, b.zf);
  return a;
}

TEST(SystemOps, LarAndLsl) {
  ProbeResult r = run_probe({0x0F, 0x02, 0xC3}, 0x08);  // lar eax, ebx
  EXPECT_TRUE(r.zf);
  EXPECT_EQ(r.eax, 0x00CF9B00u);
  r = run_probe({0x66, 0x0F, 0x02, 0xC3}, 0x08);  // lar ax, bx
  EXPECT_TRUE(r.zf);
  EXPECT_EQ(r.eax, 0xEEEE9B00u);
  r = run_probe({0x0F, 0x02, 0xC3}, 0x1B);  // DPL 3 data, RPL 3
  EXPECT_TRUE(r.zf);
  EXPECT_EQ(r.eax, 0x0040F300u);
  r = run_probe({0x0F, 0x02, 0xC3}, 0x28);  // LDT: valid for LAR
  EXPECT_TRUE(r.zf);
  EXPECT_EQ(r.eax, 0x00008200u);
  r = run_probe({0x0F, 0x02, 0xC3}, 0x38);  // interrupt gate: not valid
  EXPECT_FALSE(r.zf);
  EXPECT_EQ(r.eax, 0xEEEEEEEEu);
  r = run_probe({0x0F, 0x02, 0xC3}, 0x0B);  // RPL 3 > DPL 0
  EXPECT_FALSE(r.zf);
  r = run_probe({0x0F, 0x02, 0xC3}, 0x33);  // conforming code: no privilege check
  EXPECT_TRUE(r.zf);
  r = run_probe({0x0F, 0x02, 0xC3}, 0x400);  // beyond the GDT limit: ZF=0, no fault
  EXPECT_FALSE(r.zf);
  r = run_probe({0x0F, 0x02, 0xC3}, 0x00);  // null
  EXPECT_FALSE(r.zf);

  r = run_probe({0x0F, 0x03, 0xC3}, 0x08);  // lsl eax, ebx; flat code: page-granular limit
  EXPECT_TRUE(r.zf);
  EXPECT_EQ(r.eax, 0xFFFFFFFFu);
  r = run_probe({0x0F, 0x03, 0xC3}, 0x18);
  EXPECT_TRUE(r.zf);
  EXPECT_EQ(r.eax, 0x2345u);
  r = run_probe({0x66, 0x0F, 0x03, 0xC3}, 0x08);  // lsl ax, bx
  EXPECT_EQ(r.eax, 0xEEEEFFFFu);
  r = run_probe({0x0F, 0x03, 0xC3}, 0x28);  // LDT: valid for LSL
  EXPECT_TRUE(r.zf);
  EXPECT_EQ(r.eax, 0x17u);
  r = run_probe({0x0F, 0x03, 0xC3}, 0x38);  // gate: not valid for LSL
  EXPECT_FALSE(r.zf);
}

TEST(SystemOps, VerrVerw) {
  struct Case { uint16_t sel; bool readable, writable; };
  const Case cases[] = {
      {0x08, true, false},   // readable code
      {0x10, true, true},    // writable data
      {0x13, false, false},  // data with DPL 0 < RPL 3
      {0x1B, true, true},    // DPL 3 data
      {0x20, false, false},  // execute-only code
      {0x28, false, false},  // system descriptor
      {0x30, false, false},  // conforming but not readable
      {0x00, false, false},  // null
      {0x400, false, false}, // beyond the table
  };
  for (const Case& c : cases) {
    const bool r = c.readable, w = c.writable;
    SCOPED_TRACE(testing::Message() << "selector " << c.sel);
    EXPECT_EQ(run_probe({0x0F, 0x00, 0xE3}, c.sel).zf, r);  // verr bx
    EXPECT_EQ(run_probe({0x0F, 0x00, 0xEB}, c.sel).zf, w);  // verw bx
  }
}

TEST(SystemOps, Arpl) {
  ProbeResult r = run_probe({0x63, 0xD8}, 0x0003, 0x12340008);  // arpl ax, bx
  EXPECT_TRUE(r.zf);
  EXPECT_EQ(r.eax, 0x1234000Bu);
  r = run_probe({0x63, 0xD8}, 0x0001, 0x1234000B);
  EXPECT_FALSE(r.zf);
  EXPECT_EQ(r.eax, 0x1234000Bu);
}

TEST(SystemOps, ProtectedOnlyInstructionsAreUdInRealMode) {
  const std::vector<std::vector<uint8_t>> insns = {
      {0x0F, 0x00, 0xD0},  // lldt ax
      {0x0F, 0x00, 0xD8},  // ltr ax
      {0x0F, 0x00, 0xC0},  // sldt ax
      {0x0F, 0x00, 0xC8},  // str ax
      {0x0F, 0x02, 0xC3},  // lar ax, bx
      {0x0F, 0x03, 0xC3},  // lsl ax, bx
      {0x0F, 0x00, 0xE3},  // verr bx
      {0x0F, 0x00, 0xEB},  // verw bx
      {0x63, 0xD8},        // arpl ax, bx
  };
  for (const auto& insn : insns) {
    CpuHarness h(false);
    h.mem.write_bytes(0x10000, insn.data(), uint32_t(insn.size()));
    h.mem.write_bytes(0x10000 + insn.size(), "\xF4", 1);
    h.mem.write_bytes(0x10500, "\xFF", 1);
    SCOPED_TRACE(testing::Message() << "opcode " << int(insn[0]) << " "
                 << (insn.size() > 1 ? int(insn[1]) : -1));  // cli/sti have one byte
    EXPECT_EQ(h.run(), EXIT_HLT);
    EXPECT_EQ(h.last_vector(), VEC_UD);
  }
}

// ---- debug registers ---------------------------------------------------------------------

TEST(SystemOps, DebugRegisterStorage) {
  CpuHarness h;
  h.code({0xB8, 0x78, 0x56, 0x34, 0x12, 0x0F, 0x23, 0xC0,  // mov dr0, 0x12345678
          0x0F, 0x21, 0xC3,                                // mov ebx, dr0
          0xB8, 0xFF, 0xDF, 0xFF, 0xFF, 0x0F, 0x23, 0xF8,  // mov dr7, ~GD (GD would #DB)
          0x0F, 0x21, 0xF9,                                // mov ecx, dr7
          0xB8, 0x00, 0x00, 0x00, 0x00, 0x0F, 0x23, 0xF0,  // mov dr6, 0
          0x0F, 0x21, 0xE2});                              // mov edx, dr4 (= dr6)
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EBX], 0x12345678u);
  EXPECT_EQ(h.cpu.regs[ECX], 0xFFFF07FFu);  // bits 11, 12, 14, 15 read 0, bit 10 reads 1
  EXPECT_EQ(h.cpu.regs[EDX], 0xFFFF0FF0u);
}

// ---- CLI / STI and privilege -------------------------------------------------------------

TEST(SystemOps, CliStiAtCpl0) {
  CpuHarness h;
  h.code({0xFA,                          // cli
          0x0F, 0x20, 0xC0,              // (mov eax, cr0: just something between)
          0xFB});                        // sti
  h.cpu.lz_kind = LZ_NONE;
  h.cpu.eflags = 2 | IF;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.flags() & IF, uint32_t(IF));
  CpuHarness r(false);
  r.code({0xFA});
  r.cpu.eflags |= IF;
  EXPECT_EQ(r.run(), EXIT_HLT);
  EXPECT_EQ(r.flags() & IF, 0u);
}

// Put the harness CPU at CPL 3 (flat DPL-3 code and data), with the #GP and #UD gates
// pointing at a conforming ring-0 segment so the exception is delivered at CPL 3 on the
// same stack (inter-privilege delivery comes later).
void enter_ring3(CpuHarness& h) {
  const uint64_t conforming = make_desc(0, 0xFFFFF, 0x9F, 0xC);  // 0x18
  const uint64_t code3 = make_desc(0, 0xFFFFF, 0xFB, 0xC);       // 0x20
  const uint64_t data3 = make_desc(0, 0xFFFFF, 0xF3, 0xC);       // 0x28
  h.set_gdt_entry(3, conforming);
  h.set_gdt_entry(4, code3);
  h.set_gdt_entry(5, data3);
  for (unsigned v : {unsigned(VEC_GP), unsigned(VEC_UD)}) {
    uint32_t lo = h.rd32(0x400 + v * 8);
    h.wr32(0x400 + v * 8, (lo & 0xFFFF) | (0x18u << 16));
  }
  cache_from_descriptor(h.cpu, h.cpu.seg[CS], 0x23, code3);
  for (unsigned s : {ES, SS, DS, FS, GS}) cache_from_descriptor(h.cpu, h.cpu.seg[s], 0x2B, data3);
  h.cpu.cpl = 3;  // CPL is CS's, set by a CS load (here done by hand)
  update_mode(h.cpu);
}

TEST(SystemOps, PrivilegedInstructionsAtCpl3AreGp0) {
  const std::vector<std::vector<uint8_t>> insns = {
      {0x0F, 0x22, 0xC0},                          // mov cr0, eax
      {0x0F, 0x20, 0xC0},                          // mov eax, cr0
      {0x0F, 0x23, 0xF8},                          // mov dr7, eax
      {0x0F, 0x21, 0xC0},                          // mov eax, dr0
      {0x0F, 0x01, 0x15, 0x00, 0x00, 0x02, 0x00},  // lgdt [DATA]
      {0x0F, 0x01, 0x1D, 0x00, 0x00, 0x02, 0x00},  // lidt [DATA]
      {0x0F, 0x00, 0xD0},                          // lldt ax
      {0x0F, 0x00, 0xD8},                          // ltr ax
      {0x0F, 0x01, 0xF0},                          // lmsw ax
      {0x0F, 0x06},                                // clts
      {0x0F, 0x08},                                // invd
      {0x0F, 0x09},                                // wbinvd
      {0x0F, 0x01, 0x3D, 0x00, 0x00, 0x02, 0x00},  // invlpg [DATA]
      {0xFA},                                      // cli (IOPL 0)
      {0xFB},                                      // sti (IOPL 0)
  };
  for (const auto& insn : insns) {
    CpuHarness h;
    enter_ring3(h);
    ASSERT_EQ(h.cpu.cpl, 3);
    h.mem.write_bytes(CODE, insn.data(), uint32_t(insn.size()));
    h.mem.write_bytes(CODE + insn.size(), "\xF4", 1);
    h.mem.write_bytes(0x500, "\xFF", 1);
    SCOPED_TRACE(testing::Message() << "opcode " << int(insn[0]) << " "
                 << (insn.size() > 1 ? int(insn[1]) : -1));  // cli/sti have one byte
    h.run();
    EXPECT_EQ(h.last_vector(), VEC_GP);
    EXPECT_EQ(h.pushed_error(), 0u);
    EXPECT_EQ(h.pushed_eip_after_error(), CODE);
  }
}

TEST(SystemOps, CliStiAtCpl3WithIopl3AndUnprivilegedStores) {
  CpuHarness h;
  enter_ring3(h);
  h.code({0xFA,                                       // cli
          0x0F, 0x01, 0x05, 0x00, 0x00, 0x02, 0x00,   // sgdt [DATA]
          0x0F, 0x01, 0xE1,                           // smsw ecx
          0x0F, 0x00, 0xCA});                         // str edx
  h.cpu.lz_kind = LZ_NONE;
  h.cpu.eflags = 2 | IF | IOPL;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.eflags & IF, 0u);
  EXPECT_EQ(h.rd16(DATA), h.cpu.gdtr.limit);
  EXPECT_EQ(h.cpu.regs[ECX], h.cpu.cr0);
  EXPECT_EQ(h.cpu.regs[EDX], 0u);
  EXPECT_EQ(h.last_vector(), -1);
}

TEST(SystemOps, Ud2AndPrivilegedNopsAtCpl0) {
  CpuHarness h;
  h.code({0x0F, 0x08, 0x0F, 0x09,                     // invd; wbinvd
          0x0F, 0x01, 0x3D, 0x00, 0x00, 0x02, 0x00,   // invlpg [DATA]
          0x0F, 0x0B});                               // ud2
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_UD);
  EXPECT_EQ(h.pushed_eip(), CODE + 11);
}

}  // namespace
}  // namespace softcpu
