// A CPU with RAM, flat 32-bit (or real-mode) segments and an interpreter, for unit tests.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <initializer_list>
#include <memory>
#include <vector>

#include "cache/block_cache.h"
#include "interp/access.h"
#include "interp/exceptions.h"
#include "interp/flags.h"
#include "interp/interpreter.h"
#include "interp/memory.h"
#include "interp/segments.h"
#include "translator/translator.h"

namespace softcpu::test {

// Which tier runs the test program: the interpreter, or compiled code (the translator in
// synchronous mode with threshold 1: every block is compiled the first time it runs, and runs
// compiled). The default comes from the environment, SOFTCPU_TEST_TIER=jit, so a whole suite
// can run under either tier.
enum class Tier { INTERP, JIT };
inline Tier default_tier() {
  const char* t = std::getenv("SOFTCPU_TEST_TIER");
  return t && std::string_view(t) == "jit" ? Tier::JIT : Tier::INTERP;
}

// Code is placed at CODE_ADDR; data at DATA_ADDR; the stack grows down from STACK_TOP.
// The IDT/IVT at 0 routes every vector to a HLT stub, so a fault ends run() with EXIT_HLT and
// `last_vector()` tells which vector was taken.
struct CpuHarness {
  static constexpr uint32_t RAM = 4u << 20;
  static constexpr uint32_t CODE_ADDR = 0x10000;
  static constexpr uint32_t DATA_ADDR = 0x20000;
  static constexpr uint32_t STACK_TOP = 0x30000;
  static constexpr uint32_t GDT_ADDR = 0x800;
  static constexpr uint32_t STUBS = 0x1000;  // 32 stubs: mov byte [0x500], v; hlt

  PhysicalMemory mem{RAM};
  BlockCache cache;
  Cpu cpu{};
  Interpreter interp{cpu, cache};
  std::unique_ptr<Translator> jit;  // Tier::JIT

  explicit CpuHarness(bool protected32 = true, Tier tier = default_tier()) {
    cpu.mem = &mem;
    cpu.cache = &cache;
    reset_cpu(cpu);
    for (unsigned v = 0; v < 32; ++v) {  // C6 05 imm32 imm8 (mov byte [abs], v) ; F4 (hlt)
      uint8_t stub[8] = {0xC6, 0x05, 0x00, 0x05, 0x00, 0x00, uint8_t(v), 0xF4};
      mem.write_bytes(STUBS + v * 16, stub, 8);
    }
    if (protected32) enter_flat32(); else enter_real();
    if (tier == Tier::JIT) use_jit();
  }

  ~CpuHarness() {
    // A region that fails to compile silently runs interpreted: in a test that is a bug.
    if (jit && jit->stats().compile_failures) {
      std::fprintf(stderr, "CpuHarness: %llu regions failed to compile\n",
                   static_cast<unsigned long long>(jit->stats().compile_failures));
      std::abort();
    }
  }

  void use_jit() {
    TranslatorConfig tc;
    tc.threshold = 1;
    tc.sync = true;
    if (const char* d = std::getenv("SOFTCPU_TEST_JIT_DUMP")) tc.dump_dir = d;  // IR and assembly per region
    jit = std::make_unique<Translator>(cache, tc);
    interp.set_native_tier(jit.get());
  }

  void enter_flat32() {
    // GDT: null, code 0x08 (base 0, 4 GiB, 32-bit), data 0x10.
    const uint64_t gdt[3] = {0, 0x00CF9B000000FFFFull, 0x00CF93000000FFFFull};
    mem.write_bytes(GDT_ADDR, gdt, sizeof gdt);
    cpu.gdtr = {GDT_ADDR, sizeof gdt - 1};
    for (unsigned v = 0; v < 32; ++v) {  // 32-bit interrupt gates to the stubs
      uint32_t off = STUBS + v * 16;
      uint32_t lo = (0x08u << 16) | (off & 0xFFFF), hi = (off & 0xFFFF0000u) | 0x8E00;
      mem.write_bytes(0x400 + v * 8, &lo, 4);  // IDT at 0x400 (after the real-mode IVT)
      mem.write_bytes(0x400 + v * 8 + 4, &hi, 4);
    }
    cpu.idtr = {0x400, 32 * 8 - 1};
    cpu.cr0 |= CR0_PE;
    cache_from_descriptor(cpu, cpu.seg[CS], 0x08, gdt[1]);
    for (unsigned s : {ES, SS, DS, FS, GS}) cache_from_descriptor(cpu, cpu.seg[s], 0x10, gdt[2]);
    update_mode(cpu);
    cpu.eip = CODE_ADDR;
    cpu.regs[ESP] = STACK_TOP;
  }

