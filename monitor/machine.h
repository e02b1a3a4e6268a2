// The machine: memory map, CPU, devices and the run loop that ties them together.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "interp/cpu.h"
#include "interp/interpreter.h"
#include "interp/memory.h"
#include "interp/smp.h"
#include "interp/trap.h"
#include "monitor/gdb_target.h"
#include "monitor/machine_config.h"
#include "monitor/port_bus.h"
#include "monitor/stats.h"
#include "monitor/stats_series.h"
#include "hostio/cpu_mailbox.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

class EventLoop;
class CharBackend;
class IoDevice;
class UnassignedPorts;
class PcPlatform;
class Tracer;
class CpuDebugTarget;
class GdbStub;
class TcpServer;
class Translator;
class Sampler;
class SymbolTable;
class ConsoleTap;
class ScriptRunner;
struct ConsoleScript;
class Determinism;
class HypercallHandler;
class VcpuSync;
class LockedAcknowledge;

// Raised for configuration problems the user must fix (bad ROM, unopenable file, ...).
struct ConfigError {
  std::string message;
};

// Debian's SeaBIOS (package seabios): the firmware when --bios is not given.
inline constexpr const char kDefaultBios[] = "/usr/share/seabios/bios.bin";

class Machine {
 public:
  explicit Machine(const MachineConfig& config);  // throws ConfigError
  // A partition's machine (monitor/hv/): its RAM is `memory`, mapped by the primary
  // hypervisor's stage-2 table into machine memory; config.ram_mib is ignored.
  Machine(const MachineConfig& config, std::unique_ptr<PhysicalMemory> memory);
  ~Machine();

  // Run until the guest exits, halts for good, triple-faults or times out.
  // Returns the process exit status (see machine_config.h). The same as begin_run(), then
  // run_slice() without an end until it stops, then end_run().
  int run();

  // The run in slices, for a processor set's pool of host threads (monitor/hv/scheduler.h):
  // begin_run() once, run_slice() until it returns STOPPED (on any thread, one at a time),
  // then end_run(status), which returns the run's final status as run() does.
  struct SliceEnd {
    enum Kind : uint8_t {
      PREEMPTED,  // end_slice() was called: the guest has more to run
      IDLE,       // halted with nothing to deliver: nothing to run before `wake` or a wake hook
      STOPPED,    // the run is over with `status` (exit request, power-off, fault, timeout)
    } kind = STOPPED;
    int status = 0;
    std::chrono::steady_clock::time_point wake{};
    // The vCPUs the slice ran (CPU 0 and the application processors of its own threads, not
    // the external ones) retired no instruction: woken for nothing of theirs.
    bool empty = false;
  };
  void begin_run();
  // SIGINT and SIGTERM end whatever run() is running, with status 128 + signal (begin_run
  // installs this itself for --save-on-exit; the command line's run_machine always does).
  static void catch_stop_signals();
  // The line on stderr for a run ended by signal `sig` (tools/system_signals.* prints it too).
  static void report_stop_signal(int sig);
  // `sliced`: return at end_slice(), at the slice's end (set_slice_end; looked at between
  // interpreter runs, at most kRunBudget instructions apart) and when idle; else only when the
  // run is over.
  SliceEnd run_slice(bool sliced);
  // Any thread: a sliced run's slices end (PREEMPTED) at `end`; max(), the default, is no end
  // but end_slice(). It stays until changed, and may be moved either way while a slice runs (a
  // processor set sets it before each slice and re-evaluates it as others queue or start:
  // monitor/hv/scheduler.h).
  void set_slice_end(std::chrono::steady_clock::time_point end) {
    slice_end_.store(end.time_since_epoch().count(), std::memory_order_relaxed);
  }
  int end_run(int status);
  // Any thread: the current slice ends at the next block boundary (run_slice returns
  // PREEMPTED). A request made between slices is forgotten when the next one starts.
  void end_slice();
  // Called (any thread, and never under a lock of the machine's) when an idle machine may have
  // something to run: a job or a wake posted to its CPU mailbox (host I/O, run_on_cpu_thread,
  // an exit request). Set once, before the machine runs.
  void set_wake_hook(void (*hook)(void*), void* ctx) { mailbox_.set_notify(hook, ctx); }
  // A machine with a split vCPU: called when the devices' next deadline came closer while CPU
  // 0's thread is off its slice (a split vCPU's I/O armed a timer), so that the scheduler of
  // an idle partition looks at recheck_idle() again before the wake time it has (which was
  // computed without it). Under the big lock, on the thread that armed it; atomics and the
  // scheduler's own lock only. Set once, before the machine runs.
  void set_recheck_hook(void (*hook)(void*), void* ctx) {
    recheck_hook_ = hook;
    recheck_ctx_ = ctx;
  }
  // With threads on and sliced (a gang on a processor set, docs/design.md "SMP partitions on a
  // processor set"): called with true when a vCPU's thread stops using its host thread inside
  // a slice (halted with nothing to deliver, or waiting for SIPI) and with false before it runs
  // guest code again, so the set can lend the thread meanwhile. On that vCPU's thread, inside
  // the slice (never after run_slice returned, never under a lock of the machine's); each
  // slice starts with every vCPU counted as running. Set once, before the machine runs.
  void set_thread_use_hook(std::function<void(bool idle)> hook) {
    thread_use_hook_ = std::move(hook);
  }

