// 32-bit paging and the soft TLB (SDM vol.3 chapter 4): walks, access rights, #PF error
// codes and CR2, accessed/dirty bits, 4 MiB and global pages, TLB invalidation, fetches.
#include <gtest/gtest.h>

#include "interp/paging.h"
#include "interp/segments.h"
#include "tests/interp/cpu_harness.h"

namespace softcpu {
namespace {

using test::CpuHarness;

constexpr uint32_t PD = 0x200000;   // page directory (bit 20 clear: see the A20 test)
constexpr uint32_t PT0 = 0x201000;  // identity map of linear 0 - 4 MiB
constexpr uint32_t PT1 = 0x202000;  // linear 4 - 8 MiB (tests fill it)
constexpr uint32_t PT2 = 0x203000;  // linear 8 - 12 MiB
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;

// Flat protected mode with paging: the first 4 MiB identity mapped, user and writable.
struct PagingHarness : CpuHarness {
  PagingHarness() {
    for (uint32_t k = 0; k < 1024; ++k) wr32(PT0 + 4 * k, (k << 12) | PTE_P | PTE_RW | PTE_US);
    wr32(PD, PT0 | PTE_P | PTE_RW | PTE_US);
    cpu.cr3 = PD;
    cpu.cr0 |= CR0_PG;
    tlb_flush(cpu);
  }
  uint32_t pte_addr(uint32_t lin) {
    uint32_t pde = rd32(PD + (lin >> 22) * 4);
    return (pde & ~0xFFFu) + ((lin >> 12) & 0x3FF) * 4;
  }
  uint32_t pte(uint32_t lin) { return rd32(pte_addr(lin)); }
  void set_pte(uint32_t lin, uint32_t v) { wr32(pte_addr(lin), v); }
  void set_pde(uint32_t lin, uint32_t v) { wr32(PD + (lin >> 22) * 4, v); }
  uint32_t pde(uint32_t lin) { return rd32(PD + (lin >> 22) * 4); }

  // Run an access from C++ and return the #PF error code, or -1 if it did not fault.
  template <typename F>
  int64_t fault_of(F f) {
    try {
      f();
    } catch (const GuestFault& g) {
      EXPECT_EQ(g.vector, VEC_PF);
      return g.error;
    }
    return -1;
  }
};

// ---- walks, error codes, CR2 --------------------------------------------------------------

TEST(Paging, TranslatesThroughTables) {
  PagingHarness h;
  h.wr32(0x5000, 0x12345678);
  h.wr32(PD + 4, PT1 | PTE_P | PTE_RW);
  h.wr32(PT1 + 3 * 4, 0x5000 | PTE_P | PTE_RW);  // 0x403000 -> 0x5000
  EXPECT_EQ(read_linear<4>(h.cpu, 0x403000), 0x12345678u);
  write_linear<2>(h.cpu, 0x403002, 0xABCD);
  EXPECT_EQ(h.rd32(0x5000), 0xABCD5678u);
  EXPECT_EQ(translate(h.cpu, 0x403FFF, ACCESS_READ), 0x5FFFu);
}

TEST(Paging, NotPresentErrorCodesAndCr2) {
  PagingHarness h;
  h.set_pte(0x50000, 0);
  h.cpu.cr2 = 0;
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, 0x50010); }), 0);
  EXPECT_EQ(h.cpu.cr2, 0x50010u);
  EXPECT_EQ(h.fault_of([&] { write_linear<1>(h.cpu, 0x50FFF, 1); }), PF_W);
  EXPECT_EQ(h.cpu.cr2, 0x50FFFu);
  h.cpu.cpl = 3;
  EXPECT_EQ(h.fault_of([&] { read_linear<2>(h.cpu, 0x50002); }), PF_U);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, 0x50004, 1); }), PF_U | PF_W);
  h.cpu.cpl = 0;
  // A not-present page directory entry.
  EXPECT_EQ(h.fault_of([&] { read_linear<1>(h.cpu, 0x00C01234); }), 0);
  EXPECT_EQ(h.cpu.cr2, 0x00C01234u);
  // A fault leaves the entries alone (no accessed bit on the page table entry).
  EXPECT_EQ(h.pte(0x50000), 0u);
}

TEST(Paging, UserSupervisorAndWriteProtect) {
  PagingHarness h;
  const uint32_t sup = 0x51000, ro = 0x52000, sup_in_pde = 0x403000;
  h.set_pte(sup, sup | PTE_P | PTE_RW);         // supervisor, writable
  h.set_pte(ro, ro | PTE_P | PTE_US);           // user, read-only
  h.wr32(PD + 4, PT1 | PTE_P | PTE_RW);         // PDE without U/S: the AND decides
  h.wr32(PT1 + 3 * 4, 0x53000 | PTE_P | PTE_RW | PTE_US);
  // Supervisor: everything but a read-only write with WP.
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, sup, 1); }), -1);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, ro, 1); }), -1);  // WP = 0
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, sup_in_pde); }), -1);
  h.cpu.cr0 |= CR0_WP;
  tlb_flush(h.cpu);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, ro + 8, 1); }), PF_P | PF_W);
  EXPECT_EQ(h.cpu.cr2, ro + 8);
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, ro); }), -1);
  // User (CPL 3).
  tlb_flush(h.cpu);
  h.cpu.cpl = 3;
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, sup + 4); }), PF_P | PF_U);
  EXPECT_EQ(h.cpu.cr2, sup + 4);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, sup, 1); }), PF_P | PF_W | PF_U);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, ro, 1); }), PF_P | PF_W | PF_U);
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, ro); }), -1);
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, sup_in_pde); }), PF_P | PF_U);
  // User writes to read-only pages fault whatever WP says.
  h.cpu.cr0 &= ~CR0_WP;
  tlb_flush(h.cpu);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, ro, 1); }), PF_P | PF_W | PF_U);
}

TEST(Paging, SupervisorEntriesAreNotUsedAtCpl3) {
  PagingHarness h;
  const uint32_t sup = 0x51000, ro = 0x52000;
  h.set_pte(sup, sup | PTE_P | PTE_RW);
  h.set_pte(ro, ro | PTE_P | PTE_US);
  // Filled at CPL 0 (WP = 0: the supervisor may write the read-only user page).
  read_linear<4>(h.cpu, sup);
  write_linear<4>(h.cpu, ro, 7);
  EXPECT_NE(h.cpu.tlb.nsup, 0);
  h.cpu.cpl = 3;
  tlb_drop_supervisor(h.cpu);  // what find_block does before CPL 3 code runs
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, sup); }), PF_P | PF_U);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, ro, 1); }), PF_P | PF_W | PF_U);
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, ro); }), -1);
  // Entries filled at CPL 3 serve CPL 0 too and are not listed.
  EXPECT_EQ(h.cpu.tlb.nsup, 0);
}

