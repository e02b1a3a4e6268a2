// A partition scheduled by both hypervisors (docs/design.md "A partition on both hypervisors",
// issue 14): a 2-vCPU partition of the primary with vcpu_threads = "multi" whose vCPU 1 the
// secondary runs ([partition.secondary]): vCPU 0 on the primary's one-thread set, vCPU 1 on a
// worker of the secondary's set under its priority scheduler, one machine and one stage-2
// table. The LOCK CMPXCHG counter guest of hv.smp_threads gives the exact total, the per-vCPU
// counters say which hypervisor and set ran each, and the secondary's priorities decide
// whether vCPU 1 runs beside a partition of its own that never blocks.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <algorithm>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "monitor/hv/primary.h"
#include "monitor/hv/secondary.h"
#include "monitor/machine.h"
#include "tests/hv/hv_config_util.h"
#include "tests/hv/hv_test_util.h"

namespace softcpu::hv {
namespace {

std::string rom(const char* name) {
  const char* d = std::getenv("SMP_GUEST_DIR");
  return std::string(d ? d : ".") + "/" + name;
}

// The primary on "set0" (`primary_threads`), the secondary "rt" on "rtset" (one thread),
// priorities 1-200.
SystemConfig both_system(unsigned primary_threads) {
  SystemConfig s = test::system_on_set(primary_threads, 10000);
  s.processor_sets.push_back({"rtset", 1, 0});
  s.hypervisors.push_back(test::secondary_rt("rtset"));
  return s;
}

// vCPU 0 on the primary, vCPU 1 on the secondary at `priority`; the guest's report on stdout.
PartitionConfig both_partition(const std::string& name, const std::string& path, unsigned priority) {
  PartitionConfig p = test::on_primary(test::guest_partition(name, path, 4u << 20, "-"));
  p.vcpus = 2;
  p.machine.smp_threads = true;
  p.split = test::split_vcpu(1, priority);
  return p;
}

struct System {
  explicit System(const SystemConfig& c) : config(c), primary(config) {
    auto owned = std::make_unique<SecondaryHypervisor>(config.hypervisors[1], config,
                                                       primary.secondary_port());
    secondary = owned.get();
    primary.attach_secondary(std::move(owned));
  }
  SystemConfig config;
  PrimaryHypervisor primary;
  SecondaryHypervisor* secondary = nullptr;
};

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The partition's run ended by itself (the guest's debug-exit) within 20 s.
bool stopped(PrimaryHypervisor& hv, const std::string& name) {
  return test::wait_for([&] { return hv.partition(name).state() != PartitionState::RUNNING; });
}

// Status 1 (passed: exact total, and a window saw the other vCPU run at once) or 41 (exact
// total, no window saw it: only when the host never gave the two threads a core each at the
// same moment, as hv.smp_threads explains); 7 is a wrong total.
void expect_exact_total(int status, double cpu, double wall) {
  EXPECT_TRUE(status == 1 || status == 41)
      << "status " << status << " (1: passed; 41: no overlap seen; 7: wrong LOCK total)";
  if (status == 41) {
    EXPECT_LT(cpu, wall * 1.3) << "the two vCPUs ran at once, yet the guest never saw it";
  }
}

TEST(BothHypervisors, OneVcpuOnEachGivesTheExactTotal) {
  SystemConfig s = both_system(1);
  s.partitions.push_back(both_partition("both", rom("smp_overlap.rom"), 20));
  System sys(s);
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  sys.primary.run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = process_cpu_seconds() - cpu0;
  Partition& p = sys.primary.partition("both");
  expect_exact_total(p.status(), cpu, wall);
  const PartitionCounters c = sys.primary.counters(p);
  const ThinStats on_rt = sys.secondary->vcpu_stats("both", 1);
  std::printf("status %d, %.2f s of CPU in %.2f s; vCPU 0 %llu insns on %s (%llu slices on "
              "set0), vCPU 1 %llu insns on %s (%llu slices, %.3f s on rtset)\n",
              p.status(), cpu, wall, (unsigned long long)c.per_vcpu.at(0).instructions,
              c.per_vcpu[0].hypervisor.c_str(), (unsigned long long)c.slices,
              (unsigned long long)c.per_vcpu.at(1).instructions, c.per_vcpu[1].hypervisor.c_str(),
              (unsigned long long)on_rt.slices, on_rt.cpu_seconds);
  ASSERT_EQ(c.per_vcpu.size(), 2u);
  EXPECT_EQ(c.per_vcpu[0].hypervisor, "primary");
  EXPECT_EQ(c.per_vcpu[0].processor_set, "set0");
  EXPECT_EQ(c.per_vcpu[1].hypervisor, "rt");
  EXPECT_EQ(c.per_vcpu[1].processor_set, "rtset");
  // Both ran (the AP adds in a loop: far more than its start-up), each where its
  // hypervisor put it: vCPU 1 has no thread of the machine's, only the secondary's slices.
  EXPECT_GT(c.per_vcpu[0].instructions, 1000000u);
  EXPECT_GT(c.per_vcpu[1].instructions, 100000u);
  EXPECT_GT(c.slices, 0u);
  EXPECT_GT(on_rt.slices, 0u);
  EXPECT_GT(on_rt.cpu_seconds, 0.0);
  EXPECT_EQ(sys.secondary->pool_threads(), 1u);
}

// Runs guest program `guest` in partition "both" (vCPU 1 on the secondary at 20) to its end:
// its status, its counters and vCPU 1's slices on the secondary.
struct SplitRun {
  int status;
  PartitionCounters counters;
  ThinStats on_rt;
};
SplitRun run_split(const char* guest) {
  SystemConfig s = both_system(1);
  s.partitions.push_back(both_partition("both", rom(guest), 20));
  System sys(s);
  sys.primary.run();
  Partition& p = sys.primary.partition("both");
  return {p.status(), sys.primary.counters(p), sys.secondary->vcpu_stats("both", 1)};
}

TEST(BothHypervisors, LockedInstructionsAreAtomicAcrossTheHypervisors) {
  const SplitRun r = run_split("smp_atomics.rom");
  EXPECT_EQ(r.status, 1);
  EXPECT_GT(r.on_rt.slices, 0u);
}

// Interrupts reach the secondary's vCPU: a fixed IPI each way between the hypervisors' vCPUs,
// and the IOAPIC delivering the PIT (a device CPU 0's thread services) to vCPU 1 only when its
// destination says so; then the LOCK CMPXCHG total (smp_counter.c).
TEST(BothHypervisors, IpisAndTheIoapicReachTheSecondarysVcpu) {
  const SplitRun r = run_split("smp_counter.rom");
  EXPECT_EQ(r.status, 1);
  EXPECT_GT(r.counters.per_vcpu.at(1).interrupts, 0u);
  EXPECT_GT(r.on_rt.slices, 0u);
}

// The secondary's priorities rule its vCPU: a partition of its own at 50 that never blocks,
// on its one thread, keeps vCPU 1 (at 20) from running at all while it runs (the guest's BSP
// goes on alone and then waits for the AP); once it stops, vCPU 1 runs and the guest ends
// with the exact total. At 60 vCPU 1 takes the thread from it at once.
TEST(BothHypervisors, TheSecondarysPrioritiesDecideWhenItsVcpuRuns) {
  const std::string loop = test::write_rom(test::kLoopForever);
  for (unsigned prio : {20u, 60u}) {
    SystemConfig s = both_system(1);
    PartitionConfig hog = test::partition("hog", loop);
    hog.hypervisor = "rt";
    hog.priority = 50;
    hog.exit_on_poweroff = false;
    s.partitions.push_back(hog);
    s.partitions.push_back(both_partition("both", rom("smp_overlap.rom"), prio));
    System sys(s);
    sys.primary.start("hog");
    ASSERT_TRUE(test::wait_for([&] { return sys.secondary->stats("hog").slices > 0 ||
                                            sys.primary.counters(sys.primary.partition("hog")).instructions > 0; }));
    sys.primary.start("both");
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    const ThinStats during = sys.secondary->vcpu_stats("both", 1);
    const uint64_t ap_insns = sys.primary.counters(sys.primary.partition("both")).per_vcpu.at(1).instructions;
    std::printf("priority %u beside 50: vCPU 1 %llu insns, %llu slices in the first second\n", prio,
                (unsigned long long)ap_insns, (unsigned long long)during.slices);
    if (prio < 50) {
      EXPECT_EQ(ap_insns, 0u) << "vCPU 1 ran though a higher partition held the only worker";
      EXPECT_EQ(sys.primary.partition("both").state(), PartitionState::RUNNING);
      sys.primary.stop("hog");
    } else {
      EXPECT_GT(ap_insns, 100000u) << "vCPU 1 above the hog did not take the worker";
    }
    ASSERT_TRUE(stopped(sys.primary, "both"));
    EXPECT_TRUE(sys.primary.partition("both").status() == 1 ||
                sys.primary.partition("both").status() == 41)
        << sys.primary.partition("both").status();
    sys.primary.stop("hog");
  }
}

// The primary's stage-2 changes while vCPU 1 runs on the secondary: lend and take back run on
// CPU 0's thread in an exclusive section (the secondary's vCPU is not held between slices, so
// a hold would not stop it), and both vCPUs run on.
TEST(BothHypervisors, LendAndTakeBackWhileAVcpuRunsOnTheSecondary) {
  const std::string loop = test::write_rom(test::kLoopForever);
  SystemConfig s = both_system(2);
  s.pools.push_back({"dyn", 0x10000, 0});
  PartitionConfig a = test::on_primary(test::partition("a", loop, 4u << 20));
  a.memory.push_back({0x1000000, 0x10000, true, "dyn", 0});
  PartitionConfig b = both_partition("b", rom("smp_overlap.rom"), 20);
  b.memory.push_back({0x1000000, 0x10000, true, "dyn", 0});
  s.partitions.push_back(a);
  s.partitions.push_back(b);
  System sys(s);
  sys.primary.start("a");
  sys.primary.start("b");
  ASSERT_TRUE(test::wait_for([&] {
    return sys.primary.counters(sys.primary.partition("b")).per_vcpu.at(1).instructions > 100000;
  }));
  for (int k = 0; k < 20; ++k) {
    EXPECT_EQ(sys.primary.lend("a", "b", 0x4000), 0x4000u);
    EXPECT_EQ(sys.primary.partition("b").stage2().mapped_pages(), 1024u + 4u);
    EXPECT_EQ(sys.primary.take_back("a", "b", 0x4000), 0x4000u);
    EXPECT_EQ(sys.primary.partition("b").stage2().mapped_pages(), 1024u);
  }
  ASSERT_TRUE(stopped(sys.primary, "b"));
  const int status = sys.primary.partition("b").status();
  EXPECT_TRUE(status == 1 || status == 41) << status;
  sys.primary.stop("a");
}

// Start, stop and reset stay the primary's: a reset split partition runs its guest again to
// the end with vCPU 1 on the secondary again, and one stopped while vCPU 1 runs leaves the
// secondary's worker and gets no more slices.
TEST(BothHypervisors, ThePrimaryResetsAndStopsIt) {
  SystemConfig s = both_system(1);
  s.partitions.push_back(both_partition("both", rom("smp_overlap.rom"), 20));
  System sys(s);
  sys.primary.start("both");
  auto ap = [&] { return sys.primary.counters(sys.primary.partition("both")).per_vcpu.at(1).instructions; };
  ASSERT_TRUE(test::wait_for([&] { return ap() > 100000; }));
  const uint64_t before = sys.secondary->vcpu_stats("both", 1).slices;
  sys.primary.reset("both");
  EXPECT_EQ(sys.primary.partition("both").state(), PartitionState::RUNNING);
  ASSERT_TRUE(stopped(sys.primary, "both"));  // the guest ran to its end after the reset
  const int status = sys.primary.partition("both").status();
  EXPECT_TRUE(status == 1 || status == 41) << status;
  // Its AP halted at the end (cli; hlt): that slice ended on the secondary after the reset.
  EXPECT_GT(sys.secondary->vcpu_stats("both", 1).slices, before);

  // Reset again (the guest's CPUs sit in CLI; HLT after its exit) and stop it while vCPU 1
  // adds on the secondary (counters survive a reset: wait for more).
  const uint64_t base = ap();
  sys.primary.reset("both");
  ASSERT_TRUE(test::wait_for([&] { return ap() > base + 1000; }));
  sys.primary.stop("both");
  // (The guest may have reached its end in the few milliseconds before the stop.)
  const PartitionState st = sys.primary.partition("both").state();
  EXPECT_TRUE(st == PartitionState::STOPPED || st == PartitionState::EXITED) << state_name(st);
  const ThinStats after = sys.secondary->vcpu_stats("both", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(sys.secondary->vcpu_stats("both", 1).slices, after.slices) << "ran after the stop";
}

// Device interrupts reach the secondary's vCPU without the primary's round trip (docs/design.md
// "A partition on both hypervisors"): while a partition that never halts holds the primary's
// one thread (10 ms slices), vCPU 1's own local APIC timer and the PIT routed to it through the
// IOAPIC (bench/hv_irq_guest.c: 200 one-shot deadlines of each, 100-600 us ahead, vCPU 1
// halted meanwhile) interrupt it with a median lateness under 1 ms. When CPU 0's thread fired
// them, each waited for the partition's turn on that thread: medians 11-18 ms
// (bench/hv_irq_bench.py).
// The system of the tests below: `both` (a both_partition) beside a partition that never halts
// on the primary's one thread (10 ms slices).
SystemConfig beside_a_hog(const PartitionConfig& both) {
  SystemConfig s = both_system(1);
  PartitionConfig hog = test::on_primary(test::partition("hog", test::write_rom(test::kLoopForever)));
  hog.exit_on_poweroff = false;
  s.partitions.push_back(hog);
  s.partitions.push_back(both);
  return s;
}

// A debug console (port 0xE9) for `p` in a temporary file: its path ("" if none was made).
std::string add_debugcon(PartitionConfig& p) {
  char con[] = "/tmp/softcpu_hv_irq_XXXXXX";
  const int fd = mkstemp(con);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  close(fd);
  p.machine.debugcons = {{0xE9, con}};
  return con;
}

// What the guest printed on the debug console at `path` (also printed here); the file removed.
std::string take_debugcon(const std::string& path) {
  std::string text;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) text += buf;
    std::fclose(f);
  }
  std::remove(path.c_str());
  std::printf("%s", text.c_str());
  return text;
}