  // A vCPU another scheduler runs (docs/design.md "A partition on both hypervisors"): with
  // threads on (MachineConfig::smp_threads), application processor `index` gets no thread of
  // the machine's and is neither held between the slices of CPU 0's processor set nor counted
  // in its idle check. `start` is called when a run begins (begin_run); the scheduler then
  // calls run_external_slice(index) on threads of its own, one slice at a time; `wake` (any
  // thread, never under a lock of the machine's) when the vCPU was kicked or given work (an
  // IPI, an interrupt, an exclusive section); `stop` when the run ends (on CPU 0's thread):
  // it returns once no slice of the vCPU runs or will run until the next `start`. Set before
  // run(); empty hooks (the scheduler went away) are skipped. Throws ConfigError for an index
  // that is not an application processor or a machine without threads.
  // `deadline` (any thread, maybe under the big lock: it must take no lock) when
  // external_deadline(index) may have moved earlier (its local APIC timer was armed, or CPU 0's
  // thread left its slice with a device deadline ahead).
  struct ExternalVcpu {
    std::function<void()> start, wake, stop, deadline;
  };
  void set_external_vcpu(unsigned index, ExternalVcpu hooks);
  // A machine with a split vCPU, idle (its last slice ended IDLE at a wake time): when that
  // time comes, the time it must run after all (any thread, no lock: atomics). Its vCPUs'
  // own deadlines (and the run's timeout) as at the idle end; the devices'
  // as a split vCPU's worker left them (it fires them while CPU 0's thread is off its slice,
  // and an interrupt for CPU 0 kicks it), with 200 µs (kDeviceGraceNs) for that worker to
  // come first.
  std::chrono::steady_clock::time_point recheck_idle() const;
  // When external vCPU `index` must run next even if nothing kicks it, as steady_clock
  // nanoseconds since its epoch (INT64_MAX: no such time): its local APIC timer's deadline,
  // and, while CPU 0's thread has no slice (its set runs others, or it is idle), the clock's
  // next device deadline. run_external_slice fires the clock's due timers at the start of each
  // pass, so a timer of its own, or a device's routed to it through the IOAPIC, reaches it
  // without CPU 0's thread (docs/design.md "A partition on both hypervisors"). Any thread, no
  // lock (atomics).
  int64_t external_deadline(unsigned index) const {
    const Vcpu& v = *aps_.at(index - 1);
    return std::min(v.timer_due.load(std::memory_order_acquire),
                    device_due_.load(std::memory_order_acquire));
  }
  // The external scheduler loaded a whole context into application processor `index` itself
  // (a thin partition's processor, docs/design.md "A thin partition on several workers"): it
  // runs from the next slice without waiting for a SIPI. On the thread that may touch its CPU.
  void start_external_vcpu(unsigned index);
  // On the external scheduler's thread: run vCPU `index` until end_external_slice(index)
  // (PREEMPTED), until it halts with nothing to deliver or waits for SIPI (IDLE, `wake` at
  // most 50 ms ahead: a kick calls the wake hook sooner), or the run ends (STOPPED).
  // `after_pass` (if set) is called on that thread after each pass of the vCPU's loop.
  SliceEnd run_external_slice(unsigned index, const std::function<void()>& after_pass = {});
  void end_external_slice(unsigned index);  // any thread: at the next block boundary
  // Per CPU (0 the boot CPU) as monitor_exits() / interrupts_delivered(), under the same rule.
  uint64_t monitor_exits(unsigned index) const;
  uint64_t interrupts_delivered(unsigned index) const;

