// What the GDB remote-protocol engine (monitor/gdb_stub.h) drives: registers, memory,
// breakpoints and run control of one debugged CPU. The engine knows nothing of Cpu; the
// machine's implementation is CpuDebugTarget (monitor/cpu_debug_target.h), tests use fakes.
// Every call happens on the CPU thread while the guest is not executing an instruction.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace softcpu {

// One register of the target description, in gdb's register-number order.
struct GdbRegisterInfo {
  const char* name;
  unsigned bits;        // 32 or 80
  const char* type;     // gdb type name: "int32", "code_ptr", "i387_ext", ...
  const char* group;    // "general", "float", "system" or nullptr (gdb's default)
  unsigned feature;     // index into GdbTargetDescription::features
};

struct GdbFeature {
  const char* name;      // e.g. "org.gnu.gdb.i386.core"
  const char* annex;     // file name gdb reads it under, included from target.xml
  const char* extra;     // type definitions placed before the registers (may be "")
};

struct GdbTargetDescription {
  const char* architecture;  // "i386", or empty: no <architecture> element
  unsigned pc_register;      // number of the register `c ADDR` and `s ADDR` set
  std::vector<GdbFeature> features;
  std::vector<GdbRegisterInfo> registers;
  // The documents qXfer:features:read serves: "target.xml" and one per feature annex.
  // Returns false for an unknown annex.
  bool document(std::string_view annex, std::string& out) const;
};

enum class GdbBreakKind : uint8_t {
  SOFTWARE = 0,      // Z0 (implemented as a debugger breakpoint, memory is not patched)
  HARDWARE = 1,      // Z1
  WATCH_WRITE = 2,   // Z2
  WATCH_READ = 3,    // Z3
  WATCH_ACCESS = 4,  // Z4
};

// Why the guest stopped, as the machine tells the engine (GdbStub::report_stop).
struct GdbStopEvent {
  enum Kind : uint8_t {
    STEP_DONE,   // a single step finished (SIGTRAP, no reason)
    SIGNAL,      // stopped with `signal` (2 = SIGINT after Ctrl-C, 5 = SIGTRAP)
    BREAKPOINT,  // a debugger breakpoint at `address` (the engine says swbreak or hwbreak)
    WATCHPOINT,  // a watchpoint of `watch` kind covering `address` was hit
  };
  Kind kind = SIGNAL;
  uint8_t signal = 5;
  GdbBreakKind watch = GdbBreakKind::WATCH_WRITE;
  uint32_t address = 0;

  static GdbStopEvent step() { return {STEP_DONE, 5, GdbBreakKind::WATCH_WRITE, 0}; }
  static GdbStopEvent breakpoint(uint32_t a) { return {BREAKPOINT, 5, GdbBreakKind::SOFTWARE, a}; }
  static GdbStopEvent watchpoint(GdbBreakKind k, uint32_t a) { return {WATCHPOINT, 5, k, a}; }
  static GdbStopEvent sig(uint8_t s) { return {SIGNAL, s, GdbBreakKind::WATCH_WRITE, 0}; }
};

class GdbTarget {
 public:
  virtual ~GdbTarget() = default;

  virtual const GdbTargetDescription& description() const = 0;

  // Register `regno` as little-endian bytes (bits/8 of them). False: no such register.
  virtual bool read_register(unsigned regno, uint8_t* out) = 0;
  // False with an errno-style code in *err when the value cannot be written.
  virtual bool write_register(unsigned regno, const uint8_t* in, int* err) = 0;

  // Linear addresses (segmentation already applied; paging applied by the target).
  // Return how many bytes were transferred from the start (a page fault ends the transfer).
  virtual size_t read_memory(uint32_t addr, uint8_t* out, size_t len) = 0;
  virtual size_t write_memory(uint32_t addr, const uint8_t* in, size_t len) = 0;

  // False when there is no room or (for remove) no such breakpoint.
  virtual bool insert_breakpoint(GdbBreakKind kind, uint32_t addr, uint32_t len) = 0;
  virtual bool remove_breakpoint(GdbBreakKind kind, uint32_t addr, uint32_t len) = 0;
  virtual void remove_all_breakpoints() = 0;

  // Run control. resume() lets the guest run (or run one instruction); the machine reports
  // the stop with GdbStub::report_stop. halt() stops it at once (it is between instructions).
  // detach() lets it run free with no debugger; kill() ends the machine.
  virtual void resume(bool single_step) = 0;
  virtual void halt() = 0;
  virtual void detach() = 0;
  virtual void kill() = 0;

  // Monitor commands.
  virtual std::string info_registers() = 0;
  virtual std::string info_tlb() = 0;
  virtual void system_reset() = 0;
};

}  // namespace softcpu