// Runs `both` beside the hog until it powers off (status 1 expected) and returns what it
// printed on its debug console (also printed here).
std::string report_beside_a_hog(PartitionConfig both) {
  const std::string con = add_debugcon(both);
  if (con.empty()) return {};
  {
    System sys(beside_a_hog(both));
    sys.primary.run();  // until "both" powers off; then the hog is stopped
    EXPECT_EQ(sys.primary.partition("both").status(), 1);
  }
  return take_debugcon(con);
}

TEST(BothHypervisors, DeviceTimersReachTheSecondarysVcpuWhileThePrimaryRunsAnother) {
  const char* irq_rom = std::getenv("HV_IRQ_ROM");
  ASSERT_NE(irq_rom, nullptr) << "HV_IRQ_ROM (hv_irq200.rom) not set";
  const std::string text = report_beside_a_hog(both_partition("both", irq_rom, 20));
  for (const char* kind : {"lapic timer", "pit via ioapic"}) {
    const size_t at = text.find(kind);
    ASSERT_NE(at, std::string::npos) << "no report of " << kind << " in:\n" << text;
    unsigned n = 0, p50 = 0, p99 = 0, max = 0;
    ASSERT_EQ(std::sscanf(text.c_str() + at + std::strlen(kind), ": n %u p50 %u p99 %u max %u",
                          &n, &p50, &p99, &max), 4) << text;
    EXPECT_EQ(n, 200u);
    EXPECT_LT(p50, 1000000u) << kind << ": median lateness " << p50 << " ns";
  }
}

