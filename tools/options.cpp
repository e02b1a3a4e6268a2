#include "tools/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "monitor/replay.h"

namespace softcpu {

const char kMainHelp[] =
    "usage: softcpu <command> [options]\n"
    "\n"
    "softcpu is a whole 32-bit PC in one process: it boots a guest headless with its\n"
    "serial console on the terminal.\n"
    "\n"
    "commands:\n"
    "  run [options] [disk-image]   boot a machine (see 'softcpu run --help')\n"
    "  run --config FILE            run the system FILE describes (docs/config.md)\n"
    "  check-config FILE            check a system description without running it: exit\n"
    "                               status 0 and a summary, or every error and status 2\n"
    "  --help, -h                   show this help\n"
    "  --version                    show the version\n";

const char kRunHelp[] =
    "usage: softcpu run [options] [disk-image]\n"
    "\n"
    "Boots a PC (i440FX + PIIX3, one P6-class CPU) headless; COM1 is the terminal.\n"
    "\n"
    "firmware and boot:\n"
    "  --bios FILE            firmware ROM (64, 128 or 256 KiB), mapped to end at 0xFFFFF and at\n"
    "                         0xFFFFFFFF (default: Debian's SeaBIOS, /usr/share/seabios/bios.bin)\n"
    "  --kernel FILE          boot a Linux bzImage or a Multiboot ELF kernel directly\n"
    "  --initrd FILE[,FILE]   initrd for Linux; Multiboot modules ('path args' each)\n"
    "  --append STRING        kernel command line\n"
    "  disk-image             a raw image attached as the IDE primary master (same as\n"
    "                         --drive file=IMAGE,format=raw)\n"
    "  --drive file=PATH[,format=raw][,index=0-3][,snapshot=on][,readonly=on]\n"
    "                         attach an IDE disk (index 0 primary master .. 3 secondary slave);\n"
    "                         snapshot=on keeps writes in memory, readonly=on refuses them\n"
    "  --config FILE          run the system described in FILE (TOML, docs/config.md) instead:\n"
    "                         it takes no other option but --stats, --stats-file and\n"
    "                         --monitor; a one-partition system runs as this single-guest\n"
    "                         machine\n"
    "  --monitor tcp:ADDR:PORT\n"
    "                         with --config: the primary hypervisor's monitor console on a\n"
    "                         TCP port (tcp::PORT: loopback); 'help' lists its commands\n"
    "machine:\n"
    "  -m MiB                 guest RAM in MiB (1-3072, default 128)\n"
    "  -smp N                 N CPUs (1-8, default 1), run in turn on one host thread\n"
    "  --serial SPEC          COM1 backend: stdio (default), file:PATH, tcp:ADDR:PORT,server, none\n"
    "  --serial-script FILE   run the console script FILE against COM1 and the VGA text screen:\n"
    "                         wait for output, send input, check it, set the exit status\n"
    "                         (alias --expect; docs/console-script.md)\n"
    "  --serial-transcript FILE\n"
    "                         also copy everything the guest writes to COM1 to FILE\n"
    "  --debugcon PORT:FILE   copy bytes the guest writes to I/O port PORT (e.g. 0xE9) to FILE\n"
    "                         ('-' = stdout); repeatable\n"
    "  --screen-dump FILE     write the VGA text screen to FILE at exit\n"
    "  --save-on-exit FILE    save the whole machine to FILE when the run ends (poweroff,\n"
    "                         debug exit, timeout, SIGINT/SIGTERM, gdb kill; docs/snapshot.md)\n"
    "  --loadvm FILE          start from a snapshot instead of booting (same -m, disks, devices)\n"
    "  --timeout SECONDS      stop the guest after SECONDS of wall time (exit status 124)\n"
    "  --insn-limit N         stop the guest after N instructions (exit status 124; a fault or\n"
    "                         an interrupt delivery counts as one): short, repeatable runs\n"
    "  --on-triple-fault reset|exit\n"
    "                         on a triple fault, reset the CPU like a PC (default; memory is\n"
    "                         kept) or print the CPU state and exit with status 3\n"
    "  --device pc-testdev    add QEMU's pc-testdev (kvm-unit-tests): ports 0xE0-0xEB latch and\n"
    "                         flush page, 0x2000-0x2017 IRQ lines, 64 KiB at 0xFF000000\n"
    "                         (isa-debug-exit at 0xF4 is always there)\n"
    "deterministic runs, record and replay (docs/determinism.md):\n"
    "  --deterministic        guest time comes from the count of retired instructions, never\n"
    "                         from the host: timers, RTC, TSC, HPET and PM timer follow it, a\n"
    "                         halted CPU skips to its next timer, disk requests complete a fixed\n"
    "                         guest time later; the same run gives the same result (JIT on or off)\n"
    "  --icount SHIFT         2^SHIFT ns of guest time per instruction (0-20, default 0: 1 ns);\n"
    "                         implies --deterministic\n"
    "  --rtc base=DATE        the RTC's date at power-on: YYYY-MM-DD[THH:MM:SS] (UTC) or utc\n"
    "                         (the host's clock; the default, except with --deterministic, which\n"
    "                         starts at 2025-01-01T00:00:00)\n"
    "  --record FILE          deterministic run that writes the serial input it receives, with\n"
    "                         the instruction count of each delivery, and checkpoints to FILE\n"
    "  --replay FILE          deterministic run that replays FILE's input (host input is\n"
    "                         ignored) and says where the run diverges from it (exit status 4)\n"
    "debugging:\n"
    "  --gdb tcp:ADDR:PORT    accept a gdb connection (loopback unless ADDR says otherwise)\n"
    "  -s                     same as --gdb tcp:127.0.0.1:1234\n"
    "  -S                     do not start the CPU until gdb says so\n"
    "  --trace FILE           write one line per executed instruction to FILE ('-' = stdout):\n"
    "                         CS:EIP, bytes, disassembly, registers before it runs\n"
    "  --trace-events LIST    what --trace writes, comma-separated: insn, int (exceptions and\n"
    "                         interrupts), io (port accesses), all (default: insn)\n"
    "  --trace-range A-B      trace only instructions at linear addresses A..B (hex or decimal,\n"
    "                         inclusive); repeatable\n"
    "  --stats[=text|json]    print statistics at exit (to stderr): text is a short report by\n"
    "                         group (run, translation cache, tiers, exits, TLB, exceptions,\n"
    "                         devices) without the zero counters; json has every counter\n"
    "                         (schema softcpu-stats, docs/stats.md)\n"
    "  --stats-file FILE      write the statistics to FILE instead of stderr\n"
    "  --stats-interval MS    every MS milliseconds of guest time, write one line of JSON (all\n"
    "                         counters and guest_ms) to the --stats-file FILE; the last line, at\n"
    "                         exit, has \"final\": true (--stats then prints to stderr)\n"
    "tier 1 (the JIT: hot guest code is compiled to native code with LLVM on a background\n"
    "thread; the guest sees no difference):\n"
    "  --jit on|off           compile hot code; off (the default) interprets everything:\n"
    "                         compiling does not yet pay for itself on most guests\n"
    "                         (docs/design.md, Measured (tier 1))\n"
    "  --jit-threshold N      executions of a block that make it hot (default 1000)\n"
    "  --jit-sync             compile on the CPU thread the moment a block is hot, so a run\n"
    "                         does not depend on the compile thread's timing (tests)\n"
    "  --perf-map             write /tmp/perf-PID.map naming compiled code by guest address,\n"
    "                         so perf top/report show guest regions (guest_0xADDR_len_N)\n"
    "  --jit-dump DIR         write each compiled region's optimised IR (.ll) and assembly (.s)\n"
    "  --state-log FILE       at every exit to the monitor (I/O, CPUID, HLT, ...) and at the end,\n"
    "                         write the instruction count, CS:EIP, registers, EFLAGS and a hash of\n"
    "                         RAM: two runs of a deterministic guest (e.g. --jit off and on) give\n"
    "                         the same file\n"
    "translation cache (decoded blocks and compiled regions; docs/design.md, The translation\n"
    "cache as a thing to study):\n"
    "  --tcache-size SIZE     bound its storage to SIZE bytes (K, M, G suffixes), decoded records\n"
    "                         and native code together; 0 = unbounded (the default)\n"
    "  --tcache-blocks N      bound it to N entries (blocks and compiled regions); 0 = unbounded\n"
    "  --tcache-policy flush|fifo|lru\n"
    "                         what frees room when it is full: flush empties it (QEMU's way,\n"
    "                         the default), fifo frees the oldest entries, lru (CLOCK) the ones\n"
    "                         not entered for longest\n"
    "profiling:\n"
    "  --profile FILE         at exit, write the hottest translations to FILE (JSON when FILE\n"
    "                         ends in .json): by executions and by time (a sample of the code\n"
    "                         about to run every 1 ms of host time), with length, tier, share\n"
    "                         of samples (docs/profile.md)\n"
    "  --profile-top N        rows per table (default 50)\n"
    "  --symbols FILE         name guest addresses in the profile from a System.map\n"
    "                         or /proc/kallsyms ('c1000000 T startup_32' lines)\n"
    "  -h, --help             show this help\n"
    "\n"
    "exit status: (v << 1) | 1 when the guest writes v to the debug-exit port 0xF4; 0 when the\n"
    "guest powers off, halts for good or is quit with Ctrl-A x; 2 for a bad option or file; 3\n"
    "after a triple fault with --on-triple-fault exit (the state is printed); 4 when a console\n"
    "script fails (the failed step is printed); 6 when --replay diverges from its record; 124 on\n"
    "--timeout or --insn-limit.\n";

namespace {

bool parse_uint(const std::string& s, unsigned long long max, unsigned long long* out) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);  // decimal, 0x hex, 0 octal
  if (errno || *end != '\0' || v > max) return false;
  *out = v;
  return true;
}

