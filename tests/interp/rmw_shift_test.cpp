// Read-modify-write handlers with a memory operand (INC DEC NEG NOT, shifts and rotates) on
// the `_then` access forms, and the lazy flags of SHL/SAL, SHR and SAR (docs/design.md "The
// tier-0 fast path", fifth round). Each is checked against the register form or against a
// bit-by-bit model of the SDM's definition.
#include <gtest/gtest.h>

#include <vector>

#include "interp/decode.h"
#include "interp/sem/alu.h"
#include "interp/sem/shift.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::arith;
using test::CpuHarness;
using test::flags_in;
using test::make_desc;

// ---- lazy shift flags -----------------------------------------------------------------------

// SHL/SHR/SAR of a W-bit value by n one bit at a time, as the SDM's pseudo-code does (vol.2
// SAL/SAR/SHL/SHR, "WHILE tempCOUNT != 0"), with OF taken from the last step by the count-1
// rule (SHL: MSB(result) XOR CF; SHR: MSB of the operand before the step; SAR: 0), the Intel P6
// choice for counts above 1 (design.md "Undefined flags"); AF 0.
uint32_t shift_model(unsigned op, unsigned size, uint32_t d, unsigned n, uint32_t* result) {
  const uint32_t m = size_mask(size), sign = sign_bit(size);
  uint32_t v = d & m;
  bool cf = false, of = false;
  for (unsigned k = 0; k < n; ++k) {
    if (op == S_SHL) {
      cf = v & sign;
      v = (v << 1) & m;
      of = ((v & sign) != 0) != cf;
    } else if (op == S_SHR) {
      cf = v & 1;
      of = v & sign;
      v >>= 1;
    } else {
      cf = v & 1;
      v = (v >> 1) | (v & sign);
      of = false;
    }
  }
  *result = v;
  return (cf ? uint32_t(CF) : 0u) | (of ? uint32_t(OF) : 0u) | szp_flags(v, size);
}

// Every size, count 1..31 and a spread of operands: the handler leaves the flags in the lazy
// record, and the record gives the model's flags, whole (materialize_flags) and through each
// of the 16 conditions (condition(), as Jcc/SETcc/CMOVcc read them).
TEST(LazyShiftFlags, MatchABitByBitModel) {
  const uint32_t values[] = {0,           1,           2,           0x40,        0x7F,
                             0x80,        0x81,        0xC0,        0xFF,        0x4000,
                             0x8000,      0x8001,      0xFFFF,      0x12345678u, 0x40000000u,
                             0x80000000u, 0x80000001u, 0xC0000000u, 0xFFFFFFFFu, 0xA5A5A5A5u};
  InsnDecoder dec;
  for (unsigned op : {unsigned(S_SHL), unsigned(S_SHR), unsigned(S_SAR)}) {
    const LazyKind kind = op == S_SHL ? LZ_SHL : op == S_SHR ? LZ_SHR : LZ_SAR;
    for (unsigned size : {1u, 2u, 4u}) {
      // shl/shr/sar r/m, cl (D2 /op r8, D3 /op r16/32 with a 66 prefix for 16 bits), on EAX
      std::vector<uint8_t> code;
      if (size == 2) code.push_back(0x66);
      code.push_back(size == 1 ? 0xD2 : 0xD3);
      code.push_back(uint8_t(0xC0 | (op << 3)));
      const Insn i = dec.decode(code.data(), code.size(), true, true);
      ASSERT_EQ(i.fn, kShiftRotate.get(size, op, unsigned(SHIFT_COUNT_CL), unsigned(RM_REG)));
      for (uint32_t d : values) {
        for (unsigned n = 1; n < 32; ++n) {
          Cpu c{};
          c.regs[EAX] = d;
          c.regs[ECX] = n;
          c.eflags = ARITH_FLAGS;  // every flag set before: none may survive (AF included)
          c.lz_kind = LZ_NONE;
          i.fn(c, i);
          uint32_t r;
          const uint32_t want = shift_model(op, size, d, n, &r);
          ASSERT_EQ(c.regs[EAX] & size_mask(size), r) << "op " << op << " size " << size;
          ASSERT_EQ(c.lz_kind, kind);
          const bool cf = want & CF, zf = want & ZF, sf = want & SF, of = want & OF;
          const bool pf = want & PF;
          const bool cond[8] = {of, cf, zf, cf || zf, sf, pf, sf != of, zf || (sf != of)};
          for (unsigned cc = 0; cc < 16; ++cc)
            ASSERT_EQ(condition(c, cc), cond[cc >> 1] ^ bool(cc & 1))
                << "op " << op << " size " << size << " d " << d << " n " << n << " cc " << cc;
          ASSERT_EQ(lazy_cf(c), cf);
          materialize_flags(c);
          ASSERT_EQ(c.eflags & ARITH_FLAGS, want) << "op " << op << " size " << size << " d "
                                                  << std::hex << d << " n " << std::dec << n;
        }
      }
    }
  }
}

