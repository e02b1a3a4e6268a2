// Command-line parsing for the softcpu tool, on CLI11 (Debian's libcli11-dev, header-only: it is
// included here and nowhere else, so one translation unit pays for its templates).
//
// Adding an option to `softcpu run` is one line in add_run_options(), under the group it belongs
// to (the help lists the groups, and the options in each, in the order they are added):
//
//   o.value("--name", "TYPE", "what it does", [&](const std::string& v) { c.field = v; });
//   o.flag("--name", "what it does", [&] { c.field = true; });
//
// `names` may list aliases ("-m,--memory"); every long option is also accepted with one dash
// (QEMU's style: "--smp" is also -smp, see cli11_arguments()). A value is the next argument or
// follows '=' (--name=VALUE; --name= is an empty value). The callback runs as CLI11 meets the
// option, in command-line order, like the hand-written parser this replaced; a bad value calls
// bad("bad --name 'VALUE': expected ...") and softcpu prints "softcpu: <message>" with exit
// status 2. A description may hold '\n' (the help indents the continuation lines). Checks across
// options (--initrd needs --kernel, ...) go in check_run_options(). Each command's -h/--help
// prints its own help.
#include "tools/options.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "monitor/replay.h"

namespace softcpu {

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
    case 'K':
    case 'k':
      mul = 1ull << 10;
      break;
    case 'M':
    case 'm':
      mul = 1ull << 20;
      break;
    case 'G':
    case 'g':
      mul = 1ull << 30;
      break;
    default:
      break;
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
      if (val == "on")
        *flag = true;
      else if (val == "off")
        *flag = false;
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
      *error = "bad --drive option '" + item +
               "' (expected file=, format=, index=, snapshot=, readonly=)";
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

// A bad value or a bad combination: the message softcpu prints.
struct BadOption : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void bad(const std::string& message) { throw BadOption(message); }

// -h/--help and --version end the parse where they stand (later arguments are not looked at).
struct StopParsing {
  Command command;
  const CLI::App* app;  // whose help to print
};

// The help layout: the usage and description, the positional arguments, the commands, each group
// of options, the footer. Option names as "-m, --memory MiB"; the description column at 25.
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter() { column_width(25); }

  // The lines before the arguments and options (usage and description), per command.
  std::map<const CLI::App*, std::string> intro;

  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
    std::string out;
    if (auto it = intro.find(app); it != intro.end()) out += it->second;
    auto positionals = app->get_options([](const CLI::Option* o) { return o->get_positional(); });
    if (!positionals.empty()) {
      out += "arguments:\n";
      for (const CLI::Option* o : positionals) out += make_option(o, true);
    }
    auto commands = app->get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
    if (!commands.empty()) {
      out += "commands:\n";
      for (const CLI::App* s : commands) out += make_subcommand(s);
    }
    for (const std::string& group : app->get_groups()) {
      auto opts = app->get_options(
          [&](const CLI::Option* o) { return o->get_group() == group && o->nonpositional(); });
      if (group.empty() || opts.empty()) continue;
      out += group + ":\n";
      for (const CLI::Option* o : opts) out += make_option(o, false);
    }
    if (!app->get_footer().empty()) out += "\n" + app->get_footer() + "\n";
    return out;
  }

  std::string make_option_name(const CLI::Option* o, bool positional) const override {
    if (positional) return o->get_name(true, false);
    std::string names;
    for (const std::string& s : o->get_snames()) names += (names.empty() ? "-" : ", -") + s;
    for (const std::string& l : o->get_lnames()) names += (names.empty() ? "--" : ", --") + l;
    return names;
  }

  // " TYPE", or the option text as given (--stats's "[=text|json]").
  std::string make_option_opts(const CLI::Option* o) const override {
    if (!o->get_option_text().empty()) return o->get_option_text();
    return o->get_type_name().empty() ? "" : " " + o->get_type_name();
  }

  // "check-config FILE    description": the command with its arguments.
  std::string make_subcommand(const CLI::App* sub) const override {
    std::string name = sub->get_name();
    for (const CLI::Option* o :
         sub->get_options([](const CLI::Option* p) { return p->get_positional(); }))
      name += o->get_required() ? " " + o->get_name(true, false)
                                : " [" + o->get_name(true, false) + "]";
    std::stringstream out;
    CLI::detail::format_help(out, name, sub->get_description(), get_column_width());
    return out.str();
  }
};

// Adds options to one command, each under the group named last.
class OptionTable {
 public:
  explicit OptionTable(CLI::App* app) : app_(app) {}
  void group(const char* name) { group_ = name; }

  // `names TYPE`: apply(value) runs when the option is met.
  CLI::Option* value(const std::string& names, const char* type, const char* help,
                     std::function<void(const std::string&)> apply) {
    CLI::Option* o = app_->add_option(
        names,
        [apply](const CLI::results_t& r) {
          apply(r.empty() ? std::string() : r.back());
          return true;
        },
        help);
    return o->type_name(type)->group(group_)->trigger_on_parse();
  }

