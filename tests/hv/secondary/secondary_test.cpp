// The secondary hypervisor with the thin RTOS (guests/rtos) as its guest: the scenarios of
// tests/guest/hv/rtos_tests.c run on the real CPU under the priority scheduler, once with
// lazy priority inheritance and once without; the guest prints its measurements on the debug
// console and asks the primary to stop its partition. Also: the primary stops an idle thin
// partition on its own.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <unistd.h>

#include "tests/hv/hv_test_util.h"
#include "monitor/hv/primary.h"
#include "monitor/hv/secondary.h"
#include "monitor/machine.h"

namespace softcpu::hv {
namespace {

std::string guest_dir() {
  const char* d = std::getenv("HV_GUEST_DIR");
  return d ? d : "";
}

// An empty temporary file for a debug console.
std::string temp_file() {
  std::string path = "/tmp/softcpu_sec_XXXXXX";
  const int fd = mkstemp(path.data());
  EXPECT_GE(fd, 0);
  close(fd);
  return path;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The "key=value" fields of the first line starting with `name `.
std::map<std::string, long> fields(const std::string& log, const std::string& name) {
  std::map<std::string, long> out;
  const size_t at = log.find("\n" + name + " ");
  if (at == std::string::npos) return out;
  std::istringstream line(log.substr(at + name.size() + 2, log.find('\n', at + 1) - at - name.size() - 2));
  std::string kv;
  while (line >> kv) {
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = std::strtol(kv.c_str() + eq + 1, nullptr, 0);
  }
  return out;
}

SystemConfig system_with(const std::string& rom, const std::string& debugcon, bool inheritance) {
  SystemConfig s;
  s.hypervisors.push_back({"primary", HypervisorKind::PRIMARY, "", SchedulerKind::ROUND_ROBIN,
                           10000, {0, 255}, true, 0});
  s.hypervisors.push_back({"rt", HypervisorKind::SECONDARY, "", SchedulerKind::PRIORITY, 10000,
                           {0, 255}, inheritance, 0});
  PartitionConfig p = test::thin_partition("rtos", rom, debugcon, 10);
  p.machine.timeout_seconds = 50;
  s.partitions.push_back(p);
  return s;
}

void wait_stopped(Partition& p, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (p.state() == PartitionState::RUNNING && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

struct RtosRun {
  std::string log, console;
  ThinStats stats;
  PartitionState state;
  bool realtime = false;  // the host let the timer thread run SCHED_FIFO
  std::vector<WakeTrace> traces;  // with `trace`
};

RtosRun run_rtos(bool inheritance, const std::string& rom = "rtos_tests.rom",
                 uint32_t time_slice_us = 10000, bool trace = false) {
  const std::string out = temp_file();
  SystemConfig s = system_with(guest_dir() + "/" + rom, out, inheritance);
  s.hypervisors[1].time_slice_us = time_slice_us;
  PrimaryHypervisor primary(s);
  auto owned = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
  SecondaryHypervisor& sec = *owned;
  if (trace) sec.trace_wakes(100000);
  primary.attach_secondary(std::move(owned));
  auto console = std::make_shared<std::string>();
  auto console_mu = std::make_shared<std::mutex>();
  sec.set_console([console, console_mu](const std::string& who, std::string_view text) {
    std::lock_guard g(*console_mu);
    *console += who + ": " + std::string(text);
  });
  primary.start("rtos");
  wait_stopped(primary.partition("rtos"), 55);
  RtosRun r;
  r.log = "\n" + slurp(out);
  {
    std::lock_guard g(*console_mu);
    r.console = *console;
  }
  r.stats = sec.stats("rtos");
  r.realtime = sec.timer_realtime();
  r.traces = sec.wake_traces();
  r.state = primary.partition("rtos").state();
  unlink(out.c_str());
  return r;
}

TEST(Secondary, RtosScenariosWithInheritance) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const RtosRun r = run_rtos(true);
  SCOPED_TRACE(r.log);
  // The guest asked the primary to stop its own partition: stopped, not exited.
  EXPECT_EQ(r.state, PartitionState::STOPPED);
  EXPECT_NE(r.log.find("\ndone\n"), std::string::npos);
  EXPECT_EQ(r.log.find("FAIL"), std::string::npos);
  EXPECT_NE(r.console.find("rtos: rtos: console 42 ok\n"), std::string::npos) << r.console;
  EXPECT_NE(r.log.find("\nstart self=1\n"), std::string::npos);

  auto ce = fields(r.log, "create_exit");
  EXPECT_EQ(ce["tasks"], 100);
  EXPECT_EQ(ce["ok"], 1);  // each ran (and exited) before its create returned
  auto wc = fields(r.log, "wait_changed");
  EXPECT_EQ(wc["result"], -11);  // -EAGAIN at once
  // "At once": nothing wakes this wait, so one that blocked would never return; the bound
  // leaves room for a loaded host descheduling the vCPU (6.5 ms seen with 4 runnable threads
  // per core, where 5 ms had been the bound).
  EXPECT_LT(wc["us"], 50000);
  EXPECT_NE(r.log.find("wake_order first=2 after_first=2 rest=2 none=0 order=60,50,40,30"),
            std::string::npos);
  auto to = fields(r.log, "timeout");
  EXPECT_EQ(to["result"], -110);  // -ETIMEDOUT
  EXPECT_GE(to["us"], 20000);     // not before the time
  EXPECT_LT(to["us"], 20000 + 80000);  // nor much after (a loaded 2-core host)
  auto inv = fields(r.log, "inversion");
  // With inheritance H waits only for L's 1 ms critical section, not for M's 200 ms spin
  // (the bound leaves room for the host descheduling us on a loaded machine).
  EXPECT_EQ(inv["h_before_m_end"], 1);
  EXPECT_LT(inv["h_wait_us"], 100000);
  EXPECT_GE(inv["h_wait_us"], 900);
  EXPECT_NE(r.log.find("bad_calls -14 -22 -3 -1 -1 -38 -14 -2 -22"), std::string::npos);
  EXPECT_EQ(r.stats.bad_hypercalls, 9u);
  auto sp = fields(r.log, "sem_periodic");
  EXPECT_EQ(sp["got"], 5);
  EXPECT_EQ(sp["ticks"], 5);
  EXPECT_EQ(sp["late"], -110);
  auto rp = fields(r.log, "raised_preempted");
  EXPECT_EQ(rp["x_ran"], 1);
  EXPECT_EQ(rp["h2_got"], 1);
  // Lazy inheritance: L's and L2's Tprio were raised (two boosts) without touching a list;
  // the one requeue at a Tprio is L2's, preempted by X while raised. So the inversion
  // scenario, where L was never preempted while raised, touched no list for inheritance.
  EXPECT_EQ(r.stats.pi_boosts, 2u);
  EXPECT_EQ(r.stats.pi_requeues, 1u);
  EXPECT_GE(r.stats.vcpus_created, 100u + 4 + 3 + 1);
  std::fprintf(stderr, "%s", r.log.c_str());
  std::fprintf(stderr, "hypercalls %lu switches %lu preemptions %lu wakes %lu timeouts %lu "
               "list touches %lu pi boosts %lu requeues %lu\n",
               (unsigned long)r.stats.hypercalls, (unsigned long)r.stats.switches,
               (unsigned long)r.stats.preemptions, (unsigned long)r.stats.wakes,
               (unsigned long)r.stats.timeouts, (unsigned long)r.stats.list_touches,
               (unsigned long)r.stats.pi_boosts, (unsigned long)r.stats.pi_requeues);
}

TEST(Secondary, RtosInversionWithoutInheritance) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const RtosRun r = run_rtos(false);
  SCOPED_TRACE(r.log);
  EXPECT_EQ(r.state, PartitionState::STOPPED);
  auto inv = fields(r.log, "inversion");
  // Without inheritance H gets the mutex only after M's spin has ended.
  EXPECT_EQ(inv["h_before_m_end"], 0);
  EXPECT_GE(inv["h_wait_us"], 150000);
  EXPECT_EQ(r.stats.pi_boosts, 0u);
  EXPECT_EQ(r.stats.pi_requeues, 0u);
  auto rp = fields(r.log, "raised_preempted");
  EXPECT_EQ(rp["h2_got"], 1);
}

// The timer path of wake-to-run (bench/hv_wake_guest.c, 500 wakes per setting): a timeout of
// an idle partition is met by its own thread spinning the last stretch to the deadline (not
// by a sleep the host ends late), and one of a partition busy with a lower vCPU by its worker,
// which runs the lower vCPU in shorter and shorter runs toward the deadline and expires it in
// its own poll (the timer thread kicks only if it has not by a grace after the deadline). The
// medians are far below the 2 ms idle poll and the ~40 us a sleeping host thread took to wake
// here; the bound leaves room for a loaded 2-core host.
TEST(Secondary, TimeoutsMetBySpinAndTimerThread) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const RtosRun r = run_rtos(true, "hv_wake_short.rom");
  SCOPED_TRACE(r.log);
  ASSERT_NE(r.log.find("\nbench done\n"), std::string::npos);
  for (const char* setting : {"timeout_idle", "timeout_busy", "wake_hypercall"}) {
    auto f = fields(r.log, setting);
    EXPECT_EQ(f["n"], 500) << setting;
    EXPECT_LT(f["p50_ns"], 500000) << setting;
  }
  // 500 idle timeouts (and the main vCPU's sleeps) mostly end in a spin; the 500 busy ones are
  // met by the worker that runs the spinners, aiming its runs at them, and the rest by the
  // timer thread (a worker the host held off past the grace: 2-6 % in hv_wake_bench on a
  // quiet host; the bound leaves room for a worker without SCHED_FIFO under ctest -j 2).
  EXPECT_GE(r.stats.timeouts, 1000u);
  EXPECT_GE(r.stats.spins, 400u);
  // Under ThreadSanitizer (kTimeScale > 1) a poll takes longer than the timer thread's 5 us
  // grace after the deadline (kAimGraceNs), so the timer thread meets nearly all of them there
  // (1 of 500 by the worker in one run): there the timer thread's share is asserted, as it
  // was before the worker aimed its runs.
  if (test::kTimeScale == 1) {
    EXPECT_GE(r.stats.expired_aimed, 200u);
  } else {
    EXPECT_GE(r.stats.expired_by_timer_thread, 300u);
  }
  EXPECT_GE(r.stats.aimed_runs, r.stats.expired_aimed);
  EXPECT_LE(r.stats.expired_aimed + r.stats.expired_by_timer_thread, r.stats.timeouts - 400);
  // Where the host allows SCHED_FIFO: the timer thread raised the worker running the spinners
  // for busy timeouts (not for every one: a worker still raised from its last spin or boost is
  // not raised again), and each raise (a spin's or a boost's) ended at the woken vCPU's first
  // hypercall or poll: at least one drop per idle timeout's spin, and none without a raise.
  if (r.realtime) {
    EXPECT_GE(r.stats.rt_boosts, 100u);
    EXPECT_GE(r.stats.rt_drops, 400u);
    EXPECT_LE(r.stats.rt_drops, r.stats.rt_boosts + r.stats.spins);
  } else {
    EXPECT_EQ(r.stats.rt_boosts, 0u);
  }
}

// The trace of each timeout's way (WakeTrace, what hv_wake_bench's tail report reads): the
// sleeper's 1,000 timeouts (at 50; 500 idle, 500 beside two spinners) each traced once, their
// steps in order, the idle ones by the idle worker that spun to them, the busy ones by the
// worker's own poll (Thin::aim_budget_locked) or the timer thread; without trace_wakes()
// nothing is recorded.
TEST(Secondary, TracesEachTimeoutsWay) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const RtosRun r = run_rtos(true, "hv_wake_short.rom", 10000, true);
  SCOPED_TRACE(r.log);
  ASSERT_NE(r.log.find("\nbench done\n"), std::string::npos);
  unsigned sleeper = 0, idle = 0, busy = 0, with_schedstat = 0;
  for (const WakeTrace& w : r.traces) {
    ASSERT_NE(w.ran, WakeTrace::kNone);
    ASSERT_NE(w.expired, WakeTrace::kNone);
    ASSERT_NE(w.dispatched, WakeTrace::kNone);
    EXPECT_GE(w.expired, 0);
    EXPECT_GE(w.dispatched, w.expired);
    EXPECT_GE(w.ran, w.dispatched);
    if (w.spun) {
      EXPECT_LE(w.spin_from, w.spin_to);
      EXPECT_LE(w.spin_to, w.locked);
      EXPECT_LE(w.locked, w.expired);
    }
    if (w.prio != 50) continue;
    ++sleeper;
    idle += w.by == WakeTrace::IDLE_WORKER && w.spun;
    busy += w.by == WakeTrace::TIMER_THREAD || (w.by == WakeTrace::POLL && w.on_worker);
    with_schedstat += w.run_delay >= 0;
  }
  EXPECT_EQ(sleeper, 1000u);
  EXPECT_GE(idle, 400u);
  EXPECT_GE(busy, 400u);
  EXPECT_GE(with_schedstat, 800u);  // /proc/self/task/TID/schedstat read around most
  EXPECT_TRUE(run_rtos(true, "hv_wake_short.rom").traces.empty());
}

// Round robin among equals (tests/guest/hv/rtos_slice.c): two vCPUs at 10 that never make a
// hypercall share the partition's CPU in 20 ms slices while a vCPU at 30 sleeps 1 ms 200
// times; its wakes preempt at once (median far below a slice), not at a slice's end.
TEST(Secondary, EqualVcpusTakeTurnsAndAHigherOnePreempts) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const RtosRun r = run_rtos(true, "rtos_slice.rom", 20000);
  SCOPED_TRACE(r.log);
  auto f = fields(r.log, "slice");
  ASSERT_FALSE(f.empty());
  EXPECT_GT(f["count0"], 0);
  EXPECT_GT(f["count1"], 0);
  // 200 ms or more of spinning in 20 ms slices: about ten turns each; FIFO would give the
  // second spinner none until the first ended.
  EXPECT_GE(f["turns0"], 2);
  EXPECT_GE(f["turns1"], 2);
  EXPECT_GE(r.stats.rr_rotations, 3u);
  EXPECT_LT(f["late_p50_ns"], 5000000);  // a quarter of the slice
}