// What reads a lazy shift's flags through the instructions: INC keeps its CF, ADC adds it,
// a rotate (which writes only CF and OF) keeps its SF, ZF and PF, and PUSHF sees AF 0.
TEST(LazyShiftFlags, LaterInstructionsReadThem) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0x80000003;
  h.cpu.regs[EBX] = 0;
  h.cpu.regs[EDX] = 0x40000000;
  flags_in(h, AF);
  h.code({0xD1, 0xE8,        // shr eax, 1: CF 1, OF 1 (the operand's MSB), result 0x40000001
          0x41,              // inc ecx: keeps CF
          0x83, 0xD3, 0x00,  // adc ebx, 0: EBX = CF
          0xC1, 0xEA, 0x1E,  // shr edx, 30: result 1, CF 0, OF 0, PF 0
          0xD1, 0xC6});      // rol esi, 1 (esi = 0): CF 0, OF 0; SF ZF PF stay
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EAX], 0x40000001u);
  EXPECT_EQ(h.cpu.regs[EBX], 1u);
  EXPECT_EQ(h.cpu.regs[EDX], 1u);
  EXPECT_EQ(arith(h), 0u);  // from shr edx, 30: no ZF, SF, PF (1 has odd parity), AF 0

  CpuHarness g;
  g.cpu.regs[EAX] = 0x00000001;
  g.cpu.regs[EBX] = 0x0F;
  g.code({0xD1, 0xE0,        // shl eax, 1: result 2, CF 0
          0x83, 0xD3, 0x01,  // adc ebx, 1: 0x10, AF 1
          0xD1, 0xF8,        // sar eax, 1: result 1, CF 0, AF 0
          0x9C, 0x5F});      // pushf; pop edi
  RUN_OK(g);
  EXPECT_EQ(g.cpu.regs[EBX], 0x10u);
  EXPECT_EQ(g.cpu.regs[EDI] & ARITH_FLAGS, 0u);
}

// ---- read-modify-write with a memory operand --------------------------------------------------

struct RmwOp {
  const char* name;
  uint8_t opcode8, opcode, ext;  // opcode for r/m8, for r/m16/32; ModRM.reg
  int imm;                       // -1: no immediate
  uint32_t ecx;
};
const RmwOp kRmwOps[] = {
    {"inc", 0xFE, 0xFF, 0, -1, 0},    {"dec", 0xFE, 0xFF, 1, -1, 0},
    {"neg", 0xF6, 0xF7, 3, -1, 0},    {"not", 0xF6, 0xF7, 2, -1, 0},
    {"shl 3", 0xC0, 0xC1, 4, 3, 0},   {"shr 1", 0xD0, 0xD1, 5, -1, 0},
    {"sar cl", 0xD2, 0xD3, 7, -1, 6}, {"shr cl=0", 0xD2, 0xD3, 5, -1, 0},
    {"rol 5", 0xC0, 0xC1, 0, 5, 0},   {"rcr cl", 0xD2, 0xD3, 3, -1, 3},
};

// The operand's addressing forms (decode time RmForm), each pointing at `addr`: EBX, ESI and
// EBP are set so that every form reaches it.
enum Addr { A_REG, A_DISP32, A_BD32, A_SIB32, A_BX16 };