  // `names` without a value (--name=VALUE is an error).
  CLI::Option* flag(const std::string& names, const char* help, std::function<void()> apply) {
    return flag_value(names, "", help, [apply, names](const std::string& v) {
      if (!v.empty()) bad("option " + names.substr(0, names.find(',')) + " takes no value");
      apply();
    });
  }

  // `names` or `names=VALUE` (never a separate argument): apply gets "" for the bare form.
  // `shown` is what the help prints after the name, e.g. "[=text|json]".
  CLI::Option* flag_value(const std::string& names, const char* shown, const char* help,
                          std::function<void(const std::string&)> apply) {
    CLI::Option* o = app_->add_option(
        names,
        [apply](const CLI::results_t& r) {
          // CLI11 gives a bare flag the value "true".
          apply(r.empty() || r.back() == "true" ? std::string() : r.back());
          return true;
        },
        help);
    return o->expected(0)->option_text(shown)->group(group_)->trigger_on_parse();
  }

  // -h/--help: stop and print this command's help.
  void help(Command command) {
    CLI::App* app = app_;
    flag("-h,--help", "show this help", [app, command] { throw StopParsing{command, app}; });
  }

 private:
  CLI::App* app_;
  std::string group_;
};

// What parsing `run` keeps besides the MachineConfig.
struct RunState {
  std::vector<std::string> args;   // run's arguments as given (--config allows no other)
  std::vector<std::string> disks;  // the positional disk images
  bool stats_chosen = false;       // --stats given (not only implied by --stats-file)
};

// --config FILE takes no other option but the statistics and the monitor console: is that so
// of run's arguments?
bool only_system_options(const std::vector<std::string>& args) {
  for (size_t k = 0; k < args.size(); ++k) {
    const std::string& a = args[k];
    const std::string name = a.substr(0, a.find('='));
    const bool inline_value = a.find('=') != std::string::npos;
    if (name == "--config" || name == "--stats-file" || name == "--monitor") {
      if (!inline_value) ++k;  // its value
      continue;
    }
    if (name == "--stats") continue;
    return false;
  }
  return true;
}

