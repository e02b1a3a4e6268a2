// GDB remote-protocol harness: the stub (monitor/gdb_stub.h) with a client connected, over
// the real debug target (monitor/cpu_debug_target.h) of a CPU with 1 MiB of RAM, fed the
// input as the bytes the client sends. Between chunks the harness plays the machine's run
// loop: a step or continue the stub asked for runs the interpreter (a few instructions) and
// the stop is reported, as Machine::serve_debugger does.
//
// Input: byte 0 picks the CPU state (bit 0 protected mode, bit 1 paging with a random page
// table, bits 2-7 the chunk size the bytes arrive in), then the bytes from the client.
// Findings: crashes and sanitizer reports; replies over the advertised PacketSize.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "cache/block_cache.h"
#include "interp/cpu.h"
#include "interp/exceptions.h"
#include "interp/interpreter.h"
#include "interp/interrupts.h"
#include "interp/memory.h"
#include "interp/paging.h"
#include "interp/segments.h"
#include "interp/tlb.h"
#include "interp/trap.h"
#include "monitor/cpu_debug_target.h"
#include "monitor/gdb_stub.h"
#include "tests/fuzz/fuzz_memory.h"
#include "tests/fuzz/fuzz_targets.h"

namespace softcpu::fuzz {
namespace {

constexpr uint32_t RAM = 1u << 20;
constexpr uint32_t PD = 0x6000, PT = 0x7000;

uint64_t flat_desc(uint8_t access) {
  return (uint64_t(0x00CF0000u | uint32_t(access) << 8) << 32) | 0x0000FFFFu;
}

struct NullBus final : IoBus {
  uint32_t in(uint16_t, unsigned) override { return 0xFFFFFFFFu; }
  void out(uint16_t, unsigned, uint32_t) override {}
};

}  // namespace

int gdb(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  PhysicalMemory& mem = reusable_memory("gdb", RAM);
  BlockCache cache;
  Cpu cpu{};
  cpu.mem = &mem;
  cpu.cache = &cache;
  reset_cpu(cpu);
  Interpreter interp(cpu, cache);
  NullBus bus;
  // Code the client may step through: a loop of NOPs and a port write, at the reset vector's
  // real-mode view and at 0x10000.
  for (uint32_t a = 0x10000; a < 0x10100; ++a) mem.write_bytes(a, "\x90", 1);
  mem.write_bytes(0x10100, "\xE6\x80\xEB\xFC", 4);  // out 0x80, al; jmp $-2 (back to the out)
  const uint8_t mode = data[0];
  if (mode & 1) {
    const uint64_t gdt[3] = {0, flat_desc(0x9B), flat_desc(0x93)};
    mem.write_bytes(0x800, gdt, sizeof gdt);
    cpu.gdtr = {0x800, sizeof gdt - 1};
    cpu.cr0 |= CR0_PE;
    cache_from_descriptor(cpu, cpu.seg[CS], 0x08, gdt[1]);
    for (unsigned s : {ES, SS, DS, FS, GS}) cache_from_descriptor(cpu, cpu.seg[s], 0x10, gdt[2]);
    cpu.eip = 0x10000;
    if (mode & 2) {
      uint32_t x = 0x9E3779B9u ^ mode;
      for (uint32_t k = 0; k < 1024; ++k) {
        x = x * 1103515245u + 12345u;
        const uint32_t pte = (x >> 8) % 4 ? (k << 12) | PTE_P | PTE_RW : x & 0x3FFFFFu;
        mem.write_bytes(PT + 4 * k, &pte, 4);
      }
      const uint32_t pde = PT | PTE_P | PTE_RW, big = 0x400000u | PTE_P | PTE_PS;
      mem.write_bytes(PD, &pde, 4);
      mem.write_bytes(PD + 4, &big, 4);
      cpu.cr3 = PD;
      cpu.cr4 |= CR4_PSE;
      cpu.cr0 |= CR0_PG;
    }
    update_mode(cpu);
    tlb_flush(cpu);
  } else {
    for (unsigned s : {ES, CS, SS, DS, FS, GS}) load_segment_real(cpu, s, 0x1000);
    cpu.eip = 0;
  }

  size_t sent = 0;
  bool closed = false;
  CpuDebugTarget target(cpu, {[] {}, [&] { reset_cpu(cpu); }, nullptr}, true);
  GdbStub stub(target, [&](std::string_view bytes) {
    sent += bytes.size();
    // A packet is '$', the payload (escaped, so at most twice PacketSize), '#' and two digits.
    if (bytes.size() > 2 * GdbStub::MAX_PACKET + 4) fail("gdb", "reply larger than PacketSize");
  });
  stub.set_stats_provider([] { return std::string("instructions 1\n"); });
  stub.set_close_handler([&] { closed = true; });
  stub.on_connect();

  const size_t chunk = 1 + (mode >> 2) * 7;
  size_t pos = 1;
  while (pos < size && !closed) {
    const size_t n = std::min(chunk, size - pos);
    stub.feed(data + pos, n);
    pos += n;
    // The machine's side (Machine::serve_debugger): run what the debugger asked for.
    using State = CpuDebugTarget::RunState;
    for (int round = 0; round < 4; ++round) {
      const State st = target.run_state();
      if (st != State::STEPPING && st != State::RUNNING) break;
      ExitReason r = EXIT_BUDGET;
      if (!(cpu.halted && !cpu_interrupt_deliverable(cpu)))
        r = st == State::STEPPING ? interp.step() : interp.run(64);
      if (r >= EXIT_IO && r <= EXIT_HLT) execute_trapped(cpu, bus);
      if (r == EXIT_TRIPLE_FAULT) reset_cpu(cpu);
      if (r == EXIT_DEBUG) {
        target.halt();
        stub.report_stop(stop_event_from_hit(cpu.debug_hit));
      } else if (st == State::STEPPING || cpu.halted || round == 3) {
        target.halt();
        stub.report_stop(st == State::STEPPING ? GdbStopEvent::step() : GdbStopEvent::sig(5));
      }
    }
  }
  if (std::getenv("SOFTCPU_FUZZ_VERBOSE"))
    std::fprintf(stderr, "gdb: %zu bytes in, %zu bytes of replies, %llu instructions run\n",
                 size - 1, sent, static_cast<unsigned long long>(cpu.icount));
  stub.on_disconnect();
  return 0;
}

}  // namespace softcpu::fuzz
