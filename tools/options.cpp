#include "tools/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace softcpu {

const char kMainHelp[] =
    "usage: softcpu <command> [options]\n"
    "\n"
    "softcpu is a whole 32-bit PC in one process: it boots a guest headless with its\n"
    "serial console on the terminal.\n"
    "\n"
    "commands:\n"
    "  run [options] [disk-image]   boot a machine (see 'softcpu run --help')\n"
    "  --help, -h                   show this help\n"
    "  --version                    show the version\n";

const char kRunHelp[] =
    "usage: softcpu run [options] [disk-image]\n"
    "\n"
    "options:\n"
    "  --bios FILE            firmware ROM image (64, 128 or 256 KiB), mapped to end at 0xFFFFF\n"
    "                         and at 0xFFFFFFFF; the CPU starts at the reset vector F000:FFF0\n"
    "  -m MiB                 guest RAM in MiB (1-3072, default 128)\n"
    "  --serial SPEC          COM1 backend: stdio (default), file:PATH, none\n"
    "  --debugcon PORT:FILE   copy bytes the guest writes to I/O port PORT (e.g. 0xE9) to FILE\n"
    "                         ('-' = stdout); repeatable\n"
    "  --timeout SECONDS      stop the guest after SECONDS of wall time (exit status 124)\n"
    "  --on-triple-fault reset|exit\n"
    "                         on a triple fault, reset the CPU like a PC (default; memory is\n"
    "                         kept) or print the CPU state and exit with status 3\n"
    "  --trace FILE           write one line per executed instruction to FILE ('-' = stdout):\n"
    "                         CS:EIP, bytes, disassembly, registers before it runs\n"
    "  --stats[=text|json]    print statistics at exit (to stderr): instructions, blocks decoded,\n"
    "                         decoded-block cache lookups/hits/misses/invalidations, exits by reason\n"
    "  --stats-file FILE      write the statistics to FILE instead of stderr\n"
    "  -h, --help             show this help\n"
    "\n"
    "disk-image: attached as the IDE primary master once the IDE controller exists (not yet:\n"
    "the file is checked and then ignored, with a warning).\n"
    "\n"
    "exit status: (v << 1) | 1 when the guest writes v to the debug-exit port 0xF4; 0 when the\n"
    "guest halts for good or is quit with Ctrl-A x; 2 for a bad option or file; 3 after a triple\n"
    "fault with --on-triple-fault exit (the state is printed); 124 on --timeout.\n";

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
  if (args[0] != "run") {
    *error = "unknown command '" + args[0] + "' (try 'softcpu --help')";
    return false;
  }
  out->command = Command::RUN;
  MachineConfig& c = out->config;
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
    } else if (name == "--serial") {
      if (!need_value()) return false;
      c.serial = value;
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
    } else if (name == "--on-triple-fault") {
      if (!need_value()) return false;
      if (value == "reset") c.reset_on_triple_fault = true;
      else if (value == "exit") c.reset_on_triple_fault = false;
      else {
        *error = "bad --on-triple-fault '" + value + "': expected reset or exit";
        return false;
      }
    } else if (name == "--trace") {
      if (!need_value()) return false;
      c.trace_path = value;
    } else if (name == "--stats") {
      if (!inline_value || value == "text") c.stats = StatsFormat::TEXT;
      else if (value == "json") c.stats = StatsFormat::JSON;
      else {
        *error = "bad --stats format '" + value + "': expected text or json";
        return false;
      }
    } else if (name == "--stats-file") {
      if (!need_value()) return false;
      c.stats_path = value;
      if (c.stats == StatsFormat::NONE) c.stats = StatsFormat::TEXT;
    } else if (!a.empty() && a[0] == '-') {
      *error = "unknown option '" + a + "' (try 'softcpu run --help')";
      return false;
    } else {
      if (!c.disk_image.empty()) {
        *error = "more than one disk image given ('" + c.disk_image + "' and '" + a + "')";
        return false;
      }
      c.disk_image = a;
    }
  }
  return true;
}

}  // namespace softcpu
