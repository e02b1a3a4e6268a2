#include "monitor/stats.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

namespace softcpu {

void StatsRegistry::add(std::string name, std::function<double()> read) {
  entries_.push_back({std::move(name), std::move(read)});
}

void StatsRegistry::add(std::string name, const uint64_t* counter) {
  add(std::move(name), [counter] { return double(*counter); });
}

static std::string number(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e18) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string StatsRegistry::text() const {
  size_t width = 0;
  for (const Entry& e : entries_) width = std::max(width, e.name.size());
  std::string out;
  for (const Entry& e : entries_) {
    out += e.name;
    out.append(width + 2 - e.name.size(), ' ');
    out += number(e.read());
    out += '\n';
  }
  return out;
}

namespace {
struct Node {
  std::string value;  // leaf value, if no children
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> children;
  Node* child(const std::string& key) {
    for (auto& [k, n] : children)
      if (k == key) return n.get();
    children.emplace_back(key, std::make_unique<Node>());
    return children.back().second.get();
  }
  void print(std::string& out) const {
    if (children.empty()) {
      out += value;
      return;
    }
    out += '{';
    bool first = true;
    for (const auto& [k, n] : children) {
      if (!first) out += ", ";
      first = false;
      out += '"' + k + "\": ";
      n->print(out);
    }
    out += '}';
  }
};
}  // namespace

std::string StatsRegistry::json() const {
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
    n->value = number(e.read());
  }
  std::string out;
  root.print(out);
  return out + "\n";
}

}  // namespace softcpu
