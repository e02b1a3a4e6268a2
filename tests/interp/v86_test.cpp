// Virtual-8086 mode (SDM vol.3 chapter 20): entry by IRETD from ring 0 and by a task switch,
// exit through an interrupt gate to ring 0 (GS FS DS ES SS ESP pushed, data segments
// nulled), IRET back, the IOPL-sensitive instructions, and the TSS I/O permission bitmap for
// IN/OUT in V86 and at CPL > IOPL in protected mode (SDM vol.1 18.5).
#include <gtest/gtest.h>

#include "interp/trap.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::gate_desc;
using test::make_desc;


constexpr uint32_t CODE = CpuHarness::CODE_ADDR;
constexpr uint32_t STACK = CpuHarness::STACK_TOP;
constexpr uint32_t TSS = 0x3000;
constexpr uint32_t TSS2 = 0x3400;
constexpr uint32_t STACK0 = 0x38000;
constexpr uint32_t V86_CODE = 0x50000;  // CS = 0x5000, IP = 0

// Port reads return 0xAB.. plus the port; writes are recorded.
struct FakeBus : IoBus {
  std::vector<std::pair<uint16_t, uint32_t>> outs;
  std::vector<uint16_t> ins;
  uint32_t in(uint16_t port, unsigned) override {
    ins.push_back(port);
    return 0xAB00u + (port & 0xFF);
  }
  void out(uint16_t port, unsigned, uint32_t v) override { outs.push_back({port, v}); }
};

struct V86 {
  CpuHarness h;
  FakeBus bus;

  void gdt(unsigned index, uint64_t d) {
    h.mem.write_bytes(CpuHarness::GDT_ADDR + index * 8, &d, 8);
    if (h.cpu.gdtr.limit < index * 8 + 7) h.cpu.gdtr.limit = uint16_t(index * 8 + 7);
  }
  void idt(unsigned v, uint64_t d) {
    h.mem.write_bytes(0x400 + v * 8, &d, 8);
    if (h.cpu.idtr.limit < v * 8 + 7) h.cpu.idtr.limit = uint16_t(v * 8 + 7);
  }
  void put(uint32_t addr, std::vector<uint8_t> v) {
    h.mem.write_bytes(addr, v.data(), uint32_t(v.size()));
  }
  uint16_t rd16(uint32_t a) { uint16_t v; h.mem.read_bytes(a, &v, 2); return v; }

  V86() {
    for (unsigned v = 0; v < 32; ++v) {  // stubs that address the record through SS
      uint8_t stub[9] = {0x36, 0xC6, 0x05, 0x00, 0x05, 0x00, 0x00, uint8_t(v), 0xF4};
      h.mem.write_bytes(CpuHarness::STUBS + v * 16, stub, 9);
    }
    // 32-bit TSS with an I/O bitmap at 0x68 for ports 0-0x3FF (+ the terminating byte):
    // everything denied except ports 0x60 and 0x70-0x71.
    gdt(3, make_desc(TSS, 0xE8, 0x8B, 0));  // 0x18
    std::vector<uint8_t> tss(0xE9, 0);
    tss[4] = STACK0 & 0xFF; tss[5] = (STACK0 >> 8) & 0xFF; tss[6] = uint8_t(STACK0 >> 16);
    tss[8] = 0x10;
    tss[0x66] = 0x68;
    for (unsigned k = 0x68; k < 0xE9; ++k) tss[k] = 0xFF;
    tss[0x68 + 0x60 / 8] &= uint8_t(~(1u << (0x60 & 7)));
    tss[0x68 + 0x70 / 8] &= uint8_t(~(3u << (0x70 & 7)));
    h.mem.write_bytes(TSS, tss.data(), uint32_t(tss.size()));
    cache_from_descriptor(h.cpu, h.cpu.tr, 0x18, make_desc(TSS, 0xE8, 0x8B, 0));
    idt(0x40, gate_desc(0x08, CODE + 0x100, 14, 3));  // DPL 3 interrupt gate -> ring 0
    h.cpu.lz_kind = LZ_NONE;
    h.cpu.eflags = 2;
  }

  // Ring 0 code at CODE: IRETD into V86 at 5000:0000 with SS:SP 6000:FFF0, ES 7000, DS 7100,
  // FS 7200, GS 7300 and the given extra EFLAGS bits.
  void enter_v86_by_iret(uint32_t flags, std::vector<uint8_t> v86_code) {
    const uint32_t frame[9] = {0, 0x5000, 2u | VM | flags, 0xFFF0, 0x6000,
                               0x7000, 0x7100, 0x7200, 0x7300};
    h.mem.write_bytes(STACK - 36, frame, 36);
    h.cpu.regs[ESP] = STACK - 36;
    h.code({0xCF});  // iretd
    v86_code.push_back(0xF4);
    put(V86_CODE, v86_code);
  }

