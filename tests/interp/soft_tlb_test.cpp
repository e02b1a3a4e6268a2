// The soft TLB's empty entries: no guest access may match one (issue: an unaligned access in
// linear page 0 matched the old empty tag 1 and wrote host memory at the guest address).
#include <gtest/gtest.h>

#include "interp/paging.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;

// The entry every access uses (computed by byte offset) is the slot of the page number.
TEST(SoftTlb, EntryIsThePageNumbersSlot) {
  CpuHarness h;
  for (uint32_t lin : {0u, 0xFFFu, 0x1000u, 0x12345678u, 0xFFFFF000u, 0xFFFFFFFFu, 0x800FF7FFu}) {
    EXPECT_EQ(&tlb_entry(h.cpu.tlb.read, lin), &h.cpu.tlb.read[(lin >> 12) % TLB_SIZE]) << lin;
    EXPECT_EQ(&tlb_entry(h.cpu.tlb.fetch, lin), &h.cpu.tlb.fetch[tlb_index(lin)]) << lin;
  }
}

// Every offset of a page, every access size, a few pages (page 0 is where the old tag hit).
TEST(SoftTlb, EmptyEntryMatchesNoAccess) {
  const SoftTlbEntry empty{};
  for (uint32_t page : {0u, 1u, 0x800u, 0xFFFFFu}) {
    for (uint32_t off = 0; off < PAGE_SIZE; ++off) {
      const uint32_t lin = page * PAGE_SIZE + off;
      for (unsigned size : {1u, 2u, 4u}) ASSERT_FALSE(tlb_hit(empty, lin, size)) << lin << "/" << size;
    }
  }
}

TEST(SoftTlb, FlushedEntriesMatchNoAccess) {
  CpuHarness h;
  tlb_flush(h.cpu);
  for (const SoftTlbEntry* table : {h.cpu.tlb.read, h.cpu.tlb.write, h.cpu.tlb.fetch})
    for (uint32_t lin : {1u, 3u, 5u, 0x81u, 0xB3u, 0xFFDu})
      for (unsigned size : {1u, 2u, 4u})
        EXPECT_FALSE(tlb_hit(tlb_entry(table, lin), lin, size)) << lin << "/" << size;
}

// The reproduction: unaligned stores and loads at the bottom of linear page 0 with an empty
// TLB reach guest RAM through the slow path (before the fix: a host write at address 1).
TEST(SoftTlb, UnalignedAccessInPageZeroGoesToGuestRam) {
  CpuHarness h;
  tlb_flush(h.cpu);
  write_linear<2>(h.cpu, 1, 0xBEEF);
  write_linear<4>(h.cpu, 5, 0x12345678);
  write_linear<2>(h.cpu, 0xB3, 0xCAFE);
  EXPECT_EQ(h.mem.ram()[1], 0xEF);
  EXPECT_EQ(h.mem.ram()[2], 0xBE);
  uint32_t v;
  std::memcpy(&v, h.mem.ram() + 5, 4);
  EXPECT_EQ(v, 0x12345678u);
  tlb_flush(h.cpu);
  EXPECT_EQ(read_linear<2>(h.cpu, 1), 0xBEEFu);
  EXPECT_EQ(read_linear<4>(h.cpu, 5), 0x12345678u);
  EXPECT_EQ(read_linear<2>(h.cpu, 0xB3), 0xCAFEu);
}

// The same through a guest instruction (ALU with a memory destination, as the random ROMs
// found): add word [1], ax ; add dword [5], eax.
TEST(SoftTlb, GuestAluWriteAtOddAddressInPageZero) {
  CpuHarness h;
  h.cpu.regs[EAX] = 0x01010101;
  h.code({0x66, 0x01, 0x05, 0x01, 0x00, 0x00, 0x00,    // add [1], ax
          0x01, 0x05, 0x05, 0x00, 0x00, 0x00});        // add [5], eax
  const uint8_t before1 = h.mem.ram()[1], before5 = h.mem.ram()[5];
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.mem.ram()[1], uint8_t(before1 + 1));
  EXPECT_EQ(h.mem.ram()[5], uint8_t(before5 + 1));
}

// A never-reset Cpu starts with empty entries too (default member initialisers).
TEST(SoftTlb, ValueInitialisedCpuHasEmptyEntries) {
  auto c = std::make_unique<Cpu>();
  for (unsigned k = 0; k < TLB_SIZE; ++k) {
    EXPECT_FALSE(tlb_hit(c->tlb.read[k], k * PAGE_SIZE + 1, 2));
    EXPECT_FALSE(tlb_hit(c->tlb.write[k], k * PAGE_SIZE, 4));
  }
}

}  // namespace
}  // namespace softcpu
