#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "monitor/machine.h"
#include "monitor/machine_config.h"

namespace softcpu {

static void print_stats(Machine& m, const MachineConfig& config) {
  // With --stats-interval the file holds the series; the report goes to stderr.
  write_stats_output(config.stats == StatsFormat::JSON ? m.stats().json() : m.stats().text(),
                     config.stats_interval_ms ? std::string() : config.stats_path);
}

int run_machine(const MachineConfig& config) {
  try {
    Machine m(config);
    Machine::catch_stop_signals();  // after set-up: a signal during it still kills at once
    int status = m.run();
    if (config.stats != StatsFormat::NONE || config.stats_interval_ms) {
      m.register_final_stats();
      m.finish_stats_series();
      if (config.stats != StatsFormat::NONE) print_stats(m, config);
    }
    return status;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "softcpu: %s\n", e.message.c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "softcpu: out of host memory (try a smaller -m)\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "softcpu: %s\n", e.what());
    return 2;
  }
}

}  // namespace softcpu