  ExitReason run() {
    for (int k = 0; k < 100; ++k) {
      ExitReason r = h.run();
      if (r != EXIT_IO) return r;
      if (!execute_trapped(h.cpu, bus)) return EXIT_TRIPLE_FAULT;
    }
    return EXIT_BUDGET;
  }
};

TEST(V86, IretEntersAndInterruptLeavesThroughRing0) {
  V86 t;
  t.h.wr32(0x71000, 0x5A5A);
  t.enter_v86_by_iret(IOPL, {0xA1, 0x00, 0x00,    // mov ax, [0]
                             0xCD, 0x40,          // int 0x40
                             0xBB, 0x42, 0x42});  // mov bx, 0x4242
  t.put(CODE + 0x100, {0x89, 0xE7,    // mov edi, esp
                       0x8C, 0xDE,    // mov esi, ds
                       0x9C, 0x5D,    // pushfd; pop ebp
                       0xCF});        // iretd
  t.h.cpu.regs[ESI] = 0xFFFF;
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  // Ring 0 frame: GS FS DS ES SS ESP EFLAGS CS EIP; DS was null in the handler.
  EXPECT_EQ(t.h.cpu.regs[EDI], STACK0 - 36);
  EXPECT_EQ(t.h.cpu.regs[ESI], 0u);
  EXPECT_EQ(t.h.cpu.regs[EBP] & (VM | IF), 0u);
  EXPECT_EQ(t.h.rd32(STACK0 - 4), 0x7300u);
  EXPECT_EQ(t.h.rd32(STACK0 - 8), 0x7200u);
  EXPECT_EQ(t.h.rd32(STACK0 - 12), 0x7100u);
  EXPECT_EQ(t.h.rd32(STACK0 - 16), 0x7000u);
  EXPECT_EQ(t.h.rd32(STACK0 - 20), 0x6000u);
  EXPECT_EQ(t.h.rd32(STACK0 - 24), 0xFFF0u);
  EXPECT_EQ(t.h.rd32(STACK0 - 28), 2u | VM | IOPL);
  EXPECT_EQ(t.h.rd32(STACK0 - 32), 0x5000u);
  EXPECT_EQ(t.h.rd32(STACK0 - 36), 5u);
  // Back in V86 after the handler's IRETD.
  EXPECT_EQ(t.h.cpu.eflags & VM, uint32_t(VM));
  EXPECT_EQ(t.h.cpu.cpl, 3);
  EXPECT_EQ(t.h.cpu.seg[CS].selector, 0x5000);
  EXPECT_EQ(t.h.cpu.seg[CS].base, 0x50000u);
  EXPECT_EQ(t.h.cpu.seg[DS].base, 0x71000u);
  EXPECT_EQ(t.h.cpu.seg[GS].base, 0x73000u);
  EXPECT_EQ(t.h.cpu.seg[SS].selector, 0x6000);
  EXPECT_EQ(t.h.cpu.regs[ESP], 0xFFF0u);
  EXPECT_EQ(t.h.cpu.regs[EAX] & 0xFFFF, 0x5A5Au);
  EXPECT_EQ(t.h.cpu.regs[EBX] & 0xFFFF, 0x4242u);
  EXPECT_EQ(t.h.cpu.eip, 8u);
}

TEST(V86, IoplSensitiveInstructionsFaultBelowIopl3) {
  struct Case { const char* name; std::vector<uint8_t> code; uint32_t error; };
  const std::vector<Case> cases = {
      {"cli", {0xFA}, 0}, {"sti", {0xFB}, 0}, {"pushf", {0x9C}, 0}, {"popf", {0x9D}, 0},
      {"int n", {0xCD, 0x40}, 0}, {"iret", {0xCF}, 0},
      {"int3 (gate DPL 0)", {0xCC}, 3 * 8 + 2},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(cs.name);
    V86 t;
    t.enter_v86_by_iret(0, cs.code);
    t.run();
    EXPECT_EQ(t.h.last_vector(), VEC_GP);
    EXPECT_EQ(t.h.cpu.cpl, 0);
    EXPECT_EQ(t.h.cpu.regs[ESP], STACK0 - 40);
    EXPECT_EQ(t.h.rd32(STACK0 - 40), cs.error);
    EXPECT_EQ(t.h.rd32(STACK0 - 36), 0u);        // EIP of the faulting instruction
    EXPECT_EQ(t.h.rd32(STACK0 - 32), 0x5000u);
    EXPECT_EQ(t.h.cpu.seg[DS].selector, 0);
  }
}