// A free loopback TCP port (the kernel's pick, released for the serial backend to take).
uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return 0;
  close(fd);
  return ntohs(a.sin_port);
}

// One byte read within `ms` (false: none).
bool read_byte(int fd, char* c, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1 && recv(fd, c, 1, 0) == 1;
}

// A connection to the serial backend listening on loopback `port` (tried for ~10 s while the
// partition starts), TCP_NODELAY; -1 if none.
int connect_serial(uint16_t port) {
  int fd = -1;
  for (int tries = 0; tries < 200 && fd < 0; ++tries) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      fd = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

// Sends bytes until the guest echoes one (bytes before its handler is set up are dropped),
// then reads until it is quiet. False: it never echoed.
bool wait_for_echo(int fd) {
  char c = 0;
  bool up = false;
  for (int tries = 0; tries < 100 && !up; ++tries) up = send(fd, "a", 1, 0) == 1 && read_byte(fd, &c, 200);
  while (read_byte(fd, &c, 300)) {
  }
  return up;
}

// Partition "both" of `rom_path` (vCPU 1 on the secondary at 20) with COM1 on a TCP server at
// loopback `port`.
PartitionConfig both_with_serial(const char* rom_path, uint16_t port) {
  PartitionConfig both = both_partition("both", rom_path, 20);
  both.machine.serial = "tcp:127.0.0.1:" + std::to_string(port) + ",server";
  return both;
}

// Host I/O (issue 14): serial input for vCPU 1, whose interrupt the IOAPIC routes to it only,
// while the primary's one thread runs a never-halting partition in 10 ms slices. Before, COM1's
// input waited for CPU 0's thread to serve the partition's mailbox, i.e. for the partition's
// turn on the primary's thread; now the loop thread serves it and kicks vCPU 1
// (machine_external.cpp, host_io_news). The guest (smp/serial_echo_guest.c) echoes each byte
// from its handler; the median from the send to the echo over a loopback TCP serial backend
// must be under 2 ms.
TEST(BothHypervisors, SerialInputReachesTheSecondarysVcpuWhileThePrimaryRunsAnother) {
  const char* echo_rom = std::getenv("HV_SERIAL_ECHO_ROM");
  ASSERT_NE(echo_rom, nullptr) << "HV_SERIAL_ECHO_ROM (serial_echo.rom) not set";
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  System sys(beside_a_hog(both_with_serial(echo_rom, port)));
  std::thread run([&] { sys.primary.run(); });  // until "both" powers off
  const int fd = connect_serial(port);
  std::vector<double> us;
  if (fd >= 0) {
    char c = 0;
    const bool up = wait_for_echo(fd);
    EXPECT_TRUE(up) << "the guest never echoed";
    for (int k = 0; up && k < 100; ++k) {
      const char out = char('A' + k % 20);  // (not 'q', the guest's last)
      const auto t0 = std::chrono::steady_clock::now();
      if (send(fd, &out, 1, 0) != 1 || !read_byte(fd, &c, 5000)) {  // (no ASSERT: join first)
        ADD_FAILURE() << "no echo of byte " << k;
        break;
      }
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      EXPECT_EQ(c, out);
      // A random phase against the hog's 10 ms slices.
      std::this_thread::sleep_for(std::chrono::microseconds(100 + (k * 7919) % 900));
    }
    send(fd, "q", 1, 0);
  }
  if (!stopped(sys.primary, "both")) sys.primary.request_quit();
  run.join();
  if (fd >= 0) close(fd);
  ASSERT_GE(fd, 0) << "no connection to the serial backend on port " << port;
  EXPECT_EQ(sys.primary.partition("both").status(), 1);
  ASSERT_EQ(us.size(), 100u);
  std::sort(us.begin(), us.end());
  std::printf("serial echo: n %zu p50 %.0f p90 %.0f max %.0f us\n", us.size(), us[50], us[90],
              us.back());
  EXPECT_LT(us[50], 2000.0) << "median input-to-echo time " << us[50] << " us";
}

// Host I/O (issue 14): disk completions for vCPU 1 (IRQ 14 routed to it only by the IOAPIC)
// beside the hog. Before, the completion (posted by the loop thread to the partition's mailbox)
// waited for CPU 0's thread, i.e. the partition's turn on the primary's thread; now the loop
// thread runs it (machine_external.cpp, host_io_news). The guest (smp/disk_irq_guest.c) times
// 100 one-sector reads from the command to its IRQ 14 handler: the median must be under 2 ms.
// (Main's code mostly passes this too: vCPU 1's port writes of the command wake CPU 0's
// mailbox, so a completion that comes within tens of microseconds often finds CPU 0's thread
// in a slice; 30-67 of its 100 reads took over 2 ms, 10-12 ms each, against 0-10 here. The
// serial test above is the one main fails.)
TEST(BothHypervisors, DiskCompletionsReachTheSecondarysVcpuWhileThePrimaryRunsAnother) {
  const char* disk_rom = std::getenv("HV_DISK_IRQ_ROM");
  ASSERT_NE(disk_rom, nullptr) << "HV_DISK_IRQ_ROM (disk_irq.rom) not set";
  char disk[] = "/tmp/softcpu_hv_disk_XXXXXX";
  const int fd = mkstemp(disk);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 1 << 20), 0);  // 2,048 sectors (the guest reads below that)
  close(fd);
  PartitionConfig both = both_partition("both", disk_rom, 20);
  both.machine.drives = {{disk, 0, true, false}};
  const std::string text = report_beside_a_hog(both);
  std::remove(disk);
  const size_t at = text.find("disk irq");
  ASSERT_NE(at, std::string::npos) << "no report in:\n" << text;
  unsigned n = 0, p50 = 0, p90 = 0, max = 0, over = 0, bad = 0;
  ASSERT_EQ(std::sscanf(text.c_str() + at,
                        "disk irq: n %u p50 %u p90 %u max %u ns, over 2 ms %u, bad status %u", &n,
                        &p50, &p90, &max, &over, &bad), 6) << text;
  EXPECT_EQ(n, 100u);
  EXPECT_EQ(bad, 0u) << "status in the handler not DRQ";
  // 2 ms in the release build (30 us measured there). Under ThreadSanitizer 12 times that
  // (test::kTimeScale): at load 13 its p50 was 8.8-12.1 ms with 79-88 reads over 2 ms (no
  // report), the release build's 30 us in the same minutes. Part of it: CPU 0's thread, in its
  // slice, drains the mailbox only between interpreter runs, ~20 ms apart under TSan (a kick
  // of CPU 0 on each completion, tried, gave 5.9-6.6 ms; docs/hardening.md "The secondary's
  // tests and whole Linux boots").
  EXPECT_LT(p50, 2000000u * test::kTimeScale)
      << "median command-to-interrupt time " << p50 << " ns";
}