std::vector<uint8_t> rmw_code(const RmwOp& k, unsigned size, Addr a, uint32_t addr) {
  std::vector<uint8_t> v;
  if (size == 2) v.push_back(0x66);
  if (a == A_BX16) v.push_back(0x67);
  v.push_back(size == 1 ? k.opcode8 : k.opcode);
  const uint8_t reg = uint8_t(k.ext << 3);
  switch (a) {
    case A_REG:
      v.push_back(0xC0 | reg);
      break;  // EAX / AX / AL
    case A_DISP32:
      v.push_back(0x05 | reg);
      for (unsigned b = 0; b < 4; ++b) v.push_back(uint8_t(addr >> (8 * b)));
      break;
    case A_BD32:
      v.push_back(0x43 | reg);
      v.push_back(0x10);
      break;  // [ebx+0x10]
    case A_SIB32:
      v.push_back(0x44 | reg);
      v.push_back(0xB3);
      v.push_back(0x08);
      break;  // [ebx+esi*4+8]
    case A_BX16:
      v.push_back(0x47 | reg);
      v.push_back(0x10);
      break;  // [bx+0x10]
  }
  if (k.imm >= 0) v.push_back(uint8_t(k.imm));
  return v;
}

struct RmwResult {
  uint32_t value, flags;
};

RmwResult run_rmw(const RmwOp& k, unsigned size, Addr a, uint32_t addr, uint32_t value,
                  uint32_t fin, test::Tier tier) {
  CpuHarness h(true, tier);
  h.cpu.regs[ECX] = k.ecx;
  h.cpu.regs[EBX] = addr - 0x10;  // [ebx+0x10], [bx+0x10] (addr < 64 KiB there)
  h.cpu.regs[ESI] = 2;            // [ebx+esi*4+8] = ebx + 0x10
  if (a == A_REG) {
    h.cpu.regs[EAX] = value;
  } else {
    h.wr32(addr, value);
    h.put(addr + 4, {0x5A, 0x5A, 0x5A, 0x5A});  // the bytes after must stay
  }
  flags_in(h, fin);
  const std::vector<uint8_t> code = rmw_code(k, size, a, addr);
  h.mem.write_bytes(h.cpu.eip, code.data(), uint32_t(code.size()));
  h.mem.write_bytes(h.cpu.eip + uint32_t(code.size()), "\xF4", 1);
  h.mem.write_bytes(0x500, "\xFF", 1);
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1) << k.name;
  if (a != A_REG) {
    EXPECT_EQ(h.rd32(addr + 4), 0x5A5A5A5Au) << k.name;
  }
  const uint32_t got = a == A_REG ? h.cpu.regs[EAX] : h.rd32(addr);
  return {got, arith(h)};
}

// Every memory form of every operation gives the register form's result and flags, on the
// fast path (an aligned operand) and on the slow path (one that crosses a page, which the TLB
// compare sends to the cold modify_read_slow); the bytes around it stay. Tier 0's forms, in
// the interpreter; `MemoryFormsUnderTheSuiteTier` runs a subset under the suite's tier.
void check_memory_forms(test::Tier tier, bool all) {
  struct In {
    uint32_t value, flags;
  };
  const In ins[] = {{0x80000001u, 0}, {0x000000FFu, CF | AF | OF}, {0x00007FFFu, CF}};
  for (const RmwOp& k : kRmwOps) {
    for (unsigned size : {1u, 2u, 4u}) {
      if (!all && size != 4) continue;
      const uint32_t m = size_mask(size);
      for (const In& in : ins) {
        if (!all && &in != ins) continue;
        const RmwResult want = run_rmw(k, size, A_REG, 0, in.value, in.flags, tier);
        for (Addr a : {A_DISP32, A_BD32, A_SIB32, A_BX16}) {
          if (!all && a != A_BD32) continue;
          for (uint32_t addr : {0x3000u, 0x3FFEu}) {  // aligned; across 0x4000 (size 4)
            if (addr == 0x3FFE && size != 4) continue;
            const RmwResult got = run_rmw(k, size, a, addr, in.value, in.flags, tier);
            EXPECT_EQ(got.value & m, want.value & m)
                << k.name << " size " << size << " form " << a << " at " << std::hex << addr;
            EXPECT_EQ(got.value & ~m, in.value & ~m) << k.name << " wrote past its operand";
            EXPECT_EQ(got.flags, want.flags)
                << k.name << " size " << size << " form " << a << " at " << std::hex << addr;
          }
        }
      }
    }
  }
}
TEST(ReadModifyWrite, MemoryFormsMatchTheRegisterForm) {
  check_memory_forms(test::Tier::INTERP, true);
}
TEST(ReadModifyWrite, MemoryFormsUnderTheSuiteTier) {
  check_memory_forms(test::default_tier(), false);
}