TEST(V86, Iopl3AllowsFlagsInstructionsButNotIoplChanges) {
  V86 t;
  t.enter_v86_by_iret(IOPL, {0xFA,          // cli
                             0xFB,          // sti
                             0x6A, 0x00,    // push word 0
                             0x9D,          // popf
                             0x9C,          // pushf
                             0x58});        // pop ax
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  EXPECT_EQ(t.h.cpu.regs[EAX] & 0xFFFF, 0x3002u);  // IOPL kept, IF cleared by the POPF
  EXPECT_EQ(t.h.cpu.eflags & (VM | IOPL | IF), VM | IOPL);
}

TEST(V86, IoBitmapAllowsOnePortAndDeniesAnother) {
  V86 t;  // IOPL 3 does not matter in V86: the bitmap decides
  t.enter_v86_by_iret(IOPL, {0xE4, 0x60,    // in al, 0x60 (allowed)
                             0x88, 0xC3,    // mov bl, al
                             0xE5, 0x70,    // in ax, 0x70 (0x70-0x71 allowed)
                             0x89, 0xC1,    // mov cx, ax
                             0xE4, 0x61});  // in al, 0x61 (denied)
  t.run();
  EXPECT_EQ(t.h.cpu.regs[EBX] & 0xFF, 0x60u);
  EXPECT_EQ(t.h.cpu.regs[ECX] & 0xFFFF, 0xAB70u);
  EXPECT_EQ(t.h.last_vector(), VEC_GP);
  EXPECT_EQ(t.h.rd32(STACK0 - 40), 0u);
  EXPECT_EQ(t.h.rd32(STACK0 - 36), 8u);  // the IN AL, 0x61
  EXPECT_EQ(t.bus.ins, (std::vector<uint16_t>{0x60, 0x70}));
}

TEST(V86, IoBitmapWordAccessNeedsBothBitsAndPortsBeyondTheMap) {
  for (uint16_t port : {uint16_t(0x60) /* word: 0x61 denied */, uint16_t(0x400)}) {
    SCOPED_TRACE(port);
    V86 t;
    t.enter_v86_by_iret(0, {0xBA, uint8_t(port), uint8_t(port >> 8),  // mov dx, port
                            0xED});                                  // in ax, dx
    t.run();
    EXPECT_EQ(t.h.last_vector(), VEC_GP);
    EXPECT_EQ(t.h.rd32(STACK0 - 36), 3u);
    EXPECT_TRUE(t.bus.ins.empty());
  }
}

TEST(V86, ProtectedModeIoAboveIoplUsesTheBitmap) {
  V86 t;  // ring 3 protected mode, IOPL 0
  t.gdt(4, make_desc(0, 0xFFFFF, 0xFB, 0xC));  // 0x20 code DPL 3
  t.gdt(5, make_desc(0, 0xFFFFF, 0xF3, 0xC));  // 0x28 data DPL 3
  cache_from_descriptor(t.h.cpu, t.h.cpu.seg[CS], 0x23, make_desc(0, 0xFFFFF, 0xFB, 0xC));
  for (unsigned s : {ES, SS, DS, FS, GS})
    cache_from_descriptor(t.h.cpu, t.h.cpu.seg[s], 0x2B, make_desc(0, 0xFFFFF, 0xF3, 0xC));
  t.h.cpu.cpl = 3;
  update_mode(t.h.cpu);
  t.h.code({0xE6, 0x60,    // out 0x60, al (allowed)
            0xE4, 0x61});  // in al, 0x61 (denied)
  t.h.cpu.regs[EAX] = 0x99;
  t.run();
  EXPECT_EQ(t.bus.outs.size(), 1u);
  EXPECT_EQ(t.h.last_vector(), VEC_GP);
  EXPECT_EQ(t.h.rd32(STACK0 - 24), 0u);
  EXPECT_EQ(t.h.rd32(STACK0 - 20), CODE + 2);
}