  Cpu& cpu() { return cpu_; }
  // CPU `index`: 0 the boot CPU, 1.. the -smp application processors (throws out_of_range).
  Cpu& cpu(unsigned index) { return index == 0 ? cpu_ : aps_.at(index - 1)->cpu; }
  // Drop the decoded blocks of guest-physical [phys, phys+len) from every CPU's block cache
  // (with threads on each CPU has its own; otherwise they share CPU 0's): the primary's
  // stage-2 changes, under the same conditions as flush_tlbs().
  void drop_code_everywhere(uint32_t phys, uint32_t len);
  // Drop the soft TLB of every CPU (the primary's stage-2 changes): on the CPU thread between
  // instructions, or with the machine stopped.
  void flush_tlbs();
  PhysicalMemory& memory() { return *mem_; }
  StatsRegistry& stats() { return stats_; }
  const PcPlatform& platform() const { return *platform_; }
  void request_exit(int status);  // any thread
  // Why run() returned: the guest powered off (ACPI S5) or halted for good with interrupts
  // off, rather than a triple fault, a timeout or an exit request.
  bool powered_off() const { return powered_off_.load(); }
  // A --save-on-exit save failed at the end of some run of this machine (end_run reported it
  // and made that run's status 1); it stays set. The primary hypervisor fails the system's
  // exit status with it, which a partition that powered off would otherwise not.
  bool save_failed() const { return save_failed_.load(); }
  // Run `job` on the CPU thread between two instructions (posted through the mailbox and
  // awaited while run() runs; at once otherwise). The primary hypervisor's stage-2 changes.
  void run_on_cpu_thread(const std::function<void()>& job);
  // Thin guests (monitor/hypercall.h): VMCALL goes to `handler` (nullptr: #UD), which is also
  // polled after every interpreter return. Set before run(). kick() (any thread) makes the
  // interpreter return to the run loop at the next block boundary, so the handler's poll()
  // runs within microseconds.
  void set_hypercall_handler(HypercallHandler* handler);
  void kick();
  // CPU 0's thread (the handler's poll or hypercall): CPU 0's interpreter runs end after at
  // most `insns` instructions (never more than the run loop's own budget, kRunBudget), so the
  // handler is polled again before a time it wants to act at without a kick from another
  // thread (the secondary hypervisor's worker meeting a timeout of its own partition,
  // monitor/hv/secondary.cpp). It stays until changed; UINT64_MAX (the default): no bound.
  void set_run_budget(uint64_t insns) { run_budget_ = insns; }
  // With threads on: VMCALL of application processor `index` goes to `handler`, which is
  // polled after each of its runs (a thin partition's processors, each with its own handler);
  // kick(index) makes that CPU's run return (index 0: kick()).
  void set_hypercall_handler(unsigned index, HypercallHandler* handler);
  void kick(unsigned index);
  // On the CPU thread, from a hypercall handler that waits: run the jobs posted with
  // run_on_cpu_thread (stage-2 changes) so they do not wait for the guest.
  void serve_posted_jobs();
  // Before run() is called again (a stopped partition restarted): forget the exit request.
  void clear_exit_request() { exit_status_ = -1; }
  // A PC reset (CPU and devices to power-on state, RAM kept); not while run() runs.
  void reset() { system_reset(); }
  // An exit was requested (request_exit) and run() has not yet consumed it. Any thread.
  bool exit_requested() const { return exit_status_.load() >= 0; }

  // The primary hypervisor's monitor commands (monitor/hv/commands.h) for this partition's
  // gdb stub: consulted after the machine's own `monitor` commands, and asked for "help".
  // Set before run(); the CPU thread calls it.
  using MonitorCommands = std::function<std::string(std::string_view cmd, bool* handled)>;
  void set_hv_commands(MonitorCommands commands) { hv_commands_ = std::move(commands); }
  // On the CPU thread: call `wait` (which blocks on another thread's answer) with the CPU
  // parked: meanwhile run_on_cpu_thread() runs its jobs at once on the calling thread, as for
  // a stopped machine, so the answer may need this machine's CPU without deadlocking.
  void while_parked(const std::function<void()>& wait);