void add_run_options(OptionTable& o, MachineConfig& c, RunState& st, std::string& config_path,
                     std::string& monitor) {
  o.group("boot");
  o.value("--bios", "FILE",
          "firmware ROM (64, 128 or 256 KiB), mapped to end at 0xFFFFF and at\n"
          "0xFFFFFFFF (default: Debian's SeaBIOS, /usr/share/seabios/bios.bin)",
          [&](const std::string& v) { c.bios_path = v; });
  o.value("--kernel", "FILE", "boot a Linux bzImage or a Multiboot ELF kernel directly",
          [&](const std::string& v) { c.kernel_path = v; });
  o.value("--initrd", "FILE[,FILE]", "initrd for Linux; Multiboot modules ('path args' each)",
          [&](const std::string& v) { c.initrd_path = v; });
  o.value("--append", "STRING", "kernel command line", [&](const std::string& v) { c.append = v; });
  o.value("--loadvm", "FILE", "start from a snapshot instead of booting (same -m, disks, devices)",
          [&](const std::string& v) { c.loadvm_path = v; });
  o.value("--config", "FILE",
          "run the system described in FILE (TOML, docs/config.md) instead:\n"
          "it takes no other option but --stats, --stats-file and\n"
          "--monitor; a one-partition system runs as this single-guest\n"
          "machine",
          [&](const std::string& v) {
            if (!only_system_options(st.args))
              bad("--config FILE takes no other option (but --stats, --stats-file and "
                  "--monitor): the file describes the whole system");
            if (v.empty()) bad("option --config needs a file name");
            config_path = v;
          });
  o.value("--monitor", "tcp:ADDR:PORT",
          "with --config: the primary hypervisor's monitor console on a\n"
          "TCP port (tcp::PORT: loopback); 'help' lists its commands",
          [&](const std::string& v) {
            if (v.rfind("tcp:", 0) != 0 || v.rfind(':') < 4 || v.rfind(':') + 1 == v.size())
              bad("bad --monitor '" + v + "': expected tcp:ADDR:PORT, e.g. tcp::4444 (the "
                  "loopback address)");
            monitor = v;
          });

  o.group("machine");
  o.value("-m,--memory", "MiB", "guest RAM in MiB (1-3072, default 128)",
          [&](const std::string& v) {
            unsigned long long mib;
            if (!parse_uint(v, 3072, &mib) || mib == 0)
              bad("bad memory size '" + v + "': give MiB between 1 and 3072");
            c.ram_mib = uint32_t(mib);
          });
  o.value("--smp", "N", "N CPUs (1-8, default 1), run in turn on one host thread",
          [&](const std::string& v) {
            unsigned long long n;
            if (!parse_uint(v, kMaxCpus, &n) || n == 0)
              bad("bad CPU count '" + v + "': give a number of CPUs between 1 and " +
                  std::to_string(kMaxCpus));
            c.cpus = unsigned(n);
          });
  o.value("--accel", "tcg,thread=multi|single",
          "with -smp N: thread=multi runs each CPU on its own host thread\n"
          "(each with its own JIT); thread=single (default) runs them in turn",
          [&](const std::string& v) {
            // QEMU's spelling: -accel tcg,thread=multi (the accelerator name may be left out).
            std::string rest = v.rfind("tcg,", 0) == 0 ? v.substr(4) : v;
            if (rest == "thread=multi")
              c.smp_threads = true;
            else if (rest == "thread=single" || v == "tcg")
              c.smp_threads = false;
            else
              bad("bad --accel '" + v + "': expected tcg,thread=multi or tcg,thread=single");
          });
  o.value("--on-triple-fault", "reset|exit",
          "on a triple fault, reset the CPU like a PC (default; memory is\n"
          "kept) or print the CPU state and exit with status 3",
          [&](const std::string& v) {
            if (v == "reset")
              c.reset_on_triple_fault = true;
            else if (v == "exit")
              c.reset_on_triple_fault = false;
            else
              bad("bad --on-triple-fault '" + v + "': expected reset or exit");
          });
  o.value("--timeout", "SECONDS", "stop the guest after SECONDS of wall time (exit status 124)",
          [&](const std::string& v) {
            char* end = nullptr;
            errno = 0;
            double t = std::strtod(v.c_str(), &end);
            if (v.empty() || errno || *end != '\0' || !(t > 0) || !std::isfinite(t))
              bad("bad --timeout '" + v + "': expected a positive number of seconds");
            c.timeout_seconds = t;
          });
  o.value("--insn-limit", "N",
          "stop the guest after N instructions (exit status 124; a fault or\n"
          "an interrupt delivery counts as one): short, repeatable runs",
          [&](const std::string& v) {
            unsigned long long n;
            if (!parse_uint(v, ~0ull, &n) || n == 0)
              bad("bad --insn-limit '" + v + "': expected a positive number of instructions");
            c.insn_limit = n;
          });
  o.value("--save-on-exit", "FILE",
          "save the whole machine to FILE when the run ends (poweroff,\n"
          "debug exit, timeout, SIGINT/SIGTERM, gdb kill; docs/snapshot.md)",
          [&](const std::string& v) { c.save_on_exit_path = v; });

  o.group("devices");
  o.value("--drive", "file=PATH[,format=raw][,index=0-3][,snapshot=on][,readonly=on]",
          "attach an IDE disk (index 0 primary master .. 3 secondary slave);\n"
          "snapshot=on keeps writes in memory, readonly=on refuses them",
          [&](const std::string& v) {
            DriveSpec d;
            std::string error;
            if (!parse_drive(v, &d, &error)) bad(error);
            c.drives.push_back(d);
          });
  o.value("--serial", "SPEC",
          "COM1 backend: stdio (default), file:PATH, tcp:ADDR:PORT,server, none",
          [&](const std::string& v) { c.serial = v; });
  auto script = [&](const char* name) {
    return [&c, name](const std::string& v) {
      if (v.empty()) bad(std::string("option ") + name + " needs a file name");
      if (!c.serial_script.empty())
        bad("only one console script can run (--serial-script '" + c.serial_script + "' and '" + v +
            "')");
      c.serial_script = v;
    };
  };
  o.value("--serial-script", "FILE",
          "run the console script FILE against COM1 and the VGA text screen:\n"
          "wait for output, send input, check it, set the exit status\n"
          "(alias --expect FILE; docs/console-script.md)",
          script("--serial-script"));
  o.value("--expect", "FILE", "", script("--expect"))->group("");  // listed with --serial-script
  o.value("--serial-transcript", "FILE", "also copy everything the guest writes to COM1 to FILE",
          [&](const std::string& v) {
            if (v.empty()) bad("option --serial-transcript needs a file name");
            c.serial_transcript = v;
          });
  o.value("--debugcon", "PORT:FILE",
          "copy bytes the guest writes to I/O port PORT (e.g. 0xE9) to FILE\n"
          "('-' = stdout); repeatable",
          [&](const std::string& v) {
            size_t colon = v.find(':');
            unsigned long long port;
            if (colon == std::string::npos || !parse_uint(v.substr(0, colon), 0xFFFF, &port) ||
                colon + 1 == v.size())
              bad("bad --debugcon '" + v + "': expected PORT:FILE, e.g. 0xE9:-");
            c.debugcons.push_back({uint16_t(port), v.substr(colon + 1)});
          });
  o.value("--screen-dump", "FILE", "write the VGA text screen to FILE at exit",
          [&](const std::string& v) { c.screen_dump_path = v; });
  o.value("--device", "pc-testdev",
          "add QEMU's pc-testdev (kvm-unit-tests): ports 0xE0-0xEB latch and\n"
          "flush page, 0x2000-0x2017 IRQ lines, 64 KiB at 0xFF000000\n"
          "(isa-debug-exit at 0xF4 is always there)",
          [&](const std::string& v) {
            if (v != "pc-testdev")
              bad("unknown --device '" + v + "': the devices to add are pc-testdev");
            c.pc_testdev = true;
          });

  o.group("determinism (deterministic runs, record and replay; docs/determinism.md)");
  o.flag("--deterministic",
         "guest time comes from the count of retired instructions, never\n"
         "from the host: timers, RTC, TSC, HPET and PM timer follow it, a\n"
         "halted CPU skips to its next timer, disk requests complete a fixed\n"
         "guest time later; the same run gives the same result (JIT on or off)",
         [&] { c.deterministic = true; });
  o.value("--icount", "SHIFT",
          "2^SHIFT ns of guest time per instruction (0-20, default 0: 1 ns);\n"
          "implies --deterministic",
          [&](const std::string& v) {
            unsigned long long n;
            if (!parse_uint(v.rfind("shift=", 0) == 0 ? v.substr(6) : v, 20, &n))
              bad("bad --icount '" + v +
                  "': expected a shift from 0 to 20 (2^SHIFT ns per instruction)");
            c.icount_shift = unsigned(n);
            c.deterministic = true;
          });
  o.value("--rtc", "base=DATE",
          "the RTC's date at power-on: YYYY-MM-DD[THH:MM:SS] (UTC) or utc\n"
          "(the host's clock; the default, except with --deterministic, which\n"
          "starts at 2025-01-01T00:00:00)",
          [&](const std::string& v) {
            int64_t ns = 0;
            if (v == "base=utc") {
              c.rtc_base_unix_ns.reset();
              return;
            }
            if (v.rfind("base=", 0) != 0 || !parse_rtc_date(v.substr(5), &ns))
              bad("bad --rtc '" + v +
                  "': expected base=YYYY-MM-DD[THH:MM:SS] (UTC, 1970-2099) or base=utc");
            c.rtc_base_unix_ns = ns;
          });
  o.value("--record", "FILE",
          "deterministic run that writes the serial input it receives, with\n"
          "the instruction count of each delivery, and checkpoints to FILE",
          [&](const std::string& v) {
            c.record_path = v;
            c.deterministic = true;
          });
  o.value("--replay", "FILE",
          "deterministic run that replays FILE's input (host input is\n"
          "ignored) and says where the run diverges from it (exit status 6)",
          [&](const std::string& v) {
            c.replay_path = v;
            c.deterministic = true;
          });

  o.group("debugging");
  o.value("--gdb", "tcp:ADDR:PORT", "accept a gdb connection (loopback unless ADDR says otherwise)",
          [&](const std::string& v) {
            if (!valid_tcp_spec(v))
              bad("bad --gdb '" + v + "': expected tcp:ADDR:PORT, e.g. tcp:127.0.0.1:1234");
            c.gdb = v;
          });
  o.flag("-s", "same as --gdb tcp:127.0.0.1:1234", [&] { c.gdb = "tcp:127.0.0.1:1234"; });
  o.flag("-S", "do not start the CPU until gdb says so", [&] { c.start_frozen = true; });
  o.value("--trace", "FILE",
          "write one line per executed instruction to FILE ('-' = stdout):\n"
          "CS:EIP, bytes, disassembly, registers before it runs",
          [&](const std::string& v) { c.trace_path = v; });
  o.value("--trace-events", "LIST",
          "what --trace writes, comma-separated: insn, int (exceptions and\n"
          "interrupts), io (port accesses), all (default: insn)",
          [&](const std::string& v) {
            unsigned events = 0;
            for (const std::string& e : split_commas(v)) {
              if (e == "insn")
                events |= TRACE_INSN;
              else if (e == "int")
                events |= TRACE_INTERRUPT;
              else if (e == "io")
                events |= TRACE_IO;
              else if (e == "all")
                events |= TRACE_INSN | TRACE_INTERRUPT | TRACE_IO;
              else
                bad("bad --trace-events '" + v + "': expected insn, int, io or all");
            }
            c.trace_events = events;
          });
  o.value("--trace-range", "A-B",
          "trace only instructions at linear addresses A..B (hex or decimal,\n"
          "inclusive); repeatable",
          [&](const std::string& v) {
            size_t dash = v.find('-');
            unsigned long long lo, hi;
            if (dash == std::string::npos || !parse_uint(v.substr(0, dash), 0xFFFFFFFF, &lo) ||
                !parse_uint(v.substr(dash + 1), 0xFFFFFFFF, &hi) || lo > hi)
              bad("bad --trace-range '" + v + "': expected FIRST-LAST, e.g. 0x7c00-0x7dff");
            c.trace_ranges.push_back({uint32_t(lo), uint32_t(hi)});
          });
  o.value("--state-log", "FILE",
          "at every exit to the monitor (I/O, CPUID, HLT, ...) and at the end,\n"
          "write the instruction count, CS:EIP, registers, EFLAGS and a hash of\n"
          "RAM: two runs of a deterministic guest (e.g. --jit off and on) give\n"
          "the same file",
          [&](const std::string& v) { c.state_log_path = v; });

  o.group("JIT (tier 1: hot guest code compiled with LLVM on a background thread)");
  // On unless --jit off (MachineConfig's own default, which system descriptions keep, is off):
  // measured on Linux boots and userland it costs no more host CPU than interpreting, and
  // less wall time (docs/design.md, "Measured (tier 1)", "On by default").
  c.jit = true;
  o.value("--jit", "on|off",
          "compile hot code (the default); off interprets everything\n"
          "(docs/design.md, Measured (tier 1))",
          [&](const std::string& v) {
            if (v == "on")
              c.jit = true;
            else if (v == "off")
              c.jit = false;
            else
              bad("bad --jit '" + v + "': expected on or off");
          });
  // A whole number below `limit` for option `name` (`what` in the error; `positive`: 0 is
  // refused too), handed to `set`.
  auto whole = [&](const std::string& name, unsigned long long limit, const std::string& what,
                   bool positive, auto set) {
    return [name, limit, what, positive, set](const std::string& v) {
      unsigned long long n;
      if (!parse_uint(v, limit, &n) || (positive && n == 0))
        bad("bad " + name + " '" + v + "': expected " + what);
      set(n);
    };
  };
  // A count of block executions (0 taken as 1) for option `name` into `into`.
  auto executions = [&](const std::string& name, uint64_t& into) {
    return whole(name, 1ull << 40, "a number of executions", false,
                 [&into](unsigned long long n) { into = n ? n : 1; });
  };
  // A size in bytes with K, M, G suffixes for option `name` into `into`.
  auto bytes = [&](const std::string& name, uint64_t& into) {
    return [name, &into](const std::string& v) {
      unsigned long long n;
      if (!parse_size(v, &n))
        bad("bad " + name + " '" + v + "': expected bytes, e.g. 65536, 64K or 4M");
      into = n;
    };
  };
  o.value("--jit-threshold", "N",
          "executions of a block that make it hot (default 1000000, and\n"
          "100000 while the compile thread has a host core to itself;\n"
          "N given: N only)",
          executions("--jit-threshold", c.jit_threshold));
  o.flag("--jit-sync",
         "compile on the CPU thread the moment a block is hot, so a run\n"
         "does not depend on the compile thread's timing (tests)",
         [&] { c.jit_sync = true; });
  o.flag("--perf-map",
         "write /tmp/perf-PID.map naming compiled code by guest address,\n"
         "so perf top/report show guest regions (guest_0xADDR_len_N)",
         [&] { c.perf_map = true; });
  o.value("--jit-dump", "DIR", "write each compiled region's optimised IR (.ll) and assembly (.s)",
          [&](const std::string& v) { c.jit_dump_dir = v; });
  o.value("--jit-cache", "DIR",
          "keep compiled regions in DIR (created if missing) and load them\n"
          "in later runs instead of compiling again; 'auto' is\n"
          "$XDG_CACHE_HOME/softcpu/jit (~/.cache/softcpu/jit); with --jit on",
          [&](const std::string& v) {
            if (v.empty()) bad("bad --jit-cache '': expected a directory");
            c.jit_cache_dir = v;
            if (v == "auto") {
              const char* xdg = std::getenv("XDG_CACHE_HOME");
              const char* home = std::getenv("HOME");
              if (xdg && *xdg) c.jit_cache_dir = std::string(xdg) + "/softcpu/jit";
              else if (home && *home) c.jit_cache_dir = std::string(home) + "/.cache/softcpu/jit";
              else bad("--jit-cache auto: neither XDG_CACHE_HOME nor HOME is set");
            }
          });
  o.value("--jit-cache-threshold", "N",
          "with --jit-cache: executions of a block that make it look for a\n"
          "region kept there (default 1000); one not found is compiled at\n"
          "--jit-threshold",
          executions("--jit-cache-threshold", c.jit_cache_threshold));
  o.value("--jit-cache-max", "SIZE",
          "with --jit-cache: keep at most SIZE bytes of files there (K, M, G\n"
          "suffixes; default 256M, 0 = unbounded); a write past it removes\n"
          "the files loaded or written longest ago, down to 9/10 of SIZE",
          bytes("--jit-cache-max", c.jit_cache_max));
  o.value("--jit-cache-finish", "MS",
          "with --jit-cache: at exit, compile and write the regions still\n"
          "queued (not run) for at most MS milliseconds (default 2000; 0 =\n"
          "drop them), so the next run finds them",
          whole("--jit-cache-finish", 1ull << 32, "milliseconds", false,
                [&](unsigned long long ms) { c.jit_cache_finish_ms = ms; }));

  o.group("translation cache (decoded blocks and compiled regions; docs/design.md)");
  o.value("--tcache-size", "SIZE",
          "bound its storage to SIZE bytes (K, M, G suffixes), decoded records\n"
          "and native code together; 0 = unbounded (the default)",
          bytes("--tcache-size", c.tcache.bytes));
  o.value("--tcache-blocks", "N",
          "bound it to N entries (blocks and compiled regions); 0 = unbounded",
          whole("--tcache-blocks", 1ull << 32, "a number of entries", false,
                [&](unsigned long long n) { c.tcache.entries = n; }));
  o.value("--tcache-policy", "flush|fifo|lru",
          "what frees room when it is full: flush empties it (QEMU's way,\n"
          "the default), fifo frees the oldest entries, lru (CLOCK) the ones\n"
          "not entered for longest",
          [&](const std::string& v) {
            const auto p = parse_eviction_policy(v);
            if (!p) bad("bad --tcache-policy '" + v + "': expected flush, fifo or lru");
            c.tcache.policy = *p;
          });

  o.group("statistics and profiling");
  o.flag_value("--stats", "[=text|json]",
               "print statistics at exit (to stderr): text is a short report by\n"
               "group (run, translation cache, tiers, exits, TLB, exceptions,\n"
               "devices) without the zero counters; json has every counter\n"
               "(schema softcpu-stats, docs/stats.md)",
               [&](const std::string& v) {
                 st.stats_chosen = true;
                 if (v.empty() || v == "text")
                   c.stats = StatsFormat::TEXT;
                 else if (v == "json")
                   c.stats = StatsFormat::JSON;
                 else
                   bad("bad --stats format '" + v + "': expected text or json");
               });
  o.value("--stats-file", "FILE", "write the statistics to FILE instead of stderr",
          [&](const std::string& v) {
            c.stats_path = v;
            if (c.stats == StatsFormat::NONE) c.stats = StatsFormat::TEXT;
          });
  o.value("--stats-interval", "MS",
          "every MS milliseconds of guest time, write one line of JSON (all\n"
          "counters and guest_ms) to the --stats-file FILE; the last line, at\n"
          "exit, has \"final\": true (--stats then prints to stderr)",
          whole("--stats-interval", 1ull << 40,
                "a positive whole number of milliseconds of guest time", true,
                [&](unsigned long long ms) { c.stats_interval_ms = ms; }));
  o.value("--profile", "FILE",
          "at exit, write the hottest translations to FILE (JSON when FILE\n"
          "ends in .json): by executions and by time (a sample of the code\n"
          "about to run every 1 ms of host time), with length, tier, share\n"
          "of samples (docs/profile.md)",
          [&](const std::string& v) { c.profile_path = v; });
  o.value("--profile-top", "N", "rows per table (default 50)", [&](const std::string& v) {
    unsigned long long n;
    if (!parse_uint(v, 1000000, &n) || n == 0)
      bad("bad --profile-top '" + v + "': expected a number of rows (1-1000000)");
    c.profile_top = unsigned(n);
  });
  o.value("--symbols", "FILE",
          "name guest addresses in the profile from a System.map\n"
          "or /proc/kallsyms ('c1000000 T startup_32' lines)",
          [&](const std::string& v) { c.symbols_path = v; });

  o.group("help");
  o.help(Command::RUN_HELP);
}