TEST(Secondary, PrimaryStopsAnIdleThinPartition) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const std::string out = temp_file();
  const SystemConfig s = system_with(guest_dir() + "/rtos_idle.rom", out, true);
  PrimaryHypervisor primary(s);
  primary.attach_secondary(
      std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port()));
  primary.start("rtos");
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (slurp(out).find("idle self=1") == std::string::npos && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // now blocked for good
  EXPECT_EQ(primary.partition("rtos").state(), PartitionState::RUNNING);
  const auto t0 = std::chrono::steady_clock::now();
  primary.stop("rtos");
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(primary.partition("rtos").state(), PartitionState::STOPPED);
  EXPECT_LT(ms, 1000.0);
  EXPECT_EQ(slurp(out).find("FAIL"), std::string::npos);
  unlink(out.c_str());
}

// Issue 14: the primary resets a partition of the secondary (stop, PC reset, start): the thin
// guest boots again from its reset vector with one vCPU (id 1) and blocks again.
TEST(Secondary, PrimaryResetsAThinPartition) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const std::string out = temp_file();
  const SystemConfig s = system_with(guest_dir() + "/rtos_idle.rom", out, true);
  PrimaryHypervisor primary(s);
  auto owned = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
  SecondaryHypervisor& sec = *owned;
  primary.attach_secondary(std::move(owned));
  auto boots = [&] {
    const std::string log = slurp(out);
    size_t n = 0;
    for (size_t at = log.find("idle self=1"); at != std::string::npos; at = log.find("idle self=1", at + 1)) ++n;
    return n;
  };
  auto wait_boots = [&](size_t n) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (boots() < n && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  primary.start("rtos");
  wait_boots(1);
  ASSERT_EQ(boots(), 1u);
  primary.reset("rtos");
  wait_boots(2);
  EXPECT_EQ(boots(), 2u);
  EXPECT_EQ(primary.partition("rtos").state(), PartitionState::RUNNING);
  EXPECT_EQ(sec.stats("rtos").live_vcpus, 1u);
  primary.stop("rtos");
  EXPECT_EQ(primary.partition("rtos").state(), PartitionState::STOPPED);
  EXPECT_EQ(slurp(out).find("FAIL"), std::string::npos);
  unlink(out.c_str());
}