TEST(V86, TaskSwitchIntoV86) {
  V86 t;
  t.gdt(6, make_desc(TSS2, 0x67, 0x89, 0));  // 0x30
  std::vector<uint8_t> zero(0x68, 0);
  t.h.mem.write_bytes(TSS2, zero.data(), 0x68);
  t.h.wr32(TSS2 + 0x20, 0x0010);            // EIP
  t.h.wr32(TSS2 + 0x24, 2u | VM | IOPL);    // EFLAGS
  t.h.wr32(TSS2 + 0x38, 0xFF00);            // ESP
  const uint16_t segs[6] = {0x7000, 0x5000, 0x6000, 0x7100, 0x7200, 0x7300};
  for (unsigned s = 0; s < 6; ++s) t.h.wr32(TSS2 + 0x48 + 4 * s, segs[s]);
  t.put(V86_CODE + 0x10, {0x8C, 0xC8,   // mov ax, cs
                          0xF4});
  t.h.code({0xEA, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00});  // jmp 0x30:0
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  EXPECT_EQ(t.h.cpu.eflags & VM, uint32_t(VM));
  EXPECT_EQ(t.h.cpu.cpl, 3);
  EXPECT_EQ(t.h.cpu.regs[EAX] & 0xFFFF, 0x5000u);
  EXPECT_EQ(t.h.cpu.seg[SS].base, 0x60000u);
  EXPECT_EQ(t.h.cpu.seg[DS].limit, 0xFFFFu);
  EXPECT_EQ(t.h.cpu.eip, 0x12u);
  EXPECT_EQ(t.h.cpu.tr.selector, 0x30);
}

// ---- CR4.VME and CR4.PVI (SDM vol.3 20.3.3, 20.4) -----------------------------------------

constexpr uint32_t V86_STACK = 0x6FFF0;  // 6000:FFF0

// The fixture's TSS with the I/O map moved to 0x88, so that the interrupt redirection
// bitmap (the 32 bytes before it) sits at 0x68: every vector set (not redirected) but those
// listed. The I/O bitmap denies every port.
void set_redirection_bitmap(V86& t, std::initializer_list<uint8_t> redirected) {
  std::vector<uint8_t> tss(0x109, 0);
  t.h.mem.read_bytes(TSS, tss.data(), 0x68);
  tss[0x66] = 0x88;
  tss[0x67] = 0;
  for (unsigned k = 0x68; k < 0x109; ++k) tss[k] = 0xFF;
  for (uint8_t v : redirected) tss[0x68 + v / 8] &= uint8_t(~(1u << (v % 8)));
  t.h.mem.write_bytes(TSS, tss.data(), uint32_t(tss.size()));
  t.gdt(3, make_desc(TSS, 0x108, 0x8B, 0));
  cache_from_descriptor(t.h.cpu, t.h.cpu.tr, 0x18, make_desc(TSS, 0x108, 0x8B, 0));
}

TEST(V86Vme, CliStiPushfPopfWorkOnVifBelowIopl3) {
  V86 t;
  t.h.cpu.cr4 |= CR4_VME;
  t.enter_v86_by_iret(IF | VIF, {0xFA,              // cli   (VIF = 0)
                                 0x9C, 0x58,        // pushf; pop ax
                                 0xFB,              // sti   (VIF = 1)
                                 0x9C, 0x5B,        // pushf; pop bx
                                 0x6A, 0x01,        // push word 1 (CF, IF = 0)
                                 0x9D,              // popf  (VIF = 0, CF = 1)
                                 0x68, 0x00, 0x02,  // push word 0x200 (IF)
                                 0x9D});            // popf  (VIF = 1, CF = 0)
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  // PUSHF shows VIF in the IF position and IOPL as 3.
  EXPECT_EQ(t.h.cpu.regs[EAX] & (IF | IOPL), uint32_t(IOPL));
  EXPECT_EQ(t.h.cpu.regs[EBX] & (IF | IOPL), IF | IOPL);
  // The real IF and IOPL never changed; VIF follows the last POPF.
  EXPECT_EQ(t.h.flags() & (IF | VIF | IOPL | CF | VM), IF | VIF | VM);
}

TEST(V86Vme, PopfThatClearsVifKeepsIf) {
  V86 t;
  t.h.cpu.cr4 |= CR4_VME;
  t.enter_v86_by_iret(IF | VIF, {0x6A, 0x01, 0x9D});  // push word 1; popf
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.flags() & (IF | VIF | CF), IF | CF);
}

