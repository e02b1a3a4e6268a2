// Issue 9: the P6 opcode map. A sweep over every one- and two-byte opcode and ModRM byte
// (16- and 32-bit code, no prefix and 66/F2/F3/67, and LOCK) checks that no P6 instruction
// decodes to #UD and that no later instruction runs; then SALC, the opcode aliases (82, the
// shift /6, TEST /1, INT1, the x87 aliases), CMOVcc's unconditional operand read, UD0/1/2.
#include <Zydis/Zydis.h>
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <set>
#include <string>

#include "interp/decode.h"
#include "interp/trap.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::flags_in;
using test::arith;

constexpr uint32_t D = CpuHarness::DATA_ADDR;

// ---- the sweep ---------------------------------------------------------------------------

// Zydis ISA sets a P6 (family 6 model 6 without MMX) implements.
bool p6_isa(ZydisISASet s) {
  switch (s) {
    case ZYDIS_ISA_SET_I86: case ZYDIS_ISA_SET_I186: case ZYDIS_ISA_SET_I286REAL:
    case ZYDIS_ISA_SET_I286PROTECTED: case ZYDIS_ISA_SET_I386: case ZYDIS_ISA_SET_I486REAL:
    case ZYDIS_ISA_SET_I486: case ZYDIS_ISA_SET_PENTIUMREAL: case ZYDIS_ISA_SET_PPRO:
    case ZYDIS_ISA_SET_X87: case ZYDIS_ISA_SET_CMOV: case ZYDIS_ISA_SET_FCMOV:
    case ZYDIS_ISA_SET_FAT_NOP: case ZYDIS_ISA_SET_PREFETCH_NOP: case ZYDIS_ISA_SET_RDPMC:
    case ZYDIS_ISA_SET_LAHF:
      return true;
    default:
      return false;
  }
}

// Encodings of P6-era ISA sets that a P6 executes differently from what Zydis names:
// P6 instructions that are #UD all the same, and later instructions that run as P6 ones.
bool p6_but_ud(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_UD0: case ZYDIS_MNEMONIC_UD1: case ZYDIS_MNEMONIC_UD2:
    case ZYDIS_MNEMONIC_RSM:        // #UD outside SMM, which this CPU never enters
    case ZYDIS_MNEMONIC_PREFETCH:   // 0F 0D: 3DNow!/PREFETCHW space, #UD on a P6
    case ZYDIS_MNEMONIC_PREFETCHW:
      return true;
    default:
      return false;
  }
}
bool later_but_runs_on_p6(const ZydisDecodedInstruction& zi) {
  // 0F 01 C1 VMCALL reaches the monitor: a thin guest's hypercall, #UD on any other machine
  // (docs/hypercalls.md; guest.vmcall_ud).
  if (zi.mnemonic == ZYDIS_MNEMONIC_VMCALL) return true;
  switch (zi.meta.isa_set) {
    case ZYDIS_ISA_SET_PAUSE:         // F3 90: REP NOP
    case ZYDIS_ISA_SET_SSE_PREFETCH:  // 0F 18 /0-3: hint NOPs
    case ZYDIS_ISA_SET_LZCNT:         // F3 0F BD: REP BSR
    case ZYDIS_ISA_SET_BMI1:          // F3 0F BC: REP BSF
      return true;
    default:
      return false;
  }
}

