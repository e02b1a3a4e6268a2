#include "monitor/hv/commands.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "monitor/hv/primary.h"

namespace softcpu::hv {

const char kHvCommandsHelp[] =
    "  info partitions                   each partition: state, status, vCPUs, memory,\n"
    "                                    stage-2 pages and violations, instructions\n"
    "  info stats                        counters per partition and per vCPU (as --stats)\n"
    "  partition start NAME              start a stopped partition (where it stopped)\n"
    "  partition stop NAME               stop it (the system does not end for it)\n"
    "  partition reset NAME              stop, PC reset (RAM kept), start\n"
    "  partition mem-lend FROM TO SIZE   lend SIZE (e.g. 64K, 1M) of FROM's dynamic memory\n"
    "                                    to TO (zeroed first)\n"
    "  partition mem-return FROM TO SIZE TO gives back the last SIZE FROM lent it\n"
    "  quit                              stop every partition and end the run\n";

namespace {

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  size_t k = 0;
  while (k < line.size()) {
    while (k < line.size() && (line[k] == ' ' || line[k] == '\t')) ++k;
    const size_t start = k;
    while (k < line.size() && line[k] != ' ' && line[k] != '\t') ++k;
    if (k > start) out.emplace_back(line.substr(start, k - start));
  }
  return out;
}

std::string kib(uint64_t bytes) { return std::to_string(bytes >> 10) + " KiB"; }

}  // namespace

bool parse_hv_size(std::string_view s, uint64_t* bytes) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  std::string text(s);
  uint64_t unit = 1;
  std::string suffix;
  while (!text.empty() && std::isalpha(static_cast<unsigned char>(text.back())) &&
         !(text.size() > 1 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') &&
           std::isxdigit(static_cast<unsigned char>(text.back())))) {
    suffix.insert(suffix.begin(), char(std::toupper(static_cast<unsigned char>(text.back()))));
    text.pop_back();
  }
  if (suffix == "K" || suffix == "KIB") unit = 1ull << 10;
  else if (suffix == "M" || suffix == "MIB") unit = 1ull << 20;
  else if (suffix == "G" || suffix == "GIB") unit = 1ull << 30;
  else if (!suffix.empty() && suffix != "B") return false;
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 0);
  if (errno || *end || n > (~0ull) / unit) return false;
  *bytes = n * unit;
  return true;
}

bool is_hv_command(std::string_view line) {
  const std::vector<std::string> w = words(line);
  if (w.empty()) return false;
  if (w[0] == "partition" || w[0] == "quit") return true;
  return w[0] == "info" && w.size() == 2 && (w[1] == "partitions" || w[1] == "stats");
}

std::string execute_hv_command(PrimaryHypervisor& hv, std::string_view line) {
  const std::vector<std::string> w = words(line);
  try {
    if (w.empty()) return {};
    if (w[0] == "help" && w.size() == 1) return kHvCommandsHelp;
    if (w[0] == "info" && w.size() == 2 && w[1] == "partitions") return hv.info_partitions();
    if (w[0] == "info" && w.size() == 2 && w[1] == "stats")
      return system_stats_text(hv.all_counters());
    if (w[0] == "quit" && w.size() == 1) {
      hv.request_quit();
      return "stopping every partition\n";
    }
    if (w[0] == "partition" && w.size() == 3 &&
        (w[1] == "start" || w[1] == "stop" || w[1] == "reset")) {
      const std::string& name = w[2];
      Partition& p = hv.partition(name);  // throws for an unknown name
      if (w[1] == "start") {
        hv.start(name);
        return "partition '" + name + "' started\n";
      }
      if (w[1] == "stop") {
        if (p.state() != PartitionState::RUNNING)
          return "partition '" + name + "' is not running (" + state_name(p.state()) + ")\n";
        hv.stop(name);
        return "partition '" + name + "' stopped\n";
      }
      hv.reset(name);
      return "partition '" + name + "' reset and started\n";
    }
    if (w[0] == "partition" && w.size() >= 2 &&
        (w[1] == "mem-lend" || w[1] == "mem-return")) {
      if (w.size() != 5) return "usage: partition " + w[1] + " FROM TO SIZE\n";
      uint64_t bytes = 0;
      if (!parse_hv_size(w[4], &bytes))
        return "bad size '" + w[4] + "': expected bytes or a K, M or G suffix, e.g. 64K\n";
      if (w[1] == "mem-lend") {
        hv.lend(w[2], w[3], bytes);
        return "lent " + kib(bytes) + " from '" + w[2] + "' to '" + w[3] + "'\n";
      }
      hv.take_back(w[2], w[3], bytes);
      return "'" + w[3] + "' returned " + kib(bytes) + " to '" + w[2] + "'\n";
    }
  } catch (const HvError& e) {
    return e.message + "\n";
  }
  return "unknown command '" + std::string(line) + "'; try 'help'\n";
}

}  // namespace softcpu::hv
