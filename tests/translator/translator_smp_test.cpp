// Tier 1 with several CPUs over one block cache (-smp N, round-robin: docs/design.md "SMP
// vCPUs"): one Translator serves every CPU's interpreter, compiled code runs for whichever CPU
// enters it, a write by one CPU retires the regions another runs, and PAUSE (which ends a
// CPU's slice with -smp) leaves compiled code with exact instruction counts.
#include <gtest/gtest.h>

#include <memory>

#include "interp/tlb.h"
#include "tests/interp/cpu_harness.h"
#include "translator/translator.h"

namespace softcpu {
namespace {

using test::CpuHarness;
using test::Tier;

constexpr uint32_t CODE = CpuHarness::CODE_ADDR;
constexpr uint32_t DATA = CpuHarness::DATA_ADDR;

// Two CPUs as Machine makes them for -smp 2: CPU 0 is the harness's, CPU 1 a second Cpu and
// Interpreter over the same memory and block cache, on the smp_next ring (which makes the
// decoder substitute smp_pause for PAUSE and a new code page drop every CPU's write TLB
// entries). One synchronous translator (compiles at the threshold, on this thread) serves both.
struct TwoCpus {
  CpuHarness h{true, Tier::INTERP};
  Cpu cpu1{};
  std::unique_ptr<Interpreter> interp1;
  Translator tr;