  void enter_real() {
    // Real mode at 0000:CODE_ADDR would exceed 64 KiB: use CS=0x1000, IP=0.
    for (unsigned v = 0; v < 32; ++v) {  // IVT: vector -> 0000:STUBS16 + v*16 (16-bit stubs)
      // mov byte cs:[0x500], v ; hlt  (the stubs run with CS = 0, so this is linear 0x500)
      uint8_t stub[7] = {0x2E, 0xC6, 0x06, 0x00, 0x05, uint8_t(v), 0xF4};
      mem.write_bytes(0x2000 + v * 16, stub, 7);
      uint32_t ent = (0u << 16) | (0x2000 + v * 16);
      mem.write_bytes(v * 4, &ent, 4);
    }
    cpu.idtr = {0, 0x3FF};
    for (unsigned s : {ES, CS, SS, DS, FS, GS}) load_segment_real(cpu, s, 0x1000);
    cpu.eip = 0;
    cpu.regs[ESP] = 0xFFF0;
  }

  // Load code bytes at CS:EIP.
  void code(std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> v(bytes);
    v.push_back(0xF4);  // HLT ends the test program
    mem.write_bytes(cpu.seg[CS].base + cpu.eip, v.data(), uint32_t(v.size()));
    mem.write_bytes(0x500, "\xFF", 1);  // no vector taken yet
  }

  // Run until HLT (or `max` instructions). Returns the exit reason.
  ExitReason run(uint64_t max = 100000) {
    uint64_t start = cpu.icount;
    while (cpu.icount - start < max) {
      ExitReason r = interp.run(max - (cpu.icount - start));
      if (r != EXIT_BUDGET) return r;
    }
    return EXIT_BUDGET;
  }

  // Vector of the exception taken during the run, or -1.
  int last_vector() {
    uint8_t v;
    mem.read_bytes(0x500, &v, 1);
    return v == 0xFF ? -1 : v;
  }

  uint32_t flags() { return read_eflags(cpu); }
  uint8_t rd8(uint32_t addr) { uint8_t v; mem.read_bytes(addr, &v, 1); return v; }
  uint16_t rd16(uint32_t addr) { uint16_t v; mem.read_bytes(addr, &v, 2); return v; }
  uint32_t rd32(uint32_t addr) { uint32_t v; mem.read_bytes(addr, &v, 4); return v; }
  void wr32(uint32_t addr, uint32_t v) { mem.write_bytes(addr, &v, 4); }
  void put(uint32_t addr, std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> v(bytes);
    mem.write_bytes(addr, v.data(), uint32_t(v.size()));
  }
  // Write GDT entry `index` (growing the GDT limit to cover it).
  void set_gdt_entry(unsigned index, uint64_t desc) {
    mem.write_bytes(GDT_ADDR + index * 8, &desc, 8);
    if (cpu.gdtr.limit < index * 8 + 7) cpu.gdtr.limit = uint16_t(index * 8 + 7);
  }
  // The exception frame the stubs leave: [error code,] EIP, CS, EFLAGS at ESP.
  uint32_t pushed_error() { return rd32(cpu.regs[ESP]); }
  uint32_t pushed_eip() { return rd32(cpu.regs[ESP]); }  // no error code
  uint32_t pushed_eip_after_error() { return rd32(cpu.regs[ESP] + 4); }
  uint32_t pushed_cs_after_error() { return rd32(cpu.regs[ESP] + 8); }
};

// Descriptor from base, byte limit (20 bits), access byte and flags nibble (G, D/B, L, AVL).
inline uint64_t make_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
  uint32_t lo = (limit & 0xFFFF) | (base << 16);
  uint32_t hi = ((base >> 16) & 0xFF) | (uint32_t(access) << 8) | (limit & 0xF0000) |
                (uint32_t(flags) << 20) | (base & 0xFF000000u);
  return (uint64_t(hi) << 32) | lo;
}

// Gate descriptor: selector, offset, type (e.g. 0xE interrupt gate, 0xC call gate), DPL.
inline uint64_t gate_desc(uint16_t sel, uint32_t off, unsigned type, unsigned dpl) {
  uint32_t lo = (uint32_t(sel) << 16) | (off & 0xFFFF);
  uint32_t hi = (off & 0xFFFF0000u) | 0x8000u | (dpl << 13) | (type << 8);
  return (uint64_t(hi) << 32) | lo;
}

// Set the arithmetic flags before a run; read them after.
inline void flags_in(CpuHarness& h, uint32_t f) {
  materialize_flags(h.cpu);
  h.cpu.eflags = (h.cpu.eflags & ~ARITH_FLAGS) | f;
}
inline uint32_t arith(CpuHarness& h) { return h.flags() & ARITH_FLAGS; }

}  // namespace softcpu::test

// Run to the final HLT with no exception taken, or with vector v taken.
#define RUN_OK(h)                     \
  do {                                \
    ASSERT_EQ((h).run(), EXIT_HLT);   \
    ASSERT_EQ((h).last_vector(), -1); \
  } while (0)
#define RUN_VECTOR(h, v)              \
  do {                                \
    ASSERT_EQ((h).run(), EXIT_HLT);   \
    ASSERT_EQ((h).last_vector(), v);  \
  } while (0)