struct Sweep {
  InsnDecoder dec;
  ZydisDecoder z[2];
  Sweep() {
    ZydisDecoderInit(&z[0], ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
    ZydisDecoderInit(&z[1], ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    // The decoder under test switches these off too (the hint-NOP space stays NOPs).
    for (ZydisDecoder& d : z)
      for (ZydisDecoderMode m : {ZYDIS_DECODER_MODE_MPX, ZYDIS_DECODER_MODE_CET,
                                 ZYDIS_DECODER_MODE_CLDEMOTE})
        ZydisDecoderEnableMode(&d, m, ZYAN_FALSE);
  }
  static bool is_prefix(unsigned op) {
    switch (op) {
      case 0x0F: case 0x26: case 0x2E: case 0x36: case 0x3E: case 0x64: case 0x65: case 0x66:
      case 0x67: case 0xF0: case 0xF2: case 0xF3: return true;
      default: return false;
    }
  }
  // Calls f(bytes, code32) for prefix + [0F] + op + modrm + zero bytes, every op and modrm.
  template <class F> void each(uint8_t prefix, F f) {
    for (int code32 = 0; code32 < 2; ++code32)
      for (int map = 0; map < 2; ++map)
        for (unsigned op = 0; op < 256; ++op) {
          if (!map && is_prefix(op)) continue;
          for (unsigned modrm = 0; modrm < 256; ++modrm) {
            uint8_t b[16] = {};
            unsigned n = 0;
            if (prefix) b[n++] = prefix;
            if (map) b[n++] = 0x0F;
            b[n++] = uint8_t(op);
            b[n++] = uint8_t(modrm);
            f(b, code32 != 0);
          }
        }
  }
  std::string name(const uint8_t* b, bool code32) {
    char s[96];
    dec.format(b, 15, code32, 0, s, sizeof s);
    char hex[48];
    std::snprintf(hex, sizeof hex, " (%s: %02X %02X %02X %02X)", code32 ? "32" : "16", b[0], b[1],
                  b[2], b[3]);
    return std::string(s) + hex;
  }
};

TEST(OpcodeMap, NoP6InstructionIsUdAndNoLaterOneRuns) {
  Sweep s;
  std::set<std::string> wrong_ud, wrong_runs;
  for (uint8_t prefix : {0x00, 0x66, 0xF2, 0xF3, 0x67}) {
    s.each(prefix, [&](const uint8_t* b, bool code32) {
      ZydisDecodedInstruction zi;
      ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
      const Insn i = s.dec.decode(b, 15, code32, code32);
      const bool ud = i.fn == &handler_ud;
      if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&s.z[code32], b, 15, &zi, ops))) {
        // Zydis knows no such instruction: reserved on every CPU (e.g. FE /2, 0F 0A, the
        // blank x87 slots D9 D1-D7): #UD.
        if (!ud) wrong_runs.insert(s.name(b, code32) + " undecodable");
        return;
      }
      const bool p6 = p6_isa(zi.meta.isa_set) && !p6_but_ud(zi.mnemonic);
      if (p6 && ud) wrong_ud.insert(ZydisMnemonicGetString(zi.mnemonic) + s.name(b, code32));
      if (!p6 && !ud && !later_but_runs_on_p6(zi))
        wrong_runs.insert(ZydisMnemonicGetString(zi.mnemonic) + s.name(b, code32));
    });
  }
  EXPECT_TRUE(wrong_ud.empty()) << wrong_ud.size() << " P6 encodings raise #UD, e.g. "
                                << *wrong_ud.begin();
  EXPECT_TRUE(wrong_runs.empty()) << wrong_runs.size() << " non-P6 encodings run, e.g. "
                                  << *wrong_runs.begin();
}

// A prefix that a P6 ignores (operand/address size on an instruction without such operands,
// REP on a non-string instruction) never turns a working encoding into #UD.
TEST(OpcodeMap, PrefixesNeverTurnAnEncodingIntoUd) {
  Sweep s;
  std::set<std::string> bad;
  for (uint8_t prefix : {0x66, 0xF2, 0xF3, 0x67}) {
    s.each(prefix, [&](const uint8_t* b, bool code32) {
      const Insn with = s.dec.decode(b, 15, code32, code32);
      const Insn without = s.dec.decode(b + 1, 14, code32, code32);
      // VMCALL is no P6 instruction: with a 66/F2/F3 prefix it is undefined (#UD), as Zydis
      // and the SDM's opcode table (no prefix) have it.
      if ((without.flags & INSN_TRAPS) && trap_op(without) == TRAP_VMCALL) return;
      if (without.fn != &handler_ud && with.fn == &handler_ud) bad.insert(s.name(b, code32));
    });
  }
  EXPECT_TRUE(bad.empty()) << bad.size() << " encodings, e.g. " << *bad.begin();
}