// The checks across options, once all are read.
void check_run_options(MachineConfig& c, const RunState& st) {
  if (st.disks.size() > 1)
    bad("more than one disk image given ('" + st.disks[0] + "' and '" + st.disks[1] + "')");
  if (!st.disks.empty()) c.drives.insert(c.drives.begin(), DriveSpec{st.disks[0], 0, false, false});
  // Two disks in one slot, or an initrd without a kernel, are mistakes to report now.
  for (size_t x = 0; x < c.drives.size(); ++x)
    for (size_t y = x + 1; y < c.drives.size(); ++y)
      if (c.drives[x].index == c.drives[y].index)
        bad("two disks at IDE index " + std::to_string(c.drives[x].index) + " ('" +
            c.drives[x].path + "' and '" + c.drives[y].path + "')");
  if (!c.loadvm_path.empty() && !c.kernel_path.empty())
    bad("--loadvm starts from the snapshot's memory: --kernel is not used with it");
  if (c.kernel_path.empty() && (!c.initrd_path.empty() || !c.append.empty()))
    bad("--initrd and --append need --kernel");
  if (c.trace_path.empty() && (!c.trace_ranges.empty() || c.trace_events != TRACE_INSN))
    bad("--trace-events and --trace-range need --trace FILE");
  if (c.stats_interval_ms) {  // the series goes to --stats-file; --stats only if asked for
    if (c.stats_path.empty())
      bad("--stats-interval needs --stats-file FILE (the file the JSON lines go to)");
    if (!st.stats_chosen) c.stats = StatsFormat::NONE;
  }
  if (c.profile_path.empty() && (c.profile_top != 50 || !c.symbols_path.empty()))
    bad("--profile-top and --symbols need --profile FILE");
  if (!c.record_path.empty() && !c.replay_path.empty())
    bad("--record and --replay exclude each other (replay a record, or record a new run)");
  if (c.start_frozen && c.gdb.empty()) bad("-S needs a debugger connection (-s or --gdb)");
  if (!c.jit && (!c.jit_cache_dir.empty() || c.jit_cache_threshold ||
                 c.jit_cache_max != UINT64_MAX || c.jit_cache_finish_ms != UINT64_MAX))
    bad("--jit-cache and its options need --jit on (they keep compiled code)");
}

