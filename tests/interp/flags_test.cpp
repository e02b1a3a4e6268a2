#include <gtest/gtest.h>

#include "interp/flags.h"

namespace softcpu {
namespace {

Cpu with_lazy(LazyKind k, unsigned size, uint32_t a, uint32_t b, uint32_t res, bool cf_in = false) {
  Cpu c{};
  c.eflags = 2;
  c.lz_cf_in = cf_in;
  set_lazy(c, k, size, a, b, res);
  return c;
}

TEST(LazyFlags, AddCarryOverflowAux) {
  // 0x7F + 0x01 = 0x80 (8-bit): OF, SF, AF; no CF, no ZF; parity of 0x80 is odd.
  Cpu c = with_lazy(LZ_ADD, 1, 0x7F, 0x01, 0x80);
  EXPECT_EQ(read_eflags(c) & ARITH_FLAGS, OF | SF | AF);
  // 0xFFFFFFFF + 1 = 0 (32-bit): CF, ZF, PF, AF.
  Cpu d = with_lazy(LZ_ADD, 4, 0xFFFFFFFF, 1, 0);
  EXPECT_EQ(read_eflags(d) & ARITH_FLAGS, CF | ZF | PF | AF);
}

TEST(LazyFlags, AdcWithCarryInAtTheLimit) {
  // 0xFFFF + 0xFFFF + 1 = 0x1FFFF: 16-bit result 0xFFFF with CF (res == src1 and carry in).
  Cpu c = with_lazy(LZ_ADC, 2, 0xFFFF, 0xFFFF, 0xFFFF, true);
  EXPECT_TRUE(lazy_cf(c));
  EXPECT_FALSE(lazy_of(c));
  Cpu d = with_lazy(LZ_ADC, 2, 0xFFFF, 0xFFFF, 0xFFFE, false);
  EXPECT_TRUE(lazy_cf(d));
}

TEST(LazyFlags, SubBorrowAndSignedOverflow) {
  // 0x80000000 - 1 = 0x7FFFFFFF: OF (negative minus positive gives positive), no CF.
  Cpu c = with_lazy(LZ_SUB, 4, 0x80000000u, 1, 0x7FFFFFFF);
  EXPECT_TRUE(lazy_of(c));
  EXPECT_FALSE(lazy_cf(c));
  // 1 - 2 = 0xFF (8-bit): CF, SF.
  Cpu d = with_lazy(LZ_SUB, 1, 1, 2, 0xFF);
  EXPECT_TRUE(lazy_cf(d));
  EXPECT_TRUE(lazy_sf(d));
  // SBB 0 - 0xFF - 1 (8-bit): borrow.
  Cpu e = with_lazy(LZ_SBB, 1, 0, 0xFF, 0x00, true);
  EXPECT_TRUE(lazy_cf(e));
}

TEST(LazyFlags, IncDecKeepCarry) {
  Cpu c = with_lazy(LZ_INC, 4, 0x7FFFFFFF, 1, 0x80000000u, true);
  EXPECT_TRUE(lazy_cf(c));
  EXPECT_TRUE(lazy_of(c));
  Cpu d = with_lazy(LZ_DEC, 2, 0x8000, 1, 0x7FFF, false);
  EXPECT_FALSE(lazy_cf(d));
  EXPECT_TRUE(lazy_of(d));
}

TEST(LazyFlags, ConditionsFollowTheSdmTable) {
  // CMP 1, 2 (signed and unsigned less).
  Cpu c = with_lazy(LZ_SUB, 4, 1, 2, 0xFFFFFFFF);
  EXPECT_TRUE(condition(c, 0x2));   // B
  EXPECT_FALSE(condition(c, 0x3));  // AE
  EXPECT_TRUE(condition(c, 0xC));   // L
  EXPECT_TRUE(condition(c, 0xE));   // LE
  EXPECT_FALSE(condition(c, 0x4));  // E
  EXPECT_TRUE(condition(c, 0x6));   // BE
  EXPECT_FALSE(condition(c, 0xF));  // G
  // CMP 0x80000000, 1: signed less (OF != SF), unsigned above.
  Cpu d = with_lazy(LZ_SUB, 4, 0x80000000u, 1, 0x7FFFFFFF);
  EXPECT_TRUE(condition(d, 0xC));
  EXPECT_TRUE(condition(d, 0x7));  // A
}

TEST(LazyFlags, MaterializeThenSetFlagsEagerly) {
  Cpu c = with_lazy(LZ_LOGIC, 4, 0, 0, 0);
  set_flags(c, CF, CF);
  EXPECT_EQ(c.lz_kind, LZ_NONE);
  EXPECT_EQ(read_eflags(c) & ARITH_FLAGS, CF | ZF | PF);
  EXPECT_EQ(read_eflags(c) & 2u, 2u);  // bit 1 always reads 1
}

}  // namespace
}  // namespace softcpu
