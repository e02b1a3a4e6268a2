// The GDB target over the real CPU: registers from Cpu, memory through a side-effect-free
// page walk and PhysicalMemory, breakpoints and watchpoints through interp/debug.h, and a
// run state that the machine's loop obeys (see the integration notes in the report /
// docs: STOPPED -> do not run the guest; STEPPING -> Interpreter::step() once, then
// GdbStub::report_stop(GdbStopEvent::step()); RUNNING -> run as usual).
#pragma once
#include <functional>
#include <string>

#include "interp/cpu.h"
#include "interp/debug.h"
#include "monitor/gdb_target.h"

namespace softcpu {

class CpuDebugTarget final : public GdbTarget {
 public:
  enum class RunState : uint8_t {
    FREE,      // no debugger in control: the guest runs as usual
    STOPPED,   // halted for the debugger
    RUNNING,   // continued by the debugger: a stop must be reported
    STEPPING,  // one instruction, then report_stop(step())
  };

  struct Hooks {
    std::function<void()> kill;          // end the machine (k packet)
    std::function<void()> reset;         // monitor system_reset: reset CPU and devices
    std::function<std::string()> extra;  // optional text appended to `info registers`
  };

  // `start_stopped`: -S, the guest waits for the debugger before its first instruction.
  CpuDebugTarget(Cpu& cpu, Hooks hooks, bool start_stopped);

  RunState run_state() const { return state_; }

  const GdbTargetDescription& description() const override;
  bool read_register(unsigned regno, uint8_t* out) override;
  bool write_register(unsigned regno, const uint8_t* in, int* err) override;
  size_t read_memory(uint32_t addr, uint8_t* out, size_t len) override;
  size_t write_memory(uint32_t addr, const uint8_t* in, size_t len) override;
  bool insert_breakpoint(GdbBreakKind kind, uint32_t addr, uint32_t len) override;
  bool remove_breakpoint(GdbBreakKind kind, uint32_t addr, uint32_t len) override;
  void remove_all_breakpoints() override;
  void resume(bool single_step) override {
    state_ = single_step ? RunState::STEPPING : RunState::RUNNING;
  }
  void halt() override { state_ = RunState::STOPPED; }
  void detach() override { state_ = RunState::FREE; }
  void kill() override;
  std::string info_registers() override;
  std::string info_tlb() override;
  void system_reset() override;

  // Linear -> physical for the debugger: the page tables are read as the CPU would at CPL 0,
  // but nothing is changed (no accessed/dirty bits, no TLB fill, no fault).
  bool debug_translate(uint32_t lin, uint32_t& phys) const;

 private:
  // gdb's eip: the linear PC in real and V86 mode (see monitor/gdb_stub.h), EIP otherwise.
  bool pc_is_linear() const;

  Cpu& cpu_;
  Hooks hooks_;
  RunState state_;
};

// The stop event for an EXIT_DEBUG hit of the interpreter (cpu.debug_hit).
GdbStopEvent stop_event_from_hit(const DebugHit& hit);

}  // namespace softcpu