// The decoder gives the memory forms of INC/DEC, NEG, NOT and the shifts their RmForm handlers.
TEST(ReadModifyWrite, DecoderPicksTheFormOfTheAddress) {
  InsnDecoder d;
  const uint8_t dec_bd[] = {0xFF, 0x4B, 0x10};         // dec dword [ebx+0x10]
  const uint8_t neg_sib[] = {0xF7, 0x5C, 0xB3, 0x08};  // neg dword [ebx+esi*4+8]
  const uint8_t not16[] = {0x67, 0xF7, 0x57, 0x10};    // not dword [bx+0x10]
  const uint8_t shr_bd[] = {0xC1, 0x6B, 0x10, 0x04};   // shr dword [ebx+0x10], 4
  const uint8_t rol_reg[] = {0xD3, 0xC0};              // rol eax, cl
  EXPECT_EQ(d.decode(dec_bd, sizeof dec_bd, true, true).fn, kIncDec.get(4u, true, unsigned(RM_BD32)));
  EXPECT_EQ(d.decode(neg_sib, sizeof neg_sib, true, true).fn, kNeg.get(4u, unsigned(RM_SIB32)));
  EXPECT_EQ(d.decode(not16, sizeof not16, true, true).fn, kNot.get(4u, unsigned(RM_MEM)));
  EXPECT_EQ(d.decode(shr_bd, sizeof shr_bd, true, true).fn,
            kShiftRotate.get(4u, unsigned(S_SHR), unsigned(SHIFT_COUNT_IMM), unsigned(RM_BD32)));
  EXPECT_EQ(d.decode(rol_reg, sizeof rol_reg, true, true).fn,
            kShiftRotate.get(4u, unsigned(S_ROL), unsigned(SHIFT_COUNT_CL), unsigned(RM_REG)));
}

// A write that faults after the read (a read-only data segment: #GP(0), SDM vol.3 6.15)
// leaves the operand, the registers and the flags as they were: the flags a CMP before it
// left in the lazy record, for each operation.
TEST(ReadModifyWrite, FaultingWriteChangesNothing) {
  for (const RmwOp& k : kRmwOps) {
    if (k.ecx == 0 && k.opcode8 == 0xD2) continue;  // count 0: no write, no fault
    CpuHarness h;
    h.set_gdt_entry(3, make_desc(0, 0xFFFFF, 0x91, 0xC));  // data, read-only, 4 GiB
    h.wr32(0x3000, 0x80000001u);
    h.cpu.regs[EBX] = 0x3000 - 0x10;
    h.cpu.regs[ECX] = k.ecx;
    h.cpu.regs[EDX] = 1;
    h.cpu.regs[EDI] = 2;
    std::vector<uint8_t> code = {0x66, 0xB8, 0x18, 0x00,  // mov ax, 0x18
                                 0x8E, 0xC0,              // mov es, ax
                                 0x39, 0xFA,              // cmp edx, edi: CF SF AF PF
                                 0x26};                   // es: (the stubs write through DS)
    for (uint8_t b : rmw_code(k, 4, A_BD32, 0x3000)) code.push_back(b);
    code.push_back(0xF4);
    h.mem.write_bytes(h.cpu.eip, code.data(), uint32_t(code.size()));
    h.mem.write_bytes(0x500, "\xFF", 1);
    RUN_VECTOR(h, 13);
    EXPECT_EQ(h.pushed_error(), 0u) << k.name;
    EXPECT_EQ(h.rd32(0x3000), 0x80000001u) << k.name;
    EXPECT_EQ(h.cpu.regs[ECX], k.ecx) << k.name;
    EXPECT_EQ(arith(h), uint32_t(CF | SF | AF | PF)) << k.name;  // 1 - 2 = 0xFFFFFFFF
  }
}

}  // namespace
}  // namespace softcpu
