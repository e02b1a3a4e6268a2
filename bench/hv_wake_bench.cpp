// The secondary hypervisor's wake-to-run benchmark (bench/README.md): runs hv_wake.rom (the
// thin guest hv_wake_guest.c) in a partition of the secondary hypervisor, alone and then beside
// a partition of the primary that spins on its own host thread, and (given a kernel and an
// initrd) beside a Linux partition of the primary running a CPU loop in its shell, and prints
// the guest's figures with the host's load average before and after each run.
//   hv_wake_bench ROM [VMLINUZ INITRD]
#include <algorithm>
#include <chrono>
#include <cstdlib>
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

// The host's CPU time so far in clock ticks (USER_HZ), all of it and the part stolen (the VM's
// vCPUs kept off by its host): /proc/stat's first line (proc(5)).
struct CpuTicks {
  unsigned long long total = 0, steal = 0;
};
CpuTicks cpu_ticks() {
  std::istringstream line(slurp("/proc/stat"));
  std::string cpu;
  line >> cpu;  // "cpu": user nice system idle iowait irq softirq steal guest guest_nice
  CpuTicks t;
  unsigned long long v = 0;
  for (int k = 0; k < 8 && line >> v; ++k) {
    t.total += v;
    if (k == 7) t.steal = v;
  }
  return t;
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

enum class Beside { NOTHING, SPIN_ROM, LINUX };

// Where the slowest 1 % of the sleeper's timeout wakes (hv_wake_guest.c's vCPU at priority
// `prio`) lost their time (WakeTrace), per path: each step's share is how much later it ended
// than the step before (or the deadline), and the largest names the cause: the sleep before
// the spin ended after the deadline; the spin began late after it; the spin ended late (its
// thread lost the core while spinning, or the deadline was missed); the lock came late after
// the spin; the expiry came late after that; the switch to the vCPU came late after the
// expiry; the vCPU's first hypercall came late after the switch. Also how many of them had the
// host keep the worker waiting on its run queue, or neither running nor waiting (steal), for
// half of their latency or more, and how many ran without SCHED_FIFO.
void print_tail(const std::vector<WakeTrace>& all, unsigned prio) {
  constexpr int64_t kNone = WakeTrace::kNone;
  const char* paths[] = {"idle worker", "timer thread", "own poll"};
  constexpr int kSteps = 7;
  const char* steps[kSteps] = {"sleep ended late", "spin began late", "spin ended late",
                               "lock late", "expiry late", "switch late", "first hypercall late"};
  auto pct = [](std::vector<int64_t> v, unsigned p) {
    if (v.empty()) return int64_t(0);
    std::sort(v.begin(), v.end());
    return v[(v.size() * p + 99) / 100 - 1];
  };
  for (int by = 0; by < 3; ++by) {
    std::vector<WakeTrace> t;
    for (const WakeTrace& w : all)
      if (w.by == by && w.prio == prio && w.ran != kNone) t.push_back(w);
    if (t.empty()) continue;
    std::sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.ran < b.ran; });
    std::vector<int64_t> ran;
    for (const auto& w : t) ran.push_back(w.ran);
    const size_t tail = std::max<size_t>(1, (t.size() + 99) / 100);
    std::printf("(trace, %s: %zu wakes, to the first hypercall p50 %lld p99 %lld max %lld ns;"
                " slowest %zu:", paths[by], t.size(), (long long)pct(ran, 50),
                (long long)pct(ran, 99), (long long)t.back().ran, tail);
    unsigned cause[kSteps] = {}, descheduled = 0, robbed = 0, not_rt = 0, no_spin = 0,
             not_raised = 0, seen_late = 0;
    std::vector<int64_t> seg[kSteps], rd, stolen, window, seen;
    for (size_t k = t.size() - tail; k < t.size(); ++k) {
      const WakeTrace& w = t[k];
      const int64_t at[kSteps] = {w.slept_until, w.spin_from, w.spin_to, w.locked, w.expired,
                                  w.dispatched, w.ran};
      int64_t s[kSteps], prev = 0;
      for (int j = 0; j < kSteps; ++j) {
        const int64_t end = at[j] == kNone ? prev : std::max(prev, at[j]);
        s[j] = end - prev;
        prev = end;
      }
      const int biggest = int(std::max_element(s, s + kSteps) - s);
      ++cause[biggest];
      for (int j = 0; j < kSteps; ++j) seg[j].push_back(s[j]);
      if (w.run_delay >= 0) rd.push_back(w.run_delay);
      if (w.run_delay >= 0 && w.run_delay * 2 >= w.ran) ++descheduled;
      if (w.stolen >= 0) stolen.push_back(w.stolen);
      if (w.stolen >= 0 && w.stolen * 2 >= w.ran) ++robbed;
      not_rt += !w.rt_at_dispatch;
      no_spin += !w.spun;
      not_raised += by == WakeTrace::TIMER_THREAD && !w.raised;
      window.push_back(int64_t(w.window));
      if (w.seen != kNone) seen.push_back(w.seen);
      // It learnt of the deadline only after it (the sleeper's poke reached it late).
      seen_late += w.seen != kNone && w.seen > 0;
    }
    for (int j = 0; j < kSteps; ++j)
      if (cause[j])
        std::printf(" %u %s (median %lld ns)", cause[j], steps[j], (long long)pct(seg[j], 50));
    std::printf("; %u with the worker waiting for a host core half of it or more (run-queue wait"
                " median %lld max %lld ns); %u with it neither on a core nor waiting for one half"
                " of it or more (steal: median %lld max %lld ns); %u not SCHED_FIFO at the"
                " switch; %u without a spin;",
                descheduled, (long long)pct(rd, 50), (long long)pct(rd, 100), robbed,
                (long long)pct(stolen, 50), (long long)pct(stolen, 100), not_rt, no_spin);
    if (by == WakeTrace::TIMER_THREAD)
      std::printf(" %u without an early raise; the deadline first seen median %lld ns after it,"
                  " %u only after it;",
                  not_raised, (long long)pct(seen, 50), seen_late);
    std::printf(" spin window median %lld ns)\n", (long long)pct(window, 50));
  }
}

