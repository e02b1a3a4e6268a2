// The registry and its JSON form; the text report is in monitor/stats_report.cpp.
#include "monitor/stats.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

namespace softcpu {

void StatsRegistry::add(std::string name, std::function<double()> read, std::string unit) {
  entries_.push_back({std::move(name), std::move(read), std::move(unit)});
}

void StatsRegistry::add(std::string name, const uint64_t* counter, std::string unit) {
  add(std::move(name), [counter] { return double(*counter); }, std::move(unit));
}

std::optional<double> StatsRegistry::value(std::string_view name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return e.read();
  return std::nullopt;
}

std::string stats_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e18) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

namespace {
// The JSON tree: one node per dotted name part, children in registration order.
struct Node {
  std::string value;  // leaf value, if no children
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> children;
  Node* child(const std::string& key) {
    for (auto& [k, n] : children)
      if (k == key) return n.get();
    children.emplace_back(key, std::make_unique<Node>());
    return children.back().second.get();
  }
  void print_members(std::string& out, bool first) const {
    for (const auto& [k, n] : children) {
      if (!first) out += ", ";
      first = false;
      out += '"' + k + "\": ";
      n->print(out);
    }
  }
  void print(std::string& out) const {
    if (children.empty()) {
      out += value;
      return;
    }
    out += '{';
    print_members(out, true);
    out += '}';
  }
};
}  // namespace

std::string StatsRegistry::json(std::string_view extra_fields) const {
  Node root;
  for (const Entry& e : entries_) {
    Node* n = &root;
    size_t start = 0;
    for (;;) {
      size_t dot = e.name.find('.', start);
      n = n->child(e.name.substr(start, dot == std::string::npos ? dot : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    n->value = stats_number(e.read());
  }
  std::string out = std::string("{\"schema\": \"") + kStatsSchema +
                    "\", \"version\": " + std::to_string(kStatsSchemaVersion);
  if (!extra_fields.empty()) {
    out += ", ";
    out += extra_fields;
  }
  root.print_members(out, false);
  return out + "}\n";
}

void write_stats_output(const std::string& text, const std::string& path) {
  FILE* out = stderr;
  if (!path.empty()) {
    out = std::fopen(path.c_str(), "w");
    if (!out) {
      std::fprintf(stderr, "softcpu: cannot write statistics to '%s': %s\n", path.c_str(),
                   std::strerror(errno));
      return;
    }
  }
  std::fputs(text.c_str(), out);
  if (out != stderr) std::fclose(out);
}

}  // namespace softcpu
