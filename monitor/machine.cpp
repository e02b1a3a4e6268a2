#include "monitor/machine.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cinttypes>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <unistd.h>

#include "hostio/char_backend.h"
#include "hostio/console_tap.h"
#include "hostio/event_loop.h"
#include "hostio/tcp_server.h"
#include "interp/access.h"
#include "interp/events_fence.h"
#include "interp/exceptions.h"
#include "interp/flags.h"
#include "interp/segments.h"
#include "interp/tlb.h"
#include "vdevices/debug_exit.h"
#include "vdevices/debugcon.h"
#include "interp/interrupts.h"
#include "monitor/big_lock_assert.h"
#include "monitor/boot_error.h"
#include "monitor/console_script.h"
#include "monitor/cpu_debug_target.h"
#include "monitor/gdb_stub.h"
#include "monitor/hypercall.h"
#include "monitor/linux_boot.h"
#include "monitor/acpi_tables.h"
#include "monitor/mptable.h"
#include "monitor/multiboot.h"
#include "monitor/pc_platform.h"
#include "monitor/profile.h"
#include "monitor/script_runner.h"
#include "monitor/replay.h"
#include "monitor/snapshot.h"
#include "monitor/symbols.h"
#include "monitor/tracer.h"
#include "monitor/vcpu_sync.h"
#include "translator/translator.h"
#include "vdevices/unassigned.h"