// The primary does not wake for what the split vCPU's own scheduler serves (docs/design.md "A
// partition on both hypervisors", issue 14): the partition alone on the primary's one thread,
// CPU 0 halted all along; vCPU 1 (smp/timer_echo_guest.c) takes its periodic local APIC timer
// every 500 us (2,000 times or more) and echoes 50 serial bytes. Before, each of its APIC
// deadlines was in the primary's idle wake time and each byte, each echo's port write, woke
// CPU 0's mailbox: a slice of the primary's thread for most, finding nothing (1,487 and 1,751
// slices, all but 2 empty, with main's monitor code). Now CPU 0's thread gets one only for
// what is its: the start, the AP's last IPI, and the idle wake with nothing due (every 50 ms,
// kIdleSleep): 20-23 slices, 18-21 of them empty.
TEST(BothHypervisors, ThePrimaryDoesNotWakeForWhatTheSecondarysVcpuServes) {
  const char* echo_rom = std::getenv("HV_TIMER_ECHO_ROM");
  ASSERT_NE(echo_rom, nullptr) << "HV_TIMER_ECHO_ROM (timer_echo.rom) not set";
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  PartitionConfig both = both_with_serial(echo_rom, port);
  const std::string con = add_debugcon(both);
  ASSERT_FALSE(con.empty());
  SystemConfig s = both_system(1);
  s.partitions.push_back(both);
  System sys(s);
  std::thread run([&] { sys.primary.run(); });  // until "both" powers off
  const int fd = connect_serial(port);
  unsigned echoed = 0;
  if (fd >= 0 && wait_for_echo(fd)) {
    for (int k = 0; k < 50; ++k) {
      const char out = char('A' + k % 20);  // (not 'q', the guest's last)
      char c = 0;
      if (send(fd, &out, 1, 0) != 1 || !read_byte(fd, &c, 5000) || c != out) break;
      ++echoed;
      std::this_thread::sleep_for(std::chrono::microseconds(1000 + (k * 7919) % 2000));
    }
  }
  if (fd >= 0) send(fd, "q", 1, 0);
  if (!stopped(sys.primary, "both")) sys.primary.request_quit();
  run.join();
  if (fd >= 0) close(fd);
  const std::string text = take_debugcon(con);
  ASSERT_GE(fd, 0) << "no connection to the serial backend on port " << port;
  EXPECT_EQ(echoed, 50u);
  Partition& p = sys.primary.partition("both");
  EXPECT_EQ(p.status(), 1);
  unsigned ticks = 0, serial = 0;
  const size_t at = text.find("timer_echo:");
  ASSERT_NE(at, std::string::npos) << "no report in:\n" << text;
  ASSERT_EQ(std::sscanf(text.c_str() + at, "timer_echo: ticks %u serial %u", &ticks, &serial), 2)
      << text;
  const PartitionCounters c = sys.primary.counters(p);
  std::printf("vCPU 1: %u timer and %u serial interrupts (%llu in all); CPU 0's thread: %llu "
              "slices, %llu of them empty, %.3f s in them, %.2f s run\n",
              ticks, serial, (unsigned long long)c.per_vcpu.at(1).interrupts,
              (unsigned long long)c.slices, (unsigned long long)c.empty_slices, c.cpu_seconds,
              c.run_seconds);
  EXPECT_GE(ticks, 2000u);
  EXPECT_GE(serial, 50u);
  // Far fewer wakes of CPU 0's thread than timer interrupts of vCPU 1's.
  EXPECT_LT(c.slices * 10, ticks);
  EXPECT_LT(c.empty_slices * 20, ticks);
  // And no look without cause: CPU 0's thread sleeps from its HLT to vCPU 1's IPI at the end
  // (3 slices, 1 empty, measured; with the 50 ms look CPU 0 used to take when nothing was due,
  // 22-24 slices, 20-22 empty, over the run's ~1 s).
  EXPECT_LE(c.empty_slices, 4u);
}