// HC_PARTITION_REQUEST for another partition of the secondary: the guest's start and stop
// requests wait for the primary's answer (the caller counts as blocked meanwhile) and succeed;
// the other partition ran (it printed) and is stopped.
TEST(Secondary, AThinGuestStartsAndStopsAnotherPartition) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const std::string out = temp_file(), idle_out = temp_file();
  SystemConfig s = system_with(guest_dir() + "/rtos_request.rom", out, true);
  s.partitions.push_back(test::thin_partition("idle", guest_dir() + "/rtos_idle.rom", idle_out, 10));
  PrimaryHypervisor primary(s);
  auto owned = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
  SecondaryHypervisor& sec = *owned;
  primary.attach_secondary(std::move(owned));
  EXPECT_EQ(primary.partition("idle").state(), PartitionState::STOPPED);
  primary.start("rtos");
  wait_stopped(primary.partition("rtos"), int(test::guard_seconds(30)));
  const std::string log = "\n" + slurp(out);
  SCOPED_TRACE(log);
  auto f = fields(log, "request");
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f["start"], 0);
  EXPECT_EQ(f["stop"], 0);
  EXPECT_GE(f["elapsed_ms"], 100 * test::kTimeScale);  // its sleep (GUEST_TIME_SCALE)
  EXPECT_NE(slurp(idle_out).find("idle self=1"), std::string::npos);
  EXPECT_EQ(primary.partition("idle").state(), PartitionState::STOPPED);
  EXPECT_EQ(primary.partition("rtos").state(), PartitionState::STOPPED);
  EXPECT_EQ(sec.stats("rtos").bad_hypercalls, 0u);
  unlink(out.c_str());
  unlink(idle_out.c_str());
}

