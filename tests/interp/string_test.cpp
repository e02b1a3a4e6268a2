// String instructions: MOVS CMPS SCAS LODS STOS with REP prefixes, DF, address size,
// segment overrides, and faults in the middle of a REP.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;

void put(CpuHarness& h, uint32_t addr, const std::string& s) {
  h.mem.write_bytes(addr, s.data(), uint32_t(s.size()));
}
std::string get(CpuHarness& h, uint32_t addr, uint32_t n) {
  std::string s(n, '\0');
  h.mem.read_bytes(addr, s.data(), n);
  return s;
}
TEST(StringOps, RepMovsbForward) {
  CpuHarness h;
  put(h, 0x20000, "0123456789");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 10;
  h.code({0xF3, 0xA4});  // rep movsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(get(h, 0x21000, 11), std::string("0123456789") + '\0');
  EXPECT_EQ(h.cpu.regs[ESI], 0x2000Au);
  EXPECT_EQ(h.cpu.regs[EDI], 0x2100Au);
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
}

TEST(StringOps, RepWithZeroCountDoesNothing) {
  CpuHarness h;
  put(h, 0x20000, "abcd");
  put(h, 0x21000, "wxyz");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 0;
  h.cpu.eflags = 2 | CF | ZF;
  h.code({0xF3, 0xA5,    // rep movsd
          0xF3, 0xA6,    // repe cmpsb
          0xF2, 0xAE,    // repne scasb
          0xF3, 0xAA});  // rep stosb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(get(h, 0x21000, 4), "wxyz");
  EXPECT_EQ(h.cpu.regs[ESI], 0x20000u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x21000u);
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
  EXPECT_EQ(h.flags() & ARITH_FLAGS, CF | ZF);
}

TEST(StringOps, DirectionFlagCopiesBackward) {
  CpuHarness h;
  const uint16_t src[4] = {0x1111, 0x2222, 0x3333, 0x4444};
  h.mem.write_bytes(0x20000, src, 8);
  h.cpu.regs[ESI] = 0x20006;
  h.cpu.regs[EDI] = 0x21006;
  h.cpu.regs[ECX] = 4;
  h.code({0xFD,              // std
          0xF3, 0x66, 0xA5,  // rep movsw
          0xFC});            // cld
  EXPECT_EQ(h.run(), EXIT_HLT);
  uint16_t dst[4];
  h.mem.read_bytes(0x21000, dst, 8);
  EXPECT_EQ(std::memcmp(src, dst, 8), 0);
  EXPECT_EQ(h.cpu.regs[ESI], 0x1FFFEu);
  EXPECT_EQ(h.cpu.regs[EDI], 0x20FFEu);
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
  EXPECT_EQ(h.flags() & DF, 0u);
}

TEST(StringOps, DirectionFlagStosdAndLodsd) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0xCAFEBABE;
  h.cpu.regs[EDI] = 0x21008;
  h.cpu.regs[ECX] = 3;
  h.cpu.regs[ESI] = 0x21000;
  h.code({0xFD,              // std
          0xF3, 0xAB,        // rep stosd (0x21008, 0x21004, 0x21000)
          0xFC,              // cld
          0xB8, 0, 0, 0, 0,  // mov eax, 0
          0xAD});            // lodsd
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.rd32(0x21000), 0xCAFEBABEu);
  EXPECT_EQ(h.rd32(0x21004), 0xCAFEBABEu);
  EXPECT_EQ(h.rd32(0x21008), 0xCAFEBABEu);
  EXPECT_EQ(h.rd32(0x2100C), 0u);
  EXPECT_EQ(h.rd32(0x20FFC), 0u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x20FFCu);
  EXPECT_EQ(h.cpu.regs[EAX], 0xCAFEBABEu);
  EXPECT_EQ(h.cpu.regs[ESI], 0x21004u);
}

TEST(StringOps, RepeCmpsbStopsAtMismatch) {
  CpuHarness h;
  put(h, 0x20000, "abcdef");
  put(h, 0x21000, "abcxef");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 6;
  h.code({0xF3, 0xA6});  // repe cmpsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ECX], 2u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x20004u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x21004u);
  // 'd' - 'x' = 0x64 - 0x78 = 0xEC: borrow, negative, no overflow.
  EXPECT_EQ(h.flags() & ARITH_FLAGS, CF | SF | AF);
}

TEST(StringOps, RepeCmpsbAllEqualRunsOut) {
  CpuHarness h;
  put(h, 0x20000, "same");
  put(h, 0x21000, "same");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 4;
  h.code({0xF3, 0xA6});  // repe cmpsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x20004u);
  EXPECT_EQ(h.flags() & ARITH_FLAGS, ZF | PF);
}