  // Per-partition statistics (monitor/hv/partition_stats.h), read on the CPU thread or with
  // the machine stopped: exits to the monitor (I/O, CPUID, RDTSC, MSR, HLT, triple fault,
  // request, debug: not the budget ends of interpreter runs) and external interrupts and NMIs
  // delivered.
  uint64_t monitor_exits() const;
  uint64_t interrupts_delivered() const;

  // Snapshots (monitor/snapshot.h, monitor/machine_snapshot.cpp), on the CPU thread between
  // instructions. save_snapshot completes the disk requests in flight first. load_snapshot
  // checks the file (magic, version, checksum) and that it was taken of a machine configured
  // like this one before it changes anything. Both throw SnapshotError with the reason.
  void save_snapshot(const std::string& path);
  void load_snapshot(const std::string& path);

 private:
  // A signal caught by catch_stop_signals() becomes an exit request (run loops, between runs).
  void take_stop_signal();
  void load_bios(const std::string& path);
  void register_stats();
  void start_translator();
  std::unique_ptr<Translator> make_translator(BlockCache& cache, unsigned index);
 public:
  // Add per-port counters of unassigned accesses (known only at the end of a run).
  void register_final_stats();
  // --stats-interval: the series' last line ("final": true), after register_final_stats().
  void finish_stats_series();

 private:
  bool run_trapped() { return run_trapped(cpu_, tsc_offset_, 0); }
  // The trapped instruction of CPU `index` (its TSC offset follows its WRMSRs).
  bool run_trapped(Cpu& c, uint64_t& tsc_offset, unsigned index);
  // After an interpreter exit: run the trapped instruction, handle a triple fault. False
  // (with `status` set) when the machine must stop.
  bool finish_exit(ExitReason r, int& status);
  // --gdb: listen for the debugger (constructor).
  void start_gdb_stub();
  // The debugger's run states in the loop: true when the loop iteration was used up.
  bool serve_debugger(int& status, bool& stop_machine);
  void debugger_stop(const GdbStopEvent& ev);
  void boot_kernel_directly();
  void system_reset();
  void service_devices();
  void idle(std::optional<std::chrono::steady_clock::time_point> deadline);
  void write_screen_dump();
  void report_triple_fault() { report_triple_fault(cpu_); }
  void report_triple_fault(Cpu& c);

  // -smp N (docs/design.md "SMP vCPUs"): CPUs 1..N-1, the application processors. Each has
  // its own state, soft TLB, local APIC and interpreter over the shared block cache; they run
  // round-robin after CPU 0, a slice of kRunBudget instructions each, on this thread.
  struct Vcpu {
    Cpu cpu{};
    std::unique_ptr<Interpreter> interp;
    // SDM 8.4.1: after RESET or INIT an AP waits for a SIPI. Atomic: with threads on the
    // monitor's end-of-run check reads it from CPU 0's thread.
    std::atomic<bool> wait_for_sipi{true};
    uint64_t tsc_offset = 0;
    uint64_t exits[EXIT_COUNT] = {};
    // Threads on (docs/design.md "SMP vCPUs on host threads"): its own block cache, its
    // thread, its kick (the interpreter's attention flag), and whether it is halted with
    // interrupts off (only NMI, INIT or reset could wake it).
    std::unique_ptr<BlockCache> cache;
    // ... and, with the JIT, its own translator filling that cache (declared after it: it
    // frees its regions from the cache when it goes).
    std::unique_ptr<Translator> translator;
    std::thread thread;
    std::atomic<uint8_t> kicked{0};
    std::atomic<bool> halted_for_good{false};
    std::atomic<bool> waiting{false};  // its thread sleeps: halted with nothing to deliver
    // Reported to thread_use_hook_ as not using its thread (its thread, inside exec_start/
    // exec_end, or CPU 0's thread while it holds the others).
    bool lent = false;
    // Run by another scheduler (set_external_vcpu): no thread of ours; its slice's end.
    bool external = false;
    ExternalVcpu hooks;
    std::atomic<bool> external_end{false};
    // Its local APIC timer's deadline in steady_clock ns (INT64_MAX: none), kept by the APIC's
    // timer observer under the big lock (external_deadline).
    std::atomic<int64_t> timer_due{INT64_MAX};
    bool deadline_moved = false;  // its own pass armed an earlier timer_due (its thread only)
    HypercallHandler* hypercalls = nullptr;  // set_hypercall_handler(index, ...)
  };
  void add_application_processors();
  void reset_ap(Vcpu& v);
  // One slice for every AP that can run. False if none could (all wait for SIPI or are
  // halted with nothing to deliver); `stop` (with `status`) when the machine must stop.
  bool run_aps(int& status, bool& stop);
  std::vector<std::unique_ptr<Vcpu>> aps_;

