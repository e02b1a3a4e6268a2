// --trace: a text log of what the guest does, selectable by event (instructions, interrupts
// and exceptions, port I/O) and, for instructions, by linear address range. One line per
// event; instruction lines carry CS:EIP, bytes, disassembly and the registers before it runs.
#pragma once
#include <cstdio>
#include <vector>

#include "interp/trap.h"
#include "monitor/machine_config.h"

namespace softcpu {

class Interpreter;
class PhysicalMemory;

class Tracer final : public IoBus {
 public:
  // Takes ownership of `out` (stdout is never closed). `ports` is the real port bus.
  Tracer(FILE* out, unsigned events, std::vector<TraceRange> ranges, Interpreter& interp,
         PhysicalMemory& mem, IoBus& ports);
  ~Tracer() override;

  // Hook the interpreter and the CPU for the selected events.
  void attach(Cpu& c);
  // The bus trapped I/O instructions should use: this tracer when port I/O is traced.
  IoBus& io_bus() { return (events_ & TRACE_IO) ? static_cast<IoBus&>(*this) : ports_; }
  void flush() { std::fflush(out_); }

  uint32_t in(uint16_t port, unsigned size) override;
  void out(uint16_t port, unsigned size, uint32_t value) override;

 private:
  static void on_instruction(void* self, Cpu& c, const Insn& insn, uint32_t eip);
  static void on_interrupt(void* self, Cpu& c, uint8_t vector, uint8_t source, bool has_error,
                           uint32_t error);
  bool in_ranges(uint32_t linear) const;

  FILE* out_;
  unsigned events_;
  std::vector<TraceRange> ranges_;
  Interpreter& interp_;
  PhysicalMemory& mem_;
  IoBus& ports_;
  Cpu* cpu_ = nullptr;
};

}  // namespace softcpu