TEST(StringOps, RepneCmpsdStopsAtEqual) {
  CpuHarness h;
  const uint32_t a[3] = {1, 2, 3}, b[3] = {7, 2, 3};
  h.mem.write_bytes(0x20000, a, 12);
  h.mem.write_bytes(0x21000, b, 12);
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 3;
  h.code({0xF2, 0xA7});  // repne cmpsd
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ECX], 1u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x20008u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x21008u);
  EXPECT_TRUE(h.flags() & ZF);
}

TEST(StringOps, RepneScasbFindsByte) {
  CpuHarness h;
  put(h, 0x20000, std::string("hello\0world", 11));
  h.cpu.regs[EAX] = 0x12345600;  // AL = 0
  h.cpu.regs[EDI] = 0x20000;
  h.cpu.regs[ECX] = 100;
  h.code({0xF2, 0xAE});  // repne scasb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EDI], 0x20006u);
  EXPECT_EQ(h.cpu.regs[ECX], 94u);
  EXPECT_EQ(h.flags() & ARITH_FLAGS, ZF | PF);
}

TEST(StringOps, RepneScasbNotFound) {
  CpuHarness h;
  put(h, 0x20000, "abc");
  h.cpu.regs[EAX] = 'z';
  h.cpu.regs[EDI] = 0x20000;
  h.cpu.regs[ECX] = 3;
  h.code({0xF2, 0xAE});  // repne scasb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EDI], 0x20003u);
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
  // Last compare 'z' - 'c' = 0x17: no borrow, positive, even parity.
  EXPECT_EQ(h.flags() & ARITH_FLAGS, PF);
}

TEST(StringOps, RepeScaswStopsAtDifferentWord) {
  CpuHarness h;
  const uint16_t w[4] = {0x4141, 0x4141, 0x4142, 0x4141};
  h.mem.write_bytes(0x20000, w, 8);
  h.cpu.regs[EAX] = 0x4141;
  h.cpu.regs[EDI] = 0x20000;
  h.cpu.regs[ECX] = 4;
  h.code({0xF3, 0x66, 0xAF});  // repe scasw
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EDI], 0x20006u);
  EXPECT_EQ(h.cpu.regs[ECX], 1u);
  // 0x4141 - 0x4142 = 0xFFFF: borrow, negative, AF (borrow from bit 4: 1-2 in low nibble).
  EXPECT_EQ(h.flags() & ARITH_FLAGS, CF | SF | AF | PF);
}

TEST(StringOps, SingleCmpsAndLodsStos) {
  CpuHarness h;
  const uint32_t a = 5, b = 7;
  h.mem.write_bytes(0x20000, &a, 4);
  h.mem.write_bytes(0x21000, &b, 4);
  put(h, 0x22000, "Q");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 77;  // no REP: ECX is not used
  h.code({0xA7});        // cmpsd: 5 - 7
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ESI], 0x20004u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x21004u);
  EXPECT_EQ(h.cpu.regs[ECX], 77u);
  EXPECT_EQ(h.flags() & (CF | ZF | SF | OF), CF | SF);

  CpuHarness g;
  put(g, 0x22000, "Q");
  g.cpu.regs[EAX] = 0xAABBCCDD;
  g.cpu.regs[ESI] = 0x22000;
  g.cpu.regs[EDI] = 0x23000;
  g.code({0xAC,          // lodsb: AL = 'Q'
          0x66, 0xAB});  // stosw: [0x23000] = AX
  EXPECT_EQ(g.run(), EXIT_HLT);
  EXPECT_EQ(g.cpu.regs[EAX], 0xAABBCC51u);
  EXPECT_EQ(g.cpu.regs[ESI], 0x22001u);
  EXPECT_EQ(g.cpu.regs[EDI], 0x23002u);
  EXPECT_EQ(g.rd32(0x23000), 0x0000CC51u);
}

TEST(StringOps, RepLodsbLeavesLastByte) {
  CpuHarness h;
  put(h, 0x20000, "xyz");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[ECX] = 3;
  h.code({0xF3, 0xAC});  // rep lodsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFF, uint32_t('z'));
  EXPECT_EQ(h.cpu.regs[ESI], 0x20003u);
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
}

TEST(StringOps, LargeRepStosdRestartsAndCompletes) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0xDEADBEEF;
  h.cpu.regs[EDI] = 0x100000;
  h.cpu.regs[ECX] = 0x10000;  // 256 KiB: more than one call's worth of elements
  h.code({0xF3, 0xAB});       // rep stosd
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x140000u);
  for (uint32_t a = 0x100000; a < 0x140000; a += 0x1000 - 4) EXPECT_EQ(h.rd32(a), 0xDEADBEEFu) << a;
  EXPECT_EQ(h.rd32(0x13FFFC), 0xDEADBEEFu);
  EXPECT_EQ(h.rd32(0x140000), 0u);
  EXPECT_EQ(h.rd32(0xFFFFC), 0u);
}