// A Linux partition whose shell (busybox as init) says it starts, then loops for ever.
PartitionConfig linux_partition(const std::string& kernel, const std::string& initrd,
                                const std::string& serial) {
  PartitionConfig p = partition("linux", "primary", "", "");
  p.machine.bios_path.clear();
  p.machine.kernel_path = kernel;
  p.machine.initrd_path = initrd;
  p.machine.append = "console=ttyS0 cryptomgr.notests noisapnp rdinit=/bin/busybox -- sh -c "
                     "\"echo cpu-loop-start; while :; do :; done\"";
  p.machine.serial = "file:" + serial;
  p.memory.clear();
  p.memory.push_back({0, 128ull << 20, false, "", 0});
  p.exit_on_poweroff = false;
  return p;
}

int run(const std::string& rom, Beside beside, const std::string& kernel = "",
        const std::string& initrd = "") {
  const bool busy_primary = beside == Beside::SPIN_ROM;
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
  const std::string serial = beside == Beside::LINUX ? temp_path("serial") : "";
  if (beside == Beside::LINUX) s.partitions.push_back(linux_partition(kernel, initrd, serial));
  std::printf("== %s; load average before: %s\n",
              beside == Beside::SPIN_ROM ? "beside a busy partition on the primary"
              : beside == Beside::LINUX  ? "beside a Linux partition running a CPU loop on the primary"
                                         : "alone",
              loadavg().c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  const CpuTicks ticks0 = cpu_ticks();
  int status;
  {
    PrimaryHypervisor primary(s);
    auto sec = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
    SecondaryHypervisor& secondary = *sec;
    secondary.trace_wakes(100000);
    primary.attach_secondary(std::move(sec));
    std::printf("(the secondary's timer thread %s SCHED_FIFO)\n",
                secondary.timer_realtime() ? "runs" : "could not get");
    if (beside == Beside::LINUX) {  // the RTOS starts (run) once Linux's loop runs
      primary.start("linux");
      const auto boot0 = std::chrono::steady_clock::now();
      while (slurp(serial).find("cpu-loop-start\r\n") == std::string::npos) {
        if (std::chrono::steady_clock::now() - boot0 > std::chrono::seconds(240)) {
          std::fprintf(stderr, "hv_wake_bench: Linux did not start its loop in 240 s\n");
          primary.request_quit();
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::printf("(Linux booted and loops after %.1f s)\n",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - boot0).count());
    }
    status = primary.run();
    const ThinStats st = secondary.stats("rtos");
    std::printf("(hypervisor: %llu timeouts, %llu by the timer thread, %llu by a busy worker "
                "that aimed its runs at them (%llu runs shortened), expiry after the deadline "
                "avg %llu ns max %llu ns; %llu idle sleeps woke avg %llu ns max %llu ns late; "
                "%llu spins; %llu workers raised to SCHED_FIFO by the timer thread, %llu drops)\n",
                (unsigned long long)st.timeouts, (unsigned long long)st.expired_by_timer_thread,
                (unsigned long long)st.expired_aimed, (unsigned long long)st.aimed_runs,
                (unsigned long long)(st.timeouts ? st.expire_late_ns_sum / st.timeouts : 0),
                (unsigned long long)st.expire_late_ns_max, (unsigned long long)st.idle_sleeps,
                (unsigned long long)(st.idle_sleeps ? st.sleep_late_ns_sum / st.idle_sleeps : 0),
                (unsigned long long)st.sleep_late_ns_max, (unsigned long long)st.spins,
                (unsigned long long)st.rt_boosts, (unsigned long long)st.rt_drops);
    const std::vector<WakeTrace> traces = secondary.wake_traces();
    print_tail(traces, 50);  // hv_wake_guest.c's sleeper
    // HV_WAKE_TRACE=PREFIX: every trace to PREFIX-SETTING.csv, in the order the vCPUs ran.
    if (const char* prefix = std::getenv("HV_WAKE_TRACE")) {
      const char* setting = beside == Beside::SPIN_ROM ? "spin" : beside == Beside::LINUX ? "linux" : "alone";
      std::ofstream f(std::string(prefix) + "-" + setting + ".csv");
      f << "by,prio,rt_at_dispatch,rt_at_expiry,on_worker,spun,raised,seen,slept_until,"
           "spin_from,spin_to,locked,expired,dispatched,ran,window,run_delay,stolen\n";
      auto num = [](int64_t v) { return v == WakeTrace::kNone ? std::string() : std::to_string(v); };
      for (const WakeTrace& w : traces)
        f << int(w.by) << ',' << w.prio << ',' << w.rt_at_dispatch << ',' << w.rt_at_expiry << ','
          << w.on_worker << ',' << w.spun << ',' << w.raised << ',' << num(w.seen) << ','
          << num(w.slept_until) << ',' << num(w.spin_from) << ','
          << num(w.spin_to) << ',' << num(w.locked) << ',' << num(w.expired) << ','
          << num(w.dispatched) << ',' << num(w.ran) << ',' << w.window << ',' << w.run_delay
          << ',' << w.stolen << '\n';
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const CpuTicks ticks1 = cpu_ticks();
  const unsigned long long all = ticks1.total - ticks0.total, stolen = ticks1.steal - ticks0.steal;
  const std::string figures = slurp(out);
  std::printf("%s", figures.c_str());
  // The run's status is the thin guest's exit (primary.run(): the first partition's that did
  // not power off): its main's return v through the debug-exit port gives (v << 1) | 1, so 1
  // is a guest that returned 0, i.e. finished.
  std::printf("(run %.1f s, guest exit status %d%s; load average after: %s; steal %llu of %llu "
              "host CPU ticks (%.1f %%); %u host cores)\n",
              secs, status, status == 1 ? ": finished" : ": FAILED", loadavg().c_str(), stolen,
              all, all ? 100.0 * double(stolen) / double(all) : 0.0,
              std::thread::hardware_concurrency());
  unlink(out.c_str());
  if (!spin.empty()) unlink(spin.c_str());
  if (!serial.empty()) unlink(serial.c_str());
  return figures.find("bench done") == std::string::npos ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::fprintf(stderr, "usage: hv_wake_bench ROM [VMLINUZ INITRD] (bench/hv_wake.rom, "
                         "build/guest/vmlinuz build/guest/initrd.img)\n");
    return 2;
  }
  // HV_WAKE_ONLY=alone|spin|linux: one setting.
  const std::string only = std::getenv("HV_WAKE_ONLY") ? std::getenv("HV_WAKE_ONLY") : "";
  try {
    if ((only.empty() || only == "alone") && run(argv[1], Beside::NOTHING)) return 1;
    if ((only.empty() || only == "spin") && run(argv[1], Beside::SPIN_ROM)) return 1;
    if (argc == 4 && (only.empty() || only == "linux") &&
        run(argv[1], Beside::LINUX, argv[2], argv[3]))
      return 1;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "hv_wake_bench: %s\n", e.message.c_str());
    return 2;
  } catch (const HvError& e) {
    std::fprintf(stderr, "hv_wake_bench: %s\n", e.message.c_str());
    return 2;
  }
  return 0;
}
