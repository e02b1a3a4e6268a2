#include "monitor/tracer.h"

#include "interp/access.h"
#include "interp/flags.h"
#include "interp/interpreter.h"
#include "interp/memory.h"
#include "interp/segments.h"
#include "interp/tlb.h"

namespace softcpu {

Tracer::Tracer(FILE* out, unsigned events, std::vector<TraceRange> ranges, Interpreter& interp,
               PhysicalMemory& mem, IoBus& ports)
    : out_(out), events_(events), ranges_(std::move(ranges)), interp_(interp), mem_(mem),
      ports_(ports) {}

Tracer::~Tracer() {
  if (cpu_) cpu_->interrupt_trace = nullptr;
  std::fflush(out_);
  if (out_ != stdout) std::fclose(out_);
}

void Tracer::attach(Cpu& c) {
  cpu_ = &c;
  // Instruction tracing runs the interpreter one instruction at a time (its slow path).
  if (events_ & TRACE_INSN) interp_.set_trace(&Tracer::on_instruction, this);
  if (events_ & TRACE_INTERRUPT) {
    c.interrupt_trace = &Tracer::on_interrupt;
    c.interrupt_trace_ctx = this;
  }
}

bool Tracer::in_ranges(uint32_t linear) const {
  if (ranges_.empty()) return true;
  for (const TraceRange& r : ranges_)
    if (linear >= r.first && linear <= r.last) return true;
  return false;
}

void Tracer::on_instruction(void* self, Cpu& c, const Insn& insn, uint32_t eip) {
  auto* t = static_cast<Tracer*>(self);
  const uint32_t lin = c.seg[CS].base + eip;
  if (!t->in_ranges(lin)) return;
  uint8_t bytes[16] = {};
  for (unsigned k = 0; k < insn.len; ++k) {
    uint32_t phys;  // the instruction was fetched, so this cannot fault; never raise here
    bytes[k] = try_translate(c, lin + k, ACCESS_FETCH, phys) ? uint8_t(t->mem_.read(phys, 1)) : 0;
  }
  char text[96];
  t->interp_.decoder().format(bytes, insn.len, code32(c), eip, text, sizeof text);
  char hex[48] = {};
  for (unsigned k = 0; k < insn.len && k < 15; ++k)
    std::snprintf(hex + 3 * k, 4, "%02x ", bytes[k]);
  std::fprintf(t->out_,
               "%04x:%08x  %-30s %-32s EAX=%08x EBX=%08x ECX=%08x EDX=%08x ESI=%08x EDI=%08x "
               "EBP=%08x ESP=%08x EFL=%08x\n",
               c.seg[CS].selector, eip, hex, text, c.regs[EAX], c.regs[EBX], c.regs[ECX],
               c.regs[EDX], c.regs[ESI], c.regs[EDI], c.regs[EBP], c.regs[ESP], read_eflags(c));
}

void Tracer::on_interrupt(void* self, Cpu& c, uint8_t vector, uint8_t source, bool has_error,
                          uint32_t error) {
  auto* t = static_cast<Tracer*>(self);
  static const char* const kSource[] = {"exception", "int", "external"};
  // EIP is the return address here: the faulting instruction for faults, the next for traps.
  std::fprintf(t->out_, "%04x:%08x  INT 0x%02x %s", c.seg[CS].selector, c.eip, vector,
               kSource[source < 3 ? source : 0]);
  if (has_error) std::fprintf(t->out_, " error=0x%08x", error);
  if (vector == 14 && source == 0) std::fprintf(t->out_, " CR2=0x%08x", c.cr2);
  std::fputc('\n', t->out_);
}

uint32_t Tracer::in(uint16_t port, unsigned size) {
  uint32_t v = ports_.in(port, size);
  std::fprintf(out_, "%04x:%08x  IN  port=0x%04x size=%u value=0x%0*x\n", cpu_->seg[CS].selector,
               cpu_->eip, port, size, int(size * 2), v);
  return v;
}

void Tracer::out(uint16_t port, unsigned size, uint32_t value) {
  std::fprintf(out_, "%04x:%08x  OUT port=0x%04x size=%u value=0x%0*x\n", cpu_->seg[CS].selector,
               cpu_->eip, port, size, int(size * 2), value);
  ports_.out(port, size, value);
}

}  // namespace softcpu