// LOCK is accepted only on the lockable instructions with a memory destination (SDM vol.2
// LOCK); everything else is #UD.
TEST(OpcodeMap, LockOnlyOnLockableMemoryForms) {
  Sweep s;
  std::set<std::string> bad;
  unsigned accepted = 0;
  s.each(0xF0, [&](const uint8_t* b, bool code32) {
    const Insn i = s.dec.decode(b, 15, code32, code32);
    if (i.fn == &handler_ud) return;
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    ASSERT_TRUE(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&s.z[code32], b, 15, &zi, ops)));
    ++accepted;
    switch (zi.mnemonic) {
      case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_AND:
      case ZYDIS_MNEMONIC_BTC: case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTS:
      case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_CMPXCHG8B: case ZYDIS_MNEMONIC_DEC:
      case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_NOT:
      case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_SBB: case ZYDIS_MNEMONIC_SUB:
      case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_XADD: case ZYDIS_MNEMONIC_XCHG:
        if (ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY) return;
        break;
      default: break;
    }
    bad.insert(s.name(b, code32));
  });
  EXPECT_GT(accepted, 1000u);  // the sweep did reach the lockable forms
  EXPECT_TRUE(bad.empty()) << bad.size() << " encodings accept LOCK, e.g. " << *bad.begin();
}

// The hint-NOP space 0F 18-1F runs as a NOP with every ModRM and prefix, including the forms
// Zydis's MPX/CET tables reject (SDM vol.2 NOP; table A-3 "NOP" rows).
TEST(OpcodeMap, HintNopSpaceIsNopWithEveryPrefix) {
  InsnDecoder d;
  for (bool code32 : {false, true})
    for (uint8_t prefix : {0x00, 0x66, 0xF2, 0xF3, 0x67})
      for (unsigned op = 0x18; op <= 0x1F; ++op)
        for (unsigned modrm = 0; modrm < 256; ++modrm) {
          uint8_t b[16] = {};
          unsigned n = 0;
          if (prefix) b[n++] = prefix;
          b[n++] = 0x0F;
          b[n++] = uint8_t(op);
          b[n++] = uint8_t(modrm);
          const Insn i = d.decode(b, 15, code32, code32);
          ASSERT_NE(i.fn, &handler_ud) << std::hex << unsigned(prefix) << " 0F " << op << " "
                                       << modrm << (code32 ? " (32)" : " (16)");
          ASSERT_FALSE(i.flags & INSN_ENDS_BLOCK);
        }
  const uint8_t a16[] = {0x67, 0x0F, 0x1A, 0x00};  // addr16 in 32-bit code: Zydis's BNDLDX slot
  const Insn i = d.decode(a16, 4, true, true);
  EXPECT_EQ(i.len, 4);
}

// ---- SALC --------------------------------------------------------------------------------

TEST(P6Ops, SalcSetsAlFromCarryAndKeepsFlags) {
  for (bool cf : {false, true}) {
    CpuHarness h;
    h.cpu.regs[EAX] = 0x12345678;
    h.cpu.regs[EBX] = cf ? 0xFFFFFFFF : 0x7FFFFFFF;
    // add ebx, 1 (lazy flags: CF from the add), salc, then the same with materialized flags
    h.code({0x83, 0xC3, 0x01, 0xD6, 0x89, 0xC6, 0x9C, 0x5F});  // ...; mov esi, eax; pushfd; pop edi
    RUN_OK(h);
    EXPECT_EQ(h.cpu.regs[ESI], cf ? 0x123456FFu : 0x12345600u);
    // Flags are those of the ADD: 0xFFFFFFFF+1 = 0 (CF ZF PF AF), 0x7FFFFFFF+1 (OF SF AF PF).
    const uint32_t want = cf ? (CF | ZF | PF | AF) : (OF | SF | AF | PF);
    EXPECT_EQ(h.cpu.regs[EDI] & ARITH_FLAGS, want);
  }
  CpuHarness h;
  flags_in(h, CF | OF);
  h.cpu.regs[EAX] = 0;
  h.code({0x66, 0xD6});  // an operand-size prefix changes nothing: AL only
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0xFFu);
  EXPECT_EQ(arith(h), CF | OF);
}

