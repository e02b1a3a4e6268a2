// Hypercalls: VMCALL (0F 01 C1) in a thin guest traps to the monitor like I/O instructions
// do (interp/trap.h); a Machine with a HypercallHandler hands it over, a Machine without one
// raises #UD (a CPU without VMX, SDM vol.2 VMCALL). The ABI is docs/hypercalls.md; the
// secondary hypervisor (monitor/hv/secondary.h) is the handler of its partitions.
#pragma once
#include "interp/cpu.h"

namespace softcpu {

class HypercallHandler {
 public:
  virtual ~HypercallHandler() = default;
  // On the CPU thread with EIP at the VMCALL: the handler sets the result (EAX), moves EIP
  // past the instruction (2 + prefixes: cpu.trap_insn->len) or switches the CPU to another
  // register context.
  virtual void hypercall(Cpu& cpu) = 0;
  // On the CPU thread after every return of the interpreter to the run loop (a block budget,
  // a kick): work other threads left (wakes, expired timeouts, preemption).
  virtual void poll(Cpu& cpu) = 0;
};

}  // namespace softcpu