  explicit TwoCpus(uint64_t threshold) : tr(h.cache, config(threshold)) {
    cpu1 = h.cpu;  // the same flat 32-bit set-up (GDT, IDT, segments); its own TLB below
    tlb_flush(cpu1);
    cpu1.regs[ESP] = CpuHarness::STACK_TOP - 0x4000;
    interp1 = std::make_unique<Interpreter>(cpu1, h.cache);
    h.cpu.smp_next = &cpu1;
    cpu1.smp_next = &h.cpu;
    h.interp.set_native_tier(&tr);
    interp1->set_native_tier(&tr);
  }
  ~TwoCpus() {
    h.interp.set_native_tier(nullptr);
    interp1->set_native_tier(nullptr);
  }
  static TranslatorConfig config(uint64_t threshold) {
    TranslatorConfig tc;
    tc.threshold = threshold;
    tc.sync = true;
    return tc;
  }
  Interpreter& interp(unsigned k) { return k ? *interp1 : h.interp; }
  Cpu& cpu(unsigned k) { return k ? cpu1 : h.cpu; }
  // One slice of CPU k, as Machine::run_aps runs it: chain links and exit slots are made in the
  // linear view of the CPU that made them, so a switch of CPU starts a new link generation.
  ExitReason slice(unsigned k, uint64_t budget) {
    h.cache.new_address_space();
    return interp(k).run(budget);
  }
};

// Both CPUs run one loop in turns of a few hundred instructions each, with their own counts
// and data: the region compiled when CPU 0 made it hot serves CPU 1 too (not compiled again),
// and each CPU's results and instruction count are exact.
TEST(TranslatorSmp, TwoCpusShareOneCompiledLoop) {
  TwoCpus t(16);
  // l: add [edi], ecx ; add eax, ecx ; dec ecx ; jnz l ; hlt
  t.h.put(CODE, {0x01, 0x0F, 0x01, 0xC8, 0x49, 0x75, 0xF9, 0xF4});
  const uint32_t n[2] = {3000, 2000};
  for (unsigned k = 0; k < 2; ++k) {
    Cpu& c = t.cpu(k);
    c.eip = CODE;
    c.regs[ECX] = n[k];
    c.regs[EAX] = 7 * k;
    c.regs[EDI] = DATA + 4 * k;
  }
  bool done[2] = {false, false};
  for (unsigned turn = 0; !(done[0] && done[1]) && turn < 1000; ++turn) {
    const unsigned k = turn & 1;
    if (done[k]) continue;
    const ExitReason r = t.slice(k, 300 + 50 * k);
    if (r == EXIT_HLT) done[k] = true;
    else ASSERT_EQ(r, EXIT_BUDGET) << "CPU " << k;
  }
  ASSERT_TRUE(done[0] && done[1]);
  for (unsigned k = 0; k < 2; ++k) {
    const uint64_t sum = uint64_t(n[k]) * (n[k] + 1) / 2;
    EXPECT_EQ(t.cpu(k).regs[EAX], uint32_t(sum + 7 * k)) << "CPU " << k;
    EXPECT_EQ(t.h.rd32(DATA + 4 * k), uint32_t(sum)) << "CPU " << k;
    EXPECT_EQ(t.cpu(k).eip, CODE + 7) << "CPU " << k;  // at the HLT, for the monitor to run
    // 4 instructions per iteration, then HLT (which the monitor would run: not retired here).
    EXPECT_EQ(t.cpu(k).icount, 4ull * n[k]) << "CPU " << k;
    EXPECT_GT(t.interp(k).counters().native_entries, 10u) << "CPU " << k;
    EXPECT_GT(t.cpu(k).icount - t.interp(k).counters().insns_interpreted, 4ull * n[k] * 9 / 10)
        << "CPU " << k << ": most of its loop ran compiled";
  }
  EXPECT_EQ(t.tr.stats().regions_installed, 1u);  // made once, by whichever CPU got it hot
}

// CPU 1 runs a compiled loop whose immediate CPU 0 then rewrites: CPU 0's store takes the
// self-modifying-code path although its write TLB entry for the page was filled before the
// page held code (the decode dropped it on every CPU), retires the region, and CPU 1's next
// run sees the new immediate.
TEST(TranslatorSmp, ACpuRewritesCodeAnotherRunsCompiled) {
  TwoCpus t(16);
  const uint32_t code = CODE + 0x2000;  // its own page; CPU 0's store lives at CODE
  // CPU 0 writes its data to the page before it holds code: a write TLB entry for it.
  t.h.put(CODE, {0x89, 0x1D, uint8_t(code + 0x800), uint8_t((code + 0x800) >> 8),
                 uint8_t((code + 0x800) >> 16), 0x00,  // mov [code+0x800], ebx
                 0xF4});                                  // hlt
  t.h.cpu.eip = CODE;
  ASSERT_EQ(t.slice(0, 100), EXIT_HLT);
  ASSERT_TRUE(tlb_hit(tlb_entry(t.h.cpu.tlb.write, code + 4), code + 4, 4));
  // CPU 1: l: nop ; nop ; nop ; add eax, imm32 ; dec ecx ; jnz l ; hlt. The immediate is
  // aligned, so CPU 0's store to it could take its TLB's fast path (an unaligned one never does).
  const uint8_t body[] = {0x90, 0x90, 0x90, 0x05, 0x01, 0x00, 0x00, 0x00, 0x49, 0x75, 0xF5, 0xF4};
  t.h.mem.write_bytes(code, body, sizeof body);
  auto run_cpu1 = [&](uint32_t count) {
    t.cpu1.eip = code;
    t.cpu1.regs[ECX] = count;
    t.cpu1.regs[EAX] = 0;
    ExitReason r;
    do r = t.slice(1, 1000);
    while (r == EXIT_BUDGET);
    EXPECT_EQ(r, EXIT_HLT);
    return t.cpu1.regs[EAX];
  };
  EXPECT_EQ(run_cpu1(500), 500u);
  const uint64_t entries = t.interp1->counters().native_entries;
  EXPECT_GT(entries, 0u);
  ASSERT_EQ(t.tr.stats().regions_installed, 1u);
  // CPU 0's write TLB still maps the page as it did before the page held code, unless the
  // decode on CPU 1 dropped that entry on every CPU (interp/interpreter.cpp build_block).
  EXPECT_FALSE(tlb_hit(tlb_entry(t.h.cpu.tlb.write, code + 4), code + 4, 4));
  // CPU 0 (new code of its own, after the first): mov dword [code+4], 3 ; hlt
  t.h.put(CODE + 0x100, {0xC7, 0x05, uint8_t(code + 4), uint8_t((code + 4) >> 8),
                         uint8_t((code + 4) >> 16), 0x00, 0x03, 0x00, 0x00, 0x00, 0xF4});
  t.h.cpu.eip = CODE + 0x100;
  ASSERT_EQ(t.slice(0, 100), EXIT_HLT);
  EXPECT_EQ(t.tr.stats().regions_invalidated, 1u);
  EXPECT_EQ(run_cpu1(400), 1200u);  // the new immediate
  EXPECT_GT(t.interp1->counters().native_entries, entries);  // compiled again, and entered
  EXPECT_EQ(t.tr.stats().regions_installed, 2u);
}

// With -smp N, PAUSE ends the CPU's slice (interp/interpreter.cpp smp_pause). In compiled code
// it leaves the region through the trap exit: every run ends right after a PAUSE, with the same
// instruction count and state as tier 0 (the PAUSE itself retired once).
TEST(TranslatorSmp, PauseEndsTheSliceInCompiledCodeAsInTier0) {
  // l: inc eax ; pause ; dec ecx ; jnz l ; hlt
  const std::initializer_list<uint8_t> code = {0x40, 0xF3, 0x90, 0x49, 0x75, 0xFA, 0xF4};
  TwoCpus jit(4);
  CpuHarness tier0(true, Tier::INTERP);
  Cpu other{};  // tier 0 on the ring too, so it decodes PAUSE the same way
  reset_cpu(other);
  tier0.cpu.smp_next = &other;
  other.smp_next = &tier0.cpu;
  for (CpuHarness* h : {&jit.h, &tier0}) {
    h->put(CODE, code);
    h->cpu.eip = CODE;
    h->cpu.regs[ECX] = 200;
  }
  unsigned runs = 0;
  for (;; ++runs) {
    ASSERT_LT(runs, 1000u);
    const ExitReason a = jit.slice(0, 100000), b = tier0.interp.run(100000);
    ASSERT_EQ(a, b) << "run " << runs;
    ASSERT_EQ(jit.h.cpu.icount, tier0.cpu.icount) << "run " << runs;
    ASSERT_EQ(jit.h.cpu.eip, tier0.cpu.eip) << "run " << runs;
    ASSERT_EQ(jit.h.cpu.regs[EAX], tier0.cpu.regs[EAX]) << "run " << runs;
    if (a == EXIT_HLT) break;
    ASSERT_EQ(a, EXIT_BUDGET);
    ASSERT_EQ(jit.h.cpu.eip, CODE + 3) << "a run ends right after its PAUSE";
  }
  EXPECT_EQ(runs, 200u);
  EXPECT_EQ(jit.h.cpu.icount, 200u * 4);
  EXPECT_GT(jit.h.interp.counters().native_exits[NATIVE_EXIT_TRAP], 150u);  // PAUSE ran compiled
}

}  // namespace
}  // namespace softcpu