// The supervisor-only entries dropped before CPL 3 code are set aside, and a miss at CPL 0-2
// takes its page's entry back without a walk (interp/paging.cpp take_back), unless something
// invalidated entries in between.
TEST(Paging, SupervisorEntriesComeBackAtCpl0) {
  PagingHarness h;
  const uint32_t sup = 0x51000, ro = 0x52000, user = 0x451000;  // user: sup's slot
  h.set_pte(sup, sup | PTE_P | PTE_RW);
  h.set_pte(ro, ro | PTE_P | PTE_US);
  h.wr32(sup, 0x5AFE);
  EXPECT_EQ(read_linear<4>(h.cpu, sup), 0x5AFEu);  // CPL 0 fills
  write_linear<4>(h.cpu, ro, 7);                   // WP = 0: allowed at CPL 0 only
  h.cpu.cpl = 3;
  tlb_drop_supervisor(h.cpu);
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, sup); }), PF_P | PF_U);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, ro, 1); }), PF_P | PF_W | PF_U);
  EXPECT_EQ(h.rd32(ro), 7u);
  h.cpu.cpl = 0;
  const uint64_t walks = h.cpu.tlb_counters.walks;
  EXPECT_EQ(read_linear<4>(h.cpu, sup), 0x5AFEu);
  write_linear<4>(h.cpu, ro, 9);
  EXPECT_EQ(h.cpu.tlb_counters.walks, walks);  // both from the set-aside entries
  EXPECT_EQ(h.cpu.tlb_counters.restored, 2u);
  EXPECT_EQ(h.rd32(ro), 9u);
  // Listed as supervisor-only again: the next CPL 3 code cannot use them either.
  h.cpu.cpl = 3;
  tlb_drop_supervisor(h.cpu);
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, sup); }), PF_P | PF_U);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, ro, 1); }), PF_P | PF_W | PF_U);
  // A user page filled into the read slot meanwhile is evicted by the take-back, and the
  // user page walks again.
  ASSERT_EQ(tlb_index(user), tlb_index(sup));
  h.wr32(PD + 4, PT1 | PTE_P | PTE_RW | PTE_US);
  h.wr32(PT1 + ((user >> 12) & 0x3FF) * 4, 0x60000 | PTE_P | PTE_RW | PTE_US);
  h.wr32(0x60000, 0x0CE7);
  EXPECT_EQ(read_linear<4>(h.cpu, user), 0x0CE7u);
  h.cpu.cpl = 0;
  const uint64_t walks2 = h.cpu.tlb_counters.walks;
  EXPECT_EQ(read_linear<4>(h.cpu, sup), 0x5AFEu);
  EXPECT_EQ(h.cpu.tlb_counters.walks, walks2);
  EXPECT_EQ(read_linear<4>(h.cpu, user), 0x0CE7u);
  EXPECT_EQ(h.cpu.tlb_counters.walks, walks2 + 1);
  // Taken once: after the next eviction of the kernel page it walks.
  EXPECT_EQ(read_linear<4>(h.cpu, sup), 0x5AFEu);
  EXPECT_EQ(h.cpu.tlb_counters.walks, walks2 + 2);
  EXPECT_EQ(h.cpu.tlb_counters.restored, 3u);  // ro was not written again
}

// Whatever invalidates TLB entries while the supervisor entries are set aside discards them:
// they may be stale (SDM vol.3 4.10.4: INVLPG, MOV CR3, a full flush; and a page starting to
// hold code, which must lose its write entries so its stores reach the self-modifying-code
// check).
TEST(Paging, SetAsideEntriesDieWithAnInvalidation) {
  const uint32_t sup = 0x51000;
  for (int how = 0; how < 4; ++how) {
    PagingHarness h;
    h.set_pte(sup, sup | PTE_P | PTE_RW);
    h.wr32(sup, 0x1111);
    h.wr32(0x70000, 0x2222);
    EXPECT_EQ(read_linear<4>(h.cpu, sup), 0x1111u);
    write_linear<4>(h.cpu, sup + 4, 0);
    h.cpu.cpl = 3;
    tlb_drop_supervisor(h.cpu);
    h.set_pte(sup, 0x70000 | PTE_P | PTE_RW);  // remapped, then invalidated
    switch (how) {
      case 0: tlb_invlpg(h.cpu, sup); break;
      case 1: tlb_flush_nonglobal(h.cpu); break;
      case 2: tlb_flush(h.cpu); break;
      case 3: tlb_drop_write_page(h.cpu, sup / PAGE_SIZE); break;  // sup's frame holds code now
    }
    h.cpu.cpl = 0;
    EXPECT_EQ(read_linear<4>(h.cpu, sup), 0x2222u) << how;  // the new mapping, by a walk
    write_linear<4>(h.cpu, sup + 4, 0x3333);
    EXPECT_EQ(h.rd32(0x70004), 0x3333u) << how;
    EXPECT_EQ(h.rd32(sup + 4), 0u) << how;
    EXPECT_EQ(h.cpu.tlb_counters.restored, 0u) << how;
  }
}

TEST(Paging, UserCodeCannotUseSupervisorEntryFilledBefore) {
  PagingHarness h;
  // A ring-3 code segment (0x1B) next to the harness's GDT entries.
  const uint64_t gdt3[2] = {0x00CFFB000000FFFFull, 0x00CFF3000000FFFFull};
  h.mem.write_bytes(CpuHarness::GDT_ADDR + 24, gdt3, sizeof gdt3);
  h.cpu.gdtr.limit = 5 * 8 - 1;
  const uint32_t sup = 0x51000;
  h.set_pte(sup, sup | PTE_P | PTE_RW);
  h.wr32(sup, 0x600D);
  EXPECT_EQ(read_linear<4>(h.cpu, sup), 0x600Du);  // CPL 0 fills the read entry
  h.code({0xA1, 0x00, 0x10, 0x05, 0x00});            // mov eax, [0x51000]
  load_code_segment(h.cpu, 0x1B, 3);
  ASSERT_EQ(h.cpu.cpl, 3);
  h.cpu.regs[EAX] = 0;
  h.cpu.cr2 = 0;
  h.run(1000);  // the #PF cannot be delivered to ring 0 without a TSS: we look at CR2
  EXPECT_EQ(h.cpu.regs[EAX], 0u);
  EXPECT_EQ(h.cpu.cr2, sup);
}