TEST(P6Ops, SalcInRealModeAndWithLock) {
  CpuHarness h(false);
  flags_in(h, CF);
  h.cpu.regs[EAX] = 0xAAAA0000;
  h.code({0xD6});
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0xAAAA00FFu);
  CpuHarness l;
  l.code({0xF0, 0xD6});  // LOCK SALC: #UD
  RUN_VECTOR(l, 6);
}

// ---- group aliases -------------------------------------------------------------------------

TEST(P6Ops, Opcode82IsAnAliasOf80) {
  CpuHarness h;
  h.cpu.regs[EBX] = 0x000000FE;
  h.put(D, {0x0F});
  h.code({0x82, 0xC3, 0x03,                          // add bl, 3
          0x82, 0x0D, 0x00, 0x00, 0x02, 0x00, 0xF0,  // or byte [0x20000], 0xF0
          0x82, 0xFB, 0x01});                        // cmp bl, 1
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EBX], 0x01u);
  EXPECT_EQ(h.rd8(D), 0xFFu);
  EXPECT_EQ(arith(h) & (ZF | CF), ZF);
  CpuHarness r(false);  // 16-bit code: the same
  r.cpu.regs[ECX] = 0x80;
  r.code({0x82, 0xE9, 0x01});  // sub cl, 1
  RUN_OK(r);
  EXPECT_EQ(r.cpu.regs[ECX], 0x7Fu);
  EXPECT_EQ(arith(r) & (OF | SF), OF);
  CpuHarness l;
  l.put(D, {0x01});
  l.code({0xF0, 0x82, 0x05, 0x00, 0x00, 0x02, 0x00, 0x01});  // lock add byte [mem], 1: legal
  RUN_OK(l);
  EXPECT_EQ(l.rd8(D), 2u);
}

TEST(P6Ops, ShiftGroupSlashSixIsSal) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0x40000001;
  h.cpu.regs[EDX] = 0x1234;
  h.cpu.regs[ECX] = 4;
  h.cpu.regs[EBX] = 0x81;
  h.put(D, {0x21, 0x43});
  h.code({0xD1, 0xF0,                                     // sal eax, 1
          0x66, 0xD3, 0xF2,                               // sal dx, cl
          0xC0, 0xF3, 0x02,                               // sal bl, 2
          0x66, 0xC1, 0x35, 0x00, 0x00, 0x02, 0x00, 0x04,  // sal word [0x20000], 4
          0xD0, 0xF7});                                   // sal bh, 1
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x80000002u);
  EXPECT_EQ(h.cpu.regs[EDX], 0x2340u);
  EXPECT_EQ(h.cpu.regs[EBX], 0x04u);
  EXPECT_EQ(h.rd16(D), 0x3210u);
  // Last: sal bh(0), 1 -> 0, CF 0, ZF 1.
  EXPECT_EQ(arith(h) & (CF | ZF), ZF);
}

TEST(P6Ops, UnaryGroupSlashOneIsTest) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0x0F;
  h.cpu.regs[EDX] = 0x8001;
  h.code({0xF6, 0xC8, 0xF0});  // test al, 0xF0
  RUN_OK(h);
  EXPECT_EQ(arith(h) & (ZF | SF | CF | OF), ZF);
  EXPECT_EQ(h.cpu.regs[EAX], 0x0Fu);
  CpuHarness w;
  w.cpu.regs[EDX] = 0x80000001;
  w.wr32(D, 0x00010000);
  w.code({0xF7, 0xCA, 0x00, 0x00, 0x00, 0x80,                          // test edx, 0x80000000
          0x9C, 0x5E,                                                  // pushfd; pop esi
          0x66, 0xF7, 0x0D, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00,        // test word [mem], 1
          0xBF, 0x77, 0x00, 0x00, 0x00});                              // mov edi, 0x77
  RUN_OK(w);
  EXPECT_EQ(w.cpu.regs[ESI] & (ZF | SF), SF);
  EXPECT_EQ(arith(w) & ZF, ZF);            // low word of 0x10000 is 0
  EXPECT_EQ(w.cpu.regs[EDI], 0x77u);       // the immediates had the right length
  EXPECT_EQ(w.cpu.regs[EDX], 0x80000001u);
}