// A device deadline that the split vCPU arms while CPU 0's thread is off its slice, and that
// its worker cannot meet (docs/design.md "Waking the primary only for what is its", issue 14):
// vCPU 1 at 20 shares the secondary's one worker with a thin partition at 50 that spins 30 ms
// and sleeps 2 ms for ever (tests/guest/hv/rtos_hog.c), so it runs only in those sleeps; each
// time it arms the PIT 4 ms ahead for CPU 0 (IOAPIC pin 2 to APIC 0) and waits for CPU 0's
// handler (tests/hv/smp/recheck_guest.c). CPU 0 halted with nothing of its own due: its idle
// wake time was max() and must be moved when the port write arms the PIT
// (Machine::publish_device_due -> PrimaryHypervisor::recheck_hook -> Scheduler::recheck), to
// the deadline plus the 200 us left to the worker: 0.3-0.35 ms late measured (p90 0.35-4 ms
// at load 10). Without that hook the PIT fired only when vCPU 1 ran again, at the hog's next
// sleep: a median 30 ms late (p90 63-66 ms), so this fails. Checked: most deadlines came with
// vCPU 1 off its worker, their median lateness is under 5 ms, and CPU 0's thread took about
// one slice per sample, few of them empty (no periodic look).
TEST(BothHypervisors, CpuZeroServesADeviceDeadlineTheHeldOffWorkerCannot) {
  const char* recheck_rom = std::getenv("HV_RECHECK_ROM");
  ASSERT_NE(recheck_rom, nullptr) << "HV_RECHECK_ROM (recheck.rom) not set";
  PartitionConfig both = both_partition("both", recheck_rom, 20);
  const std::string con = add_debugcon(both);
  ASSERT_FALSE(con.empty());
  SystemConfig s = both_system(1);
  PartitionConfig hog =
      test::thin_partition("hog", test::guest_dir() + "/rtos_hog.rom", "/dev/null", 50);
  hog.exit_on_poweroff = false;
  s.partitions.push_back(hog);
  s.partitions.push_back(both);
  PartitionCounters c;
  ThinStats on_rt, hog_stats;
  {
    System sys(s);
    sys.primary.run();  // until "both" powers off; then the hog is stopped
    Partition& p = sys.primary.partition("both");
    EXPECT_EQ(p.status(), 1);
    c = sys.primary.counters(p);
    on_rt = sys.secondary->vcpu_stats("both", 1);
    hog_stats = sys.secondary->stats("hog");
  }
  const std::string text = take_debugcon(con);
  const size_t at = text.find("recheck:");
  ASSERT_NE(at, std::string::npos) << "no report in:\n" << text;
  unsigned n = 0, held = 0, p50 = 0, p90 = 0, max = 0;
  ASSERT_EQ(std::sscanf(text.c_str() + at, "recheck: n %u held %u p50 %u p90 %u max %u ns", &n,
                        &held, &p50, &p90, &max), 5) << text;
  std::printf("CPU 0's thread: %llu slices, %llu of them empty; vCPU 1: %llu slices on rtset; "
              "the hog: %llu slices, %llu timeouts\n",
              (unsigned long long)c.slices, (unsigned long long)c.empty_slices,
              (unsigned long long)on_rt.slices, (unsigned long long)hog_stats.slices,
              (unsigned long long)hog_stats.timeouts);
  // The setting happened: the hog took the worker back before most deadlines.
  EXPECT_GE(held * 2, n) << "vCPU 1 was on its worker at most deadlines";
  EXPECT_LT(p50, 5000000u * test::kTimeScale) << "median lateness " << p50 << " ns";
  // One slice of CPU 0's thread per sample (its handler), and no look with nothing due.
  EXPECT_LE(c.slices, n + 8);
  EXPECT_LE(c.empty_slices, 4u);
}

