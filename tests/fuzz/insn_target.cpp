// Instruction-stream harness: a sandbox CPU (1 MiB of RAM, no devices) runs the input as code
// in one of eight modes, through the interpreter, for a bounded number of instructions.
//
// Input: byte 0 the mode (below), byte 1 options, bytes 2-5 the seed of the random tables
// (descriptors, IDT gates, TSS I/O bitmap, page tables), the rest the code (at most 8 KiB, at
// linear 0x10000; also copied to 0x20000 as data). Protected-mode entries, ring 3 and V86 are
// reached the way software reaches them: an IRETD from ring 0 at 0x0F00, whose frame the
// harness writes on the ring-0 stack.
//
// Findings: a host crash or sanitizer report, or a guest state that breaks an invariant after
// an instruction: CPL != CS.RPL in protected mode (once CS was loaded there), CPL != 3 in V86
// mode, EFLAGS.VM without CR0.PE, EFLAGS bit 1 clear, EIP beyond CS's limit by more than one
// instruction's length, CR0.PG without CR0.PE.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "cache/block_cache.h"
#include "interp/block.h"
#include "interp/cpu.h"
#include "interp/exceptions.h"
#include "interp/flags.h"
#include "interp/interpreter.h"
#include "interp/memory.h"
#include "interp/paging.h"
#include "interp/segments.h"
#include "interp/tlb.h"
#include "interp/trap.h"
#include "tests/fuzz/fuzz_memory.h"
#include "tests/fuzz/fuzz_targets.h"
#include "translator/translator.h"

