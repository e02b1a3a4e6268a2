#include "monitor/hv/partition_stats.h"

#include <cinttypes>
#include <cstdio>

#include "monitor/stats.h"

namespace softcpu::hv {

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string kib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIu64 " KiB", bytes >> 10);
  return buf;
}

}  // namespace

std::string partitions_table(const std::vector<PartitionCounters>& parts) {
  std::string out;
  char line[320];
  std::snprintf(line, sizeof line, "%-12s %-14s %6s %5s %12s %8s %11s %16s\n", "partition", "state",
                "status", "vcpus", "memory", "stage-2", "violations", "instructions");
  out += line;
  for (const PartitionCounters& p : parts) {
    std::snprintf(line, sizeof line,
                  "%-12s %-14s %6d %5u %12s %8u %11" PRIu64 " %16" PRIu64 "\n", p.name.c_str(),
                  p.state.c_str(), p.status, p.vcpus, kib(p.memory_bytes).c_str(), p.stage2_pages,
                  p.stage2_violations, p.instructions);
    out += line;
  }
  return out;
}

std::string system_stats_text(const std::vector<PartitionCounters>& parts) {
  std::string out;
  char line[320];
  for (const PartitionCounters& p : parts) {
    std::snprintf(line, sizeof line, "Partition %s (%s, status %d)\n", p.name.c_str(),
                  p.state.c_str(), p.status);
    out += line;
    auto row = [&](const char* name, const std::string& value) {
      std::snprintf(line, sizeof line, "  %-22s %s\n", name, value.c_str());
      out += line;
    };
    row("instructions", stats_number(double(p.instructions)));
    row("exits", stats_number(double(p.exits)));
    row("run_seconds", stats_number(p.run_seconds));
    for_each_slice_stat(p, [&](const char* name, double v) { row(name, stats_number(v)); });
    row("mips", stats_number(p.run_seconds > 0 ? double(p.instructions) / p.run_seconds / 1e6 : 0));
    row("stage2_violations", stats_number(double(p.stage2_violations)));
    row("interrupts", stats_number(double(p.interrupts)));
    row("memory", kib(p.memory_bytes));
    for (const VcpuCounters& v : p.per_vcpu) {
      std::snprintf(line, sizeof line,
                    "  vcpu %-3u instructions %" PRIu64 ", exits %" PRIu64 ", interrupts %" PRIu64
                    "", v.index, v.instructions, v.exits, v.interrupts);
      out += line;
      if (!v.hypervisor.empty())
        out += ", on " + v.hypervisor + (v.processor_set.empty() ? "" : " (set " + v.processor_set + ")");
      out += "\n";
    }
  }
  return out;
}

std::string system_stats_json(const std::vector<PartitionCounters>& parts) {
  std::string out = "{\"schema\": " + json_string(kSystemStatsSchema) +
                    ", \"version\": " + std::to_string(kSystemStatsSchemaVersion) +
                    ", \"partitions\": [";
  for (size_t k = 0; k < parts.size(); ++k) {
    const PartitionCounters& p = parts[k];
    if (k) out += ", ";
    out += "{\"name\": " + json_string(p.name) + ", \"state\": " + json_string(p.state) +
           ", \"status\": " + std::to_string(p.status) +
           ", \"instructions\": " + stats_number(double(p.instructions)) +
           ", \"exits\": " + stats_number(double(p.exits)) +
           ", \"run_seconds\": " + stats_number(p.run_seconds);
    for_each_slice_stat(p, [&](const char* name, double v) {
      out += std::string(", \"") + name + "\": " + stats_number(v);
    });
    out += ", \"stage2_violations\": " + stats_number(double(p.stage2_violations)) +
           ", \"interrupts\": " + stats_number(double(p.interrupts)) +
           ", \"memory_bytes\": " + stats_number(double(p.memory_bytes)) + ", \"vcpus\": [";
    for (size_t v = 0; v < p.per_vcpu.size(); ++v) {
      const VcpuCounters& c = p.per_vcpu[v];
      if (v) out += ", ";
      out += "{\"index\": " + std::to_string(c.index) +
             ", \"instructions\": " + stats_number(double(c.instructions)) +
             ", \"exits\": " + stats_number(double(c.exits)) +
             ", \"interrupts\": " + stats_number(double(c.interrupts)) +
             (c.hypervisor.empty() ? "" : ", \"hypervisor\": " + json_string(c.hypervisor)) +
             (c.processor_set.empty() ? "" : ", \"processor_set\": " + json_string(c.processor_set)) +
             "}";
    }
    out += "]";
    if (!p.machine_json.empty()) {
      std::string m = p.machine_json;
      while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
      out += ", \"machine\": " + m;
    }
    out += "}";
  }
  return out + "]}\n";
}

}  // namespace softcpu::hv