  // --accel tcg,thread=multi (docs/design.md "SMP vCPUs on host threads"): every CPU on its
  // own host thread (CPU 0 on the one that calls run(), which also services the devices).
  // monitor/machine_threads.cpp.
  void setup_threads();
  // The run of a machine with threads on, in slices as run_slice() (a partition with
  // vcpu_threads = "multi" on a processor set): CPU 0 on the calling thread, CPUs 1..N-1 on
  // their threads, which begin_run() starts held (VcpuSync::hold) and which run only inside a
  // slice; STOPPED joins them.
  SliceEnd run_slice_threads(bool sliced);
  SliceEnd run_slice_alone(bool sliced);  // threads off: every CPU on the calling thread
  // Instructions retired by the vCPUs a slice runs (SliceEnd::empty); on the slice's thread
  // outside a slice (the application processors held or joined).
  uint64_t slice_icount() const;
  void start_ap_threads();
  void stop_ap_threads();
  // CPU 0's thread, the other CPUs held: can any of them run (work posted, not halted with
  // nothing to deliver, not waiting for SIPI)?
  bool any_ap_runnable() const;
  // run_on_cpu_thread with threads on: the jobs run on CPU 0's thread with the others held,
  // not from the mailbox (which is drained under the big lock).
  std::atomic<bool> cpu_jobs_pending_{false};
  void run_cpu_jobs_held();
  void ap_thread(unsigned index);
  // One pass of AP `index` (machine_threads.cpp): STOP (the run ends, or the machine must stop:
  // `status`), IDLE (halted with nothing to deliver, or waiting for SIPI), RAN (a budget or
  // kick ended its run), EXITED (an exit the monitor handled: I/O, HLT, ...).
  enum class ApPass : uint8_t { STOP, IDLE, RAN, EXITED };
  ApPass ap_pass(unsigned index, int& status);
  // A PC reset with every vCPU out of guest code (on CPU 0's thread, between its runs, not
  // holding the big lock; other CPUs ask for it through reset_requested_ and a kick).
  void reset_exclusive(unsigned index);
  // CPU `index` exited with `r`: run the trapped instruction under the big lock; false when
  // the machine must stop (status set).
  bool finish_exit_threaded(unsigned index, Cpu& c, uint64_t& tsc_offset, ExitReason r,
                            int& status);
  bool within_insn_limit(uint64_t done, uint64_t& budget, int& status);
  // Threads on: a VMCALL for `handler`, outside the big lock (hypercalls may wait for other
  // threads; the handler has its own lock).
  static void hypercall_threaded(Cpu& c, HypercallHandler& handler);
  BigLock bql_;  // the big lock: devices, the platform, the clock, reset_requested_
  std::unique_ptr<VcpuSync> sync_;
  std::vector<std::unique_ptr<LockedAcknowledge>> locked_acks_;
  std::atomic<bool> threads_stop_{false};
  std::atomic<bool> cpu0_idle_{false};  // CPU 0's thread sleeps in idle()
  // External vCPUs (machine_external.cpp): CPU 0's thread is between slices (under the big
  // lock), and then the clock's next deadline in steady_clock ns (INT64_MAX: none, or CPU 0
  // in a slice, where it services the devices itself).
  std::atomic<bool> cpu0_off_{false};
  std::atomic<int64_t> device_due_{INT64_MAX};
  bool has_external_ = false;  // an external vCPU has a deadline hook (set before the run)
  // The clock's timers of those vCPUs (their local APICs': VirtualClock::owner_bit), which CPU
  // 0's thread does not wait for: their schedulers meet them (set before the run).
  uint64_t split_timers_ = 0;
  // CPU 0's thread at an idle end (a machine with a split vCPU): its wake time without the
  // devices' timers, steady_clock ns (recheck_idle).
  std::atomic<int64_t> own_wake_{INT64_MAX};
  void (*recheck_hook_)(void*) = nullptr;  // set_recheck_hook
  void* recheck_ctx_ = nullptr;
  // Under the big lock (or stopped): guest time `deadline_ns` (NEVER: none) as steady_clock ns.
  int64_t steady_deadline(uint64_t deadline_ns);
  // Under the big lock: device_due_ from the clock, if CPU 0's thread is between slices.
  void publish_device_due();
  // CPU 0's thread leaves (`off`) or begins a slice: external vCPUs take over (or give back)
  // meeting device deadlines; their schedulers hear of an earlier one (hooks.deadline).
  void cpu0_slice_edge(bool off);
  // On an external vCPU's scheduler thread, before a pass: the clock's due timers fired (its
  // own APIC timer, or a device's while CPU 0 is off its slice), under the big lock.
  void fire_external_timers(Vcpu& v);
  // Host I/O has news for the devices (serial input, a disk completion posted to mailbox_):
  // set by the loop thread (host_io_news), cleared by whoever serves it under the big lock.
  std::atomic<bool> io_news_{false};
  // The loop thread (COM1's input listener, mailbox_'s post listener), no lock of the
  // machine's held: io_news_ set; while CPU 0's thread is off its slice the news is served
  // here (serve_host_io), so what it raises kicks only the vCPUs it is for (CPU 0's kick
  // queues the partition on the primary); in a slice, CPU 0's thread is roused to serve it.
  void host_io_news();
  // stop_ap_threads: cpu0_off_ cleared under the big lock: host_io_news serves no more.
  void end_external_io();
  // Tells the split vCPUs' schedulers that external_deadline may have moved (hooks.deadline).
  void tell_split_deadlines();
  // Under the big lock: the posted host I/O jobs (disk completions) run and COM1's input
  // pulled, as service_devices does on CPU 0's thread.
  void serve_host_io();
  std::function<void(bool)> thread_use_hook_;  // set_thread_use_hook
  bool cpu0_lent_ = false;                     // CPU 0's thread; as Vcpu::lent
  // Tells thread_use_hook_ (if any) that a vCPU now leaves its thread idle or uses it again.
  void report_thread_use(bool& lent, bool idle) {
    if (thread_use_hook_ && lent != idle) {
      lent = idle;
      thread_use_hook_(idle);
    }
  }
  // What a snapshot must have been taken of: RAM size, firmware, devices, disks.
  std::string describe_config() const;
  // gdb's `monitor savevm FILE` / `monitor loadvm FILE`: true if `cmd` was one of them.
  bool snapshot_monitor_command(std::string_view cmd, std::string& reply);