// ---- accessed and dirty bits ----------------------------------------------------------------

TEST(Paging, AccessedAndDirtyBits) {
  PagingHarness h;
  const uint32_t p = 0x60000;
  h.wr32(PD + 4, PT1 | PTE_P | PTE_RW | PTE_US);
  h.wr32(PT1, p | PTE_P | PTE_RW | PTE_US);  // 0x400000 -> 0x60000
  read_linear<4>(h.cpu, 0x400000);
  EXPECT_EQ(h.pde(0x400000) & (PTE_A | PTE_D), PTE_A);  // PDEs have no dirty bit
  EXPECT_EQ(h.rd32(PT1) & (PTE_A | PTE_D), PTE_A);
  // A read filled the TLB; the first write must still set D.
  write_linear<4>(h.cpu, 0x400004, 1);
  EXPECT_EQ(h.rd32(PT1) & (PTE_A | PTE_D), PTE_A | PTE_D);
  // Software clears A and D; cached entries may be used (no walk), so nothing changes...
  h.wr32(PT1, p | PTE_P | PTE_RW | PTE_US);
  read_linear<4>(h.cpu, 0x400000);
  write_linear<4>(h.cpu, 0x400000, 1);
  EXPECT_EQ(h.rd32(PT1) & (PTE_A | PTE_D), 0u);
  // ...until INVLPG: then a write walks and sets both.
  tlb_invlpg(h.cpu, 0x400000);
  write_linear<4>(h.cpu, 0x400000, 1);
  EXPECT_EQ(h.rd32(PT1) & (PTE_A | PTE_D), PTE_A | PTE_D);
  // A fetch sets A, not D.
  h.wr32(PT1 + 4, 0x61000 | PTE_P | PTE_RW | PTE_US);
  uint32_t phys;
  ASSERT_TRUE(try_translate(h.cpu, 0x401000, ACCESS_FETCH, phys));
  EXPECT_EQ(phys, 0x61000u);
  EXPECT_EQ(h.rd32(PT1 + 4) & (PTE_A | PTE_D), PTE_A);
}

TEST(Paging, DirtyBitThroughGuestStores) {
  PagingHarness h;
  // The data page starts clean; the guest reads it, then writes it.
  h.set_pte(DATA, DATA | PTE_P | PTE_RW);
  h.code({0xA1, 0x00, 0x00, 0x02, 0x00,     // mov eax, [DATA]
          0xF4});                           // hlt
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.pte(DATA) & (PTE_A | PTE_D), PTE_A);
  EXPECT_EQ(h.pte(CpuHarness::CODE_ADDR) & (PTE_A | PTE_D), PTE_A);  // fetched
  h.cpu.eip = CpuHarness::CODE_ADDR + 0x100;  // fresh code (loader writes don't invalidate)
  h.code({0xA3, 0x04, 0x00, 0x02, 0x00});   // mov [DATA + 4], eax
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.pte(DATA) & (PTE_A | PTE_D), PTE_A | PTE_D);
}

// ---- #PF through the IDT --------------------------------------------------------------------

TEST(Paging, PageFaultIsDeliveredWithErrorCodeAndEip) {
  PagingHarness h;
  h.set_pte(0x50000, 0x50000 | PTE_P);  // read-only
  h.cpu.cr0 |= CR0_WP;
  h.code({0x43,                                // inc ebx
          0xC7, 0x05, 0x08, 0x00, 0x05, 0x00,  // mov dword [0x50008], 5
          0x05, 0x00, 0x00, 0x00});
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_PF);
  EXPECT_EQ(h.cpu.cr2, 0x50008u);
  EXPECT_EQ(h.rd32(h.cpu.regs[ESP]), PF_P | PF_W);                    // error code
  EXPECT_EQ(h.rd32(h.cpu.regs[ESP] + 4), CpuHarness::CODE_ADDR + 1);  // faulting EIP
  EXPECT_EQ(h.cpu.regs[EBX], 1u);
  EXPECT_EQ(h.rd32(0x50008), 0u);
}

TEST(Paging, FetchFaultLeavesEipAtTarget) {
  PagingHarness h;
  h.set_pte(0x70000, 0);
  h.code({0xB8, 0x00, 0x00, 0x07, 0x00,  // mov eax, 0x70000
          0xFF, 0xE0});                  // jmp eax
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_PF);
  EXPECT_EQ(h.cpu.cr2, 0x70000u);
  EXPECT_EQ(h.rd32(h.cpu.regs[ESP]), 0u);
  EXPECT_EQ(h.rd32(h.cpu.regs[ESP] + 4), 0x70000u);
}

TEST(Paging, InstructionCrossingIntoMissingPage) {
  PagingHarness h;
  // Two INCs, then a 5-byte MOV whose last 2 bytes would be on the next (absent) page.
  const uint32_t start = 0x70FFA;
  h.set_pte(0x71000, 0);
  const uint8_t code[] = {0x43, 0x43, 0x90, 0xB8, 0x11, 0x22, 0x33, 0x44};
  h.mem.write_bytes(start, code, sizeof code);
  h.mem.write_bytes(0x500, "\xFF", 1);
  h.cpu.eip = start;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_PF);
  EXPECT_EQ(h.cpu.regs[EBX], 2u);  // the instructions before it ran
  EXPECT_EQ(h.cpu.cr2, 0x71000u);
  EXPECT_EQ(h.rd32(h.cpu.regs[ESP]), 0u);
  EXPECT_EQ(h.rd32(h.cpu.regs[ESP] + 4), start + 3);
}

TEST(Paging, InstructionEndingAtPageEndDoesNotFetchNextPage) {
  PagingHarness h;
  const uint32_t start = 0x70FFB;  // mov eax, imm32 fills the page exactly; then jmp back
  h.set_pte(0x71000, 0);
  const uint8_t code[] = {0xB8, 0x11, 0x22, 0x33, 0x44};
  h.mem.write_bytes(start, code, sizeof code);
  h.mem.write_bytes(0x500, "\xFF", 1);
  h.cpu.eip = start;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_PF);
  EXPECT_EQ(h.cpu.regs[EAX], 0x44332211u);
  EXPECT_EQ(h.cpu.cr2, 0x71000u);
  EXPECT_EQ(h.rd32(h.cpu.regs[ESP] + 4), 0x71000u);  // the fault is the next instruction's
}

