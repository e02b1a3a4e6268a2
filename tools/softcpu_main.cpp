// softcpu: the command line.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "monitor/hv/config_check.h"
#include "monitor/hv/config_file.h"
#include "monitor/hv/primary.h"
#include "monitor/machine.h"
#include "monitor/machine_config.h"
#include "tools/build_info.h"
#include "tools/options.h"

namespace {

// Reads and checks a system description; on errors prints each ("FILE:LINE:COL: message") on
// stderr and returns false.
bool load_system(const std::string& path, softcpu::hv::SystemConfig* system) {
  std::vector<softcpu::hv::ConfigError> errors;
  if (softcpu::hv::read_system_config(path, system, &errors)) return true;
  for (const softcpu::hv::ConfigError& e : errors)
    std::fprintf(stderr, "%s\n", softcpu::hv::format_config_error(path, e).c_str());
  std::fprintf(stderr, "softcpu: %zu error%s in %s\n", errors.size(), errors.size() == 1 ? "" : "s",
               path.c_str());
  return false;
}

// A system of several partitions: the primary hypervisor builds and runs them (one host thread
// each for now: docs/design.md "The hypervisor model"). The secondary hypervisor (issue 14) and
// SMP are not built: a partition that needs them is refused here, before anything starts.
int run_partitions(const softcpu::hv::SystemConfig& system, const std::string& path) {
  using namespace softcpu;
  for (const hv::PartitionConfig& p : system.partitions) {
    for (const hv::HypervisorConfig& h : system.hypervisors)
      if (h.name == p.hypervisor && h.kind == hv::HypervisorKind::SECONDARY) {
        std::fprintf(stderr, "softcpu: %s:%u: partition '%s' runs on the secondary hypervisor "
                     "'%s', which is not built yet\n", path.c_str(), p.line, p.name.c_str(),
                     h.name.c_str());
        return 2;
      }
  }
  try {
    hv::PrimaryHypervisor primary(system);
    const int status = primary.run();
    std::fprintf(stderr, "%s", primary.info_partitions().c_str());
    return status;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "softcpu: %s: %s\n", path.c_str(), e.message.c_str());
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace softcpu;
  std::signal(SIGPIPE, SIG_IGN);  // a closed output pipe is an error return, not a kill
  std::vector<std::string> args(argv + 1, argv + argc);
  ParsedArgs parsed;
  std::string error;
  if (!parse_args(args, &parsed, &error)) {
    std::fprintf(stderr, "softcpu: %s\n", error.c_str());
    return 2;
  }
  switch (parsed.command) {
    case Command::HELP:
    case Command::RUN_HELP: std::fputs(parsed.help.c_str(), stdout); return 0;
    case Command::VERSION: std::puts(version_line().c_str()); return 0;
    case Command::INFO: std::fputs(build_info().c_str(), stdout); return 0;
    case Command::CHECK_CONFIG: {
      hv::SystemConfig system;
      if (!load_system(parsed.config_path, &system)) return 2;
      std::printf("%s: ok: %s\n", parsed.config_path.c_str(), hv::describe_system(system).c_str());
      return 0;
    }
    case Command::RUN: break;
  }
  if (!parsed.config_path.empty()) {
    hv::SystemConfig system;
    if (!load_system(parsed.config_path, &system)) return 2;
    if (system.partitions.size() > 1) return run_partitions(system, parsed.config_path);
    MachineConfig machine;
    if (!hv::single_guest_machine(system, &machine, &error)) {
      std::fprintf(stderr, "softcpu: %s: %s\n", parsed.config_path.c_str(), error.c_str());
      return 2;
    }
    return run_machine(machine);
  }
  const MachineConfig& c = parsed.config;
  return run_machine(c);
}