// A split vCPU halted with nothing due waits for its kick (docs/design.md "A partition on both
// hypervisors", issue 14): vCPU 1 halts for 1 s with no timer of its own and no device armed
// until CPU 0's IPI (smp/idle_guest.c; CPU 0 waits for its own APIC timer meanwhile). Its idle
// end on the secondary used to carry a wake time 50 ms ahead (kExternalPoll), so its worker
// took it ~20 times in that second to find it still halted: 25-26 slices, 23-24 of them empty,
// measured with that code. Now 6 slices, 4 empty, none in the idle second (three within the
// first millisecond, while it waits for SIPI: the start, the INIT's kick and the SIPI's; and
// the one that sees the run's end; 6 of 8 once under ThreadSanitizer), and the IPI still wakes
// it. The bound, 10, is half of what the 50 ms look alone added in the idle second.
TEST(BothHypervisors, AnIdleSplitVcpuWaitsForItsKick) {
  const char* idle_rom = std::getenv("HV_IDLE_ROM");
  ASSERT_NE(idle_rom, nullptr) << "HV_IDLE_ROM (idle.rom) not set";
  SystemConfig s = both_system(1);
  s.partitions.push_back(both_partition("both", idle_rom, 20));
  System sys(s);
  const auto t0 = std::chrono::steady_clock::now();
  sys.primary.run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Partition& p = sys.primary.partition("both");
  EXPECT_EQ(p.status(), 1);
  const ThinStats on_rt = sys.secondary->vcpu_stats("both", 1);
  std::printf("vCPU 1: %llu slices on rtset, %llu of them empty, in a %.2f s run\n",
              (unsigned long long)on_rt.slices, (unsigned long long)on_rt.empty_slices, wall);
  EXPECT_GE(wall, 1.0);  // the guest's idle second passed
  EXPECT_GT(on_rt.slices, 0u);
  EXPECT_LE(on_rt.empty_slices, 10u);
}

TEST(BothHypervisors, WithoutTheSecondaryItDoesNotStart) {
  SystemConfig s = both_system(1);
  s.partitions.push_back(both_partition("both", rom("smp_overlap.rom"), 20));
  PrimaryHypervisor primary(s);
  EXPECT_THROW(primary.start("both"), HvError);
}

}  // namespace
}  // namespace softcpu::hv
