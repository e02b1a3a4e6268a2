#include <gtest/gtest.h>

#include "interp/decode.h"

namespace softcpu {
namespace {

TEST(Decode, ModrmMemoryOperandFields) {
  InsnDecoder d;
  const uint8_t add[] = {0x01, 0x44, 0x8B, 0x10};  // add [ebx+ecx*4+0x10], eax
  Insn i = d.decode(add, sizeof add, true, true);
  EXPECT_EQ(i.len, 4);
  EXPECT_EQ(i.opsize, 4);
  EXPECT_TRUE(i.is_mem);
  EXPECT_EQ(i.base, EBX);
  EXPECT_EQ(i.index, ECX);
  EXPECT_EQ(i.scale, 2);
  EXPECT_EQ(i.disp, 0x10u);
  EXPECT_EQ(i.reg, EAX);
  EXPECT_EQ(i.seg, DS);
}

TEST(Decode, SixteenBitAddressingAndStackDefault) {
  InsnDecoder d;
  const uint8_t mov[] = {0x8B, 0x46, 0xFE};  // mov ax, [bp-2] in 16-bit code
  Insn i = d.decode(mov, sizeof mov, false, false);
  EXPECT_EQ(i.len, 3);
  EXPECT_EQ(i.opsize, 2);
  EXPECT_FALSE(i.addr32);
  EXPECT_EQ(i.base, EBP);
  EXPECT_EQ(i.seg, SS);
  EXPECT_EQ(i.disp, 0xFFFFFFFEu);
}

TEST(Decode, InvalidEncodingBecomesUd) {
  InsnDecoder d;
  const uint8_t bad[] = {0x0F, 0x0B};  // UD2 (or undecodable: both must raise #UD)
  Insn i = d.decode(bad, sizeof bad, true, true);
  EXPECT_TRUE(i.flags & INSN_ENDS_BLOCK);
  const uint8_t garbage[] = {0xFF, 0xFF};
  Insn g = d.decode(garbage, sizeof garbage, true, true);
  EXPECT_EQ(g.fn, &handler_ud);
}

}  // namespace
}  // namespace softcpu

namespace softcpu {
namespace {

TEST(Decode, HintNopSpaceRunsAsNop) {
  InsnDecoder d;
  const uint8_t endbr32[] = {0xF3, 0x0F, 0x1E, 0xFB};
  const uint8_t prefetch[] = {0x0F, 0x18, 0x06};  // prefetchnta [esi]
  for (auto* bytes : {endbr32, prefetch}) {
    Insn i = d.decode(bytes, 4, true, true);
    EXPECT_NE(i.fn, &handler_ud);
    EXPECT_FALSE(i.flags & INSN_ENDS_BLOCK);
  }
  EXPECT_EQ(d.decode(endbr32, 4, true, true).len, 4);
}

}  // namespace
}  // namespace softcpu
