// The contract between compiled code (translator/) and the host: what the instruction
// semantics call when they are compiled to bitcode (SOFTCPU_JIT_BITCODE) instead of running
// in the interpreter. Compiled code never unwinds: a fault leaves through a marker call that
// the translator replaces with a branch to the region's fault exit, and every host function it
// may call returns a status instead of throwing.
#pragma once
#include <cstdint>

#include "interp/cpu.h"
#include "interp/insn.h"

extern "C" {

// ---- markers: declared only, never defined; the translator rewrites each call ----------------
// A fault raised by inline code: vector (bit 8: has an error code) and error code.
[[noreturn]] void softcpu_jit_raise(uint32_t vector_flags, uint32_t error);
// A runtime call below left a fault in Cpu::jit_fault_*: leave through the fault exit.
[[noreturn]] void softcpu_jit_fault_exit();

// ---- runtime: host functions compiled code may call (interp/jit_runtime.cpp) ----------------
// Memory slow paths (the soft TLB missed or the page needs the slow path). On a fault they
// record it in Cpu::jit_fault_* and return a nonzero status (reads: bit 32 of the result).
uint64_t softcpu_jit_read(softcpu::Cpu* c, uint32_t lin, uint32_t size);
uint32_t softcpu_jit_write(softcpu::Cpu* c, uint32_t lin, uint32_t size, uint32_t value);
uint32_t softcpu_jit_probe_write(softcpu::Cpu* c, uint32_t lin, uint32_t size);
uint64_t softcpu_jit_read_system(softcpu::Cpu* c, uint32_t lin, uint32_t size);
// Segmented accesses (segment register `seg`, offset `off`) that failed the inline limit
// check or missed the soft TLB: the segment limit check (#GP/#SS), then the linear slow path,
// so compiled code branches once per access to one call and one fault test.
uint64_t softcpu_jit_read_mem(softcpu::Cpu* c, uint32_t seg, uint32_t off, uint32_t size);
uint32_t softcpu_jit_write_mem(softcpu::Cpu* c, uint32_t seg, uint32_t off, uint32_t size,
                               uint32_t value);
uint32_t softcpu_jit_write_system(softcpu::Cpu* c, uint32_t lin, uint32_t size, uint32_t value);
// Run a handler the translator does not inline, as the interpreter would. Nonzero: it faulted
// (recorded in Cpu::jit_fault_*); nothing of the instruction was committed.
uint32_t softcpu_jit_call(softcpu::Handler fn, softcpu::Cpu* c, const softcpu::Insn* insn);
// The x87 backend, softcpu_jit_fpu_exec, is declared in interp/fpu_host.h: both tiers call it.

}  // extern "C"

namespace softcpu {

// Compiled code's segmented accesses (defined at the end of interp/access.h, which uses them
// before it can define them): one branch to softcpu_jit_*_mem for the limit check and the TLB.
template <unsigned S>
inline uint32_t read_mem(Cpu& c, unsigned seg, uint32_t off);
template <unsigned S>
inline void write_mem(Cpu& c, unsigned seg, uint32_t off, uint32_t v);

// Record a fault for the run loop (the runtime's side of the markers).
inline void set_jit_fault(Cpu& c, uint8_t vector, bool has_error, uint32_t error) {
  c.jit_fault_vector = vector;
  c.jit_fault_has_error = has_error;
  c.jit_fault_error = error;
}

}  // namespace softcpu