namespace softcpu {

namespace {

// Every translator statistic by name, written once: the machine's jit.* are all of them (CPU
// 0's translator, or the one a round-robin machine shares), and each CPU on a thread of its own
// gets the `per_cpu` ones of its own translator as cpuK.jit.*.
struct JitStat {
  const char* name;
  double (*read)(const TranslatorStats&);
  bool per_cpu;
};
using S = TranslatorStats;
const JitStat kJitStats[] = {
    {"requests", [](const S& s) { return double(s.requests); }, true},
    {"requests_covered", [](const S& s) { return double(s.covered); }, false},
    {"region_entry_blocks", [](const S& s) { return double(s.region_entries); }, false},
    {"regions_compiled", [](const S& s) { return double(s.regions_compiled); }, true},
    {"regions_installed", [](const S& s) { return double(s.regions_installed); }, true},
    {"dropped_stale", [](const S& s) { return double(s.dropped_stale); }, true},
    {"dropped_queue_full", [](const S& s) { return double(s.dropped_queue_full); }, false},
    {"dropped_no_room", [](const S& s) { return double(s.dropped_no_room); }, false},
    {"dropped_unsuitable", [](const S& s) { return double(s.dropped_unsuitable); }, false},
    {"dropped_cold", [](const S& s) { return double(s.dropped_cold); }, false},
    {"early_requests", [](const S& s) { return double(s.early_requests); }, false},
    {"early_passed", [](const S& s) { return double(s.early_passed); }, false},
    {"compile_cpu_share_permille", [](const S& s) { return double(s.compile_cpu_share); }, false},
    {"regions_trimmed", [](const S& s) { return double(s.regions_trimmed); }, false},
    {"regions_trimmed_waiting", [](const S& s) { return double(s.regions_trimmed_waiting); }, false},
    {"compiles_cancelled", [](const S& s) { return double(s.compiles_cancelled); }, false},
    {"compile_failures", [](const S& s) { return double(s.compile_failures); }, true},
    {"regions_invalidated", [](const S& s) { return double(s.regions_invalidated); }, true},
    {"pages_blacklisted", [](const S& s) { return double(s.pages_blacklisted); }, false},
    {"native_code_bytes", [](const S& s) { return double(s.native_code_bytes); }, true},
    {"region_blocks", [](const S& s) { return double(s.region_blocks); }, false},
    {"region_insns", [](const S& s) { return double(s.region_insns); }, false},
    {"inlined_insns", [](const S& s) { return double(s.inlined_insns); }, false},
    {"queue_high_water", [](const S& s) { return double(s.queue_high_water); }, false},
    {"compile_us_total", [](const S& s) { return double(s.compile_us_total); }, true},
    {"compile_us_mean", [](const S& s) { return double(s.compile_us_mean); }, false},
    {"compile_us_p50", [](const S& s) { return double(s.compile_us_p50); }, false},
    {"compile_us_p99", [](const S& s) { return double(s.compile_us_p99); }, false},
    {"compile_cpu_us.build", [](const S& s) { return double(s.compile_cpu_us_build); }, false},
    {"compile_cpu_us.inline", [](const S& s) { return double(s.compile_cpu_us_inline); }, false},
    {"compile_cpu_us.opt", [](const S& s) { return double(s.compile_cpu_us_opt); }, false},
    {"compile_cpu_us.codegen", [](const S& s) { return double(s.compile_cpu_us_codegen); }, false},
    {"start_cpu_us", [](const S& s) { return double(s.start_cpu_us); }, false},
    {"wait_us_p50", [](const S& s) { return double(s.wait_us_p50); }, false},
    {"wait_us_p99", [](const S& s) { return double(s.wait_us_p99); }, false},
    {"entry_runs_waiting", [](const S& s) { return double(s.entry_runs_waiting); }, false},
    {"cache_probes", [](const S& s) { return double(s.cache_probes); }, false},
    {"cache_hits", [](const S& s) { return double(s.cache_hits); }, true},
    {"cache_misses", [](const S& s) { return double(s.cache_misses); }, false},
    {"cache_bad", [](const S& s) { return double(s.cache_bad); }, false},
    {"cache_unusable", [](const S& s) { return double(s.cache_unusable); }, false},
    {"cache_lookup.no_file", [](const S& s) { return double(s.lookup_no_file); }, false},
    {"cache_lookup.key_differs", [](const S& s) { return double(s.lookup_key_differs); }, false},
    {"cache_lookup.blocks_missing", [](const S& s) { return double(s.lookup_blocks_missing); }, false},
    {"cache_lookup.blocks_differ", [](const S& s) { return double(s.lookup_blocks_differ); }, false},
    {"cache_lookup.installed", [](const S& s) { return double(s.lookup_installed); }, false},
    {"cache_hits_other_entry", [](const S& s) { return double(s.cache_hits_other_entry); }, false},
    {"cache_writes", [](const S& s) { return double(s.cache_writes); }, false},
    {"cache_write_failures", [](const S& s) { return double(s.cache_write_failures); }, false},
    {"cache_evicted", [](const S& s) { return double(s.cache_evicted); }, false},
    {"cache_bytes_read", [](const S& s) { return double(s.cache_bytes_read); }, false},
    {"cache_bytes_written", [](const S& s) { return double(s.cache_bytes_written); }, false},
    {"cache_load_cpu_us", [](const S& s) { return double(s.cache_load_us); }, false},
    {"cache_key_cpu_us", [](const S& s) { return double(s.cache_key_us); }, false},
};

// jit.NAME (or PREFIX.jit.NAME, the per-CPU ones only) for the translator `get` returns.
template <class Get>
void add_jit_stats(StatsRegistry& stats, const std::string& prefix, Get get) {
  for (const JitStat& j : kJitStats)
    if (prefix.empty() || j.per_cpu)
      stats.add((prefix.empty() ? "" : prefix + ".") + "jit." + j.name, [get, &j] { return j.read(get()); });
}

// Instructions tier 0 retired on a CPU: what its run loop counted, and the PAUSEs -smp's
// smp_pause retired itself (Cpu::pauses_retired).
uint64_t tier0_instructions(const InterpCounters& ic, const Cpu& c) {
  return ic.insns_interpreted + c.pauses_retired;
}

// Instructions the interpreter may run between checks of the clock, device timers, host
// input and exit requests: about half a millisecond of guest time at tier-0 speed.
constexpr uint64_t kRunBudget = 100000;
// How long a halted guest with nothing armed sleeps before looking around again.
constexpr auto kIdleSleep = std::chrono::milliseconds(50);
// How long a guest stopped in the debugger sleeps before checking the exit and the deadline
// (debugger packets wake it at once through the mailbox).
constexpr auto kDebugSleep = std::chrono::milliseconds(100);
// Deterministic runs: a region requested at instruction N is installed at N + this (about
// 0.2-0.5 s of interpretation; the CPU waits if the compile is later than that).
constexpr uint64_t kJitInstallDelay = uint64_t(1) << 25;

// SIGINT/SIGTERM end the run (status 128 + signal) the way a power-off does, so the disks are
// flushed and closed and --stats and --save-on-exit are written (QEMU also shuts down cleanly
// on them); the run loops look at this between interpreter runs (a halted guest within
// kIdleSleep). SA_RESETHAND: a second signal of the same kind kills at once.
std::atomic<int> g_stop_signal{0};
extern "C" void note_stop_signal(int sig) { g_stop_signal.store(sig); }

const char* exit_reason_name(unsigned r) {
  switch (r) {
    case EXIT_BUDGET: return "budget";
    case EXIT_IO: return "io";
    case EXIT_CPUID: return "cpuid";
    case EXIT_RDTSC: return "rdtsc";
    case EXIT_MSR: return "msr";
    case EXIT_VMCALL: return "vmcall";
    case EXIT_HLT: return "hlt";
    case EXIT_TRIPLE_FAULT: return "triple_fault";
    case EXIT_REQUEST: return "request";
    case EXIT_DEBUG: return "debug";
    default: return "none";
  }
}

}  // namespace

Machine::Machine(const MachineConfig& config) : Machine(config, nullptr) {}

Machine::Machine(const MachineConfig& config, std::unique_ptr<PhysicalMemory> memory)
    : config_(config) {
  if (!memory && (config.ram_mib < 1 || config.ram_mib > 3072))
    throw ConfigError{"memory size must be between 1 and 3072 MiB, got " +
                      std::to_string(config.ram_mib)};
  // A console script is read first: its errors (file:line) come before anything starts.
  ConsoleScript script;
  if (!config.serial_script.empty()) {
    std::vector<std::string> errors;
    if (!load_console_script(config.serial_script, &script, &errors)) {
      std::string message;
      for (const std::string& e : errors) message += (message.empty() ? "" : "\nsoftcpu: ") + e;
      throw ConfigError{message};
    }
  }
  if (!config.record_path.empty() || !config.replay_path.empty()) config_.deterministic = true;
  if (config.cpus < 1 || config.cpus > kMaxCpus)
    throw ConfigError{"the number of CPUs must be between 1 and " + std::to_string(kMaxCpus) +
                      ", got " + std::to_string(config.cpus)};
  if (config.cpus > 1) {
    // What follows one CPU only is refused rather than half-done (docs/design.md "SMP vCPUs").
    const char* alone = config_.deterministic            ? "--deterministic/--record/--replay"
                        : !config.gdb.empty()            ? "--gdb"
                        : !config.trace_path.empty()     ? "--trace"
                        : !config.state_log_path.empty() ? "--state-log"
                        : !config.profile_path.empty()   ? "--profile"
                                                         : nullptr;
    if (!alone && config.smp_threads && config.stats_interval_ms)
      alone = "--stats-interval";  // it samples other threads' counters while they run
    if (alone)
      throw ConfigError{std::string(alone) + " works with one CPU only; -smp " +
                        std::to_string(config.cpus) + " cannot be combined with it yet"};
  }
  if (config_.deterministic) {
    if (config_.icount_shift > 20)
      throw ConfigError{"--icount shift must be between 0 and 20, got " +
                        std::to_string(config_.icount_shift)};
    // Guest time is the instruction count from here on (docs/determinism.md); the RTC
    // starts at a fixed date. The JIT installs compiled regions at fixed instruction counts
    // (start_translator), so not even the statistics depend on the compile thread's timing.
    clock_.use_instruction_time(&cpu_.icount, config_.icount_shift);
    if (!config_.rtc_base_unix_ns) config_.rtc_base_unix_ns = kDeterministicRtcBase;
  }
  mem_ = memory ? std::move(memory) : std::make_unique<PhysicalMemory>(config.ram_mib << 20);
  cpu_.mem = mem_.get();
  cpu_.cache = &cache_;
  cache_.set_limits(config.tcache);
  interp_ = std::make_unique<Interpreter>(cpu_, cache_);
  interp_->set_attention(&kicked_);  // kick(): hypercall handlers, a processor set's slice end
  if (config_.jit) start_translator();
  std::string bios = config.bios_path;
  if (bios.empty()) {
    bios = kDefaultBios;
    if (access(bios.c_str(), R_OK) != 0)
      throw ConfigError{"no firmware: " + bios + " is missing (apt-get install seabios) and no "
                        "--bios FILE was given"};
  }
  load_bios(bios);

  loop_ = std::make_unique<EventLoop>();
  unassigned_ = std::make_unique<UnassignedPorts>();
  ports_ = std::make_unique<PortBus>(unassigned_.get());

  std::string error;
  auto serial = open_char_backend(config.serial, *loop_, &error);
  if (!serial) throw ConfigError{error};
  open_console_tap(serial, config.serial_script.empty() ? nullptr : &script);
  serial->set_quit_handler([this] { request_exit(0); });
  serial->set_input_listener([this] {  // typing wakes a halted guest
    // (With a split vCPU, only if the input is CPU 0's to take: machine_external.cpp.)
    if (has_external_) host_io_news();
    else mailbox_.wake();
  });
  CharBackend* guest_serial = serial.get();
  if (config_.deterministic) {
    det_ = std::make_unique<Determinism>(config_, clock_, *serial);
    guest_serial = &det_->serial();
  }
  platform_ = std::make_unique<PcPlatform>(config_, cpu_, *mem_, *ports_, clock_,
                                           mailbox_, *loop_, *guest_serial,
                                           [this] { reset_requested_ = true; });
  if (config_.cpus > 1) add_application_processors();
  if (config_.cpus > 1 && config_.smp_threads) setup_threads();
  if (det_)
    platform_->set_disk_deferrer([this](std::function<void()> done) { det_->defer(std::move(done)); });
  backends_.push_back(std::move(serial));
  if (script_) {
    ScriptRunner::Hooks hooks;
    hooks.send = [this](const uint8_t* data, size_t len) { console_tap_->inject(data, len); };
    hooks.screen = [this] { return platform_->screen_text(); };
    hooks.request_exit = [this](int status) { request_exit(status); };
    // hooks.clock stays the host's monotonic clock: script timeouts are wall time.
    script_->set_hooks(std::move(hooks));
  }
  platform_->set_power_off_handler([this] {
    std::fprintf(stderr, "softcpu: guest powered off (ACPI S5)\n");
    powered_off_ = true;
    request_exit(0);
  });

  for (const DebugconSpec& d : config.debugcons) {
    auto out = open_output_file(d.path, &error, "debug console");
    if (!out) throw ConfigError{error};
    auto con = std::make_unique<Debugcon>(d.port, *out);
    ports_->attach(con.get(), d.port, 1);
    devices_.push_back(std::move(con));
    backends_.push_back(std::move(out));
  }

  auto exit_dev = std::make_unique<DebugExit>([this](int status) { request_exit(status); });
  ports_->attach(exit_dev.get(), 0xF4, 4);
  devices_.push_back(std::move(exit_dev));

  if (!config.trace_path.empty()) {
    FILE* out = config.trace_path == "-" ? stdout : std::fopen(config.trace_path.c_str(), "w");
    if (!out)
      throw ConfigError{"cannot open trace file '" + config.trace_path + "': " +
                        std::strerror(errno)};
    tracer_ = std::make_unique<Tracer>(out, config.trace_events, config.trace_ranges, *interp_,
                                       *mem_, *ports_);
    tracer_->attach(cpu_);
  }

  if (!config.state_log_path.empty()) {
    state_log_ = std::fopen(config.state_log_path.c_str(), "w");
    if (!state_log_)
      throw ConfigError{"cannot open state log '" + config.state_log_path + "': " +
                        std::strerror(errno)};
  }

  if (!config.profile_path.empty()) open_profile();

  reset_cpu(cpu_);
  for (auto& v : aps_) reset_ap(*v);
  platform_->apic_base_written();  // the platform was reset before the MSR had its reset value
  if (!config.loadvm_path.empty()) {
    try {
      load_snapshot(config.loadvm_path);  // instead of booting: the firmware does not run
    } catch (const SnapshotError& e) {
      throw ConfigError{"--loadvm: " + e.message};
    }
  } else if (!config.kernel_path.empty()) {
    boot_kernel_directly();
  }
  register_stats();
  if (config.stats_interval_ms) {  // --stats-interval: sampled by a guest-time timer
    stats_series_ = StatsSeries::open(stats_, clock_, config.stats_path,
                                      *config.stats_interval_ms, &error);
    if (!stats_series_) throw ConfigError{error};
  }
  if (!config.gdb.empty()) start_gdb_stub();
}

// --serial-script, --serial-transcript: put a ConsoleTap in front of COM1's backend; it copies
// the output to the transcript file and the script, and carries the script's input.
void Machine::open_console_tap(std::unique_ptr<CharBackend>& serial, const ConsoleScript* script) {
  const std::string transcript_path = !config_.serial_transcript.empty() ? config_.serial_transcript
                                      : script                         ? script->transcript_path
                                                                       : std::string();
  if (!script && transcript_path.empty()) return;
  std::unique_ptr<CharBackend> transcript;
  if (!transcript_path.empty()) {
    std::string error;
    transcript = open_output_file(transcript_path, &error, "serial transcript");
    if (!transcript) throw ConfigError{error};
  }
  auto tap = std::make_unique<ConsoleTap>(std::move(serial), std::move(transcript));
  console_tap_ = tap.get();
  if (script) {
    script_ = std::make_unique<ScriptRunner>(*script, ScriptRunner::Hooks{});
    tap->set_output_observer(
        [runner = script_.get()](const uint8_t* data, size_t len) { runner->on_output(data, len); });
  }
  serial = std::move(tap);
}

// Tier 1. A JIT that cannot start (e.g. LLVM cannot target this host) is reported and the
// machine runs interpreted.
void Machine::start_translator() {
  translator_ = make_translator(cache_, 0);
  if (translator_) interp_->set_native_tier(translator_.get());
}

// The translator that fills `cache`, the block cache of CPU `index` (CPU 0's also serves the
// others of a round-robin machine; with threads on each CPU has its own: docs/design.md "SMP
// vCPUs on host threads", "Tier 1 on CPU threads"). Null if the JIT cannot start.
std::unique_ptr<Translator> Machine::make_translator(BlockCache& cache, unsigned index) {
  TranslatorConfig tc;
  // A threshold given is the one used; by default blocks are compiled at a tenth of it too
  // when the compile thread has a core to spare (TranslatorConfig::early_threshold).
  if (config_.jit_threshold) tc.threshold = config_.jit_threshold;
  else tc.early_threshold = tc.threshold / 10;
  tc.sync = config_.jit_sync;
  if (config_.deterministic) {
    tc.install_clock = &cpu_.icount;
    tc.install_delay = kJitInstallDelay;
  }
  tc.perf_map = config_.perf_map;
  tc.dump_dir = config_.jit_dump_dir;
  // Each CPU's regions are numbered by its own translator: CPU K > 0 dumps to DIR/cpuK.
  if (!tc.dump_dir.empty() && index) tc.dump_dir += "/cpu" + std::to_string(index);
  if (!tc.dump_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(tc.dump_dir, ec);
    if (ec || access(tc.dump_dir.c_str(), W_OK) != 0)
      throw ConfigError{"cannot write to --jit-dump directory '" + tc.dump_dir + "'"};
  }
  tc.cache_dir = config_.jit_cache_dir;
  if (config_.jit_cache_threshold) tc.cache_threshold = config_.jit_cache_threshold;
  if (config_.jit_cache_max != UINT64_MAX) tc.cache_max_bytes = config_.jit_cache_max;
  if (config_.jit_cache_finish_ms != UINT64_MAX) tc.cache_finish_ms = config_.jit_cache_finish_ms;
  try {
    return std::make_unique<Translator>(cache, tc);
  } catch (const std::runtime_error& e) {
    if (tc.perf_map) throw ConfigError{e.what()};
    std::fprintf(stderr, "softcpu: the JIT is off: %s\n", e.what());
    return nullptr;
  }
}

// The stub runs on the CPU thread: the server's callbacks (loop thread) post to the mailbox,
// which keeps their order and wakes a halted or stopped guest.
void Machine::start_gdb_stub() {
  std::string host;
  uint16_t port = 0;
  if (config_.gdb.rfind("tcp:", 0) != 0 || !parse_host_port(config_.gdb.substr(4), host, port))
    throw ConfigError{"bad --gdb '" + config_.gdb + "': expected tcp:ADDR:PORT"};
  CpuDebugTarget::Hooks hooks{[this] { request_exit(0); }, [this] { system_reset(); }, nullptr};
  gdb_target_ = std::make_unique<CpuDebugTarget>(cpu_, std::move(hooks), config_.start_frozen);
  gdb_stub_ = std::make_unique<GdbStub>(*gdb_target_, [this](std::string_view bytes) {
    if (gdb_server_)
      gdb_server_->send(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  });
  gdb_stub_->set_stats_provider([this] { return stats_.text(); });
  gdb_stub_->set_monitor_extension(
      [this](std::string_view cmd, bool* handled) { return monitor_command(cmd, handled); });
  gdb_stub_->set_close_handler([this] { if (gdb_server_) gdb_server_->disconnect(); });
  TcpServer::Callbacks cb;
  cb.on_connect = [this] { mailbox_.post([this] { if (gdb_stub_) gdb_stub_->on_connect(); }); };
  // Flow control: a client flooding the socket faster than the stub parses stops being read
  // above 1 MiB of unparsed input (hostio/tcp_server.h) instead of growing the mailbox.
  auto pending = std::make_shared<std::atomic<size_t>>(0);
  auto paused = std::make_shared<std::atomic<bool>>(false);
  cb.on_data = [this, pending, paused](const uint8_t* data, size_t len) {
    if (pending->fetch_add(len) + len > (1u << 20) && !paused->exchange(true) && gdb_server_)
      gdb_server_->pause_input();
    mailbox_.post([this, pending, paused,
                   bytes = std::string(reinterpret_cast<const char*>(data), len)] {
      if (gdb_stub_) gdb_stub_->feed(bytes);
      if (pending->fetch_sub(bytes.size()) - bytes.size() < (256u << 10) &&
          paused->exchange(false) && gdb_server_)
        gdb_server_->resume_input();
    });
  };
  cb.on_disconnect = [this] {
    mailbox_.post([this] { if (gdb_stub_) gdb_stub_->on_disconnect(); });
  };
  // Assigned on the loop thread, before any callback can read it (tcp_server.h).
  std::string error;
  if (!loop_->run_sync(
          [&] { gdb_server_ = TcpServer::listen(*loop_, host, port, std::move(cb), &error); }))
    error = "the event loop has stopped";
  if (!gdb_server_) throw ConfigError{"cannot listen for gdb on " + config_.gdb + ": " + error};
  const bool v6 = host.find(':') != std::string::npos;
  std::fprintf(stderr, "softcpu: %s on tcp:%s%s%s:%u\n",
               config_.start_frozen ? "waiting for gdb" : "gdb stub", v6 ? "[" : "",
               host.c_str(), v6 ? "]" : "", unsigned(gdb_server_->port()));
  if (!is_loopback_host(host))
    std::fprintf(stderr,
                 "softcpu: warning: the gdb stub is reachable from other machines; anyone who "
                 "connects can read and change the guest (use tcp:127.0.0.1:PORT)\n");
}

// --kernel: the loaders put the kernel, initrd and boot data in RAM and give the CPU state
// to start in (32-bit protected mode at the kernel's entry; the firmware does not run).
void Machine::boot_kernel_directly() {
  try {
    CpuEntryState entry =
        load_direct_kernel(*mem_, config_.kernel_path, config_.append, config_.initrd_path,
                           config_.view.extra_memory);
    // No firmware builds an MP table on this path: write one so Linux finds the IOAPIC.
    MpTableConfig mp;
    mp.cpus = uint8_t(config_.cpus);
    mp.cpuid_signature = CPUID_SIGNATURE;
    mp.cpuid_features = cpuid_features_edx(cpu_);
    mp.irq_overrides = platform_->irq_overrides();
    const MpTableLayout layout = write_mptable(*mem_, mp);
    // The ACPI tables go to the BIOS area's shadow RAM with an RSDP there (where SeaBIOS puts
    // it); a second RSDP follows the MP table in the EBDA's first KiB, which the OS searches
    // first through the BDA's EBDA segment word at 0x40E.
    const uint32_t rsdp = (layout.config_addr + layout.config_length + 15) & ~15u;
    if (rsdp + ACPI_RSDP_SIZE > EBDA_START + 1024) throw BootError{"the MP table overflows the EBDA"};
    platform_->setup_acpi_without_firmware(rsdp);
    const uint16_t ebda_segment = EBDA_START >> 4;
    mem_->write_bytes(0x40E, &ebda_segment, 2);
    apply_entry_state(cpu_, entry);
  } catch (const BootError& e) {
    throw ConfigError{e.message};
  }
}

Machine::~Machine() {
  if (sync_) stop_ap_threads();  // begun and never ended (a processor set torn down)
  sampler_.reset();
  if (profile_out_) std::fclose(profile_out_);
  interp_->set_native_tier(nullptr);
  for (auto& v : aps_) v->interp->set_native_tier(nullptr);
  translator_.reset();
  // Threads on: each CPU's translator (and the regions in its cache) goes on this thread, the
  // CPU threads being joined (BlockCache::hand_over).
  for (auto& v : aps_)
    if (v->translator) {
      v->cache->hand_over();
      v->translator.reset();
    }
  gdb_server_.reset();  // no more callbacks; then nothing may reach the stub
  gdb_stub_.reset();
  platform_.reset();  // disks flush through the event loop, which must still run
  det_.reset();       // before the clock that holds its timer
}

void Machine::load_bios(const std::string& path) {
  WholeFile f = read_whole_file(path, 256 * 1024);
  if (!f.opened) throw ConfigError{"cannot open BIOS image '" + path + "': " + std::strerror(f.error)};
  if (f.error) throw ConfigError{"cannot read BIOS image '" + path + "': " + std::strerror(f.error)};
  const std::vector<uint8_t>& rom = f.bytes;
  size_t n = rom.size();
  if (f.too_big)
    throw ConfigError{"BIOS image '" + path + "' is more than 256 KiB; it must be 64, 128 or 256 KiB"};
  if (n != 64 * 1024 && n != 128 * 1024 && n != 256 * 1024)
    throw ConfigError{"BIOS image '" + path + "' is " + std::to_string(n) +
                      " bytes; it must be 64, 128 or 256 KiB"};
  // The ROM ends at 0xFFFFF (real-mode view) and at 0xFFFFFFFF (the reset vector at
  // 0xFFFFFFF0, where a 386 starts: SDM vol.3 9.1.4).
  uint32_t low = 0x100000 - uint32_t(n);
  bios_size_ = uint32_t(n);
  bios_crc_ = crc32(rom.data(), n);
  mem_->map_rom(low, rom.data(), uint32_t(n));
  mem_->alias_rom(uint32_t(0x100000000ull - n), low, uint32_t(n));
}

void Machine::set_hypercall_handler(HypercallHandler* handler) {
  hypercalls_ = handler;
}

void Machine::serve_posted_jobs() {
  if (!sync_) {
    mailbox_.drain();
    return;
  }
  {  // threads on: other CPUs (a thin partition's processors) may run meanwhile
    std::lock_guard hold(bql_);
    mailbox_.drain();
  }
  run_cpu_jobs_held();
}

void Machine::flush_tlbs() {
  tlb_flush(cpu_);
  for (auto& v : aps_) tlb_flush(v->cpu);
}

void Machine::drop_code_everywhere(uint32_t phys, uint32_t len) {
  drop_code(cpu_, phys, len);
  if (sync_)  // threads on: a block cache per CPU
    for (auto& v : aps_) drop_code(v->cpu, phys, len);
}

void Machine::kick() {
  kicked_.store(1, std::memory_order_relaxed);
  events_fence();  // the flag before events (set_attention)
  cpu_.events = 1;
}

void Machine::request_exit(int status) {
  int none = -1;
  exit_status_.compare_exchange_strong(none, status);
  mailbox_.wake();  // a halted guest (or its processor set's scheduler) looks at it at once
}

void Machine::register_stats() {
  stats_.add("instructions", &cpu_.icount);
  // Wall time so far while the machine runs (--stats-interval samples), its total after.
  auto wall = [this] {
    if (wall_seconds_ > 0 || started_ == std::chrono::steady_clock::time_point{})
      return wall_seconds_;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  };
  stats_.add("wall_seconds", wall);
  stats_.add("mips", [this, wall] {
    const double s = wall();
    return s > 0 ? double(cpu_.icount) / s / 1e6 : 0.0;
  });
  stats_.add("guest_seconds", [this] { return double(clock_.now_ns()) / 1e9; });
  const InterpCounters& ic = interp_->counters();
  stats_.add("blocks_decoded", &ic.blocks_decoded);
  stats_.add("insns_decoded", &ic.insns_decoded);
  const CacheCounters& cc = cache_.counters();
  stats_.add("cache.lookups", &cc.lookups);
  stats_.add("cache.hits", [&cc] { return double(cc.jump_cache_hits + cc.hash_hits); });
  stats_.add("cache.jump_cache_hits", &cc.jump_cache_hits);
  stats_.add("cache.linear_jump_hits", &cc.linear_jump_hits);
  stats_.add("cache.linear_checked_hits", &cc.linear_checked_hits);
  stats_.add("cache.hash_hits", &cc.hash_hits);
  stats_.add("cache.misses", &cc.misses);
  stats_.add("cache.misses_compulsory", &cc.misses_compulsory);
  stats_.add("cache.misses_capacity", &cc.misses_capacity);
  stats_.add("cache.misses_invalidated", &cc.misses_invalidated);
  stats_.add("cache.chained", &cc.chained);
  // Chained transitions found their block without a lookup: they count as hits.
  stats_.add("cache.hit_rate", [&cc] {
    uint64_t all = cc.lookups + cc.chained;
    return all ? double(cc.jump_cache_hits + cc.hash_hits + cc.chained) / double(all) : 0.0;
  });
  // Block entries by the tier that ran them: compiled code, or decoded records (this also
  // counts a lookup whose fetch faulted).
  stats_.add("cache.entries_tier1", &ic.native_entries);
  stats_.add("cache.entries_tier0", [&cc, &ic] {
    const uint64_t all = cc.lookups + cc.chained;
    return double(all > ic.native_entries ? all - ic.native_entries : 0);
  });
  stats_.add("cache.inserts", &cc.inserts);
  stats_.add("cache.retranslations", &cc.retranslations);
  stats_.add("cache.invalidations", &cc.invalidations);
  stats_.add("cache.evictions", &cc.evictions);
  stats_.add("cache.evicted_bytes", &cc.evicted_bytes);
  stats_.add("cache.flushes", &cc.flushes);
  stats_.add("cache.blocks", [this] { return double(cache_.block_count()); });
  stats_.add("cache.regions", [this] { return double(cache_.companion_count()); });
  stats_.add("cache.bytes_decoded", &cc.bytes_decoded);
  stats_.add("cache.bytes_native", &cc.bytes_native);
  stats_.add("cache.bytes_peak", &cc.bytes_peak);
  stats_.add("cache.capacity_bytes", &cache_.limits().bytes);
  stats_.add("cache.capacity_entries", &cache_.limits().entries);
  for (unsigned r = EXIT_IO; r < EXIT_COUNT; ++r)
    stats_.add(std::string("exits.") + exit_reason_name(r), &exits_[r]);
  stats_.add("tier0.instructions", [this, &ic] { return double(tier0_instructions(ic, cpu_)); });
  stats_.add("tier1.instructions", [this, &ic] {
    // Everything retired that the interpreter did not: compiled code (trapped instructions
    // the monitor ran count for neither tier).
    uint64_t trapped = 0;
    for (uint64_t n : trap_ops_) trapped += n;
    const uint64_t other = tier0_instructions(ic, cpu_) + trapped;
    const uint64_t retired = cpu_.icount - icount_loaded_;  // here, not before a loaded snapshot
    return double(retired > other ? retired - other : 0);
  });
  stats_.add("tier1.region_entries", &ic.native_entries);
  static const char* const kNativeExit[NATIVE_EXIT_COUNT] = {"branch", "event", "stop", "trap", "fault", "pause", "limit"};
  for (unsigned r = 0; r < NATIVE_EXIT_COUNT; ++r)
    stats_.add(std::string("tier1.exits.") + kNativeExit[r], &ic.native_exits[r]);
  if (translator_) add_jit_stats(stats_, "", [this] { return translator_->stats(); });
  stats_.add("resets", &resets_);
  stats_.add("idle_waits", &idle_waits_);
  platform_->register_stats(stats_);
  const TlbCounters& tc = cpu_.tlb_counters;
  stats_.add("tlb.slow_accesses", &tc.slow_accesses);
  stats_.add("tlb.walks", &tc.walks);
  stats_.add("tlb.fills", &tc.fills);
  stats_.add("tlb.flushes", &tc.flushes);
  stats_.add("tlb.nonglobal_flushes", &tc.nonglobal_flushes);
  stats_.add("tlb.invlpg", &tc.invlpg);
  stats_.add("tlb.unaligned", &tc.unaligned);
  stats_.add("tlb.page_crossings", &tc.page_crossings);
  stats_.add("tlb.supervisor_restored", &tc.restored);
  static const char* const kKinds[3] = {"read", "write", "fetch"};
  static const char* const kCauses[TLB_MISS_CAUSES] = {"cold", "conflict", "cr3", "invlpg",
                                                       "flush", "user", "code", "uncached"};
  for (unsigned k = 0; k < 3; ++k)
    for (unsigned why = 0; why < TLB_MISS_CAUSES; ++why)
      stats_.add(std::string("tlb.miss.") + kKinds[k] + "." + kCauses[why], &tc.misses[k][why]);
  stats_.add("exceptions.total", &ic.exceptions);
  for (unsigned v = 0; v < 32; ++v)
    if (v <= VEC_MC)
      stats_.add("exceptions.vector_" + std::to_string(v), &ic.exceptions_by_vector[v]);
  stats_.add("io.port_reads", &ports_->reads);
  stats_.add("io.port_writes", &ports_->writes);
  stats_.add("io.unassigned_accesses", [this] { return double(unassigned_->total()); });
  stats_.add("memory.unassigned_reads", &mem_->unassigned_reads);
  stats_.add("memory.unassigned_writes", &mem_->unassigned_writes);
  stats_.add("memory.stage2_violations", &mem_->stage2_violations);
}

void Machine::finish_stats_series() {
  if (stats_series_) stats_series_->finish();
}

void Machine::register_final_stats() {
  for (const auto& [port, count] : unassigned_->accesses()) {
    char name[48];
    std::snprintf(name, sizeof name, "io.unassigned.port_0x%04x", port);
    uint64_t n = count.reads + count.writes;
    stats_.add(name, [n] { return double(n); });
  }
}

// Run the instruction the interpreter stopped before (I/O, CPUID, RDTSC, HLT, MSR).
bool Machine::run_trapped(Cpu& c, uint64_t& tsc_offset, unsigned index) {
  SOFTCPU_ASSERT_BIG_LOCK();
  const TrapOp op = trap_op(*c.trap_insn);
  ++trap_ops_[op];
  if (op == TRAP_VMCALL && hypercalls_ && index == 0) {
    cpu_.exit_reason = EXIT_NONE;
    ++cpu_.icount;  // retired, as execute_trapped counts the instructions it runs
    hypercalls_->hypercall(cpu_);
    return true;
  }
  // The TSC counts guest nanoseconds (a 1 GHz part): PIT, RTC, APIC timer and TSC all read
  // the one virtual clock, so a guest calibrating one against another sees them agree.
  const uint64_t now = clock_.now_ns();
  c.tsc = now + tsc_offset;
  if (!execute_trapped(c, tracer_ ? tracer_->io_bus() : *ports_)) return false;
  if (op == TRAP_WRMSR) {
    tsc_offset = c.tsc - now;
    platform_->apic_base_written(index);
  }
  return true;
}

void Machine::report_triple_fault(Cpu& c) {
  std::fprintf(stderr,
               "softcpu: triple fault at %04x:%08x (CR0=%08x)\n"
               "  EAX=%08x EBX=%08x ECX=%08x EDX=%08x ESI=%08x EDI=%08x EBP=%08x ESP=%08x "
               "EFL=%08x\n"
               "  CS=%04x SS=%04x DS=%04x ES=%04x GDT=%08x/%04x IDT=%08x/%04x\n",
               c.seg[CS].selector, c.eip, c.cr0, c.regs[EAX], c.regs[EBX], c.regs[ECX],
               c.regs[EDX], c.regs[ESI], c.regs[EDI], c.regs[EBP], c.regs[ESP], read_eflags(c),
               c.seg[CS].selector, c.seg[SS].selector, c.seg[DS].selector, c.seg[ES].selector,
               c.gdtr.base, c.gdtr.limit, c.idtr.base, c.idtr.limit);
}

// A PC reset (i8042 0xFE, port 0x92 bit 0, 0xCF9, or a triple fault): the CPU and every
// device go to their power-on state; RAM is kept, as on a warm reset.
void Machine::system_reset() {
  ++resets_;
  reset_requested_ = false;
  // Threads on: an INIT, STARTUP or A20 change still queued for a CPU was sent before the
  // reset and must not reach it after (a stale STARTUP would start an AP that the reset put
  // back to waiting for one). Called with the other CPUs out of guest code (an exclusive
  // section, or stopped); the code invalidations queued with them stay.
  if (sync_) sync_->drop_reset_work();
  reset_cpu(cpu_);
  for (auto& v : aps_) reset_ap(*v);
  platform_->reset();
}

// -smp N: the application processors, CPUs 1..N-1 (APIC IDs 1..N-1). They share memory and
// the block cache with CPU 0; a ring of `smp_next` pointers lets a page that starts holding
// code drop every CPU's write TLB entries for it (interp/interpreter.cpp build_block).
void Machine::add_application_processors() {
  Cpu* prev = &cpu_;
  for (unsigned k = 1; k < config_.cpus; ++k) {
    auto v = std::make_unique<Vcpu>();
    Vcpu* vp = v.get();
    v->cpu.mem = mem_.get();
    BlockCache* cache = &cache_;
    if (config_.smp_threads) {  // threads on: a block cache per CPU (chain links, jump cache)
      v->cache = std::make_unique<BlockCache>();
      v->cache->set_limits(config_.tcache);
      cache = v->cache.get();
    }
    v->cpu.cache = cache;
    v->interp = std::make_unique<Interpreter>(v->cpu, *cache);
    // Round-robin: the CPUs take turns over one block cache, so one translator serves them all.
    // Threads on: each CPU's translator fills its own cache, on its own thread (docs/design.md
    // "Tier 1 on CPU threads").
    if (translator_ && v->cache) v->translator = make_translator(*v->cache, k);
    if (NativeTier* tier = v->translator ? v->translator.get() : translator_.get())
      v->interp->set_native_tier(tier);
    // INIT (SDM 8.4.4): the CPU is reset and waits for a SIPI; a SIPI to a waiting CPU starts
    // it in real mode at vector * 4 KiB (CS = vector << 8, EIP = 0); to a running one it is
    // ignored. Threads on: both run on the CPU's own thread, in the order sent.
    auto startup = [vp](uint8_t vector) {
      if (!vp->wait_for_sipi) return;
      vp->cpu.seg[CS].selector = uint16_t(vector << 8);
      vp->cpu.seg[CS].base = uint32_t(vector) << 12;
      vp->cpu.eip = 0;
      vp->wait_for_sipi = false;
    };
    platform_->add_cpu(
        v->cpu,
        [this, vp, k] {
          if (sync_)
            sync_->post(k, [this, vp](Cpu&) { reset_ap(*vp); }, VcpuSync::Work::DROPPED_BY_RESET);
          else reset_ap(*vp);
        },
        [this, startup, k](uint8_t vector) {
          if (sync_)
            sync_->post(k, [startup, vector](Cpu&) { startup(vector); },
                        VcpuSync::Work::DROPPED_BY_RESET);
          else startup(vector);
        });
    prev->smp_next = &v->cpu;
    prev = &v->cpu;
    const std::string cpu = "cpu" + std::to_string(k);
    stats_.add(cpu + ".instructions", &v->cpu.icount);
    // Its tiers (the machine's tier0.* and tier1.* count CPU 0's): compiled code serves every
    // CPU of a round-robin machine.
    const InterpCounters& ic = v->interp->counters();
    stats_.add(cpu + ".tier0.instructions",
               [vp, &ic] { return double(tier0_instructions(ic, vp->cpu)); });
    stats_.add(cpu + ".tier1.region_entries", &ic.native_entries);
    // Threads on: its own translator's work (the machine's jit.* are CPU 0's translator's).
    if (v->translator)
      add_jit_stats(stats_, cpu, [vp] { return vp->translator->stats(); });
    aps_.push_back(std::move(v));
  }
  prev->smp_next = &cpu_;
}

void Machine::reset_ap(Vcpu& v) {
  reset_cpu(v.cpu);
  v.cpu.a20_enabled = cpu_.a20_enabled;  // the gate is the chipset's, shared by all CPUs
  v.wait_for_sipi = true;
  v.tsc_offset = 0;
}

bool Machine::run_aps(int& status, bool& stop) {
  bool ran = false;
  for (size_t k = 0; k < aps_.size(); ++k) {
    Vcpu& v = *aps_[k];
    Cpu& c = v.cpu;
    if (v.wait_for_sipi || (c.halted && !cpu_interrupt_deliverable(c))) continue;
    ran = true;
    // Chain links between blocks assume the linear view (CR3, paging, global TLB entries) of
    // the CPU that made them: new link generations at every switch of CPU retire them all.
    // Each CPU's linear jump cache is its own, made from its own TLB, so its entries of global
    // pages stay, as over a CR3 load, and the others are checked through that TLB
    // (Interpreter::lookup_slow).
    cache_.new_cpu_view();
    const unsigned index = unsigned(k + 1);
    platform_->set_current_cpu(index);
    const ExitReason r = v.interp->run(kRunBudget);
    ++v.exits[r];
    const bool ok = !(r == EXIT_TRIPLE_FAULT ||
                      ((r >= EXIT_IO && r <= EXIT_HLT) && !run_trapped(c, v.tsc_offset, index)));
    platform_->set_current_cpu(0);
    if (!ok) {
      std::fprintf(stderr, "softcpu: CPU %u:\n", index);
      report_triple_fault(c);
      if (!config_.reset_on_triple_fault) {
        status = 3;
        stop = true;
        return true;
      }
      std::fprintf(stderr, "softcpu: resetting the machine (--on-triple-fault=reset)\n");
      system_reset();
      return true;
    }
    if (reset_requested_) {
      system_reset();
      return true;
    }
  }
  if (ran) cache_.new_cpu_view();  // back to CPU 0's view
  return ran;
}

// Between interpreter runs: host work, device timers, COM1 input, FERR#.
void Machine::service_devices() {
  SOFTCPU_ASSERT_BIG_LOCK();
  if (has_external_) io_news_.store(false);  // before the drain (machine_external.cpp)
  mailbox_.drain();
  clock_.run_due();
  if (script_) script_->tick();  // before the UART looks for input the script may send
  if (det_) {
    // Deterministic runs: input enters at this instruction count (recorded or replayed), and
    // the serial port looks at it only then, so extra service points (a debugger's stop at an
    // instruction count, a checkpoint) change nothing the guest sees.
    bool released = false;
    if (!replay_diverged_ &&
        !det_->service(cpu_.icount, [this](bool ram) { return state_hash(ram); }, &released)) {
      replay_diverged_ = true;
      request_exit(kReplayDivergedStatus);
    }
    if (released) platform_->poll();
  } else {
    platform_->poll();
  }
  platform_->update_ferr();
}

// FNV-style hash of all of RAM (--state-log, the end of a record file).
uint64_t Machine::ram_hash() {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  const uint8_t* ram = mem_->ram();
  for (uint32_t off = 0; off + 8 <= mem_->ram_size(); off += 8) {
    uint64_t w;
    std::memcpy(&w, ram + off, 8);
    h = (h ^ w) * 0x100000001B3ull;
    h ^= h >> 29;
  }
  return h;
}

// What a replay compares at each recorded event: the instruction count, guest time,
// registers, EIP, EFLAGS, segment selectors, control registers (and RAM at the end).
uint64_t Machine::state_hash(bool with_ram) {
  const Cpu& c = cpu_;
  uint64_t h = 0xCBF29CE484222325ull;
  auto mix = [&h](uint64_t v) {
    h = (h ^ v) * 0x100000001B3ull;
    h ^= h >> 31;
  };
  mix(c.icount);
  mix(clock_.now_ns());
  for (unsigned r = 0; r < 8; ++r) mix(c.regs[r]);
  mix(c.eip);
  mix(read_eflags(cpu_));
  for (unsigned s = 0; s < 6; ++s) mix(c.seg[s].selector);
  mix(c.cr0);
  mix(c.cr3);
  mix(c.cr4);
  if (with_ram) mix(ram_hash());
  return h;
}

// gdb's `monitor` commands that belong to the machine rather than the CPU (monitor/gdb_stub.h).
std::string Machine::monitor_command(std::string_view cmd, bool* handled) {
  *handled = true;
  char buf[256];
  if (cmd == "info irq-routes") return format_irq_routes(platform_->irq_routes());
  if (cmd == "icount") {
    std::snprintf(buf, sizeof buf, "%" PRIu64 "\n", cpu_.icount);
    return buf;
  }
  const std::string_view bi = "break-icount";
  if (cmd.substr(0, bi.size()) == bi) {
    std::string arg(cmd.substr(bi.size()));
    while (!arg.empty() && arg.front() == ' ') arg.erase(0, 1);
    if (arg.empty()) {
      if (!break_icount_) return "no instruction-count breakpoint\n";
      std::snprintf(buf, sizeof buf, "stop at instruction %" PRIu64 "\n", *break_icount_);
      return buf;
    }
    if (arg == "off" || arg == "delete") {
      break_icount_.reset();
      return "instruction-count breakpoint deleted\n";
    }
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(arg.c_str(), &end, 0);
    if (arg[0] == '-' || errno || *end)
      return "bad instruction count '" + arg + "': expected a number, e.g. monitor break-icount 1000000\n";
    if (n <= cpu_.icount) {
      std::snprintf(buf, sizeof buf, "instruction %llu is already past (now at %" PRIu64 ")\n", n,
                    cpu_.icount);
      return buf;
    }
    break_icount_ = n;
    std::snprintf(buf, sizeof buf, "the guest stops at instruction %llu (now at %" PRIu64 ")%s\n",
                  n, cpu_.icount, det_ ? "" : "; not a deterministic run: the count is exact, "
                  "the path to it may differ between runs");
    return buf;
  }
  std::string reply;
  if (snapshot_monitor_command(cmd, reply)) return reply;  // savevm, loadvm
  *handled = false;
  if (hv_commands_) return hv_commands_(cmd, handled);  // a partition: the primary's commands
  return {};
}

void Machine::while_parked(const std::function<void()>& wait) {
  {
    std::lock_guard lock(running_mu_);
    parked_ = true;
    run_cpu_jobs();  // posted before we parked: their posters wait for this thread
  }
  wait();
  // A job run on another thread meanwhile holds running_mu_ until it is done.
  std::lock_guard lock(running_mu_);
  parked_ = false;
}

uint64_t Machine::monitor_exits() const {
  uint64_t n = 0;
  for (unsigned r = EXIT_IO; r < EXIT_COUNT; ++r) n += exits_[r];
  return n;
}

uint64_t Machine::interrupts_delivered() const { return interp_->counters().interrupts; }

// One line per exit to the monitor (not the budget exits, which are bookkeeping): where the
// guest is, its registers and flags, and a hash of RAM. Deterministic guests write the same
// log whichever tier ran them; the first differing line is where they diverged.
void Machine::log_state(ExitReason r) {
  Cpu& c = cpu_;
  const uint64_t h = ram_hash();
  std::fprintf(state_log_,
               "%" PRIu64 " %s %04x:%08x eax=%08x ecx=%08x edx=%08x ebx=%08x esp=%08x ebp=%08x "
               "esi=%08x edi=%08x efl=%08x ram=%016" PRIx64 "\n",
               c.icount, exit_reason_name(r), c.seg[CS].selector, c.eip, c.regs[EAX], c.regs[ECX],
               c.regs[EDX], c.regs[EBX], c.regs[ESP], c.regs[EBP], c.regs[ESI], c.regs[EDI],
               read_eflags(c), h);
}

bool Machine::finish_exit(ExitReason r, int& status) {
  if (state_log_ && r != EXIT_BUDGET) log_state(r);
  if (r == EXIT_TRIPLE_FAULT || ((r >= EXIT_IO && r <= EXIT_HLT) && !run_trapped())) {
    report_triple_fault();
    if (!config_.reset_on_triple_fault) {
      status = 3;
      return false;
    }
    // A triple fault makes a PC's chipset assert RESET (SDM vol.3 6.15, #DF): the machine
    // starts again at the reset vector; memory is kept.
    std::fprintf(stderr, "softcpu: resetting the machine (--on-triple-fault=reset)\n");
    system_reset();
    return true;
  }
  if (reset_requested_) system_reset();
  return true;
}

// The guest stops for the debugger and gdb is told why.
void Machine::debugger_stop(const GdbStopEvent& ev) {
  gdb_target_->halt();
  gdb_stub_->report_stop(ev);
}

bool Machine::serve_debugger(int& status, bool& stop) {
  using State = CpuDebugTarget::RunState;
  const State state = gdb_target_->run_state();
  // Time spent stopped in the debugger is not guest time (timers do not run out under it).
  if ((state == State::STOPPED) != clock_paused_) {
    clock_paused_ = !clock_paused_;
    if (clock_paused_) clock_.pause(); else clock_.resume();
  }
  if (state == State::STOPPED) {
    if (!mailbox_.has_work()) mailbox_.wait_until(std::chrono::steady_clock::now() + kDebugSleep);
    return true;
  }
  if (state != State::STEPPING) return false;
  // A halted CPU with nothing to wake it has no instruction to run: the step ends at once.
  if (!(cpu_.halted && !cpu_interrupt_deliverable(cpu_))) {
    const ExitReason r = interp_->step();
    ++exits_[r];
    if (!finish_exit(r, status)) {
      stop = true;
      return true;
    }
    if (r == EXIT_DEBUG) {  // a watchpoint hit by the stepped instruction
      debugger_stop(stop_event_from_hit(cpu_.debug_hit));
      return true;
    }
    if (cpu_.debug_pending.kind != HIT_NONE) {
      // A trapped INS/OUTS hit a watchpoint: report it with this step rather than at the
      // start of the next run (interp/ops_trap.cpp leaves it pending).
      const DebugHit hit = cpu_.debug_pending;
      cpu_.debug_pending.kind = HIT_NONE;
      debugger_stop(stop_event_from_hit(hit));
      return true;
    }
  }
  debugger_stop(GdbStopEvent::step());
  return true;
}

// HLT with IF=1: sleep until the next device timer, host input (the mailbox wakes us), or
// the deadline.
void Machine::idle(std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (det_) {
    // Instruction time does not pass while halted: jump to the next timer deadline or
    // replayed input (QEMU's icount, sleep=off). With neither, wait for the host (input
    // then arrives at this instruction count).
    const uint64_t next = std::min(clock_.next_deadline(), det_->next_event_time(cpu_.icount));
    if (next != VirtualClock::NEVER) {
      clock_.skip_to(next);
      return;
    }
  }
  const auto wake = idle_wake(deadline);
  if (!mailbox_.has_work()) mailbox_.wait_until(wake);
}

// When a halted guest must look around again: its next timer, the run's deadline, a console
// script's, or (`poll`) kIdleSleep from now.
std::chrono::steady_clock::time_point Machine::idle_wake(
    std::optional<std::chrono::steady_clock::time_point> deadline, bool devices, bool poll) {
  auto wake = poll ? std::chrono::steady_clock::now() + kIdleSleep
                   : std::chrono::steady_clock::time_point::max();
  // (Not a split vCPU's APIC timer: its own scheduler meets it, machine_external.cpp.)
  const uint64_t next = clock_.next_deadline(
      split_timers_ | (devices ? 0 : VirtualClock::owner_bit(0)));
  if (next != VirtualClock::NEVER) {
    const uint64_t now = clock_.now_ns();
    const auto until = std::chrono::nanoseconds(next > now ? next - now : 0);
    wake = std::min(wake, std::chrono::steady_clock::now() + until);
  }
  if (deadline) wake = std::min(wake, *deadline);
  if (script_) {  // a script timeout, sleep or screen poll
    const double s = std::min(script_->wake_in(), 1.0);
    wake = std::min(wake, std::chrono::steady_clock::now() +
                              std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(s)));
  }
  return wake;
}

void Machine::run_on_cpu_thread(const std::function<void()>& job) {
  std::unique_lock lock(running_mu_);
  if (!running_ || parked_) {  // the CPU thread is not executing: it cannot touch the state
    job();
    return;
  }
  auto pending = std::make_shared<CpuJob>();
  pending->fn = &job;
  cpu_jobs_.push_back(pending);
  if (sync_) {
    // Threads on: CPU 0's thread runs it with the other CPUs held (run_cpu_jobs_held); the
    // post only wakes it (and a partition's processor set).
    cpu_jobs_pending_.store(true);
    mailbox_.wake();
  } else {
    mailbox_.post([this] { run_cpu_jobs(); });
  }
  lock.unlock();  // run() runs the job between runs, or at its end under running_mu_
  std::unique_lock wait(pending->mu);
  pending->cv.wait(wait, [&] { return pending->done; });
}

void Machine::run_cpu_jobs() {
  std::lock_guard lock(running_mu_);
  std::vector<std::shared_ptr<CpuJob>> jobs;
  jobs.swap(cpu_jobs_);
  for (auto& j : jobs) {
    (*j->fn)();
    std::lock_guard done(j->mu);
    j->done = true;
    j->cv.notify_all();
  }
}

int Machine::run() {
  begin_run();
  SliceEnd e;
  do e = run_slice(false);
  while (e.kind != SliceEnd::STOPPED);
  return end_run(e.status);
}

void Machine::catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = note_stop_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void Machine::take_stop_signal() {
  if (SOFTCPU_UNLIKELY(g_stop_signal.load(std::memory_order_relaxed) != 0)) {
    const int sig = g_stop_signal.exchange(0);
    report_stop_signal(sig);
    request_exit(128 + sig);
  }
}

void Machine::report_stop_signal(int sig) {
  std::fprintf(stderr, "softcpu: stopped by signal %d (%s)\n", sig, strsignal(sig));
}

void Machine::begin_run() {
  {
    std::lock_guard lock(running_mu_);
    running_ = true;
  }
  powered_off_ = false;
  started_ = std::chrono::steady_clock::now();
  if (profile_out_) {
    sampler_ = std::make_unique<Sampler>(cpu_);
    interp_->set_sampler(sampler_->pending(), &Sampler::hook, sampler_.get());
  }
  rs_ = RunState{};
  rs_.has_deadline = config_.timeout_seconds.has_value();
  rs_.deadline = started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(rs_.has_deadline ? *config_.timeout_seconds : 0));
  // Counted from this run's start: a machine loaded from a snapshot (--loadvm) keeps its icount.
  rs_.icount_start = cpu_.icount;
  if (!config_.save_on_exit_path.empty()) catch_stop_signals();
  // Threads on: CPUs 1..N-1 on their threads, held until the first slice.
  if (sync_) start_ap_threads();
}