// The secondary's processor set: with one thread, of two partitions that never block (jmp $,
// ordinary machines: one vCPU at the partition's priority) only the more urgent one runs, in
// whatever order they started; when it stops the other runs. With two threads both run.
void write_loop_rom(const std::string& path) {
  std::vector<uint8_t> rom(0x10000, 0xF4);
  rom[0xFFF0] = 0xEB;  // jmp $
  rom[0xFFF1] = 0xFE;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(rom.data()), long(rom.size()));
}

// Partitions of the loop ROM, (name, priority) each, on a secondary whose set has `threads`.
SystemConfig loop_system(const std::string& rom, unsigned threads,
                         const std::vector<std::pair<std::string, unsigned>>& parts) {
  SystemConfig s = system_with(rom, "/dev/null", true);
  s.processor_sets.push_back({"rtset", threads, 0});
  s.hypervisors[1].processor_set = "rtset";
  PartitionConfig p = s.partitions[0];
  p.machine.debugcons.clear();
  s.partitions.clear();
  for (const auto& [name, priority] : parts) {
    p.name = name;
    p.priority = priority;
    s.partitions.push_back(p);
  }
  return s;
}

void run_two_on_secondary(unsigned threads) {
  const std::string rom = temp_file();
  write_loop_rom(rom);
  const SystemConfig s = loop_system(rom, threads, {{"low", 10}, {"high", 50}});
  PrimaryHypervisor primary(s);
  auto owned = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
  EXPECT_EQ(owned->processors(), threads);
  primary.attach_secondary(std::move(owned));
  primary.start("low");  // first: it has the processor until "high" wants it
  std::this_thread::sleep_for(test::window(std::chrono::milliseconds(100)));
  primary.start("high");
  std::this_thread::sleep_for(test::window(std::chrono::milliseconds(200)));
  const uint64_t low0 = primary.counters(primary.partition("low")).instructions;
  const uint64_t high0 = primary.counters(primary.partition("high")).instructions;
  std::this_thread::sleep_for(test::window(std::chrono::milliseconds(400)));
  const uint64_t low1 = primary.counters(primary.partition("low")).instructions;
  const uint64_t high1 = primary.counters(primary.partition("high")).instructions;
  EXPECT_GT(high1, high0 + 100000);
  if (threads == 1) {
    EXPECT_EQ(low1, low0);  // starved: the one processor is the more urgent partition's
    primary.stop("high");
    std::this_thread::sleep_for(test::window(std::chrono::milliseconds(300)));
    EXPECT_GT(primary.counters(primary.partition("low")).instructions, low1 + 100000);
  } else {
    EXPECT_GT(low1, low0 + 100000);  // a processor each
  }
  primary.stop("low");
  primary.stop("high");
  unlink(rom.c_str());
}