TEST(Paging, PageCrossingBlockRevalidatesSecondPage) {
  PagingHarness h;
  // mov eax, imm32 crossing from 0x70FFE into 0x71000; the second page is remapped between
  // runs, so the cached block must not be reused.
  const uint8_t a[] = {0xB8, 0x11};
  const uint8_t b1[] = {0x22, 0x33, 0x44, 0xF4};
  const uint8_t b2[] = {0x55, 0x66, 0x77, 0xF4};
  h.mem.write_bytes(0x70FFE, a, sizeof a);
  h.mem.write_bytes(0x71000, b1, sizeof b1);
  h.mem.write_bytes(0x72000, b2, sizeof b2);
  h.cpu.eip = 0x70FFE;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0x44332211u);
  h.set_pte(0x71000, 0x72000 | PTE_P | PTE_RW | PTE_US);
  tlb_invlpg(h.cpu, 0x71000);
  h.cpu.eip = 0x70FFE;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 0x77665511u);
}

TEST(Paging, CrossPageWriteIsAllOrNothing) {
  PagingHarness h;
  h.cpu.cr0 |= CR0_WP;
  h.set_pte(0x51000, 0x51000 | PTE_P);  // read-only second page
  h.wr32(0x50FFC, 0xAAAAAAAA);
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, 0x50FFE, 0x12345678); }), PF_P | PF_W);
  EXPECT_EQ(h.cpu.cr2, 0x51000u);
  EXPECT_EQ(h.rd32(0x50FFC), 0xAAAAAAAAu);
  // probe_write_mem (PUSHA, frames) faults before anything is written.
  EXPECT_EQ(h.fault_of([&] { probe_write_linear(h.cpu, 0x50FF0, 32); }), PF_P | PF_W);
  EXPECT_EQ(h.cpu.cr2, 0x51000u);
  EXPECT_EQ(h.fault_of([&] { probe_write_linear(h.cpu, 0x50FF0, 16); }), -1);
}

TEST(Paging, PushaFaultsOnLowerStackPage) {
  PagingHarness h;
  h.set_pte(0x2F000, 0);        // the page below the stack is absent
  h.cpu.regs[ESP] = 0x30010;    // PUSHA needs 32 bytes: 16 here, 16 on 0x2F000
  h.code({0x60});               // pusha
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_PF);
  EXPECT_EQ(h.cpu.cr2, 0x2FFFCu);  // the first push that lands on the absent page
  EXPECT_EQ(h.cpu.regs[ESP], 0x30000u);  // the #PF frame sits where PUSHA started
  EXPECT_EQ(h.rd32(0x30000), PF_W);
  EXPECT_EQ(h.rd32(0x30004), CpuHarness::CODE_ADDR);
}

// ---- 4 MiB pages ----------------------------------------------------------------------------

TEST(Paging, LargePages) {
  PagingHarness h;
  h.wr32(0x12344, 0x5A5A5A5A);
  h.set_pde(0x400000, 0x000000 | PTE_P | PTE_RW | PTE_PS);  // 4 MiB at 0x400000 -> 0
  // Without CR4.PSE the PS bit is ignored: the entry points at a page table (page 0 here).
  h.wr32(0x0, 0x12000 | PTE_P | PTE_RW);  // "PTE" 0 of that table: 0x400000 -> 0x12000
  EXPECT_EQ(read_linear<4>(h.cpu, 0x400344), 0x5A5A5A5Au);
  h.wr32(0x0, 0);
  h.cpu.cr4 |= CR4_PSE;
  tlb_flush(h.cpu);
  EXPECT_EQ(read_linear<4>(h.cpu, 0x412344), 0x5A5A5A5Au);
  EXPECT_EQ(h.pde(0x400000) & (PTE_A | PTE_D), PTE_A);
  write_linear<4>(h.cpu, 0x412348, 1);
  EXPECT_EQ(h.pde(0x400000) & (PTE_A | PTE_D), PTE_A | PTE_D);
  EXPECT_EQ(h.rd32(0x12348), 1u);
  // INVLPG anywhere in the 4 MiB page drops all of it.
  read_linear<4>(h.cpu, 0x450000);
  h.set_pde(0x400000, 0x000000 | PTE_P | PTE_RW | PTE_PS | PTE_A | PTE_D);
  h.wr32(PD + 4, 0);  // now absent
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, 0x412344); }), -1);  // cached
  tlb_invlpg(h.cpu, 0x7FF000);
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, 0x412344); }), 0);
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, 0x450000); }), 0);
  // Reserved bits 21:13 of a 4 MiB PDE: #PF with P and RSVD.
  h.set_pde(0x400000, 0x000000 | PTE_P | PTE_RW | PTE_PS | (1u << 13));
  EXPECT_EQ(h.fault_of([&] { write_linear<4>(h.cpu, 0x400000, 1); }), PF_P | PF_W | PF_RSVD);
  // User rights of a large page.
  h.set_pde(0x400000, 0x000000 | PTE_P | PTE_PS);
  h.cpu.cpl = 3;
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, 0x400000); }), PF_P | PF_U);
}

// ---- global pages and invalidation -------------------------------------------------------

TEST(Paging, GlobalPagesSurviveCr3Reload) {
  PagingHarness h;
  h.cpu.cr4 |= CR4_PGE;
  tlb_flush(h.cpu);
  h.wr32(PD + 8, PT2 | PTE_P | PTE_RW);
  const uint32_t g = 0x800000, n = 0x801000;
  h.wr32(PT2, 0x60000 | PTE_P | PTE_RW | PTE_G);
  h.wr32(PT2 + 4, 0x61000 | PTE_P | PTE_RW);
  h.wr32(0x60000, 0xA);
  h.wr32(0x61000, 0xB);
  h.wr32(0x62000, 0xC);
  h.wr32(0x63000, 0xD);
  EXPECT_EQ(read_linear<4>(h.cpu, g), 0xAu);
  EXPECT_EQ(read_linear<4>(h.cpu, n), 0xBu);
  h.wr32(PT2, 0x62000 | PTE_P | PTE_RW | PTE_G);
  h.wr32(PT2 + 4, 0x63000 | PTE_P | PTE_RW);
  tlb_flush_nonglobal(h.cpu);  // MOV CR3
  EXPECT_EQ(read_linear<4>(h.cpu, g), 0xAu);  // global: still cached
  EXPECT_EQ(read_linear<4>(h.cpu, n), 0xDu);  // re-walked
  tlb_invlpg(h.cpu, g);
  EXPECT_EQ(read_linear<4>(h.cpu, g), 0xCu);
  // Without CR4.PGE the G bit means nothing.
  h.wr32(PT2, 0x60000 | PTE_P | PTE_RW | PTE_G);
  h.cpu.cr4 &= ~CR4_PGE;
  tlb_flush(h.cpu);
  EXPECT_EQ(read_linear<4>(h.cpu, g), 0xAu);
  h.wr32(PT2, 0x62000 | PTE_P | PTE_RW | PTE_G);
  tlb_flush_nonglobal(h.cpu);
  EXPECT_EQ(read_linear<4>(h.cpu, g), 0xCu);
}