void Machine::end_slice() {
  slice_over_.store(true, std::memory_order_relaxed);
  kick();
}

Machine::SliceEnd Machine::run_slice(bool sliced) {
  const uint64_t before = slice_icount();
  SliceEnd out = sync_ ? run_slice_threads(sliced)  // monitor/machine_threads.cpp
                       : run_slice_alone(sliced);
  out.empty = slice_icount() == before;
  return out;
}

uint64_t Machine::slice_icount() const {
  uint64_t n = cpu_.icount;
  for (const auto& v : aps_)
    if (!v->external) n += v->cpu.icount;
  return n;
}

Machine::SliceEnd Machine::run_slice_alone(bool sliced) {
  const bool has_deadline = rs_.has_deadline;
  const auto deadline = rs_.deadline;
  int status = 0;
  // --insn-limit counts retired instructions, faults (also those of trapped instructions the
  // monitor runs) and interrupt deliveries, so a guest that faults forever reaches it too.
  const InterpCounters& ic = interp_->counters();
  uint64_t& trapped_faults = rs_.trapped_faults;
  const uint64_t icount_start = rs_.icount_start;
  auto executed = [&] {
    return cpu_.icount - icount_start + ic.exceptions + ic.interrupts + trapped_faults;
  };
  auto stopped = [&] { return SliceEnd{SliceEnd::STOPPED, status, {}}; };
  if (sliced) slice_over_.store(false, std::memory_order_relaxed);
  for (;;) {
    take_stop_signal();
    if (int requested = exit_status_.load(); requested >= 0) {
      status = requested;
      return stopped();
    }
    if (has_deadline && std::chrono::steady_clock::now() >= deadline) {
      std::fprintf(stderr, "softcpu: timeout after %g seconds; stopping the guest at %04x:%08x\n",
                   *config_.timeout_seconds, cpu_.seg[CS].selector, cpu_.eip);
      status = 124;
      return stopped();
    }
    if (sliced && (slice_over_.load(std::memory_order_relaxed) || slice_ended()))
      return {SliceEnd::PREEMPTED, 0, {}};
    uint64_t budget = std::min(kRunBudget, run_budget_);
    if (config_.insn_limit && !within_insn_limit(executed(), budget, status)) return stopped();
    service_devices();
    if (break_icount_ && cpu_.icount >= *break_icount_ && gdb_target_ &&
        gdb_target_->run_state() != CpuDebugTarget::RunState::STOPPED) {
      break_icount_.reset();  // `monitor break-icount N`: the count is reached
      debugger_stop(GdbStopEvent::sig(5));
    }
    // --profile: periods the boundary did not take; those of an idle wait count as halted.
    if (sampler_) sampler_->poll(cpu_, cpu_.halted);
    if (gdb_target_) {
      bool stop = false;
      const bool handled = serve_debugger(status, stop);
      if (stop) return stopped();
      if (handled) continue;
    }
    if (cpu_.halted && !cpu_interrupt_deliverable(cpu_)) {
      if (!aps_.empty()) {  // -smp: the other CPUs run while CPU 0 waits
        bool stop = false;
        const bool ran = run_aps(status, stop);
        if (stop) return stopped();
        if (ran) continue;
      }
      if (!(cpu_.eflags & IF) && gdb_stub_ && gdb_stub_->connected()) {
        // With a debugger attached the guest's end is a stop gdb can inspect.
        debugger_stop(GdbStopEvent::sig(5));
        continue;
      }
      if (!(cpu_.eflags & IF)) {
        // HLT with interrupts off: only NMI or reset could wake it, and nothing here raises
        // NMI. This is how Linux ends "poweroff -f" on a machine without ACPI power-off.
        std::fprintf(stderr, "softcpu: guest halted with interrupts disabled at %04x:%08x; "
                     "stopping\n", cpu_.seg[CS].selector, cpu_.eip);
        powered_off_ = true;
        status = 0;
        return stopped();
      }
      if (sliced && !det_) {
        // A processor set's thread is not spent waiting: the scheduler runs others and
        // brings this one back at `wake` or when its mailbox gets something.
        ++idle_waits_;
        if (mailbox_.has_work()) continue;
        return {SliceEnd::IDLE, 0, idle_wake(has_deadline ? std::optional(deadline) : std::nullopt)};
      }
      idle(has_deadline ? std::optional(deadline) : std::nullopt);
      ++idle_waits_;
      continue;
    }
    if (break_icount_ && *break_icount_ > cpu_.icount)
      budget = std::min(budget, *break_icount_ - cpu_.icount);
    ExitReason r;
    if (det_) {
      // Stop exactly at the next timer deadline, checkpoint or replayed event: the blocks
      // (or compiled regions) run up to a block's length before it, the rest one
      // instruction at a time (Interpreter::run_exact), so both tiers stop at the same count.
      const uint64_t next = clock_.next_deadline();
      if (next != VirtualClock::NEVER) {
        const uint64_t at = clock_.icount_at(next);
        budget = std::min(budget, std::max<uint64_t>(at - cpu_.icount, 1));
      }
      budget = det_->limit_budget(cpu_.icount, budget);
      if (translator_) {
        translator_->install_due(cpu_.icount);
        const uint64_t due = translator_->next_install();
        if (due > cpu_.icount) budget = std::min(budget, due - cpu_.icount);
      }
      r = budget > MAX_BLOCK_INSNS ? interp_->run(budget - (MAX_BLOCK_INSNS - 1))
                                   : interp_->run_exact(budget);
    } else if (break_icount_) {
      r = budget > MAX_BLOCK_INSNS ? interp_->run(budget - (MAX_BLOCK_INSNS - 1))
                                   : interp_->run_exact(budget);
    } else {
      r = interp_->run(budget);
    }
    ++exits_[r];
    const uint64_t retired = cpu_.icount;
    if (!finish_exit(r, status)) return stopped();
    kicked_.store(0, std::memory_order_relaxed);  // kick(): the run has returned
    if (hypercalls_) hypercalls_->poll(cpu_);
    if (r >= EXIT_IO && r <= EXIT_HLT && cpu_.icount == retired) ++trapped_faults;
    if (!aps_.empty()) {  // -smp: round-robin, a slice for each other CPU
      bool stop = false;
      run_aps(status, stop);
      if (stop) return stopped();
    }
    if (r == EXIT_DEBUG && gdb_target_ &&
        gdb_target_->run_state() == CpuDebugTarget::RunState::RUNNING)
      debugger_stop(stop_event_from_hit(cpu_.debug_hit));
  }
}