// "64K", "4M", "1G", "12345" -> bytes.
bool parse_size(const std::string& s, unsigned long long* out) {
  if (s.empty()) return false;
  unsigned long long mul = 1;
  std::string digits = s;
  switch (s.back()) {
    case 'K': case 'k': mul = 1ull << 10; break;
    case 'M': case 'm': mul = 1ull << 20; break;
    case 'G': case 'g': mul = 1ull << 30; break;
    default: break;
  }
  if (mul != 1) digits.pop_back();
  unsigned long long n;
  if (!parse_uint(digits, (1ull << 44) / mul, &n)) return false;
  *out = n * mul;
  return true;
}

// "a,b,,c" -> {"a", "b", "", "c"}; "" -> {""}.
std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> items;
  size_t at = 0;
  for (;;) {
    size_t comma = s.find(',', at);
    items.push_back(s.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) return items;
    at = comma + 1;
  }
}

// --drive file=PATH[,format=raw][,index=N][,snapshot=on|off][,readonly=on|off][,if=ide]
bool parse_drive(const std::string& spec, DriveSpec* d, std::string* error) {
  bool have_file = false;
  for (const std::string& item : split_commas(spec)) {
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq), val = eq == std::string::npos ? "" : item.substr(eq + 1);
    auto on_off = [&](bool* flag) {
      if (val == "on") *flag = true;
      else if (val == "off") *flag = false;
      else {
        *error = "bad --drive " + key + "='" + val + "': expected on or off";
        return false;
      }
      return true;
    };
    unsigned long long n;
    if (key == "file" && !val.empty()) {
      d->path = val;
      have_file = true;
    } else if (key == "format") {
      if (val != "raw") {
        *error = "unsupported --drive format '" + val + "': only raw images are supported";
        return false;
      }
    } else if (key == "if") {
      if (val != "ide") {
        *error = "unsupported --drive if='" + val + "': only ide";
        return false;
      }
    } else if (key == "index") {
      if (!parse_uint(val, 3, &n)) {
        *error = "bad --drive index '" + val + "': expected 0-3";
        return false;
      }
      d->index = unsigned(n);
    } else if (key == "snapshot") {
      if (!on_off(&d->snapshot)) return false;
    } else if (key == "readonly") {
      if (!on_off(&d->readonly)) return false;
    } else {
      *error = "bad --drive option '" + item + "' (expected file=, format=, index=, snapshot=, readonly=)";
      return false;
    }
  }
  if (!have_file) {
    *error = "--drive needs file=PATH";
    return false;
  }
  return true;
}