namespace softcpu::fuzz {
namespace {

constexpr uint32_t RAM = 1u << 20;
constexpr uint32_t IDT = 0x400, GDT = 0x800, STUBS = 0x1000, TSS = 0x3000;
constexpr uint32_t PD = 0x6000, PT = 0x7000, ENTRY = 0x0F00;
constexpr uint32_t CODE = 0x10000, DATA = 0x20000, USER_STACK = 0x2F000, STACK0 = 0x30000;
constexpr uint32_t MAX_CODE = 0x2000;
constexpr uint64_t INSN_LIMIT = 4000;  // instructions (and deliveries) per input
// With OPT_STEP: Interpreter::step() starts a block at each EIP (decoding ahead to the block's
// end) and each new block recomputes its page's code lines over every block on the page, so
// 4000 steps through straight-line code took a second of CPU in the fuzzer's build, 60 times
// an average input's. insn_jit's interpreted run keeps INSN_LIMIT (it is compared with the
// compiled run's).
constexpr uint64_t STEP_LIMIT = 1000;
constexpr unsigned EXIT_LIMIT = 5000;  // monitor round trips (or steps) per input
// insn_jit: guest instructions compiled per input (the regions' total). Compiling is the cost
// of an insn_jit input: LLVM's passes and code generation over the handlers' IR, about 7 ms of
// CPU per guest instruction even in the normal gcc build (2 800 instructions, 16 regions per
// seed at most, took 18.8 s there; building the Translator itself is cheap), and random code
// makes long blocks (a seed compiled up to 961 instructions in its 16 regions, about 40 s of
// CPU under ASan). A hot block is compiled only if it fits in what is left of the budget; the other
// blocks of its region (at most JIT_REGION_BLOCKS - 1) may take the total past it.
constexpr uint64_t JIT_INSNS = 48;
constexpr unsigned JIT_REGION_BLOCKS = 8;  // TranslatorConfig::max_region_blocks (default 32)

enum Mode : uint8_t { REAL, PM16, PM32, V86, PAGED32, PAGED32_RING3, PAGED16_RING3, PM32_RING3 };
enum Option : uint8_t {
  OPT_STEP = 1,        // one instruction per call (Interpreter::step) instead of run()
  OPT_GATES_CODE = 2,  // IDT/IVT entries point into the code instead of HLT stubs
  OPT_IF = 4,          // EFLAGS.IF on entry
  OPT_PSE_PGE = 8,     // CR4.PSE and CR4.PGE (4 MiB and global pages)
  OPT_WILD = 16,       // page tables and descriptors without the sane parts kept mapped
  OPT_VME = 32,        // CR4.VME/PVI (V86 mode extensions)
  OPT_WP = 64,         // CR0.WP
};

// xorshift32: the random tables follow from the seed in the input.
struct Rng {
  uint32_t s;
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
  bool chance(unsigned percent) { return next() % 100 < percent; }
};

// Ports read as a value derived from the port; writes go nowhere.
struct NullBus final : IoBus {
  uint32_t in(uint16_t port, unsigned) override { return 0x5A5A0000u | port; }
  void out(uint16_t, unsigned, uint32_t) override {}
};

uint64_t desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
  uint32_t lo = (limit & 0xFFFF) | (base << 16);
  uint32_t hi = ((base >> 16) & 0xFF) | (uint32_t(access) << 8) | (limit & 0xF0000) |
                (uint32_t(flags) << 20) | (base & 0xFF000000u);
  return (uint64_t(hi) << 32) | lo;
}
uint64_t gate(uint16_t sel, uint32_t off, unsigned type, unsigned dpl) {
  uint32_t lo = (uint32_t(sel) << 16) | (off & 0xFFFF);
  uint32_t hi = (off & 0xFFFF0000u) | 0x8000u | (dpl << 13) | (type << 8);
  return (uint64_t(hi) << 32) | lo;
}

// The translator behind a budget of guest instructions compiled (JIT_INSNS): a hot block is
// handed over (and compiled at once: TranslatorConfig::sync) while the regions so far hold
// fewer instructions than the budget and the block itself fits in what is left.
struct BudgetTier final : NativeTier {
  Translator& jit;
  uint64_t budget;
  BudgetTier(Translator& t, uint64_t insns) : jit(t), budget(insns) {}
  void hot(Cpu& c, DecodedBlock& b) override {
    const uint64_t used = jit.stats(false).region_insns;  // no percentiles: they sort timings
    if (used < budget && b.insns.size() <= budget - used) jit.hot(c, b);
  }
  void poll() override { jit.poll(); }
  Thresholds thresholds() const override { return jit.thresholds(); }
};

struct Sandbox {
  PhysicalMemory& mem = reusable_memory("insn", RAM);
  BlockCache cache;
  Cpu cpu{};
  Interpreter interp{cpu, cache};
  NullBus bus;
  std::unique_ptr<Translator> jit;  // insn_jit: compiled code (goes before the cache it fills)
  std::unique_ptr<BudgetTier> budget;