  MachineConfig config_;
  std::unique_ptr<PhysicalMemory> mem_;
  BlockCache cache_;
  Cpu cpu_{};
  // Declared before (so destroyed after) everything that holds a reference to them, also when
  // the constructor throws and ~Machine() does not run: ASan (make test-asan) and fuzz_boot
  // found ~Hpet cancelling its timer on a destroyed clock; the loop thread posts to the box.
  VirtualClock clock_;
  CpuMailbox mailbox_;  // host I/O thread -> CPU thread
  std::unique_ptr<Interpreter> interp_;
  std::unique_ptr<Translator> translator_;  // tier 1 (--jit on); goes before the cache it fills
  std::unique_ptr<EventLoop> loop_;
  std::vector<std::unique_ptr<CharBackend>> backends_;
  std::unique_ptr<UnassignedPorts> unassigned_;
  std::vector<std::unique_ptr<IoDevice>> devices_;
  std::unique_ptr<PortBus> ports_;
  std::unique_ptr<PcPlatform> platform_;
  // --deterministic, --record, --replay (monitor/replay.h); null in normal runs.
  std::unique_ptr<Determinism> det_;
  bool replay_diverged_ = false;
  uint64_t state_hash(bool with_ram);
  uint64_t ram_hash();
  // `monitor break-icount N` (gdb): stop for the debugger when the count reaches N.
  std::optional<uint64_t> break_icount_;
  std::string monitor_command(std::string_view cmd, bool* handled);
  MonitorCommands hv_commands_;  // set_hv_commands
  bool reset_requested_ = false;  // a device asked for a PC reset; done after the instruction
  uint64_t idle_waits_ = 0;
  StatsRegistry stats_;
  std::unique_ptr<Tracer> tracer_;  // --trace
  FILE* state_log_ = nullptr;       // --state-log
  void log_state(ExitReason r);
  std::unique_ptr<StatsSeries> stats_series_;  // --stats-interval (monitor/stats_series.h)
  // --profile (monitor/profile.h): the sampler runs while run() does; the file is written at
  // its end.
  FILE* profile_out_ = nullptr;
  std::unique_ptr<SymbolTable> symbols_;
  std::unique_ptr<Sampler> sampler_;
  void open_profile();
  void write_profile_file();