bool valid_tcp_spec(const std::string& v) {
  if (v.rfind("tcp:", 0) != 0) return false;
  size_t colon = v.rfind(':');
  unsigned long long port;
  return colon > 3 && parse_uint(v.substr(colon + 1), 65535, &port);
}

}  // namespace

bool parse_args(const std::vector<std::string>& args, ParsedArgs* out, std::string* error) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    out->command = Command::HELP;
    return true;
  }
  if (args[0] == "--version") {
    out->command = Command::VERSION;
    return true;
  }
  if (args[0] == "check-config") {
    if (args.size() == 2 && (args[1] == "--help" || args[1] == "-h")) {
      out->command = Command::HELP;
      return true;
    }
    if (args.size() != 2 || args[1].empty() || args[1][0] == '-') {
      *error = "usage: softcpu check-config FILE (a system description, docs/config.md)";
      return false;
    }
    out->command = Command::CHECK_CONFIG;
    out->config_path = args[1];
    return true;
  }
  if (args[0] != "run") {
    *error = "unknown command '" + args[0] + "' (try 'softcpu --help')";
    return false;
  }
  out->command = Command::RUN;
  MachineConfig& c = out->config;
  bool positional_disk = false;
  bool stats_chosen = false;  // --stats given (not only implied by --stats-file)
  for (size_t k = 1; k < args.size(); ++k) {
    const std::string& a = args[k];
    // Options take their value as the next argument or after '='.
    std::string name = a, value;
    bool inline_value = false;
    if (a.rfind("--", 0) == 0) {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        inline_value = true;
      }
    }
    auto need_value = [&]() -> bool {
      if (inline_value) return true;
      if (k + 1 >= args.size()) {
        *error = "option " + name + " needs a value";
        return false;
      }
      value = args[++k];
      return true;
    };
    if (name == "-h" || name == "--help") {
      out->command = Command::RUN_HELP;
      return true;
    } else if (name == "--config") {
      if (!need_value()) return false;
      // The file describes the whole system; only the statistics and the monitor console
      // are chosen here.
      for (size_t o = 1; o < args.size(); ++o) {
        const std::string opt = args[o].substr(0, args[o].find('='));
        if (o == k - (inline_value ? 0 : 1) || o == k) continue;
        if (opt == "--stats" || opt == "--stats-file" || opt == "--monitor") {
          if (opt != "--stats" && args[o].find('=') == std::string::npos) ++o;  // its value
          continue;
        }
        *error = "--config FILE takes no other option (but --stats, --stats-file and "
                 "--monitor): the file describes the whole system";
        return false;
      }
      out->config_path = value;
    } else if (name == "--monitor") {
      if (!need_value()) return false;
      if (value.rfind("tcp:", 0) != 0 || value.rfind(':') < 4 || value.rfind(':') + 1 == value.size()) {
        *error = "bad --monitor '" + value + "': expected tcp:ADDR:PORT, e.g. tcp::4444 (the "
                 "loopback address)";
        return false;
      }
      out->monitor = value;
    } else if (name == "--bios") {
      if (!need_value()) return false;
      c.bios_path = value;
    } else if (name == "-m" || name == "--memory") {
      if (!need_value()) return false;
      unsigned long long mib;
      if (!parse_uint(value, 3072, &mib) || mib == 0) {
        *error = "bad memory size '" + value + "': give MiB between 1 and 3072";
        return false;
      }
      c.ram_mib = uint32_t(mib);
    } else if (name == "-smp" || name == "--smp") {
      if (!need_value()) return false;
      unsigned long long n;
      if (!parse_uint(value, kMaxCpus, &n) || n == 0) {
        *error = "bad CPU count '" + value + "': give a number of CPUs between 1 and " +
                 std::to_string(kMaxCpus);
        return false;
      }
      c.cpus = unsigned(n);
    } else if (name == "--drive") {
      if (!need_value()) return false;
      DriveSpec d;
      if (!parse_drive(value, &d, error)) return false;
      c.drives.push_back(d);
    } else if (name == "--kernel") {
      if (!need_value()) return false;
      c.kernel_path = value;
    } else if (name == "--initrd") {
      if (!need_value()) return false;
      c.initrd_path = value;
    } else if (name == "--append") {
      if (!need_value()) return false;
      c.append = value;
    } else if (name == "--save-on-exit") {
      if (!need_value()) return false;
      c.save_on_exit_path = value;
    } else if (name == "--loadvm") {
      if (!need_value()) return false;
      c.loadvm_path = value;
    } else if (name == "--screen-dump") {
      if (!need_value()) return false;
      c.screen_dump_path = value;
    } else if (name == "--gdb") {
      if (!need_value()) return false;
      if (!valid_tcp_spec(value)) {
        *error = "bad --gdb '" + value + "': expected tcp:ADDR:PORT, e.g. tcp:127.0.0.1:1234";
        return false;
      }
      c.gdb = value;
    } else if (name == "-s") {
      c.gdb = "tcp:127.0.0.1:1234";
    } else if (name == "-S") {
      c.start_frozen = true;
    } else if (name == "--serial") {
      if (!need_value()) return false;
      c.serial = value;
    } else if (name == "--serial-script" || name == "--expect" ||
               name == "--serial-transcript") {
      if (!need_value()) return false;
      if (value.empty()) {
        *error = "option " + name + " needs a file name";
        return false;
      }
      std::string& slot = name == "--serial-transcript" ? c.serial_transcript : c.serial_script;
      if (!slot.empty() && name != "--serial-transcript") {
        *error = "only one console script can run (--serial-script '" + slot + "' and '" +
                 value + "')";
        return false;
      }
      slot = value;
    } else if (name == "--debugcon") {
      if (!need_value()) return false;
      size_t colon = value.find(':');
      unsigned long long port;
      if (colon == std::string::npos || !parse_uint(value.substr(0, colon), 0xFFFF, &port) ||
          colon + 1 == value.size()) {
        *error = "bad --debugcon '" + value + "': expected PORT:FILE, e.g. 0xE9:-";
        return false;
      }
      c.debugcons.push_back({uint16_t(port), value.substr(colon + 1)});
    } else if (name == "--timeout") {
      if (!need_value()) return false;
      char* end = nullptr;
      errno = 0;
      double t = std::strtod(value.c_str(), &end);
      if (value.empty() || errno || *end != '\0' || !(t > 0) || !std::isfinite(t)) {
        *error = "bad --timeout '" + value + "': expected a positive number of seconds";
        return false;
      }
      c.timeout_seconds = t;
    } else if (name == "--insn-limit") {
      if (!need_value()) return false;
      unsigned long long n;
      if (!parse_uint(value, ~0ull, &n) || n == 0) {
        *error = "bad --insn-limit '" + value + "': expected a positive number of instructions";
        return false;
      }
      c.insn_limit = n;
    } else if (name == "--device") {
      if (!need_value()) return false;
      if (value == "pc-testdev") {
        c.pc_testdev = true;
      } else {
        *error = "unknown --device '" + value + "': the devices to add are pc-testdev";
        return false;
      }
    } else if (name == "--on-triple-fault") {
      if (!need_value()) return false;
      if (value == "reset") c.reset_on_triple_fault = true;
      else if (value == "exit") c.reset_on_triple_fault = false;
      else {
        *error = "bad --on-triple-fault '" + value + "': expected reset or exit";
        return false;
      }
    } else if (name == "--trace-events") {
      if (!need_value()) return false;
      unsigned events = 0;
      for (const std::string& e : split_commas(value)) {
        if (e == "insn") events |= TRACE_INSN;
        else if (e == "int") events |= TRACE_INTERRUPT;
        else if (e == "io") events |= TRACE_IO;
        else if (e == "all") events |= TRACE_INSN | TRACE_INTERRUPT | TRACE_IO;
        else {
          *error = "bad --trace-events '" + value + "': expected insn, int, io or all";
          return false;
        }
      }
      c.trace_events = events;
    } else if (name == "--trace-range") {
      if (!need_value()) return false;
      size_t dash = value.find('-');
      unsigned long long lo, hi;
      if (dash == std::string::npos || !parse_uint(value.substr(0, dash), 0xFFFFFFFF, &lo) ||
          !parse_uint(value.substr(dash + 1), 0xFFFFFFFF, &hi) || lo > hi) {
        *error = "bad --trace-range '" + value + "': expected FIRST-LAST, e.g. 0x7c00-0x7dff";
        return false;
      }
      c.trace_ranges.push_back({uint32_t(lo), uint32_t(hi)});
    } else if (name == "--trace") {
      if (!need_value()) return false;
      c.trace_path = value;
    } else if (name == "--stats-interval") {
      if (!need_value()) return false;
      unsigned long long ms;
      if (!parse_uint(value, 1ull << 40, &ms) || ms == 0) {
        *error = "bad --stats-interval '" + value + "': expected a positive whole number of "
                 "milliseconds of guest time";
        return false;
      }
      c.stats_interval_ms = ms;
    } else if (name == "--stats") {
      stats_chosen = true;
      if (!inline_value || value == "text") c.stats = StatsFormat::TEXT;
      else if (value == "json") c.stats = StatsFormat::JSON;
      else {
        *error = "bad --stats format '" + value + "': expected text or json";
        return false;
      }
    } else if (name == "--jit") {
      if (!need_value()) return false;
      if (value == "on") c.jit = true;
      else if (value == "off") c.jit = false;
      else {
        *error = "bad --jit '" + value + "': expected on or off";
        return false;
      }
    } else if (name == "--jit-threshold") {
      if (!need_value()) return false;
      unsigned long long n;
      if (!parse_uint(value, 1ull << 40, &n)) {
        *error = "bad --jit-threshold '" + value + "': expected a number of executions";
        return false;
      }
      c.jit_threshold = n ? n : 1;
    } else if (name == "--tcache-size") {
      if (!need_value()) return false;
      unsigned long long n;
      if (!parse_size(value, &n)) {
        *error = "bad --tcache-size '" + value + "': expected bytes, e.g. 65536, 64K or 4M";
        return false;
      }
      c.tcache.bytes = n;
    } else if (name == "--tcache-blocks") {
      if (!need_value()) return false;
      unsigned long long n;
      if (!parse_uint(value, 1ull << 32, &n)) {
        *error = "bad --tcache-blocks '" + value + "': expected a number of entries";
        return false;
      }
      c.tcache.entries = n;
    } else if (name == "--tcache-policy") {
      if (!need_value()) return false;
      const auto p = parse_eviction_policy(value);
      if (!p) {
        *error = "bad --tcache-policy '" + value + "': expected flush, fifo or lru";
        return false;
      }
      c.tcache.policy = *p;
    } else if (name == "--deterministic") {
      c.deterministic = true;
    } else if (name == "--icount") {
      if (!need_value()) return false;
      unsigned long long n;
      const std::string v = value.rfind("shift=", 0) == 0 ? value.substr(6) : value;
      if (!parse_uint(v, 20, &n)) {
        *error = "bad --icount '" + value + "': expected a shift from 0 to 20 (2^SHIFT ns per "
                 "instruction)";
        return false;
      }
      c.icount_shift = unsigned(n);
      c.deterministic = true;
    } else if (name == "--rtc") {
      if (!need_value()) return false;
      int64_t ns = 0;
      if (value == "base=utc") {
        c.rtc_base_unix_ns.reset();
      } else if (value.rfind("base=", 0) != 0 || !parse_rtc_date(value.substr(5), &ns)) {
        *error = "bad --rtc '" + value + "': expected base=YYYY-MM-DD[THH:MM:SS] (UTC, 1970-2099) "
                 "or base=utc";
        return false;
      } else {
        c.rtc_base_unix_ns = ns;
      }
    } else if (name == "--record") {
      if (!need_value()) return false;
      c.record_path = value;
      c.deterministic = true;
    } else if (name == "--replay") {
      if (!need_value()) return false;
      c.replay_path = value;
      c.deterministic = true;
    } else if (name == "--jit-sync") {
      c.jit_sync = true;
    } else if (name == "--perf-map") {
      c.perf_map = true;
    } else if (name == "--state-log") {
      if (!need_value()) return false;
      c.state_log_path = value;
    } else if (name == "--jit-dump") {
      if (!need_value()) return false;
      c.jit_dump_dir = value;
    } else if (name == "--profile") {
      if (!need_value()) return false;
      c.profile_path = value;
    } else if (name == "--profile-top") {
      if (!need_value()) return false;
      unsigned long long n;
      if (!parse_uint(value, 1000000, &n) || n == 0) {
        *error = "bad --profile-top '" + value + "': expected a number of rows (1-1000000)";
        return false;
      }
      c.profile_top = unsigned(n);
    } else if (name == "--symbols") {
      if (!need_value()) return false;
      c.symbols_path = value;
    } else if (name == "--stats-file") {
      if (!need_value()) return false;
      c.stats_path = value;
      if (c.stats == StatsFormat::NONE) c.stats = StatsFormat::TEXT;
    } else if (!a.empty() && a[0] == '-') {
      *error = "unknown option '" + a + "' (try 'softcpu run --help')";
      return false;
    } else {
      if (positional_disk) {
        *error = "more than one disk image given ('" + c.drives.front().path + "' and '" + a + "')";
        return false;
      }
      positional_disk = true;
      c.drives.insert(c.drives.begin(), DriveSpec{a, 0, false, false});
    }
  }
  // Two disks in one slot, or an initrd without a kernel, are mistakes to report now.
  for (size_t x = 0; x < c.drives.size(); ++x)
    for (size_t y = x + 1; y < c.drives.size(); ++y)
      if (c.drives[x].index == c.drives[y].index) {
        *error = "two disks at IDE index " + std::to_string(c.drives[x].index) + " ('" +
                 c.drives[x].path + "' and '" + c.drives[y].path + "')";
        return false;
      }
  if (!c.loadvm_path.empty() && !c.kernel_path.empty()) {
    *error = "--loadvm starts from the snapshot's memory: --kernel is not used with it";
    return false;
  }
  if (c.kernel_path.empty() && (!c.initrd_path.empty() || !c.append.empty())) {
    *error = "--initrd and --append need --kernel";
    return false;
  }
  if (c.trace_path.empty() && (!c.trace_ranges.empty() || c.trace_events != TRACE_INSN)) {
    *error = "--trace-events and --trace-range need --trace FILE";
    return false;
  }
  if (c.stats_interval_ms) {  // the series goes to --stats-file; --stats only if asked for
    if (c.stats_path.empty()) {
      *error = "--stats-interval needs --stats-file FILE (the file the JSON lines go to)";
      return false;
    }
    if (!stats_chosen) c.stats = StatsFormat::NONE;
  }
  if (c.profile_path.empty() && (c.profile_top != 50 || !c.symbols_path.empty())) {
    *error = "--profile-top and --symbols need --profile FILE";
    return false;
  }
  if (!c.record_path.empty() && !c.replay_path.empty()) {
    *error = "--record and --replay exclude each other (replay a record, or record a new run)";
    return false;
  }
  if (!out->monitor.empty() && out->config_path.empty()) {
    *error = "--monitor needs --config FILE: the monitor console controls a system's partitions";
    return false;
  }
  if (c.start_frozen && c.gdb.empty()) {
    *error = "-S needs a debugger connection (-s or --gdb)";
    return false;
  }
  return true;
}

}  // namespace softcpu
