// The host side of interp/jit_abi.h: the memory slow paths and the handler call compiled code
// uses. Each runs the interpreter's own code and turns a GuestFault into a status, so that no
// exception ever unwinds through compiled code.
#include "interp/jit_abi.h"

#include "interp/access.h"
#include "interp/fault.h"

using softcpu::Cpu;
using softcpu::GuestFault;

namespace {
// Runs `f`; a GuestFault it raises is recorded in the Cpu and returns `failed` instead.
template <typename T, typename F>
T or_fault(Cpu* c, T failed, F f) {
  try {
    return f();
  } catch (const GuestFault& e) {
    softcpu::set_jit_fault(*c, e.vector, e.has_error, e.error);
    return failed;
  }
}
constexpr uint64_t kReadFault = 1ull << 32;  // a read's status: no 32-bit value has this bit
}  // namespace

extern "C" {

uint64_t softcpu_jit_read(Cpu* c, uint32_t lin, uint32_t size) {
  return or_fault(c, kReadFault, [&] { return softcpu::read_linear_slow(*c, lin, size); });
}

uint32_t softcpu_jit_write(Cpu* c, uint32_t lin, uint32_t size, uint32_t value) {
  return or_fault(c, 1u, [&] { return softcpu::write_linear_slow(*c, lin, size, value), 0u; });
}

uint32_t softcpu_jit_probe_write(Cpu* c, uint32_t lin, uint32_t size) {
  return or_fault(c, 1u, [&] { return softcpu::probe_write_linear(*c, lin, size), 0u; });
}

uint64_t softcpu_jit_read_system(Cpu* c, uint32_t lin, uint32_t size) {
  return or_fault(c, kReadFault, [&] { return softcpu::read_system_slow(*c, lin, size); });
}

uint32_t softcpu_jit_write_system(Cpu* c, uint32_t lin, uint32_t size, uint32_t value) {
  return or_fault(c, 1u, [&] { return softcpu::write_system_slow(*c, lin, size, value), 0u; });
}

uint64_t softcpu_jit_read_mem(Cpu* c, uint32_t seg, uint32_t off, uint32_t size) {
  return or_fault(c, kReadFault, [&] {
    softcpu::check_read(*c, seg, off, size);
    return softcpu::read_linear_slow(*c, c->seg[seg].base + off, size);
  });
}

uint32_t softcpu_jit_write_mem(Cpu* c, uint32_t seg, uint32_t off, uint32_t size, uint32_t value) {
  return or_fault(c, 1u, [&] {
    softcpu::check_write(*c, seg, off, size);
    return softcpu::write_linear_slow(*c, c->seg[seg].base + off, size, value), 0u;
  });
}

uint32_t softcpu_jit_call(softcpu::Handler fn, Cpu* c, const softcpu::Insn* insn) {
  return or_fault(c, 1u, [&] { return fn(*c, *insn), 0u; });
}

}  // extern "C"