// The same through guest instructions: MOV CR4, MOV CR3, INVLPG, MOV CR0 (WP).
TEST(Paging, ControlRegisterWritesFlushAsSpecified) {
  PagingHarness h;
  h.wr32(PD + 8, PT2 | PTE_P | PTE_RW);
  h.wr32(PT2, 0x60000 | PTE_P | PTE_RW | PTE_G);
  h.wr32(PT2 + 4, 0x61000 | PTE_P | PTE_RW);
  h.wr32(0x60000, 0xA);
  h.wr32(0x61000, 0xB);
  h.wr32(0x62000, 0xC);
  h.wr32(0x63000, 0xD);
  h.code({0x0F, 0x20, 0xE0,               // mov eax, cr4
          0x0D, 0x90, 0x00, 0x00, 0x00,   // or eax, 0x90 (PGE | PSE)
          0x0F, 0x22, 0xE0,               // mov cr4, eax
          0x8B, 0x1D, 0x00, 0x00, 0x80, 0x00,  // mov ebx, [0x800000]
          0x8B, 0x0D, 0x00, 0x10, 0x80, 0x00,  // mov ecx, [0x801000]
          0xC7, 0x05, 0x00, 0x30, 0x20, 0x00, 0x03, 0x20, 0x06, 0x00,  // mov [PT2], 0x62003
          0xC7, 0x05, 0x04, 0x30, 0x20, 0x00, 0x03, 0x30, 0x06, 0x00,  // mov [PT2+4], 0x63003
          0x0F, 0x20, 0xD8,               // mov eax, cr3
          0x0F, 0x22, 0xD8,               // mov cr3, eax
          0x8B, 0x35, 0x00, 0x00, 0x80, 0x00,  // mov esi, [0x800000]  (global: A)
          0x8B, 0x3D, 0x00, 0x10, 0x80, 0x00,  // mov edi, [0x801000]  (re-walked: D)
          0x0F, 0x01, 0x3D, 0x00, 0x00, 0x80, 0x00,  // invlpg [0x800000]
          0x8B, 0x2D, 0x00, 0x00, 0x80, 0x00});      // mov ebp, [0x800000] (C)
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.cr4, CR4_PGE | CR4_PSE);
  EXPECT_EQ(h.cpu.regs[EBX], 0xAu);
  EXPECT_EQ(h.cpu.regs[ECX], 0xBu);
  EXPECT_EQ(h.cpu.regs[ESI], 0xAu);
  EXPECT_EQ(h.cpu.regs[EDI], 0xDu);
  EXPECT_EQ(h.cpu.regs[EBP], 0xCu);
}

TEST(Paging, Cr4RejectsPae) {
  PagingHarness h;
  h.code({0xB8, 0x20, 0x00, 0x00, 0x00,  // mov eax, 0x20 (PAE)
          0x0F, 0x22, 0xE0});            // mov cr4, eax
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), VEC_GP);
  EXPECT_EQ(h.cpu.cr4, 0u);
}

TEST(Paging, EnabledByGuestCode) {
  CpuHarness h;
  for (uint32_t k = 0; k < 1024; ++k) h.wr32(PT0 + 4 * k, (k << 12) | PTE_P | PTE_RW);
  h.wr32(PD, PT0 | PTE_P | PTE_RW);
  h.wr32(PD + 4, PT1 | PTE_P | PTE_RW);
  h.wr32(PT1, 0x60000 | PTE_P | PTE_RW);
  h.wr32(0x60000, 0x1234);
  h.code({0xB8, 0x00, 0x00, 0x20, 0x00,  // mov eax, PD
          0x0F, 0x22, 0xD8,              // mov cr3, eax
          0x0F, 0x20, 0xC0,              // mov eax, cr0
          0x0D, 0x00, 0x00, 0x00, 0x80,  // or eax, 0x80000000
          0x0F, 0x22, 0xC0,              // mov cr0, eax
          0x8B, 0x1D, 0x00, 0x00, 0x40, 0x00});  // mov ebx, [0x400000]
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EBX], 0x1234u);
  EXPECT_EQ(h.rd32(PT1) & PTE_A, PTE_A);
}

// ---- code through paging ----------------------------------------------------------------

TEST(Paging, SelfModifyingCodeThroughAlias) {
  PagingHarness h;
  // 0x400000 is a second linear mapping of the code page.
  h.wr32(PD + 4, PT1 | PTE_P | PTE_RW);
  h.wr32(PT1, CpuHarness::CODE_ADDR | PTE_P | PTE_RW);
  h.code({0xB9, 0x02, 0x00, 0x00, 0x00,   // mov ecx, 2
          0xB8, 0x11, 0x11, 0x11, 0x11,   // t: mov eax, 0x11111111
          0x01, 0xC3,                     // add ebx, eax
          0xC7, 0x05, 0x06, 0x00, 0x40, 0x00, 0x22, 0x22, 0x22, 0x22,  // mov [alias t+1], ..
          0x49,                           // dec ecx
          0x75, 0xEC});                   // jnz t
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.last_vector(), -1);
  EXPECT_EQ(h.cpu.regs[EBX], 0x33333333u);
}

TEST(Paging, CodeRemappedAtSameLinearAddress) {
  PagingHarness h;
  // Linear 0x400000 runs code from 0x60000, then (after INVLPG) from 0x61000.
  h.wr32(PD + 4, PT1 | PTE_P | PTE_RW);
  h.wr32(PT1, 0x60000 | PTE_P | PTE_RW);
  const uint8_t a[] = {0xB8, 0x01, 0x00, 0x00, 0x00, 0xF4};  // mov eax, 1; hlt
  const uint8_t b[] = {0xB8, 0x02, 0x00, 0x00, 0x00, 0xF4};  // mov eax, 2; hlt
  h.mem.write_bytes(0x60000, a, sizeof a);
  h.mem.write_bytes(0x61000, b, sizeof b);
  h.cpu.eip = 0x400000;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 1u);
  h.wr32(PT1, 0x61000 | PTE_P | PTE_RW);
  tlb_invlpg(h.cpu, 0x400000);
  h.cpu.eip = 0x400000;
  EXPECT_EQ(h.run(), EXIT_HLT);
  EXPECT_EQ(h.cpu.regs[EAX], 2u);
}

