// Everything the command line can choose about a machine.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache_limits.h"
#include "monitor/e820.h"

namespace softcpu {

// -smp: at most 8 CPUs, the number flat logical APIC destinations can address (SDM 11.6.2.2).
inline constexpr unsigned kMaxCpus = 8;

struct DebugconSpec {
  uint16_t port;
  std::string path;  // "-" = stdout
};

// One IDE disk (--drive or the positional image). index: 0 primary master, 1 primary slave,
// 2 secondary master, 3 secondary slave.
struct DriveSpec {
  std::string path;
  unsigned index = 0;
  bool snapshot = false;  // writes go to a host-memory overlay; the file is never written
  bool readonly = false;  // writes fail with an ATA error
};

// One interrupt output of a device wired to an input of the guest's interrupt controllers: a
// GSI, the IOAPIC pin of that number and, below 16, the 8259 IRQ of that number.
struct IrqRouteSpec {
  std::string device;  // "ide0", "ide1", "com1"
  unsigned source = 0;
  unsigned gsi = 0;
};

// What the guest's firmware view shows of the PC (docs/design.md "Discovery"). The single
// guest has every device on its PC/AT line; a partition (monitor/hv/) only its assigned
// devices: the others are concealed (their PCI functions read all ones, their ports are
// unassigned) and their interrupts go nowhere.
struct DeviceView {
  bool all = true;                       // every device; else only `assigned`
  std::vector<std::string> assigned;     // "ide0", "ide1", "com1"
  std::vector<IrqRouteSpec> irq_routes;  // an output not listed keeps its PC/AT line
  // Memory beyond the RAM at 0 (a partition's other static regions: E820_RAM; its shared and
  // dynamic regions: E820_RESERVED), added to the e820 maps it is given (fw_cfg "etc/e820",
  // the Linux boot_params and the Multiboot mmap). CMOS keeps counting the RAM at 0 only.
  std::vector<E820Entry> extra_memory;
};

enum TraceEvent : unsigned { TRACE_INSN = 1, TRACE_INTERRUPT = 2, TRACE_IO = 4 };

// A linear address range [first, last] for --trace-range.
struct TraceRange {
  uint32_t first, last;
};

enum class StatsFormat { NONE, TEXT, JSON };

struct MachineConfig {
  std::string bios_path;           // raw ROM image: 64, 128 or 256 KiB; empty: Debian's SeaBIOS
  std::vector<DriveSpec> drives;
  DeviceView view;                 // devices and memory the guest is shown (partitions)
  std::string kernel_path;         // direct boot: a bzImage or a Multiboot ELF kernel
  std::string initrd_path;         // bzImage initrd, or Multiboot modules (comma-separated)
  std::string append;              // kernel command line
  std::string screen_dump_path;    // write the VGA text screen here at exit
  std::string save_on_exit_path;   // --save-on-exit: snapshot the machine when the run ends
  std::string loadvm_path;         // --loadvm: start from this snapshot instead of booting
  std::string gdb;                 // "tcp:ADDR:PORT" to listen for gdb; empty: no stub
  bool start_frozen = false;       // -S: wait for the debugger before the first instruction
  uint32_t ram_mib = 128;
  // -smp N: CPUs (APIC IDs 0..N-1; CPU 0 boots, the others wait for INIT/SIPI). They run
  // round-robin on the machine's thread (docs/design.md "SMP vCPUs"), or on threads of their own.
  unsigned cpus = 1;
  // --accel tcg,thread=multi: with cpus > 1, each CPU on its own host thread (QEMU's MTTCG;
  // docs/design.md "SMP vCPUs on host threads"). false: thread=single, round-robin.
  bool smp_threads = false;
  std::string serial = "stdio";    // "stdio", "file:PATH", "tcp:ADDR:PORT,server", "none"
  std::vector<DebugconSpec> debugcons;
  // --serial-script FILE (alias --expect): a console script run against COM1 and the VGA text
  // screen (monitor/script_runner.h, docs/console-script.md); empty: none.
  std::string serial_script;
  // --serial-transcript FILE: a copy of everything the guest writes to COM1 (with or without a
  // script; it wins over the script's `transcript` command).
  std::string serial_transcript;
  std::optional<double> timeout_seconds;
  // --insn-limit: stop after this many guest instructions (status 124, like the timeout). An
  // instruction that faults counts as one, and so does an interrupt delivery.
  std::optional<uint64_t> insn_limit;
  std::string trace_path;          // empty: no trace
  // What --trace writes: instructions, exceptions and interrupts, port I/O (TRACE_* bits),
  // and for instructions only those whose linear address is in one of the ranges (none: all).
  unsigned trace_events = TRACE_INSN;
  std::vector<TraceRange> trace_ranges;
  bool reset_on_triple_fault = true;  // --on-triple-fault reset (like a PC) or exit
  bool pc_testdev = false;          // --device pc-testdev: QEMU's ISA test device
  StatsFormat stats = StatsFormat::NONE;
  std::string stats_path;          // empty: stderr
  // --stats-interval MS: every MS ms of guest time, one JSON line of all counters appended to
  // stats_path (then required); the last line, at exit, has "final": true. --stats (if given)
  // then prints to stderr.
  std::optional<uint64_t> stats_interval_ms;
  // --state-log FILE: the guest state at every exit to the monitor (lockstep tests of the
  // tiers: two runs of a deterministic guest must write the same lines).
  std::string state_log_path;
  // Tier 1 (translator/): --jit, --jit-threshold, --jit-sync, --perf-map, --jit-dump.
  // Off here (a system description's partitions keep it off unless `jit = true`); `softcpu
  // run` turns it on unless --jit off (tools/options.cpp; docs/design.md "On by default").
  bool jit = false;
  uint64_t jit_threshold = 0;      // 0: the translator's default
  bool jit_sync = false;
  bool perf_map = false;
  std::string jit_dump_dir;
  std::string jit_cache_dir;       // --jit-cache DIR (translator/jit_cache.h); empty: none
  uint64_t jit_cache_threshold = 0;  // --jit-cache-threshold N; 0: the translator's default
  // --jit-cache-max SIZE: bytes of files kept in the directory (0: unbounded); UINT64_MAX:
  // the translator's default (256 MiB).
  uint64_t jit_cache_max = UINT64_MAX;
  // --jit-cache-finish MS: at exit, compile and write what is queued for at most MS ms;
  // UINT64_MAX: the translator's default (2000).
  uint64_t jit_cache_finish_ms = UINT64_MAX;
  CacheLimits tcache;              // --tcache-size, --tcache-blocks, --tcache-policy
  // --deterministic (docs/determinism.md): guest time from the instruction count, 2^icount_shift
  // ns per instruction (--icount SHIFT, which implies --deterministic); host input delivered
  // at deterministic points; disk completions a fixed guest time after their request.
  bool deterministic = false;
  unsigned icount_shift = 0;
  // --rtc base=DATE: the RTC's date at power-on (Unix ns). Unset: the host's clock, or
  // kDeterministicRtcBase with --deterministic.
  std::optional<int64_t> rtc_base_unix_ns;
  std::string record_path;         // --record FILE (implies --deterministic)
  std::string replay_path;         // --replay FILE (implies --deterministic)
  // --profile FILE (FILE.json: JSON), --profile-top N, --symbols System.map (monitor/profile.h).
  std::string profile_path;        // empty: no profile
  unsigned profile_top = 50;
  std::string symbols_path;
};

// Build the machine, run it, and return the process exit status:
//  debug-exit port write v -> (v << 1) | 1; timeout or instruction limit -> 124; a console
//  script's `status`/`exit` -> its value, a failed console script -> 4; triple
//  fault with --on-triple-fault exit -> 3 (with reset, the default, the machine resets and goes on);
//  guest halted for good -> 0; configuration error -> 2 (message on stderr).
int run_machine(const MachineConfig& config);

}  // namespace softcpu