  // --serial-script / --serial-transcript: COM1's backend is a ConsoleTap (owned in backends_)
  // and the script runs on the CPU thread (monitor/script_runner.h).
  ConsoleTap* console_tap_ = nullptr;
  std::unique_ptr<ScriptRunner> script_;
  void open_console_tap(std::unique_ptr<CharBackend>& serial, const ConsoleScript* script);

  // Set from the CPU thread (debug-exit) or the host I/O thread (Ctrl-A x).
  std::atomic<int> exit_status_{-1};  // -1: no exit requested; the first request wins
  std::atomic<bool> powered_off_{false};
  std::atomic<bool> save_failed_{false};  // save_failed()
  // Guards running_, parked_ and cpu_jobs_ (run_on_cpu_thread); recursive because run()'s end
  // drains the mailbox under it, and a drained job takes it again to run the CPU jobs.
  std::recursive_mutex running_mu_;
  struct CpuJob {
    const std::function<void()>* fn;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  std::vector<std::shared_ptr<CpuJob>> cpu_jobs_;  // posted by run_on_cpu_thread, not yet run
  void run_cpu_jobs();  // CPU thread (or its end of run): run and answer cpu_jobs_
  bool running_ = false;
  bool parked_ = false;  // while_parked(): the CPU thread waits; jobs run on the caller
  uint64_t tsc_offset_ = 0;
  uint32_t bios_size_ = 0, bios_crc_ = 0;  // the firmware image (snapshot compatibility)
  uint64_t exits_[EXIT_COUNT] = {};
  uint64_t resets_ = 0;
  uint64_t trap_ops_[TRAP_COUNT] = {};
  // What loading snapshots added to CPU 0's instruction count (modulo 2^64: a load may also
  // take it back): tier1.instructions counts only what this process retired.
  uint64_t icount_loaded_ = 0;
  HypercallHandler* hypercalls_ = nullptr;
  uint64_t run_budget_ = UINT64_MAX;  // set_run_budget
  std::atomic<uint8_t> kicked_{0};  // Interpreter::set_attention
  // begin_run() .. end_run(): what run() kept in locals, kept between slices.
  struct RunState {
    bool has_deadline = false;
    std::chrono::steady_clock::time_point deadline{};
    uint64_t trapped_faults = 0;
    uint64_t icount_start = 0;
  } rs_;
  std::atomic<bool> slice_over_{false};  // end_slice()
  // set_slice_end(), as steady_clock ticks since its epoch.
  std::atomic<std::chrono::steady_clock::rep> slice_end_{
      std::chrono::steady_clock::time_point::max().time_since_epoch().count()};
  std::chrono::steady_clock::time_point slice_end() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(slice_end_.load(std::memory_order_relaxed)));
  }
  bool slice_ended() const {  // its end is set and has come (the clock is read only then)
    const auto end = slice_end();
    return end != std::chrono::steady_clock::time_point::max() &&
           std::chrono::steady_clock::now() >= end;
  }
  // When a halted machine must look again; `devices`: false leaves the devices' timers out;
  // `poll`: at the latest kIdleSleep from now (else max() when nothing is due: CPU 0's idle
  // end in a machine with a split vCPU, whose wakes all reach it, machine_threads.cpp).
  std::chrono::steady_clock::time_point idle_wake(
      std::optional<std::chrono::steady_clock::time_point> deadline, bool devices = true,
      bool poll = true);
  std::chrono::steady_clock::time_point started_;
  double wall_seconds_ = 0;

  // The GDB stub (--gdb), last so that it goes first: the server's callbacks post to
  // mailbox_, and the stub uses the target and the server.
  std::unique_ptr<CpuDebugTarget> gdb_target_;
  std::unique_ptr<GdbStub> gdb_stub_;
  std::unique_ptr<TcpServer> gdb_server_;
  bool clock_paused_ = false;  // the guest is stopped in the debugger: guest time stands still
};

}  // namespace softcpu