constexpr char kRunFooter[] =
    "exit status: (v << 1) | 1 when the guest writes v to the debug-exit port 0xF4; 0 when the\n"
    "guest powers off, halts for good or is quit with Ctrl-A x; 2 for a bad option or file; 3\n"
    "after a triple fault with --on-triple-fault exit (the state is printed); 4 when a console\n"
    "script fails (the failed step is printed); 6 when --replay diverges from its record; 124 on\n"
    "--timeout or --insn-limit.";

constexpr char kCheckConfigUsage[] =
    "usage: softcpu check-config FILE (a system description, docs/config.md)";

// The whole command line: softcpu [--help|--version] <command> ...
struct CommandLine {
  CLI::App root{"", "softcpu"};
  CLI::App* run = nullptr;
  CLI::App* check_config = nullptr;
  CLI::App* info = nullptr;
  CLI::App* help = nullptr;
  std::string help_topic;  // help COMMAND
  RunState run_state;

  explicit CommandLine(ParsedArgs* out) {
    auto formatter = std::make_shared<HelpFormatter>();
    root.formatter(formatter);  // before the commands: they inherit it
    root.set_help_flag();       // each command has its own -h/--help (OptionTable::help)
    root.require_subcommand(0, 1);

    formatter->intro[&root] =
        "usage: softcpu <command> [options]\n"
        "\n"
        "softcpu is a whole 32-bit PC in one process: it boots a guest headless with its\n"
        "serial console on the terminal.\n"
        "\n";
    run = root.add_subcommand("run",
                              "boot a machine (its options: 'softcpu run --help'), or\n"
                              "with --config FILE the system FILE describes (docs/config.md)");
    check_config = root.add_subcommand("check-config",
                                       "check a system description without running it: exit\n"
                                       "status 0 and a summary, or every error and status 2");
    info = root.add_subcommand("info", "the version, the build and what it includes (the JIT)");
    help = root.add_subcommand("help", "this help, or a command's");
    for (CLI::App* sub : {run, check_config, info, help}) sub->group("commands");

    OptionTable top(&root);
    top.group("options");
    top.help(Command::HELP);
    top.flag("--version", "show the version", [] { throw StopParsing{Command::VERSION, nullptr}; });

    formatter->intro[run] =
        "usage: softcpu run [options] [disk-image]\n"
        "       softcpu run --config FILE\n"
        "\n"
        "Boots a PC (i440FX + PIIX3, one P6-class CPU) headless; COM1 is the terminal.\n"
        "\n";
    run->add_option(
           "disk-image",
           [this](const CLI::results_t& r) {
             run_state.disks.insert(run_state.disks.end(), r.begin(), r.end());
             return true;
           },
           "a raw image attached as the IDE primary master (same as\n"
           "--drive file=IMAGE,format=raw); after --, it may begin with '-'")
        ->expected(-1)  // any number: more than one is refused with a clear message
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    run->footer(kRunFooter);
    OptionTable run_table(run);
    add_run_options(run_table, out->config, run_state, out->config_path, out->monitor);

    formatter->intro[check_config] =
        "usage: softcpu check-config FILE\n"
        "\n"
        "Checks the system description FILE (TOML, docs/config.md) without running it: prints\n"
        "a summary and exits with status 0, or prints every error with its line and exits\n"
        "with status 2.\n"
        "\n";
    check_config->add_option("FILE", out->config_path, "the system description")->required();
    OptionTable check_table(check_config);
    check_table.group("options");
    check_table.help(Command::HELP);

    formatter->intro[info] =
        "usage: softcpu info\n"
        "\n"
        "Prints the version, the build (type, compiler, debug checks, sanitizers), the JIT's\n"
        "LLVM version and the default firmware.\n"
        "\n";
    OptionTable info_table(info);
    info_table.group("options");
    info_table.help(Command::HELP);

    formatter->intro[help] = "usage: softcpu help [COMMAND]\n\n";
    help->add_option("COMMAND", help_topic, "run, check-config, info or help");
    OptionTable help_table(help);
    help_table.group("options");
    help_table.help(Command::HELP);
  }
};

