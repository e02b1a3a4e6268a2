// The text form of --stats (and gdb's `monitor stats`): a short report for people. Counters
// are sorted into groups by their name's prefix (the table below), each with a few derived
// rates; rows whose value is zero are left out (--stats=json keeps everything). A counter
// someone registers later lands in its group by its prefix, or under Devices.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "monitor/stats.h"

namespace softcpu {

namespace {

enum Group { RUN, CACHE, TIERS, EXITS, TLB, EXCEPTIONS, DEVICES, GROUP_COUNT };
const char* const kGroupTitle[GROUP_COUNT] = {"Run", "Translation cache", "Tiers", "Exits",
                                              "TLB", "Exceptions", "Devices"};

// A name ending in '.' takes every counter under it; otherwise the exact name. The longest
// match wins ("tier1.exits." over "tier1."); names no rule matches go to Devices.
struct GroupRule {
  const char* prefix;
  Group group;
};
const GroupRule kGroupRules[] = {
    {"instructions", RUN},   {"wall_seconds", RUN},       {"mips", RUN},
    {"guest_seconds", RUN},  {"resets", RUN},             {"idle_waits", RUN},
    {"cache.", CACHE},       {"blocks_decoded", CACHE},   {"insns_decoded", CACHE},
    {"tier0.", TIERS},       {"tier1.", TIERS},           {"jit.", TIERS},
    {"exits.", EXITS},       {"tier1.exits.", EXITS},     {"tlb.", TLB},
    {"exceptions.", EXCEPTIONS},
};

Group group_of(const std::string& name) {
  Group g = DEVICES;
  size_t best = 0;
  for (const GroupRule& r : kGroupRules) {
    const std::string_view p = r.prefix;
    const bool match = p.back() == '.' ? name.compare(0, p.size(), p) == 0 : name == p;
    if (match && p.size() > best) {
      best = p.size();
      g = r.group;
    }
  }
  return g;
}

// Every counter's value, read once per report.
struct Values {
  std::map<std::string, double, std::less<>> by_name;
  double get(std::string_view n) const {
    auto it = by_name.find(n);
    return it == by_name.end() ? 0.0 : it->second;
  }
  double sum(std::string_view prefix) const {
    double s = 0;
    for (const auto& [n, v] : by_name)
      if (n.compare(0, prefix.size(), prefix) == 0) s += v;
    return s;
  }
  double per_million_insns(double n) const { return n * 1e6 / get("instructions"); }
};

// Rates computed from the counters, shown after their group's counters (when non-zero and
// finite; a division by zero gives neither).
struct Derived {
  Group group;
  const char* label;
  const char* unit;
  double (*compute)(const Values&);
};
const Derived kDerived[] = {
    {CACHE, "misses per M insns", "", [](const Values& v) {
       return v.per_million_insns(v.get("cache.misses")); }},
    {CACHE, "invalidations per M insns", "", [](const Values& v) {
       return v.per_million_insns(v.get("cache.invalidations")); }},
    {CACHE, "insns per decoded block", "", [](const Values& v) {
       return v.get("insns_decoded") / v.get("blocks_decoded"); }},
    {TIERS, "compiled share of insns", "ratio", [](const Values& v) {
       return v.get("tier1.instructions") / v.get("instructions"); }},
    {TIERS, "insns per region entry", "", [](const Values& v) {
       return v.get("tier1.instructions") / v.get("tier1.region_entries"); }},
    {TIERS, "compile time per run second", "ms/s", [](const Values& v) {
       return v.get("jit.compile_us_total") / 1e3 / v.get("wall_seconds"); }},
    {EXITS, "exits per M insns", "", [](const Values& v) {  // budget exits are bookkeeping
       return v.per_million_insns(v.sum("exits.") - v.get("exits.budget")); }},
    {TLB, "walks per M insns", "", [](const Values& v) {
       return v.per_million_insns(v.get("tlb.walks")); }},
    {TLB, "slow accesses per M insns", "", [](const Values& v) {
       return v.per_million_insns(v.get("tlb.slow_accesses")); }},
    {EXCEPTIONS, "exceptions per M insns", "", [](const Values& v) {
       return v.per_million_insns(v.get("exceptions.total")); }},
    {DEVICES, "port accesses per M insns", "", [](const Values& v) {
       return v.per_million_insns(v.get("io.port_reads") + v.get("io.port_writes")); }},
};

// A counter's unit when add() gave none, from its name: ..._seconds, ..._us or ..._us_...
// (in any part: jit.compile_us_p99, jit.compile_cpu_us.opt), ...bytes..., ...rate, mips.
std::string guess_unit(const std::string& name) {
  auto ends = [](std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
  };
  size_t start = 0;
  for (;;) {
    const size_t dot = name.find('.', start);
    const std::string_view part =
        std::string_view(name).substr(start, dot == std::string::npos ? dot : dot - start);
    if (ends(part, "_us") || part.find("_us_") != std::string_view::npos) return "us";
    if (ends(part, "_seconds")) return "s";
    if (part.find("bytes") != std::string_view::npos) return "bytes";  // cache.bytes_native
    if (ends(part, "rate")) return "ratio";
    if (part == "mips") return "MIPS";
    if (dot == std::string::npos) return "";
    start = dot + 1;
  }
}

// 1234567 -> "1,234,567".
std::string grouped(double v) {
  std::string digits = stats_number(std::fabs(v)), out;
  for (size_t k = 0; k < digits.size(); ++k) {
    if (k && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return (v < 0 ? "-" : "") + out;
}

// The value column and the unit after it.
std::pair<std::string, std::string> format(double v, const std::string& unit) {
  char buf[64];
  auto fixed = [&](const char* fmt, double x) {
    std::snprintf(buf, sizeof buf, fmt, x);
    return std::string(buf);
  };
  if (unit == "ratio")  // 0.999997 is "99.9997 %", not "100.00 %"
    return {fixed(v < 1 && v > 0.9999 ? "%.4f" : "%.2f", v * 100), "%"};
  if (unit == "s") return {fixed("%.3f", v), "s"};
  if (unit == "us") {
    if (std::fabs(v) >= 1e6) return {fixed("%.3f", v / 1e6), "s"};
    if (std::fabs(v) >= 1e4) return {fixed("%.1f", v / 1e3), "ms"};
    return {fixed("%.0f", v), "us"};
  }
  if (unit == "bytes") {
    if (std::fabs(v) >= 1 << 20) return {fixed("%.1f", v / (1 << 20)), "MiB"};
    if (std::fabs(v) >= 1 << 10) return {fixed("%.1f", v / (1 << 10)), "KiB"};
    return {grouped(v), "bytes"};
  }
  if (v == std::floor(v) && std::fabs(v) < 1e18) return {grouped(v), unit};
  if (std::fabs(v) >= 100) return {grouped(std::round(v)), unit};
  return {fixed("%.2f", v), unit};
}

struct Row {
  std::string label, value, unit;
};

}  // namespace

std::string StatsRegistry::text() const {
  Values values;
  std::vector<Row> rows[GROUP_COUNT];
  for (const Entry& e : entries_) {
    const double v = e.read();
    values.by_name[e.name] = v;
    if (v == 0 || std::isnan(v)) continue;
    auto [num, unit] = format(v, e.unit.empty() ? guess_unit(e.name) : e.unit);
    rows[group_of(e.name)].push_back({e.name, num, unit});
  }
  for (const Derived& d : kDerived) {
    const double v = d.compute(values);
    if (v == 0 || !std::isfinite(v)) continue;
    auto [num, unit] = format(v, d.unit);
    rows[d.group].push_back({d.label, num, unit});
  }
  size_t label_w = 0, value_w = 0;
  for (const auto& group : rows)
    for (const Row& r : group) {
      label_w = std::max(label_w, r.label.size());
      value_w = std::max(value_w, r.value.size());
    }
  std::string out;
  for (int g = 0; g < GROUP_COUNT; ++g) {
    if (rows[g].empty()) continue;
    out += kGroupTitle[g];
    out += '\n';
    for (const Row& r : rows[g]) {
      out += "  " + r.label;
      out.append(label_w - r.label.size() + 2 + value_w - r.value.size(), ' ');
      out += r.value;
      if (!r.unit.empty()) out += ' ' + r.unit;
      out += '\n';
    }
  }
  return out;
}

}  // namespace softcpu