TEST(V86Vme, FaultingCases) {
  // `at`: offset of the instruction that must raise #GP(0).
  struct Case { const char* name; uint32_t flags; std::vector<uint8_t> code; uint32_t at; };
  const std::vector<Case> cases = {
      {"sti with VIP", VIP, {0xFB}, 0},
      {"popf IF=1 with VIP", VIP, {0x68, 0x00, 0x02, 0x9D}, 3},
      {"popf TF=1", 0, {0x68, 0x00, 0x01, 0x9D}, 3},
      {"pushfd", 0, {0x66, 0x9C}, 0},
      {"popfd", 0, {0x66, 0x6A, 0x00, 0x66, 0x9D}, 3},
      {"iretd", 0, {0x66, 0xCF}, 0},
      {"iret IF=1 with VIP", VIP, {0x68, 0x00, 0x02, 0x6A, 0x00, 0x6A, 0x00, 0xCF}, 7},
      {"int n not redirected", 0, {0xCD, 0x40}, 0},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(cs.name);
    V86 t;
    t.h.cpu.cr4 |= CR4_VME;
    set_redirection_bitmap(t, {0x21});
    t.enter_v86_by_iret(cs.flags, cs.code);
    t.run();
    EXPECT_EQ(t.h.last_vector(), VEC_GP);
    EXPECT_EQ(t.h.rd32(STACK0 - 40), 0u);     // error code
    EXPECT_EQ(t.h.rd32(STACK0 - 36), cs.at);  // EIP of the faulting instruction
  }
}

TEST(V86Vme, IretRestoresVifFromTheImage) {
  V86 t;
  t.h.cpu.cr4 |= CR4_VME;
  // The frame IP=7 CS=5000 FLAGS=IF|CF, then IRET to 5000:0007: mov cx, 1.
  t.enter_v86_by_iret(IF, {0x68, 0x01, 0x02,  // push word 0x201
                           0x0E,              // push cs
                           0x6A, 0x08,        // push word 8
                           0xCF,              // iret
                           0x90,              // (skipped)
                           0xB9, 0x01, 0x00});  // mov cx, 1
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  EXPECT_EQ(t.h.cpu.regs[ECX] & 0xFFFF, 1u);
  EXPECT_EQ(t.h.flags() & (IF | VIF | CF | IOPL), IF | VIF | CF);
}

TEST(V86Vme, RedirectedIntNUsesTheV86IvtAndVif) {
  V86 t;
  t.h.cpu.cr4 |= CR4_VME;
  set_redirection_bitmap(t, {0x21});
  t.h.wr32(0x21 * 4, 0x40000010);  // IVT[0x21] = 4000:0010
  t.put(0x40010, {0x9C, 0x59,      // pushf; pop cx
                  0xCF});          // iret
  t.enter_v86_by_iret(IF | VIF, {0xCD, 0x21,          // int 0x21
                                          0xBB, 0x42, 0x42});  // mov bx, 0x4242
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  // The 8086-style frame: IP after the INT, CS, FLAGS with VIF as IF and IOPL 3.
  EXPECT_EQ(t.rd16(V86_STACK - 6), 2u);
  EXPECT_EQ(t.rd16(V86_STACK - 4), 0x5000u);
  EXPECT_EQ(t.rd16(V86_STACK - 2) & (IF | IOPL), IF | IOPL);
  // Inside the handler VIF was clear (IF was not touched).
  EXPECT_EQ(t.h.cpu.regs[ECX] & IF, 0u);
  EXPECT_EQ(t.h.cpu.regs[EBX] & 0xFFFF, 0x4242u);
  EXPECT_EQ(t.h.cpu.regs[ESP] & 0xFFFF, 0xFFF0u);
  EXPECT_EQ(t.h.flags() & (IF | VIF | VM), IF | VIF | VM);  // IRET restored VIF
}