  Sandbox() {
    cpu.mem = &mem;
    cpu.cache = &cache;
    reset_cpu(cpu);
  }
  void w32(uint32_t a, uint32_t v) { mem.write_bytes(a, &v, 4); }
  void w64(uint32_t a, uint64_t v) { mem.write_bytes(a, &v, 8); }
  void w8(uint32_t a, uint8_t v) { mem.write_bytes(a, &v, 1); }
};

// The state a step may never leave behind.
void check_invariants(const Cpu& c, bool cs_loaded_protected) {
  const SegmentCache& cs = c.seg[CS];
  const bool pe = c.cr0 & CR0_PE, vm = c.eflags & VM;
  if (!(c.eflags & 2)) fail("insn", "EFLAGS bit 1 clear");
  if (vm && !pe) fail("insn", "EFLAGS.VM set with CR0.PE clear");
  if ((c.cr0 & CR0_PG) && !pe) fail("insn", "CR0.PG set with CR0.PE clear");
  if (vm && c.cpl != 3) fail("insn", "CPL != 3 in V86 mode");
  if (pe && !vm && cs_loaded_protected && c.cpl != (cs.selector & 3))
    fail("insn", "CPL != CS.RPL in protected mode");
  // An instruction may end exactly at the limit, leaving EIP at limit + 1 (the next fetch
  // faults); no instruction is longer than 15 bytes.
  if (uint64_t(c.eip) > uint64_t(cs.limit) + 15) fail("insn", "EIP beyond the CS limit");
}

void build_tables(Sandbox& s, Rng& rng, uint8_t opt) {
  // HLT stubs: 32-bit (ring 0 via the IDT) at STUBS + v*16, real-mode ones share them.
  for (unsigned v = 0; v < 64; ++v) s.w8(STUBS + v * 16, 0xF4);
  // Real-mode IVT (256 vectors) and protected-mode IDT (64 vectors at 0x400).
  for (unsigned v = 0; v < 256; ++v) {
    const uint32_t off = (opt & OPT_GATES_CODE) ? rng.next() % MAX_CODE : 0;
    const uint32_t ent = (opt & OPT_GATES_CODE) ? (0x1000u << 16) | off : STUBS + (v % 64) * 16;
    if (v < IDT / 4) s.w32(v * 4, ent);
  }
  for (unsigned v = 0; v < 64; ++v) {
    const uint32_t off = (opt & OPT_GATES_CODE) ? CODE + rng.next() % MAX_CODE : STUBS + v * 16;
    const unsigned type = rng.chance(70) ? 0xE : rng.chance(50) ? 0xF : rng.next() & 0xF;
    uint64_t g = gate(0x08, off, type, rng.chance(50) ? 3 : 0);
    if (opt & OPT_WILD && rng.chance(10)) g ^= uint64_t(rng.next()) << (rng.next() % 32);
    s.w64(IDT + v * 8, g);
  }
  s.cpu.idtr = {IDT, 64 * 8 - 1};

  // GDT: null, 0x08 code32, 0x10 data32, 0x18 code16 (base CODE), 0x20 data16, 0x2B code32
  // DPL3, 0x33 data32 DPL3, 0x3B code16 DPL3, 0x40 TSS, 0x48 an LDT, then random descriptors.
  const uint64_t fixed[] = {
      0,
      desc(0, 0xFFFFF, 0x9B, 0xC),
      desc(0, 0xFFFFF, 0x93, 0xC),
      desc(CODE, 0xFFFF, 0x9B, 0x0),
      desc(0, 0xFFFF, 0x93, 0x0),
      desc(0, 0xFFFFF, 0xFB, 0xC),
      desc(0, 0xFFFFF, 0xF3, 0xC),
      desc(CODE, 0xFFFF, 0xFB, 0x0),
      desc(TSS, 0x68 + 0x2000, 0x89, 0x0),
      desc(DATA, 0x3F, 0x82, 0x0),
  };
  for (unsigned k = 0; k < std::size(fixed); ++k) s.w64(GDT + k * 8, fixed[k]);
  // Every draw is its own statement: the order of a call's arguments (and of `|`'s operands)
  // is unspecified, and gcc and clang pick opposite ones, so an input found by the fuzzers
  // (clang) built other tables in the replay test (gcc). Left to right, as clang did.
  for (unsigned k = std::size(fixed); k < 24; ++k) {
    const uint32_t base = rng.chance(50) ? 0 : rng.next() & ~0xFFFu;
    const uint32_t limit = rng.next() & 0xFFFFF;
    const uint8_t access = uint8_t(rng.next() | 0x10);
    const uint8_t flags = uint8_t(rng.next() & 0xD);
    uint64_t d = desc(base, limit, access, flags);
    if (rng.chance(30)) {
      const uint32_t index = rng.next() % 24 * 8;
      const uint16_t sel = uint16_t(index | (rng.next() & 3));
      const uint32_t off = CODE + rng.next() % MAX_CODE;
      const unsigned type = rng.chance(50) ? 0xC : 0x4 | (rng.next() & 0xB);
      d = gate(sel, off, type, rng.next() & 3);
    }
    if (rng.chance(10)) d = desc(TSS + 0x400, 0x67, rng.chance(50) ? 0x89 : 0x81, 0);
    s.w64(GDT + k * 8, d);
  }
  s.cpu.gdtr = {GDT, 24 * 8 - 1};

  // 32-bit TSS: ring-0 stack, I/O bitmap (first 1024 ports random) and a second TSS for task
  // switches that copies the first one's stack.
  s.w32(TSS + 4, STACK0);
  s.w32(TSS + 8, 0x10);
  s.w32(TSS + 0x64, 0x68u << 16);
  for (uint32_t k = 0; k < 128; k += 4) s.w32(TSS + 0x68 + k, rng.next());
  for (uint32_t k = 128; k < 0x2000; k += 4) s.w32(TSS + 0x68 + k, rng.chance(2) ? rng.next() : 0);
  s.w8(TSS + 0x68 + 0x2000, 0xFF);
  s.w32(TSS + 0x400 + 4, STACK0 - 0x800);
  s.w32(TSS + 0x400 + 8, 0x10);
  s.w32(TSS + 0x400 + 0x20, CODE + rng.next() % MAX_CODE);  // EIP
  s.w32(TSS + 0x400 + 0x24, 2 | (rng.next() & 0x0CD5));     // EFLAGS
  s.w32(TSS + 0x400 + 0x38, STACK0 - 0x1000);
  s.w32(TSS + 0x400 + 0x4C, rng.chance(80) ? 0x08 : rng.next() % 24 * 8 | 3);  // CS
  for (uint32_t k : {0x48u, 0x50u, 0x54u, 0x58u, 0x5Cu}) s.w32(TSS + 0x400 + k, 0x10);
  s.cpu.tr.selector = 0x40;
  cache_from_descriptor(s.cpu, s.cpu.tr, 0x40, fixed[8]);
  // The LDT: eight random descriptors at DATA (the code's data copy) - leave them as bytes.
  s.cpu.ldtr.selector = 0x48;
  cache_from_descriptor(s.cpu, s.cpu.ldtr, 0x48, fixed[9]);
}

// Page directory and one page table for linear 0-4 MiB; the sandbox's own structures keep
// sane mappings unless OPT_WILD.
void build_page_tables(Sandbox& s, Rng& rng, uint8_t opt, bool user) {
  const uint32_t us = user ? PTE_US : 0;
  for (uint32_t k = 0; k < 1024; ++k) {
    uint32_t pte;
    if (rng.chance(75)) pte = (k << 12) | PTE_P | PTE_RW | PTE_US;  // identity
    else {  // anything, RAM or not (two statements: see build_tables)
      pte = rng.next() & 0x3FF000u;
      pte |= rng.next() & 0x1FF;
    }
    const bool own = k < 8 || (k >= CODE >> 12 && k < (CODE + MAX_CODE) >> 12) ||
                     k == DATA >> 12 || k == USER_STACK >> 12 || k == (STACK0 >> 12) - 1;
    if (own && !(opt & OPT_WILD)) {
      pte = (k << 12) | PTE_P | PTE_RW;
      if (k >= CODE >> 12 || k == 0) pte |= us;  // code, data, user stack (and the IVT page)
      if (k == (STACK0 >> 12) - 1) pte &= ~PTE_US;
    }
    s.w32(PT + k * 4, pte);
  }
  s.w32(PD, PT | PTE_P | PTE_RW | PTE_US);
  for (uint32_t k = 1; k < 1024; ++k) {
    uint32_t pde = 0;
    if (rng.chance(5)) pde = rng.next();  // 4 MiB pages (with PSE), tables anywhere
    if (rng.chance(2)) pde = PD | PTE_P | PTE_RW | PTE_US;  // the directory as a table
    s.w32(PD + k * 4, pde);
  }
  s.cpu.cr3 = PD | (rng.next() & 0x18);
  if (opt & OPT_PSE_PGE) s.cpu.cr4 |= CR4_PSE | CR4_PGE;
  s.cpu.cr0 |= CR0_PG;
  if (opt & OPT_WP) s.cpu.cr0 |= CR0_WP;
}

// What a run leaves behind, for the differential mode.
struct Outcome {
  uint32_t regs[8], eip, eflags, cr0, cr2, cr3;
  uint16_t sel[6];
  uint64_t icount, deliveries, slow_accesses, ram_hash;
  uint8_t cpl, halted;
  bool triple_fault;
};

// The work an input has done against its limit (the loop in run() says why each term).
uint64_t work_of(uint64_t insns, uint64_t deliveries, uint64_t slow_accesses) {
  return insns + deliveries + slow_accesses / 16;
}

bool run(const uint8_t* data, size_t size, bool use_jit, Outcome* out) {
  if (size < 6) return false;
  const Mode mode = Mode(data[0] % 8);
  const uint8_t opt = data[1];
  Rng rng{uint32_t(data[2]) | uint32_t(data[3]) << 8 | uint32_t(data[4]) << 16 |
          uint32_t(data[5]) << 24};
  if (!rng.s) rng.s = 0x12345678;
  const uint8_t* code = data + 6;
  const size_t code_len = std::min<size_t>(size - 6, MAX_CODE);

  // On the heap: the block cache's jump table is 512 KiB, and ASan unpoisons the stack below
  // the frame a C++ exception leaves (each guest fault) with an mmap of its shadow when that
  // span is large, which took a third of the run (README.md "Why so few executions").
  const auto sandbox = std::make_unique<Sandbox>();
  Sandbox& s = *sandbox;
  Cpu& c = s.cpu;
  if (use_jit) {
    TranslatorConfig tc;
    tc.threshold = 1;  // a block is compiled the first time it runs, within JIT_INSNS
    tc.sync = true;
    tc.max_region_blocks = JIT_REGION_BLOCKS;
    s.jit = std::make_unique<Translator>(s.cache, tc);
    s.budget = std::make_unique<BudgetTier>(*s.jit, JIT_INSNS);
    s.interp.set_native_tier(s.budget.get());
  }
  s.mem.write_bytes(CODE, code, uint32_t(code_len));
  s.mem.write_bytes(DATA, code, uint32_t(code_len));
  build_tables(s, rng, opt);

  if (mode == REAL) {
    for (unsigned seg : {ES, CS, SS, DS, FS, GS}) load_segment_real(c, seg, 0x1000);
    c.eip = 0;
    c.regs[ESP] = 0xFFF0;
    if (opt & OPT_IF) c.eflags |= IF;
  } else {
    // Flat 32-bit ring 0 first, then IRETD to the mode wanted.
    c.cr0 |= CR0_PE;
    cache_from_descriptor(c, c.seg[CS], 0x08, desc(0, 0xFFFFF, 0x9B, 0xC));
    for (unsigned seg : {ES, SS, DS, FS, GS})
      cache_from_descriptor(c, c.seg[seg], 0x10, desc(0, 0xFFFFF, 0x93, 0xC));
    const bool paged = mode == PAGED32 || mode == PAGED32_RING3 || mode == PAGED16_RING3 ||
                       (mode == V86 && (opt & OPT_WILD));
    const bool user = mode >= PAGED32_RING3 || mode == V86;
    if (paged) build_page_tables(s, rng, opt, user);
    if (opt & OPT_VME) c.cr4 |= CR4_VME | CR4_PVI;
    update_mode(c);
    tlb_flush(c);
    uint32_t eflags = 2 | ((opt & OPT_IF) ? uint32_t(IF) : 0u) | (rng.next() & (IOPL | 0x8D5));
    std::vector<uint32_t> frame;  // IRETD pops EIP, CS, EFLAGS [, ESP, SS [, ES, DS, FS, GS]]
    switch (mode) {
      case PM16: frame = {0, 0x18, eflags}; break;
      case PM32: case PAGED32: frame = {CODE, 0x08, eflags}; break;
      case PAGED32_RING3: case PM32_RING3: frame = {CODE, 0x2B, eflags, USER_STACK, 0x33}; break;
      case PAGED16_RING3: frame = {0, 0x3B, eflags, 0xF000, 0x20 | 3}; break;
      case V86:
        frame = {0, 0x1000, eflags | VM, 0xFFF0, 0x2000, 0x2000, 0x2000, 0x2000, 0x2000};
        break;
      default: break;
    }
    if (mode == PAGED16_RING3) s.w64(GDT + 4 * 8, desc(0x20000, 0xFFFF, 0xF3, 0));  // SS DPL 3
    c.regs[ESP] = STACK0 - 4 * uint32_t(frame.size());
    s.mem.write_bytes(c.regs[ESP], frame.data(), uint32_t(frame.size() * 4));
    s.w8(ENTRY, 0xCF);  // IRETD (32-bit code)
    c.eip = ENTRY;
  }
  for (unsigned r = 0; r < 8; ++r)
    if (r != ESP) c.regs[r] = rng.chance(50) ? rng.next() : rng.next() & 0xFFFF;

  // The first instruction is the harness's IRETD; invariants hold from then on. CPL ==
  // CS.RPL is checked only while protected mode has not been left: after CR0.PE is set by
  // MOV CR0, CS keeps its real-mode selector until a far transfer (SDM vol.3 9.9.1).
  bool cs_loaded_protected = (c.cr0 & CR0_PE) != 0;
  unsigned exits = 0;
  bool triple_fault = false;
  const bool step = (opt & OPT_STEP) && !use_jit;
  const uint64_t limit = step && !out ? STEP_LIMIT : INSN_LIMIT;
  // The limit is on work, not only on instructions retired (regressions/insn/timeout-*):
  // - exceptions count as instructions do: a handler whose first instruction faults again
  //   retires nothing, and each run() then ends after `budget` deliveries (its stall bound),
  //   so a limit on instructions alone let EXIT_LIMIT runs of them go on (20 M deliveries,
  //   minutes under ASan: CI's fuzz-smoke timeout);
  // - data accesses on the slow path (MMIO, unassigned memory, TLB misses) count 1/16 each: a
  //   REP string instruction there runs 16 384 of them per chunk and a chunk counts as one
  //   instruction (interp/sem/string.h), so 1 000 steps of one took 44 s under ASan.
  auto work = [&] {
    return work_of(c.icount, s.interp.counters().exceptions, c.tlb_counters.slow_accesses);
  };
  while (work() < limit && exits++ < EXIT_LIMIT) {
    ExitReason r = step ? s.interp.step() : s.interp.run(limit - work());
    if (r == EXIT_TRIPLE_FAULT || (r >= EXIT_IO && r <= EXIT_HLT && !execute_trapped(c, s.bus))) {
      triple_fault = true;
      break;
    }
    if (!(c.cr0 & CR0_PE)) cs_loaded_protected = false;
    check_invariants(c, cs_loaded_protected);
    if (c.halted) break;  // no interrupt source in the sandbox
    if (r == EXIT_DEBUG || r == EXIT_REQUEST) break;
  }
  if (std::getenv("SOFTCPU_FUZZ_VERBOSE"))
    std::fprintf(stderr, "insn: mode %u opt %02x: %llu instructions, %llu exceptions, %llu slow "
                 "accesses, %u exits, ends at %04x:%08x cpl %u cr0 %08x%s\n", unsigned(mode), opt,
                 static_cast<unsigned long long>(c.icount),
                 static_cast<unsigned long long>(s.interp.counters().exceptions),
                 static_cast<unsigned long long>(c.tlb_counters.slow_accesses), exits,
                 c.seg[CS].selector, c.eip, c.cpl, c.cr0, c.halted ? " halted" : "");
  if (s.jit && std::getenv("SOFTCPU_FUZZ_VERBOSE")) {
    const TranslatorStats ts = s.jit->stats(false);
    std::fprintf(stderr, "insn_jit: %llu hot blocks, %llu regions compiled (%llu guest "
                 "instructions), %.0f ms compiling\n", static_cast<unsigned long long>(ts.requests),
                 static_cast<unsigned long long>(ts.regions_compiled),
                 static_cast<unsigned long long>(ts.region_insns), ts.compile_us_total / 1000);
  }
  if (s.jit && s.jit->stats(false).compile_failures) fail("insn_jit", "a region failed to compile");
  if (!out) return true;  // only insn_jit compares outcomes
  std::memcpy(out->regs, c.regs, sizeof out->regs);
  out->eip = c.eip;
  out->eflags = read_eflags(c);
  out->cr0 = c.cr0;
  out->cr2 = c.cr2;
  out->cr3 = c.cr3;
  for (unsigned k = 0; k < 6; ++k) out->sel[k] = c.seg[k].selector;
  out->icount = c.icount;
  out->deliveries = s.interp.counters().exceptions;
  out->slow_accesses = c.tlb_counters.slow_accesses;
  out->cpl = c.cpl;
  out->halted = c.halted;
  out->triple_fault = triple_fault;
  // libstdc++'s hash of the bytes (not instrumented: a loop here, compiled with coverage
  // tracing, made a callback per byte).
  out->ram_hash = std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(s.mem.ram()), RAM));
  return true;
}

}  // namespace