// A command's help. (CLI::App::help() of the top gives the parsed command's instead.)
std::string help_of(const CLI::App* app) {
  return app->get_formatter()->make_help(app, app->get_name(), CLI::AppFormatMode::Normal);
}

// The arguments as CLI11 should see them. QEMU-style single-dash long names: -name (or
// -name=VALUE) is --name when --name is an option (so an option defined as "--smp" is also
// -smp). And CLI11 reads "--name=" as --name with its value in the next argument; softcpu (like
// getopt) reads it as an empty value, which the option then takes or refuses. The value after
// a separate option name is left alone, whatever it looks like; so is everything after "--".
std::vector<std::string> cli11_arguments(const std::vector<std::string>& args,
                                         const CLI::App& app) {
  std::vector<std::string> out;
  for (size_t k = 0; k < args.size(); ++k) {
    std::string a = args[k];
    if (a == "--") {
      out.insert(out.end(), args.begin() + long(k), args.end());
      break;
    }
    if (a.size() > 2 && a[0] == '-' && a[1] != '-' &&
        app.get_option_no_throw("-" + a.substr(0, a.find('='))))
      a.insert(0, "-");
    const CLI::Option* o = a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '='
                               ? app.get_option_no_throw(a.substr(0, a.size() - 1))
                               : app.get_option_no_throw(a);
    const bool takes_value = o && !o->get_positional() && o->get_items_expected_max() > 0;
    if (takes_value && a.back() == '=') {
      out.push_back(a.substr(0, a.size() - 1));
      out.emplace_back();
      continue;
    }
    out.push_back(a);
    if (takes_value && k + 1 < args.size()) out.push_back(args[++k]);
  }
  return out;
}