TEST(V86Vme, Iopl3RedirectionClearsIfAndNotRedirectedGoesToTheIdt) {
  {
    V86 t;
    t.h.cpu.cr4 |= CR4_VME;
    set_redirection_bitmap(t, {0x21});
    t.h.wr32(0x21 * 4, 0x40000010);
    t.put(0x40010, {0x9C, 0x59, 0xF4});  // pushf; pop cx; hlt
    t.enter_v86_by_iret(IF | IOPL, {0xCD, 0x21});
    ASSERT_EQ(t.run(), EXIT_HLT);
    EXPECT_EQ(t.h.cpu.seg[CS].selector, 0x4000);
    EXPECT_EQ(t.rd16(V86_STACK - 2) & (IF | IOPL), IF | IOPL);  // the real IF
    EXPECT_EQ(t.h.cpu.regs[ECX] & IF, 0u);                      // IF cleared
  }
  {
    V86 t;  // INT 0x40 is not redirected: the IDT's ring-0 gate as without VME
    t.h.cpu.cr4 |= CR4_VME;
    set_redirection_bitmap(t, {0x21});
    t.put(CODE + 0x100, {0xF4});
    t.enter_v86_by_iret(IOPL, {0xCD, 0x40});
    ASSERT_EQ(t.run(), EXIT_HLT);
    EXPECT_EQ(t.h.last_vector(), -1);
    EXPECT_EQ(t.h.cpu.cpl, 0);
    EXPECT_EQ(t.h.cpu.eip, CODE + 0x100);
    EXPECT_EQ(t.h.rd32(STACK0 - 36), 2u);
  }
}

TEST(V86Vme, WithoutVmeTheBitmapIsIgnored) {
  V86 t;
  set_redirection_bitmap(t, {0x21});
  t.enter_v86_by_iret(0, {0xCD, 0x21});
  t.run();
  EXPECT_EQ(t.h.last_vector(), VEC_GP);
  EXPECT_EQ(t.h.rd32(STACK0 - 36), 0u);
}

// Ring 3 protected mode with IOPL 0 (the fixture's DPL 3 segments).
void enter_ring3(V86& t) {
  t.gdt(4, make_desc(0, 0xFFFFF, 0xFB, 0xC));
  t.gdt(5, make_desc(0, 0xFFFFF, 0xF3, 0xC));
  cache_from_descriptor(t.h.cpu, t.h.cpu.seg[CS], 0x23, make_desc(0, 0xFFFFF, 0xFB, 0xC));
  for (unsigned s : {ES, SS, DS, FS, GS})
    cache_from_descriptor(t.h.cpu, t.h.cpu.seg[s], 0x2B, make_desc(0, 0xFFFFF, 0xF3, 0xC));
  t.h.cpu.cpl = 3;
  update_mode(t.h.cpu);
}

TEST(Pvi, CliStiAtCpl3ChangeVif) {
  V86 t;
  enter_ring3(t);
  t.h.cpu.cr4 |= CR4_PVI;
  t.h.cpu.eflags = 2 | IF;
  t.h.code({0xFA,                        // cli
            0x9C, 0x58,                  // pushfd; pop eax
            0xFB});                      // sti
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.last_vector(), -1);
  EXPECT_EQ(t.h.cpu.regs[EAX] & (IF | VIF), uint32_t(IF));  // after CLI: VIF 0, IF kept
  EXPECT_EQ(t.h.flags() & (IF | VIF), IF | VIF);
}

TEST(Pvi, StiWithVipAndNoPviFault) {
  for (uint32_t cr4 : {CR4_PVI, 0u}) {
    SCOPED_TRACE(cr4);
    V86 t;
    enter_ring3(t);
    t.h.cpu.cr4 |= cr4;
    t.h.cpu.eflags = 2 | (cr4 ? VIP : 0u);
    t.h.code({0xFB});
    t.run();
    EXPECT_EQ(t.h.last_vector(), VEC_GP);
    EXPECT_EQ(t.h.rd32(STACK0 - 20), CODE);
    EXPECT_EQ(t.h.rd32(STACK0 - 12) & VIF, 0u);
  }
}

TEST(Pvi, Cpl0AndIopl3StillUseIf) {
  V86 t;  // at CPL 0, PVI changes nothing
  t.h.cpu.cr4 |= CR4_PVI;
  t.h.cpu.eflags = 2 | VIF;
  t.h.code({0xFB});
  ASSERT_EQ(t.run(), EXIT_HLT);
  EXPECT_EQ(t.h.flags() & (IF | VIF), IF | VIF);
  V86 u;  // V86 with IOPL 3 and VME: the real IF
  u.h.cpu.cr4 |= CR4_VME;
  u.enter_v86_by_iret(IOPL | VIF, {0xFB});
  ASSERT_EQ(u.run(), EXIT_HLT);
  EXPECT_EQ(u.h.flags() & (IF | VIF), IF | VIF);
  V86 w;
  w.h.cpu.cr4 |= CR4_VME;
  w.enter_v86_by_iret(IOPL | IF | VIF, {0xFA});
  ASSERT_EQ(w.run(), EXIT_HLT);
  EXPECT_EQ(w.h.flags() & (IF | VIF), uint32_t(VIF));
}

}  // namespace
}  // namespace softcpu