TEST(StringOps, LargeRepMovsbAcrossPages) {
  CpuHarness h;
  std::string src(20000, '\0');
  for (size_t k = 0; k < src.size(); ++k) src[k] = char(k * 7 + 3);
  put(h, 0x100003, src);
  h.cpu.regs[ESI] = 0x100003;
  h.cpu.regs[EDI] = 0x200801;
  h.cpu.regs[ECX] = uint32_t(src.size());
  h.code({0xF3, 0xA4});  // rep movsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(get(h, 0x200801, uint32_t(src.size())), src);
  EXPECT_EQ(h.rd8(0x200801 + uint32_t(src.size())), 0);
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x100003u + src.size());
}

TEST(StringOps, LongRepeCmpsbAcrossRestarts) {
  // More equal elements than one call handles: the restart keeps the REPE condition.
  CpuHarness h;
  put(h, 0x100000 + 40000, "a");
  put(h, 0x200000 + 40000, "b");
  h.cpu.regs[ESI] = 0x100000;
  h.cpu.regs[EDI] = 0x200000;
  h.cpu.regs[ECX] = 100000;
  h.code({0xF3, 0xA6});  // repe cmpsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[ECX], 100000u - 40001u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x100000u + 40001u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x200000u + 40001u);
  EXPECT_EQ(h.flags() & (CF | ZF | SF), CF | SF);
}

TEST(StringOps, OverlappingForwardMovsbReplicates) {
  CpuHarness h;
  put(h, 0x20000, "AB");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x20001;
  h.cpu.regs[ECX] = 8;
  h.code({0xF3, 0xA4});  // rep movsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(get(h, 0x20000, 10), std::string("AAAAAAAAA") + '\0');
}

TEST(StringOps, RepneOnMovsActsAsRep) {
  CpuHarness h;
  put(h, 0x20000, "xyz");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 3;
  h.cpu.eflags = 2 | ZF;
  h.code({0xF2, 0xA4});  // repne movsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(get(h, 0x21000, 3), "xyz");
  EXPECT_EQ(h.cpu.regs[ECX], 0u);
}

TEST(StringOps, FaultMidRepStosbStopsAtFaultingElement) {
  CpuHarness h;
  h.cpu.seg[ES].limit = 0x20007;
  refresh_segment_ranges(h.cpu, h.cpu.seg[ES]);
  h.cpu.regs[EAX] = 0x5A;
  h.cpu.regs[EDI] = 0x20000;
  h.cpu.regs[ECX] = 16;
  h.code({0x90,          // nop
          0xF3, 0xAA});  // rep stosb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 13);
  EXPECT_EQ(h.cpu.regs[ECX], 8u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x20008u);
  EXPECT_EQ(get(h, 0x20000, 9), std::string(8, 'Z') + '\0');
  // Exception frame: error code, EIP (the REP instruction), CS.
  const uint32_t sp = h.cpu.regs[ESP];
  EXPECT_EQ(h.rd32(sp), 0u);
  EXPECT_EQ(h.rd32(sp + 4), CpuHarness::CODE_ADDR + 1);
}

TEST(StringOps, FaultMidRepMovsdStraddlingLimit) {
  CpuHarness h;
  const uint32_t src[4] = {0x11111111, 0x22222222, 0x33333333, 0x44444444};
  h.mem.write_bytes(0x20000, src, 16);
  h.cpu.seg[ES].limit = 0x21005;  // the dword at 0x21004 crosses the limit
  refresh_segment_ranges(h.cpu, h.cpu.seg[ES]);
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 4;
  h.code({0xF3, 0xA5});  // rep movsd
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 13);
  EXPECT_EQ(h.cpu.regs[ECX], 3u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x20004u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x21004u);
  EXPECT_EQ(h.rd32(0x21000), 0x11111111u);
  EXPECT_EQ(h.rd32(0x21004), 0u);
  EXPECT_EQ(h.rd32(h.cpu.regs[ESP] + 4), CpuHarness::CODE_ADDR);
}

TEST(StringOps, FaultOnSourceSegmentOverride) {
  CpuHarness h;
  h.cpu.seg[FS].limit = 0x20001;
  refresh_segment_ranges(h.cpu, h.cpu.seg[FS]);
  put(h, 0x20000, "pq");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  h.cpu.regs[ECX] = 5;
  h.code({0xF3, 0x64, 0xA4});  // rep fs movsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 13);
  EXPECT_EQ(h.cpu.regs[ECX], 3u);
  EXPECT_EQ(h.cpu.regs[ESI], 0x20002u);
  EXPECT_EQ(get(h, 0x21000, 3), std::string("pq") + '\0');
}