TEST(Paging, ImplicitSupervisorAccessesAtCpl3) {
  PagingHarness h;
  const uint32_t sup = 0x51000;
  h.set_pte(sup, sup | PTE_P | PTE_RW);  // like a kernel page holding the GDT or IDT
  h.wr32(sup + 8, 0x1234);
  h.cpu.cpl = 3;
  EXPECT_EQ(read_linear_system<4>(h.cpu, sup + 8), 0x1234u);
  write_linear_system<2>(h.cpu, sup + 0xFFF, 0x00EF);  // crosses into the next page
  EXPECT_EQ(h.rd32(sup + 0xFFC) >> 24, 0xEFu);
  // Nothing was cached for CPL 3 to use.
  EXPECT_EQ(h.fault_of([&] { read_linear<4>(h.cpu, sup + 8); }), PF_P | PF_U);
  // Absent page: a supervisor #PF (U/S clear in the error code).
  h.set_pte(0x52000, 0);
  EXPECT_EQ(h.fault_of([&] { read_linear_system<4>(h.cpu, 0x52000); }), 0);
}

TEST(Paging, UserFetchOfSupervisorPage) {
  PagingHarness h;
  h.set_pte(0x51000, 0x51000 | PTE_P | PTE_RW);
  uint32_t phys, err = 0;
  EXPECT_TRUE(try_translate(h.cpu, 0x51000, ACCESS_FETCH, phys, &err));  // CPL 0 fills
  h.cpu.cpl = 3;
  tlb_drop_supervisor(h.cpu);
  EXPECT_FALSE(try_translate(h.cpu, 0x51010, ACCESS_FETCH, phys, &err));
  EXPECT_EQ(err, PF_P | PF_U);  // no W/R and no I/D bit for a fetch on a P6
  EXPECT_EQ(h.fault_of([&] { translate(h.cpu, 0x51010, ACCESS_FETCH); }), PF_P | PF_U);
  EXPECT_EQ(h.cpu.cr2, 0x51010u);
}

TEST(Paging, PagingOffKeepsA20Mask) {
  CpuHarness h;
  h.wr32(0x20000, 0x77);
  h.cpu.a20_enabled = 0;
  tlb_flush(h.cpu);
  EXPECT_EQ(read_linear<4>(h.cpu, 0x120000), 0x77u);
  EXPECT_EQ(translate(h.cpu, 0x123456, ACCESS_READ), 0x023456u);
}

TEST(Paging, A20AppliesToTranslatedAddresses) {
  PagingHarness h;
  h.wr32(PD + 4, PT1 | PTE_P | PTE_RW);
  h.wr32(PT1, 0x160000 | PTE_P | PTE_RW);  // -> 0x160000, or 0x060000 with A20 off
  h.wr32(0x160000, 1);
  h.wr32(0x060000, 2);
  EXPECT_EQ(read_linear<4>(h.cpu, 0x400000), 1u);
  h.cpu.a20_enabled = 0;
  tlb_flush(h.cpu);
  EXPECT_EQ(read_linear<4>(h.cpu, 0x400000), 2u);
}

// ---- the linear jump cache and chain links across TLB invalidation -------------------------
// Interpreter::lookup finds blocks by linear EIP, and chain links join blocks by linear EIP:
// both must drop what a remapping made stale (INVLPG, MOV CR3 for non-global pages, a
// change of CR4.PGE), and may keep the rest (INVLPG of a page no code was found at, global
// pages over MOV CR3: SDM vol.3 4.10.2.4, 4.10.4.1).

constexpr uint32_t X = 0x400000;     // linear address of the code that gets remapped
constexpr uint32_t P1 = 0x60000, P2 = 0x61000;  // add ebx, 1 / add ebx, 0x100; then ret
constexpr uint32_t PD_B = 0x204000;  // a second address space (bit 20 clear)
constexpr uint32_t PT1_B = 0x205000;

struct RemapHarness : PagingHarness {
  explicit RemapHarness(uint8_t last = 0xC3) {  // ret, or hlt for code entered directly
    const uint8_t a[] = {0x81, 0xC3, 0x01, 0x00, 0x00, 0x00, last};  // add ebx, 1
    const uint8_t b[] = {0x81, 0xC3, 0x00, 0x01, 0x00, 0x00, last};  // add ebx, 0x100
    mem.write_bytes(P1, a, sizeof a);
    mem.write_bytes(P2, b, sizeof b);
    set_pde(X, PT1 | PTE_P | PTE_RW);
    wr32(PT1, P1 | PTE_P | PTE_RW);
    // Address space B: the same identity map, X -> P2.
    wr32(PD_B, PT0 | PTE_P | PTE_RW | PTE_US);
    wr32(PD_B + 4, PT1_B | PTE_P | PTE_RW);
    wr32(PT1_B, P2 | PTE_P | PTE_RW);
    cpu.regs[EBX] = 0;
    cpu.regs[ESI] = 0;
  }
  void set_cr4(uint32_t v) {
    cpu.cr4 = v;
    tlb_flush(cpu);
  }
  // Run the code at X directly (RemapHarness(0xF4)) and say whether its lookup walked the
  // page tables: the fetch TLB entry of X is dropped first, so only the linear jump cache
  // finds the block without a walk.
  bool entered_x_with_a_walk(uint32_t at = X) {
    tlb_drop_fetch_entry(at);
    const uint64_t walks = cpu.tlb_counters.walks;
    cpu.eip = at;
    EXPECT_EQ(run(), EXIT_HLT);
    return cpu.tlb_counters.walks != walks;
  }
  void tlb_drop_fetch_entry(uint32_t lin) {
    SoftTlbEntry& e = tlb_entry(cpu.tlb.fetch, lin);
    if (e.tag == (lin & ~0xFFFu)) e.tag = TLB_INVALID_TAG;
  }
};