// INT1/ICEBP (F1): #DB through the IDT as a trap (EIP after F1), without INT n's gate DPL
// check (SDM vol.2 INT n, "INT1").
TEST(P6Ops, Int1DeliversDebugTrap) {
  CpuHarness h;
  h.code({0xF1, 0x90});
  RUN_VECTOR(h, 1);
  EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR + 1);
  CpuHarness r(false);
  r.code({0x90, 0xF1});
  RUN_VECTOR(r, 1);
  EXPECT_EQ(r.rd16(r.cpu.seg[SS].base + (r.cpu.regs[ESP] & 0xFFFF)), 2u);  // pushed IP
}

// ---- CMOVcc: the source is read whatever the condition (SDM vol.2 CMOVcc) ------------------

TEST(P6Ops, CmovReadsItsOperandEvenWhenFalse) {
  CpuHarness h;
  // ES: a data segment of 4 KiB.
  h.set_gdt_entry(3, test::make_desc(0, 0xFFF, 0x93, 0x4));
  h.cpu.regs[EAX] = 0x18;
  h.cpu.regs[EBX] = 1;
  h.cpu.regs[ECX] = 0x11111111;
  h.code({0x8E, 0xC0,                                           // mov es, ax
          0x85, 0xDB,                                           // test ebx, ebx (ZF = 0)
          0x26, 0x0F, 0x44, 0x0D, 0x00, 0x10, 0x00, 0x00});      // cmove ecx, es:[0x1000]
  RUN_VECTOR(h, 13);
  EXPECT_EQ(h.pushed_error(), 0u);
  EXPECT_EQ(h.pushed_eip_after_error(), CpuHarness::CODE_ADDR + 4);
  EXPECT_EQ(h.cpu.regs[ECX], 0x11111111u);
}

TEST(P6Ops, Cmov16BitForms) {
  CpuHarness r(false);
  r.cpu.regs[EAX] = 0xAAAA1111;
  r.cpu.regs[EBX] = 0xBBBB2222;
  r.cpu.regs[ECX] = 0;
  r.code({0x85, 0xC9,              // test cx, cx (ZF = 1)
          0x0F, 0x44, 0xC3,        // cmove ax, bx: upper half kept
          0x0F, 0x45, 0xCB});      // cmovne cx, bx: false, cx kept
  RUN_OK(r);
  EXPECT_EQ(r.cpu.regs[EAX], 0xAAAA2222u);
  EXPECT_EQ(r.cpu.regs[ECX], 0u);
  // A false 16-bit CMOV whose word crosses the segment limit: #GP in real mode.
  CpuHarness f(false);
  f.cpu.regs[EAX] = 0x3333;
  f.code({0x31, 0xDB, 0x43,               // xor bx, bx; inc bx (ZF = 0)
          0x0F, 0x44, 0x06, 0xFF, 0xFF});  // cmove ax, [0xFFFF]
  RUN_VECTOR(f, 13);
  EXPECT_EQ(f.cpu.regs[EAX], 0x3333u);
}

// ---- UD0/UD1/UD2 stay #UD, with EIP on the instruction -------------------------------------

TEST(P6Ops, Ud0Ud1Ud2RaiseUd) {
  for (std::initializer_list<uint8_t> bytes :
       {std::initializer_list<uint8_t>{0x0F, 0x0B}, {0x0F, 0xB9, 0xC0}, {0x0F, 0xFF, 0xC0},
        {0x0F, 0xFF}}) {
    CpuHarness h;
    h.code(bytes);
    RUN_VECTOR(h, 6);
    EXPECT_EQ(h.pushed_eip(), CpuHarness::CODE_ADDR);
  }
}