TEST(StringOps, SegmentOverrideOnSourceOnly) {
  CpuHarness h;
  h.cpu.seg[FS].base = 0x5000;
  h.cpu.seg[DS].base = 0x6000;
  h.cpu.seg[ES].base = 0;
  put(h, 0x25000, "F");
  put(h, 0x26000, "D");
  put(h, 0x20000, "E");
  h.cpu.regs[ESI] = 0x20000;
  h.cpu.regs[EDI] = 0x21000;
  // The code fetch and the stack use CS/SS (base 0); only data references move.
  h.code({0x64, 0xA4,    // fs movsb: [0x21000] = 'F'
          0xA4,          // movsb:    [0x21001] = DS:0x20001 = linear 0x26001
          0x26, 0xAC});  // es lodsb: AL = ES:0x20002 (linear 0x20002)
  put(h, 0x26001, "d");
  put(h, 0x20002, "e");
  put(h, 0x26002, "!");
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(get(h, 0x21000, 2), "Fd");
  EXPECT_EQ(h.cpu.regs[EAX] & 0xFF, uint32_t('e'));
}

TEST(StringOps, RealMode16BitIndexWrap) {
  CpuHarness h(false);
  load_segment_real(h.cpu, DS, 0x2000);  // DS base 0x20000; ES stays at 0x10000
  put(h, 0x2FFFF, "W");
  put(h, 0x20000, "X");
  h.cpu.regs[ESI] = 0xABCDFFFF;
  h.cpu.regs[EDI] = 0x12340100;
  h.cpu.regs[ECX] = 0xFFFF0002;
  h.code({0xF3, 0xA4});  // rep movsb (SI/DI/CX)
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(get(h, 0x10100, 2), "WX");
  EXPECT_EQ(h.cpu.regs[ESI], 0xABCD0001u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x12340102u);
  EXPECT_EQ(h.cpu.regs[ECX], 0xFFFF0000u);
}

TEST(StringOps, RealModeRepneScasbAndStosw) {
  CpuHarness h(false);
  put(h, 0x10200, "abc/def");
  h.cpu.regs[EAX] = '/';
  h.cpu.regs[EDI] = 0x0200;
  h.cpu.regs[ECX] = 0x20;
  h.code({0xF2, 0xAE});  // repne scasb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EDI], 0x0204u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x1Cu);
  EXPECT_TRUE(h.flags() & ZF);

  CpuHarness g(false);
  g.cpu.regs[EAX] = 0x7E7F;
  g.cpu.regs[EDI] = 0x0300;
  g.cpu.regs[ECX] = 3;
  g.code({0xF3, 0xAB});  // rep stosw
  EXPECT_EQ(g.run(), EXIT_HLT);
  EXPECT_EQ(g.rd32(0x10300), 0x7E7F7E7Fu);
  EXPECT_EQ(g.rd32(0x10304), 0x00007E7Fu);
  EXPECT_EQ(g.cpu.regs[EDI], 0x0306u);
}

TEST(StringOps, AddressSizePrefixIn32BitCode) {
  CpuHarness h;
  put(h, 0x5000, "abc");
  h.cpu.regs[ESI] = 0xFFFF5000;
  h.cpu.regs[EDI] = 0x00016000;  // DI = 0x6000
  h.cpu.regs[ECX] = 0x00010003;  // CX = 3
  h.code({0xF3, 0x67, 0xA4});    // a16 rep movsb
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(get(h, 0x6000, 3), "abc");
  EXPECT_EQ(h.cpu.regs[ESI], 0xFFFF5003u);
  EXPECT_EQ(h.cpu.regs[EDI], 0x00016003u);
  EXPECT_EQ(h.cpu.regs[ECX], 0x00010000u);
}

TEST(StringOps, RealModeFaultAtSegmentEnd) {
  // A word at offset 0xFFFF crosses the 64 KiB limit: #GP (real mode: vector 13).
  CpuHarness h(false);
  load_segment_real(h.cpu, DS, 0);  // the real-mode fault stubs record the vector at DS:0x500
  h.cpu.regs[EDI] = 0xFFFD;
  h.cpu.regs[ECX] = 3;
  h.cpu.regs[EAX] = 0x1234;
  h.code({0xF3, 0xAB});  // rep stosw
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), 13);
  EXPECT_EQ(h.cpu.regs[EDI], 0xFFFFu);
  EXPECT_EQ(h.cpu.regs[ECX], 2u);
}

}  // namespace
}  // namespace softcpu