int Machine::end_run(int status) {
  if (sync_) stop_ap_threads();  // joined already when the last slice stopped
  // A console script reports a step left unfinished and decides the status.
  if (script_) status = script_->finish(status);
  wall_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  // Deterministic runs: every compile requested is finished (not installed), so the JIT's
  // counters do not depend on how far the compile thread got.
  if (det_ && translator_) translator_->drain();
  // --jit-cache: the regions still queued are compiled and written for the next run.
  if (translator_) translator_->finish_writes();
  for (auto& v : aps_)
    if (v->translator) v->translator->finish_writes();
  if (det_ && !replay_diverged_ &&
      !det_->finish(cpu_.icount, [this](bool ram) { return state_hash(ram); }, status))
    status = kReplayDivergedStatus;
  // --save-on-exit: however the run ended, except a triple fault the machine cannot go on from.
  if (!config_.save_on_exit_path.empty() && status != 3) {
    try {
      save_snapshot(config_.save_on_exit_path);
    } catch (const SnapshotError& e) {
      std::fprintf(stderr, "softcpu: --save-on-exit: %s\n", e.message.c_str());
      save_failed_ = true;
      status = 1;
    }
  }
  if (sampler_) write_profile_file();
  platform_->flush_disks();
  if (!config_.screen_dump_path.empty()) write_screen_dump();
  if (tracer_) tracer_->flush();
  if (state_log_) {
    log_state(EXIT_NONE);  // the final state
    std::fclose(state_log_);
    state_log_ = nullptr;
  }
  {
    std::lock_guard lock(running_mu_);
    running_ = false;
    mailbox_.drain();  // jobs posted while the loop was ending (run_on_cpu_thread's too)
    run_cpu_jobs();
  }
  return status;
}