// A loop calls X twice (chain link: call -> X), remaps X to other code with INVLPG, and
// calls it twice more through the same call: the link and the linear entry must go.
TEST(LinearJumpCache, InvlpgOfARemappedCodePageDropsLinksAndEntries) {
  for (bool global : {false, true}) {
    RemapHarness h;
    if (global) {
      h.set_cr4(CR4_PGE);
      h.wr32(PT1, P1 | PTE_P | PTE_RW | PTE_G);
    }
    const uint32_t p2 = P2 | PTE_P | PTE_RW | (global ? PTE_G : 0);
    h.code({0xB9, 0x02, 0x00, 0x00, 0x00,  // mov ecx, 2
            0xE8, 0xF6, 0xFF, 0x3E, 0x00,  // L: call X
            0x49,                          // dec ecx
            0x75, 0xF8,                    // jnz L
            0x85, 0xF6,                    // test esi, esi
            0x75, 0x19,                    // jnz done
            0x46,                          // inc esi
            0xC7, 0x05, 0x00, 0x20, 0x20, 0x00, uint8_t(p2), uint8_t(p2 >> 8),
            uint8_t(p2 >> 16), 0x00,       // mov dword [PT1], P2 | flags
            0x0F, 0x01, 0x3D, 0x00, 0x00, 0x40, 0x00,  // invlpg [X]
            0xB9, 0x02, 0x00, 0x00, 0x00,  // mov ecx, 2
            0xEB, 0xDB});                  // jmp L   (done: hlt)
    RUN_OK(h);
    EXPECT_EQ(h.cpu.regs[EBX], 0x202u) << "global " << global;
  }
}

// The same linear code address in two address spaces with different code: MOV CR3 between
// them must drop the linear entry and the link to X's block (non-global pages; or G set
// while CR4.PGE is off, when G means nothing).
TEST(LinearJumpCache, Cr3SwitchBetweenAddressSpacesDropsNonGlobalCode) {
  for (bool pge_off_g_set : {false, true}) {
    RemapHarness h;
    if (pge_off_g_set) {
      h.wr32(PT1, P1 | PTE_P | PTE_RW | PTE_G);
      h.wr32(PT1_B, P2 | PTE_P | PTE_RW | PTE_G);
    } else {
      h.set_cr4(CR4_PGE);
    }
    h.code({0xB9, 0x04, 0x00, 0x00, 0x00,  // mov ecx, 4
            0xE8, 0xF6, 0xFF, 0x3E, 0x00,  // L: call X
            0x0F, 0x20, 0xD8,              // mov eax, cr3
            0x35, 0x00, 0x40, 0x00, 0x00,  // xor eax, PD ^ PD_B
            0x0F, 0x22, 0xD8,              // mov cr3, eax
            0x49,                          // dec ecx
            0x75, 0xED});                  // jnz L
    RUN_OK(h);
    EXPECT_EQ(h.cpu.regs[EBX], 0x202u) << "CR4.PGE off, G set: " << pge_off_g_set;
  }
}

// A chain link to code in a global page is stamped with the global link generation and outlives a
// CR3 load, as the linear jump cache's entry does; to a non-global page it does not. Each
// loop calls X and reloads CR3: with X global, the call at L looks X up only the first time.
TEST(LinearJumpCache, LinksToGlobalCodeSurviveCr3Loads) {
  uint64_t lookups[2], chained[2];
  for (bool global : {false, true}) {
    RemapHarness h;
    h.set_cr4(CR4_PGE);
    if (global) h.wr32(PT1, P1 | PTE_P | PTE_RW | PTE_G);
    h.code({0xB9, 0x04, 0x00, 0x00, 0x00,  // mov ecx, 4
            0xE8, 0xF6, 0xFF, 0x3E, 0x00,  // L: call X
            0x0F, 0x20, 0xD8,              // mov eax, cr3
            0x0F, 0x22, 0xD8,              // mov cr3, eax (the same directory)
            0x49,                          // dec ecx
            0x75, 0xF2});                  // jnz L
    const CacheCounters before = h.cache.counters();
    RUN_OK(h);
    EXPECT_EQ(h.cpu.regs[EBX], 4u) << "global " << global;
    lookups[global] = h.cache.counters().lookups - before.lookups;
    chained[global] = h.cache.counters().chained - before.chained;
  }
  // Compiled code (SOFTCPU_TEST_TIER=jit) links its regions its own way: only the results.
  if (test::default_tier() == test::Tier::JIT) return;
  // The first call is another block (mov ecx joins it); the call at L links to X at its first
  // run, and its last two runs follow that link instead of a lookup.
  EXPECT_EQ(lookups[false] - lookups[true], 2u);
  EXPECT_EQ(chained[true] - chained[false], 2u);
}

// A global page stays over MOV CR3 (B maps X elsewhere, but the global translation may be
// used until invalidated), and INVLPG of it afterwards must reach the block found before.
TEST(LinearJumpCache, GlobalCodeAcrossCr3ThenInvlpg) {
  RemapHarness h;
  h.set_cr4(CR4_PGE);
  h.wr32(PT1, P1 | PTE_P | PTE_RW | PTE_G);
  h.wr32(PT1_B, P2 | PTE_P | PTE_RW | PTE_G);
  h.code({0xE8, 0xFB, 0xFF, 0x3E, 0x00,        // call X          (+1)
          0x0F, 0x20, 0xD8,                    // mov eax, cr3
          0x35, 0x00, 0x40, 0x00, 0x00,        // xor eax, PD ^ PD_B
          0x0F, 0x22, 0xD8,                    // mov cr3, eax
          0x0F, 0x01, 0x3D, 0x00, 0x00, 0x40, 0x00,  // invlpg [X]
          0xE8, 0xE4, 0xFF, 0x3E, 0x00});      // call X          (+0x100)
  RUN_OK(h);
  EXPECT_EQ(h.cpu.regs[EBX], 0x101u);
}

// What stays: a global block's linear entry over a CR3 load (and a full flush drops it), and
// a block's entry over INVLPG of a page that holds no code.
TEST(LinearJumpCache, KeepsEntriesThatStayValid) {
  RemapHarness h(0xF4);
  h.set_cr4(CR4_PGE);
  h.wr32(PT1, P1 | PTE_P | PTE_RW | PTE_G);
  EXPECT_TRUE(h.entered_x_with_a_walk());  // decoded
  EXPECT_FALSE(h.entered_x_with_a_walk());
  tlb_flush_nonglobal(h.cpu);  // MOV CR3
  EXPECT_FALSE(h.entered_x_with_a_walk());
  tlb_invlpg(h.cpu, DATA);
  EXPECT_FALSE(h.entered_x_with_a_walk());
  tlb_invlpg(h.cpu, X + 0x1000);  // the next page: no code was found there
  EXPECT_FALSE(h.entered_x_with_a_walk());
  tlb_invlpg(h.cpu, X + 0xFFF);
  EXPECT_TRUE(h.entered_x_with_a_walk());
  h.set_cr4(0);  // a change of CR4.PGE flushes global entries too
  EXPECT_TRUE(h.entered_x_with_a_walk());
  // Not global now: a CR3 load drops it, INVLPG of a data page does not.
  EXPECT_FALSE(h.entered_x_with_a_walk());
  tlb_invlpg(h.cpu, DATA);
  EXPECT_FALSE(h.entered_x_with_a_walk());
  tlb_flush_nonglobal(h.cpu);
  EXPECT_TRUE(h.entered_x_with_a_walk());
  EXPECT_EQ(h.cpu.regs[EBX], 10u);
}

