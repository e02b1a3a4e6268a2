// The host side of interp/jit_abi.h: the memory slow paths and the handler call compiled code
// uses. Each runs the interpreter's own code and turns a GuestFault into a status, so that no
// exception ever unwinds through compiled code.
#include "interp/jit_abi.h"

#include "interp/access.h"
#include "interp/fault.h"

using softcpu::Cpu;
using softcpu::GuestFault;

namespace {
inline void record(Cpu* c, const GuestFault& f) {
  softcpu::set_jit_fault(*c, f.vector, f.has_error, f.error);
}
}  // namespace

extern "C" {

uint64_t softcpu_jit_read(Cpu* c, uint32_t lin, uint32_t size) {
  try {
    return softcpu::read_linear_slow(*c, lin, size);
  } catch (const GuestFault& f) {
    record(c, f);
    return 1ull << 32;
  }
}

uint32_t softcpu_jit_write(Cpu* c, uint32_t lin, uint32_t size, uint32_t value) {
  try {
    softcpu::write_linear_slow(*c, lin, size, value);
    return 0;
  } catch (const GuestFault& f) {
    record(c, f);
    return 1;
  }
}

uint32_t softcpu_jit_probe_write(Cpu* c, uint32_t lin, uint32_t size) {
  try {
    softcpu::probe_write_linear(*c, lin, size);
    return 0;
  } catch (const GuestFault& f) {
    record(c, f);
    return 1;
  }
}

uint64_t softcpu_jit_read_system(Cpu* c, uint32_t lin, uint32_t size) {
  try {
    return softcpu::read_system_slow(*c, lin, size);
  } catch (const GuestFault& f) {
    record(c, f);
    return 1ull << 32;
  }
}

uint32_t softcpu_jit_write_system(Cpu* c, uint32_t lin, uint32_t size, uint32_t value) {
  try {
    softcpu::write_system_slow(*c, lin, size, value);
    return 0;
  } catch (const GuestFault& f) {
    record(c, f);
    return 1;
  }
}

uint32_t softcpu_jit_call(softcpu::Handler fn, Cpu* c, const softcpu::Insn* insn) {
  try {
    fn(*c, *insn);
    return 0;
  } catch (const GuestFault& f) {
    record(c, f);
    return 1;
  }
}

}  // extern "C"
