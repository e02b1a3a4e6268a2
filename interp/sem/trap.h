// Instructions the monitor executes: IN/OUT/INS/OUTS, CPUID, RDTSC, HLT, RDMSR/WRMSR, RDPMC,
// VMCALL.
// Their handler only leaves the block before the instruction (interp/trap.h); the monitor
// then runs it with execute_trapped (interp/ops_trap.cpp), where the selector also is.
#pragma once
#include "interp/sem/common.h"
#include "interp/trap.h"

namespace softcpu {

// Why the run stops for a trapping instruction.
constexpr ExitReason trap_exit_reason(TrapOp op) {
  switch (op) {
    case TRAP_CPUID: return EXIT_CPUID;
    case TRAP_RDTSC: return EXIT_RDTSC;
    case TRAP_HLT: return EXIT_HLT;
    case TRAP_RDMSR:
    case TRAP_WRMSR:
    case TRAP_RDPMC: return EXIT_MSR;
    case TRAP_VMCALL: return EXIT_VMCALL;
    default: return EXIT_IO;
  }
}

// In the block: stop before the instruction and let the monitor run it.
template <ExitReason R>
void trap_exit(Cpu& c, const Insn& i) {
  c.eip -= i.len;
  c.trap_insn = &i;
  c.stop = 1;
  c.exit_reason = R;
}

// ---- handler tables ---------------------------------------------------------------------

inline constexpr auto kTrapExit =
    make_handlers<Dim<EXIT_IO, EXIT_CPUID, EXIT_RDTSC, EXIT_MSR, EXIT_VMCALL, EXIT_HLT>>(
        []<ExitReason R>() { return &trap_exit<R>; });

}  // namespace softcpu