TEST(Secondary, OneProcessorRunsTheMostUrgentPartition) { run_two_on_secondary(1); }

// Round robin between partitions: on one thread two partitions at 10 that never block take
// turns in 2 ms slices; a third at 50 still takes the thread at once and keeps it.
TEST(Secondary, OneProcessorSlicesEqualPartitions) {
  const std::string rom = temp_file();
  write_loop_rom(rom);
  SystemConfig s = loop_system(rom, 1, {{"a", 10}, {"b", 10}, {"high", 50}});
  s.hypervisors[1].time_slice_us = 2000;
  PrimaryHypervisor primary(s);
  auto owned = std::make_unique<SecondaryHypervisor>(s.hypervisors[1], s, primary.secondary_port());
  SecondaryHypervisor& sec = *owned;
  primary.attach_secondary(std::move(owned));
  auto insns = [&](const char* name) { return primary.counters(primary.partition(name)).instructions; };
  primary.start("a");
  primary.start("b");
  std::this_thread::sleep_for(test::window(std::chrono::milliseconds(100)));
  const uint64_t a0 = insns("a"), b0 = insns("b");
  std::this_thread::sleep_for(test::window(std::chrono::milliseconds(300)));
  const uint64_t a1 = insns("a"), b1 = insns("b");
  EXPECT_GT(a1, a0 + 100000);
  EXPECT_GT(b1, b0 + 100000);
  EXPECT_GE(sec.stats("a").rr_yields, 3u);
  EXPECT_GE(sec.stats("b").rr_yields, 3u);
  primary.start("high");
  std::this_thread::sleep_for(test::window(std::chrono::milliseconds(100)));
  const uint64_t a2 = insns("a"), b2 = insns("b"), h2 = insns("high");
  std::this_thread::sleep_for(test::window(std::chrono::milliseconds(300)));
  EXPECT_EQ(insns("a"), a2);  // the one thread is the more urgent partition's
  EXPECT_EQ(insns("b"), b2);
  EXPECT_GT(insns("high"), h2 + 100000);
  EXPECT_EQ(sec.stats("high").rr_yields, 0u);  // nobody of its priority waits
  primary.stop("high");
  primary.stop("a");
  primary.stop("b");
  unlink(rom.c_str());
}
TEST(Secondary, TwoProcessorsRunTwoPartitions) { run_two_on_secondary(2); }

TEST(Secondary, WithoutTheSecondaryAThinPartitionIsRefused) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const SystemConfig s = system_with("/nonexistent.rom", "/dev/null", true);
  // The ROM is read when the machine is built: use a real one.
  SystemConfig t = s;
  t.partitions[0].machine.bios_path = guest_dir() + "/rtos_idle.rom";
  PrimaryHypervisor primary(t);
  EXPECT_THROW(primary.start("rtos"), HvError);
}

}  // namespace
}  // namespace softcpu::hv