bool has_positional_mark(const CLI::App& app) {
  for (const std::string& r : app.remaining())
    if (r == "--") return true;
  return false;
}

// One line for a parse error of CLI11's own (a missing value, an unknown option or command).
// `args` as given, `given` as CLI11 saw them (cli11_arguments()).
std::string describe(const CLI::ParseError& e, const CommandLine& cl,
                     const std::vector<std::string>& args, const std::vector<std::string>& given) {
  if (cl.check_config->parsed()) return kCheckConfigUsage;
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) && args.back().size() > 1 &&
      args.back()[0] == '-') {
    // A value is taken whatever it looks like, so only an option at the end can lack one: a
    // long name (also with one dash: -smp) or the last of a run of short ones (-sm).
    const std::string& last = args.back();
    const bool long_name = last[1] == '-' || given.back() == "-" + last;
    return "option " + (long_name ? last : std::string("-") + last.back()) + " needs a value";
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
    for (const CLI::App* sub : {cl.run, cl.info, cl.help})
      if (sub->parsed())
        for (const std::string& r : sub->remaining())
          if (r != "--")
            return "unknown option '" + r + "' (try 'softcpu " + sub->get_name() + " --help')";
    for (const std::string& r : cl.root.remaining())
      if (r != "--") return "unknown command '" + r + "' (try 'softcpu --help')";
  }
  std::string what = e.what();
  for (char& ch : what)
    if (ch == '\n') ch = ' ';
  return what;
}

}  // namespace

