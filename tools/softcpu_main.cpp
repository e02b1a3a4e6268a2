// softcpu: the command line.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "monitor/hv/config_check.h"
#include "monitor/hv/config_file.h"
#include "monitor/hv/monitor_console.h"
#include "monitor/hv/partition_stats.h"
#include "monitor/hv/primary.h"
#include "monitor/hv/secondary.h"
#include "monitor/machine.h"
#include "monitor/machine_config.h"
#include "monitor/stats.h"
#include "tools/build_info.h"
#include "tools/options.h"
#include "tools/system_signals.h"

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

// --stats with several partitions: per partition and per vCPU (monitor/hv/partition_stats.h).
void print_system_stats(softcpu::hv::PrimaryHypervisor& primary, const softcpu::MachineConfig& opts) {
  using namespace softcpu;
  const auto parts = primary.all_counters(opts.stats == StatsFormat::JSON);
  write_stats_output(opts.stats == StatsFormat::JSON ? hv::system_stats_json(parts)
                                                    : hv::system_stats_text(parts),
                     opts.stats_path);
}

// A system of several partitions: the primary hypervisor builds and runs them (one host thread
// each for now: docs/design.md "The hypervisor model"); partitions of a secondary hypervisor
// run on its threads under its priority scheduler (monitor/hv/secondary.h).
int run_partitions(const softcpu::hv::SystemConfig& system, const std::string& path,
                   const softcpu::MachineConfig& opts, const std::string& monitor) {
  using namespace softcpu;
  SystemStopSignals signals;  // before the primary starts any thread (tools/system_signals.h)
  try {
    hv::PrimaryHypervisor primary(system);
    signals.attach(&primary);
    struct Detach {  // before the primary goes, however this scope ends
      SystemStopSignals& s;
      ~Detach() { s.attach(nullptr); }
    } detach{signals};
    for (const hv::HypervisorConfig& h : system.hypervisors)
      if (h.kind == hv::HypervisorKind::SECONDARY)
        primary.attach_secondary(
            std::make_unique<hv::SecondaryHypervisor>(h, system, primary.secondary_port()));
    std::unique_ptr<hv::MonitorConsole> console;
    if (!monitor.empty()) {
      std::string error;
      console = hv::MonitorConsole::open(primary, monitor, &error);
      if (!console) {
        std::fprintf(stderr, "softcpu: %s\n", error.c_str());
        return 2;
      }
    }
    int status = primary.run();
    console.reset();
    std::fprintf(stderr, "%s", primary.info_partitions().c_str());
    if (opts.stats != StatsFormat::NONE) print_system_stats(primary, opts);
    if (const int sig = signals.signal()) status = 128 + sig;
    return status;
  } catch (const hv::HvError& e) {
    std::fprintf(stderr, "softcpu: %s: %s\n", path.c_str(), e.message.c_str());
    return 2;
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
    // One partition on the primary is the single-guest machine; one on the secondary needs
    // the hypervisors (its hypercalls), and a monitor console needs the primary.
    bool on_secondary = false;
    for (const hv::HypervisorConfig& h : system.hypervisors)
      if (h.kind == hv::HypervisorKind::SECONDARY && h.name == system.partitions[0].hypervisor)
        on_secondary = true;
    if (system.partitions[0].split) on_secondary = true;  // some vCPUs on the secondary
    const std::string monitor = !parsed.monitor.empty() ? parsed.monitor : system.monitor;
    if (system.partitions.size() > 1 || on_secondary || !monitor.empty())
      return run_partitions(system, parsed.config_path, parsed.config, monitor);
    MachineConfig machine;
    if (!hv::single_guest_machine(system, &machine, &error)) {
      std::fprintf(stderr, "softcpu: %s: %s\n", parsed.config_path.c_str(), error.c_str());
      return 2;
    }
    machine.stats = parsed.config.stats;  // --stats with a one-partition system: as one guest
    machine.stats_path = parsed.config.stats_path;
    return run_machine(machine);
  }
  const MachineConfig& c = parsed.config;
  return run_machine(c);
}
