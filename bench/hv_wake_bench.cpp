// The secondary hypervisor's wake-to-run benchmark (bench/README.md): runs hv_wake.rom (the
// thin guest hv_wake_guest.c) in a partition of the secondary hypervisor, alone and then beside
// a partition of the primary that spins on its own host thread, and prints the guest's figures
// with the host's load average before and after each run.
//   hv_wake_bench ROM
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "monitor/hv/primary.h"
#include "monitor/hv/secondary.h"
#include "monitor/machine.h"

using namespace softcpu;
using namespace softcpu::hv;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string loadavg() {
  std::string s = slurp("/proc/loadavg");
  return s.substr(0, s.find(' ', s.find(' ', s.find(' ') + 1) + 1));
}

std::string temp_path(const char* tag) {
  std::string p = std::string("/tmp/softcpu_hvbench_") + tag + "_XXXXXX";
  const int fd = mkstemp(p.data());
  if (fd >= 0) close(fd);
  return p;
}

// A 64 KiB ROM whose reset vector jumps to itself: a guest that is always busy.
std::string spin_rom() {
  std::vector<uint8_t> rom(0x10000, 0xF4);
  rom[0xFFF0] = 0xEB;
  rom[0xFFF1] = 0xFE;
  const std::string p = temp_path("spin");
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(rom.data()), long(rom.size()));
  return p;
}

PartitionConfig partition(const std::string& name, const std::string& hv, const std::string& rom,
                          const std::string& debugcon) {
  PartitionConfig p;
  p.name = name;
  p.hypervisor = hv;
  p.machine.bios_path = rom;
  p.machine.serial = "none";
  p.machine.timeout_seconds = 300;
  if (!debugcon.empty()) p.machine.debugcons.push_back({0xE9, debugcon});
  p.memory.push_back({0, 2u << 20, false, "", 0});
  return p;
}

int run(const std::string& rom, bool busy_primary) {
  const std::string out = temp_path("con");
  SystemConfig s;
  s.hypervisors.push_back({"primary", HypervisorKind::PRIMARY, "", SchedulerKind::ROUND_ROBIN,
                           10000, {0, 255}, true, 0});
  s.hypervisors.push_back({"rt", HypervisorKind::SECONDARY, "", SchedulerKind::PRIORITY, 10000,
                           {0, 255}, true, 0});
  s.partitions.push_back(partition("rtos", "rt", rom, out));
  s.partitions.back().priority = 10;
  std::string spin;
  if (busy_primary) {
    spin = spin_rom();
    s.partitions.push_back(partition("busy", "primary", spin, ""));
    s.partitions.back().exit_on_poweroff = false;
  }
  std::printf("== %s; load average before: %s\n",
              busy_primary ? "beside a busy partition on the primary" : "alone", loadavg().c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  int status;
  {
    PrimaryHypervisor primary(s);
    auto sec = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
    SecondaryHypervisor& secondary = *sec;
    primary.attach_secondary(std::move(sec));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the timer thread is up
    std::printf("(the secondary's timer thread %s SCHED_FIFO)\n",
                secondary.timer_realtime() ? "runs" : "could not get");
    status = primary.run();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string figures = slurp(out);
  std::printf("%s", figures.c_str());
  std::printf("(run %.1f s, status %d; load average after: %s; %u host cores)\n", secs, status,
              loadavg().c_str(), std::thread::hardware_concurrency());
  unlink(out.c_str());
  if (!spin.empty()) unlink(spin.c_str());
  return figures.find("bench done") == std::string::npos ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hv_wake_bench ROM (bench/hv_wake.rom)\n");
    return 2;
  }
  try {
    if (run(argv[1], false) || run(argv[1], true)) return 1;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "hv_wake_bench: %s\n", e.message.c_str());
    return 2;
  } catch (const HvError& e) {
    std::fprintf(stderr, "hv_wake_bench: %s\n", e.message.c_str());
    return 2;
  }
  return 0;
}