bool parse_args(const std::vector<std::string>& args, ParsedArgs* out, std::string* error) {
  CommandLine cl(out);
  if (args.empty()) {
    out->command = Command::HELP;
    out->help = help_of(&cl.root);
    return true;
  }
  const std::vector<std::string> given =
      cli11_arguments(args, args[0] == "run" ? *cl.run : cl.root);
  if (given[0] == "run") cl.run_state.args.assign(given.begin() + 1, given.end());
  std::vector<std::string> reversed(given.rbegin(), given.rend());  // CLI11 takes from the back
  try {
    cl.root.parse(reversed);
    if (cl.run->parsed()) {
      for (const std::string& disk : cl.run_state.disks)
        if (disk.size() > 0 && disk[0] == '-' && !has_positional_mark(*cl.run))
          bad("unknown option '" + disk + "' (try 'softcpu run --help')");
      check_run_options(out->config, cl.run_state);
      if (!out->monitor.empty() && out->config_path.empty())
        bad("--monitor needs --config FILE: the monitor console controls a system's partitions");
      out->command = Command::RUN;
    } else if (cl.check_config->parsed()) {
      if (out->config_path.empty() ||
          (out->config_path[0] == '-' && !has_positional_mark(*cl.check_config)))
        bad(kCheckConfigUsage);
      out->command = Command::CHECK_CONFIG;
    } else if (cl.info->parsed()) {
      out->command = Command::INFO;
    } else {  // help [COMMAND]
      const CLI::App* topic = &cl.root;
      if (!cl.help_topic.empty()) {
        topic = nullptr;
        for (const CLI::App* sub : {cl.run, cl.check_config, cl.info, cl.help})
          if (sub->get_name() == cl.help_topic) topic = sub;
        if (!topic) bad("unknown command '" + cl.help_topic + "' (try 'softcpu --help')");
      }
      out->command = topic == cl.run ? Command::RUN_HELP : Command::HELP;
      out->help = help_of(topic);
    }
    return true;
  } catch (const StopParsing& stop) {
    out->command = stop.command;
    if (stop.app) out->help = help_of(stop.app);
    return true;
  } catch (const BadOption& e) {
    *error = e.what();
  } catch (const CLI::ParseError& e) {
    *error = describe(e, cl, args, given);
  }
  return false;
}

std::string main_help() {
  ParsedArgs unused;
  CommandLine cl(&unused);
  return help_of(&cl.root);
}

std::string run_help() {
  ParsedArgs unused;
  CommandLine cl(&unused);
  return help_of(cl.run);
}

const HelpText kMainHelp{main_help};
const HelpText kRunHelp{run_help};

}  // namespace softcpu
