// Everything the command line can choose about a machine.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace softcpu {

struct DebugconSpec {
  uint16_t port;
  std::string path;  // "-" = stdout
};

enum class StatsFormat { NONE, TEXT, JSON };

struct MachineConfig {
  std::string bios_path;           // raw ROM image: 64, 128 or 256 KiB
  std::string disk_image;          // optional (attached by a later issue)
  uint32_t ram_mib = 128;
  std::string serial = "stdio";    // "stdio", "file:PATH", "none"
  std::vector<DebugconSpec> debugcons;
  std::optional<double> timeout_seconds;
  std::string trace_path;          // empty: no trace
  bool reset_on_triple_fault = true;  // --on-triple-fault reset (like a PC) or exit
  StatsFormat stats = StatsFormat::NONE;
  std::string stats_path;          // empty: stderr
};

// Build the machine, run it, and return the process exit status:
//  debug-exit port write v -> (v << 1) | 1; timeout -> 124; triple fault with
//  --on-triple-fault exit -> 3 (with reset, the default, the machine resets and goes on);
//  guest halted for good -> 0; configuration error -> 2 (message on stderr).
int run_machine(const MachineConfig& config);

}  // namespace softcpu