// --insn-limit: false (status 124, reported) once `done` instructions reach it; otherwise the
// run's budget is cut to what is left.
bool Machine::within_insn_limit(uint64_t done, uint64_t& budget, int& status) {
  if (done >= *config_.insn_limit) {
    std::fprintf(stderr, "softcpu: instruction limit of %" PRIu64 " reached; stopping the "
                 "guest at %04x:%08x\n", *config_.insn_limit, cpu_.seg[CS].selector, cpu_.eip);
    status = 124;
    return false;
  }
  budget = std::min<uint64_t>(budget, *config_.insn_limit - done);
  return true;
}

// --profile: the symbols are read and the file is opened before the guest runs, so a bad
// path is a configuration error (status 2) rather than a lost profile.
void Machine::open_profile() {
  if (!config_.symbols_path.empty()) {
    try {
      symbols_ = std::make_unique<SymbolTable>(SymbolTable::load(config_.symbols_path));
    } catch (const SymbolFileError& e) {
      throw ConfigError{e.message};
    }
  }
  profile_out_ = std::fopen(config_.profile_path.c_str(), "w");
  if (!profile_out_)
    throw ConfigError{"cannot open profile file '" + config_.profile_path + "': " +
                      std::strerror(errno)};
}

void Machine::write_profile_file() {
  sampler_->stop();
  interp_->set_sampler(nullptr, nullptr, nullptr);
  ProfileHeader h;
  h.guest = !config_.kernel_path.empty() ? config_.kernel_path
            : !config_.drives.empty()    ? config_.drives.front().path
            : !config_.bios_path.empty() ? config_.bios_path
                                         : std::string(kDefaultBios);
  h.jit = translator_ != nullptr;
  h.wall_seconds = wall_seconds_;
  h.instructions = cpu_.icount;
  const std::string& p = config_.profile_path;
  const bool json = p.size() >= 5 && p.compare(p.size() - 5, 5, ".json") == 0;
  write_profile(profile_out_, json, h, join_profile(cache_, *sampler_), *sampler_,
                config_.profile_top, symbols_.get());
  std::fclose(profile_out_);
  profile_out_ = nullptr;
}

void Machine::write_screen_dump() {
  FILE* f = config_.screen_dump_path == "-" ? stdout : std::fopen(config_.screen_dump_path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "softcpu: cannot write the screen dump to '%s': %s\n",
                 config_.screen_dump_path.c_str(), std::strerror(errno));
    return;
  }
  platform_->write_screen_dump(f);
  if (f != stdout) std::fclose(f);
}

}  // namespace softcpu