int insn(const uint8_t* data, size_t size) {
  run(data, size, false, nullptr);
  return 0;
}

uint64_t insn_work(const uint8_t* data, size_t size) {
  Outcome o;
  return run(data, size, false, &o) ? work_of(o.icount, o.deliveries, o.slow_accesses) : 0;
}

// The same input through the interpreter and through compiled code: where both runs end at
// the same place (a halt, a triple fault, or the same instruction and delivery counts) the
// guest state and RAM must agree.
int insn_jit(const uint8_t* data, size_t size) {
  Outcome a, b;
  if (!run(data, size, false, &a) || !run(data, size, true, &b)) return 0;
  const bool comparable = (a.halted && b.halted) || (a.triple_fault && b.triple_fault) ||
                          (a.icount == b.icount && a.deliveries == b.deliveries &&
                           a.slow_accesses == b.slow_accesses);
  if (!comparable) return 0;
  auto differ = [&](const char* what) {
    std::fprintf(stderr, "insn_jit: interpreter and compiled code disagree on %s "
                 "(icount %llu / %llu, eip %08x / %08x)\n", what,
                 static_cast<unsigned long long>(a.icount), static_cast<unsigned long long>(b.icount),
                 a.eip, b.eip);
    fail("insn_jit", "tiers disagree");
  };
  if (a.icount != b.icount) differ("the instruction count");
  if (a.deliveries != b.deliveries) differ("the number of exceptions delivered");
  if (std::memcmp(a.regs, b.regs, sizeof a.regs)) differ("the registers");
  if (a.eip != b.eip) differ("EIP");
  if (a.eflags != b.eflags) differ("EFLAGS");
  if (a.cr0 != b.cr0 || a.cr2 != b.cr2 || a.cr3 != b.cr3) differ("CR0/CR2/CR3");
  if (std::memcmp(a.sel, b.sel, sizeof a.sel)) differ("the segment selectors");
  if (a.cpl != b.cpl || a.halted != b.halted) differ("CPL or the halt state");
  if (a.ram_hash != b.ram_hash) differ("RAM");
  return 0;
}

}  // namespace softcpu::fuzz