// Code in a 4 MiB page: INVLPG anywhere in it drops the whole translation (SDM vol.3
// 4.10.4.1), so the block's entry goes too.
TEST(LinearJumpCache, InvlpgInALargeCodePage) {
  RemapHarness h(0xF4);
  h.set_cr4(CR4_PSE);
  const uint32_t at = X + P1;  // X -> physical 0 as one 4 MiB page: P1's code
  h.set_pde(X, 0x000000 | PTE_P | PTE_RW | PTE_PS);
  EXPECT_TRUE(h.entered_x_with_a_walk(at));
  EXPECT_FALSE(h.entered_x_with_a_walk(at));
  tlb_invlpg(h.cpu, X + 0x400000);  // the next 4 MiB: no code there
  EXPECT_FALSE(h.entered_x_with_a_walk(at));
  h.set_pde(X, PT1 | PTE_P | PTE_RW);  // now 4 KiB pages: `at` -> P2's code
  h.wr32(PT1 + (P1 >> 12) * 4, P2 | PTE_P | PTE_RW);
  tlb_invlpg(h.cpu, X + 0x123000);  // another 4 KiB of the same 4 MiB page
  EXPECT_TRUE(h.entered_x_with_a_walk(at));
  EXPECT_EQ(h.cpu.regs[EBX], 0x103u);
}

// A linear entry whose generation moved (MOV CR3, here of non-global code) is not dropped:
// the next lookup confirms it through the fetch TLB (refilled by a walk) and reuses its block,
// with no lookup by physical address and no decode.
TEST(LinearJumpCache, EntryKeptOverCr3LoadIsCheckedThroughTheTlb) {
  RemapHarness h(0xF4);
  EXPECT_TRUE(h.entered_x_with_a_walk());  // decoded
  const uint64_t decoded = h.interp.counters().blocks_decoded;
  const CacheCounters before = h.cache.counters();
  tlb_flush_nonglobal(h.cpu);  // MOV CR3 to the same page directory
  h.cpu.eip = X;
  EXPECT_EQ(h.run(), EXIT_HLT);
  const CacheCounters& after = h.cache.counters();
  EXPECT_EQ(after.linear_checked_hits, before.linear_checked_hits + 1);
  EXPECT_EQ(after.linear_jump_hits, before.linear_jump_hits + 1);
  EXPECT_EQ(after.hash_hits, before.hash_hits);
  EXPECT_EQ(h.interp.counters().blocks_decoded, decoded);
  // Now it is the generation's again: a plain hit.
  EXPECT_FALSE(h.entered_x_with_a_walk());
  EXPECT_EQ(h.cache.counters().linear_checked_hits, before.linear_checked_hits + 1);
  // The same over MOV CR3 to the other address space must not reuse it: X maps to P2 there.
  h.cpu.cr3 = PD_B;
  tlb_flush_nonglobal(h.cpu);
  EXPECT_TRUE(h.entered_x_with_a_walk());
  EXPECT_EQ(h.cpu.regs[EBX], 3u + 0x100u);
}

// A page-table write without INVLPG (SDM vol.3 4.10.4.3: the old translation may be used
// until it is invalidated): an entry whose generation moved is confirmed only where the fetch
// TLB maps it. While the TLB holds the stale translation the old code runs, as a fetch would;
// once the TLB entry is gone, the code the tables map now.
TEST(LinearJumpCache, PageTableWriteWithoutInvlpgFollowsTheTlb) {
  RemapHarness h(0xF4);
  constexpr uint32_t Y = 0x70000;  // other code, identity mapped: add ebx, 0x10000; hlt
  const uint8_t y[] = {0x81, 0xC3, 0x00, 0x00, 0x01, 0x00, 0xF4};
  h.mem.write_bytes(Y, y, sizeof y);
  auto run_at = [&](uint32_t at) {
    h.cpu.eip = at;
    EXPECT_EQ(h.run(), EXIT_HLT);
  };
  auto fetch_maps = [&](uint32_t lin) {
    uint32_t phys = 0;
    EXPECT_TRUE(try_translate(h.cpu, lin, ACCESS_FETCH, phys));
    return phys;
  };
  run_at(X);  // P1: +1
  run_at(Y);  // +0x10000; Y's page is noted, INVLPG of it moves the generation
  h.wr32(PT1, P2 | PTE_P | PTE_RW);  // X -> P2, no INVLPG
  run_at(X);  // the TLB still maps P1: +1
  EXPECT_EQ(fetch_maps(X), P1);
  const uint64_t checked = h.cache.counters().linear_checked_hits;
  tlb_invlpg(h.cpu, Y);  // a new generation; X's TLB entry stays
  run_at(X);  // confirmed through the stale TLB entry: still P1, +1
  EXPECT_EQ(h.cache.counters().linear_checked_hits, checked + 1);
  EXPECT_EQ(fetch_maps(X), P1);
  EXPECT_EQ(h.cpu.regs[EBX], 0x10003u);
  // The TLB lets X's entry go (it may at any time) and the generation moves: the entry of X
  // (P1's block) is still there, but the walk that confirms it sees P2.
  run_at(Y);  // noted again (the last new generation forgot it): +0x10000
  h.tlb_drop_fetch_entry(X);
  tlb_invlpg(h.cpu, Y);
  run_at(X);  // +0x100
  EXPECT_EQ(fetch_maps(X), P2);
  EXPECT_EQ(h.cpu.regs[EBX], 0x20103u);
  // Back to P1 with INVLPG of X: the entry (P2's block now) goes, as the TLB entry does.
  h.wr32(PT1, P1 | PTE_P | PTE_RW);
  tlb_invlpg(h.cpu, X);
  run_at(X);  // +1
  EXPECT_EQ(h.cpu.regs[EBX], 0x20104u);
}

}  // namespace
}  // namespace softcpu