// ---- x87 aliases and P6 additions (run on the host FPU) -------------------------------------

// fninit; fld1; fldz; <insn>; fstp qword [D]; fnstsw ax
TEST(P6Ops, X87AliasesBehaveAsTheirOriginals) {
  struct Case {
    uint8_t b0, b1;
    double st0, st1;  // after the instruction
    unsigned depth;
  };
  // Stack before: ST0 = 0, ST1 = 1.
  const Case cases[] = {
      {0xDD, 0xC9, 1.0, 0.0, 2},  // FXCH4 st1
      {0xDF, 0xC9, 1.0, 0.0, 2},  // FXCH7 st1
      {0xD9, 0xD9, 0.0, 0.0, 1},  // FSTP1 st1: st1 = st0, pop
      {0xDF, 0xD1, 0.0, 0.0, 1},  // FSTP8 st1
      {0xDF, 0xD9, 0.0, 0.0, 1},  // FSTP9 st1
      {0xDC, 0xD1, 0.0, 1.0, 2},  // FCOM2 st1: compare only
      {0xDC, 0xD9, 1.0, 0.0, 1},  // FCOMP3 st1: compare, pop
      {0xDE, 0xD1, 1.0, 0.0, 1},  // FCOMP5 st1
  };
  for (const Case& k : cases) {
    CpuHarness h;
    h.code({0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEE, k.b0, k.b1,
            0xDD, 0x1D, 0x00, 0x00, 0x02, 0x00,   // fstp qword [D]
            0xDF, 0xE0});                         // fnstsw ax
    RUN_OK(h);
    double v;
    h.mem.read_bytes(D, &v, 8);
    EXPECT_EQ(v, k.st0) << std::hex << unsigned(k.b0) << " " << unsigned(k.b1);
    // Two pushes; the instruction leaves `depth` registers, the FSTP pops one more.
    EXPECT_EQ((h.cpu.fpu.sw >> 11) & 7, (8 - (k.depth - 1)) & 7u) << std::hex << unsigned(k.b1);
    if (k.b1 == 0xD1 && k.b0 == 0xDC) {  // FCOM2 0 vs 1: C0 = 1 (less)
      EXPECT_EQ(h.cpu.regs[EAX] & 0x4500, 0x0100u);
    }
  }
  // FFREEP st1 (DF C1): tag of ST1 empty, then pop.
  CpuHarness f;
  f.code({0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEE, 0xD9, 0xEE, 0xDF, 0xC1});
  RUN_OK(f);
  const unsigned top = (f.cpu.fpu.sw >> 11) & 7;
  EXPECT_EQ(top, 6u);                                       // three pushes, one pop
  EXPECT_EQ((f.cpu.fpu.tw >> (2 * ((top) & 7))) & 3, 3u);   // old ST1 is now ST0: empty
}

TEST(P6Ops, FcomiAndFcmovSetAndReadEflags) {
  CpuHarness h;
  // fninit; fld1; fldz: ST0 = 0, ST1 = 1. fcomi st1 -> CF (0 < 1); fcmovb st1 -> ST0 = 1;
  // fucomip st1 -> ZF (1 == 1), pops.
  h.code({0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xEE, 0xDB, 0xF1, 0x9C, 0x5E, 0xDA, 0xC1, 0xDF, 0xE9, 0x9C, 0x5F,
          0xDD, 0x1D, 0x00, 0x00, 0x02, 0x00});
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[ESI] & (CF | ZF | PF), CF);
  EXPECT_EQ(h.cpu.regs[EDI] & (CF | ZF | PF), ZF);
  double v;
  h.mem.read_bytes(D, &v, 8);
  EXPECT_EQ(v, 1.0);
}

}  // namespace
}  // namespace softcpu
