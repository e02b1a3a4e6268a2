// Instructions the interpreter hands to the monitor ("single-step mode"): the interpreter
// stops before them (cpu.exit_reason, cpu.trap_insn, EIP at the instruction) and the monitor
// runs them here with its device dispatch.
#pragma once
#include <cstdint>

#include "interp/cpu.h"
#include "interp/insn.h"

namespace softcpu {

class IoBus {
 public:
  virtual ~IoBus() = default;
  virtual uint32_t in(uint16_t port, unsigned size) = 0;
  virtual void out(uint16_t port, unsigned size, uint32_t value) = 0;
};

enum TrapOp : uint8_t {
  TRAP_IN, TRAP_OUT, TRAP_INS, TRAP_OUTS, TRAP_CPUID, TRAP_RDTSC, TRAP_HLT, TRAP_RDMSR,
  TRAP_WRMSR, TRAP_RDPMC, TRAP_VMCALL, TRAP_COUNT
};

// Execute cpu.trap_insn (EIP at its start). Faults are delivered as exceptions. VMCALL raises
// #UD here, as on a CPU without VMX (SDM vol.2 VMCALL); a monitor with a hypercall handler
// (monitor/hypercall.h) runs it instead. Returns
// false if that delivery triple-faulted. `ports_done` counts port accesses (for stats).
bool execute_trapped(Cpu& c, IoBus& io);

// What CPUID leaf 1 reports (SDM vol.2 CPUID): family 6, model 6, stepping 3, the signature
// reset also leaves in EDX; and the EDX feature flags of the features this CPU implements.
// Firmware tables the machine writes (the MP table) quote the same values.
constexpr uint32_t CPUID_SIGNATURE = 0x00000663;
uint32_t cpuid_features_edx(const Cpu& c);

// The TrapOp of a trapping instruction.
inline TrapOp trap_op(const Insn& i) { return TrapOp(i.cond); }

}  // namespace softcpu
