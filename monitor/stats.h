// The statistics registry: every counter a user may want, under a dotted name
// ("cache.hits"), printed by --stats as a grouped text report for people or as one complete
// JSON object (schema "softcpu-stats", docs/stats.md) for programs.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softcpu {

// The JSON schema's name and version (docs/stats.md): the version goes up when a counter
// changes meaning or the layout changes; new counters do not change it.
inline constexpr const char kStatsSchema[] = "softcpu-stats";
inline constexpr int kStatsSchemaVersion = 1;

class StatsRegistry {
 public:
  // A counter read when the registry is printed. `unit` is shown in the text report ("s",
  // "us", "bytes", "ratio" (printed as a percentage), "MIPS"; empty: a count, or a unit
  // guessed from the name's suffix: _seconds, _us, _bytes, _rate).
  void add(std::string name, std::function<double()> read, std::string unit = {});
  void add(std::string name, const uint64_t* counter, std::string unit = {});

  // The report: counters grouped (Run, Translation cache, Tiers, Exits, TLB, Exceptions,
  // Devices) with derived rates; zero rows are left out (monitor/stats_report.cpp).
  std::string text() const;
  // One JSON object on one line, nested by the dots in the names, every counter (zeros
  // too), after "schema" and "version". `extra_fields` (e.g. "\"guest_ms\": 5") go right
  // after those two.
  std::string json(std::string_view extra_fields = {}) const;

  // The current value of the counter `name`, if registered (tests, derived rows).
  std::optional<double> value(std::string_view name) const;

  struct Entry {
    std::string name;
    std::function<double()> read;
    std::string unit;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// --stats output: `text` to stderr, or to the file `path` (truncated) when it is not empty; a
// file that cannot be written is one line on stderr.
void write_stats_output(const std::string& text, const std::string& path);

// A number as JSON and the report print it: integers without a fraction, others with six
// significant digits, and null for NaN or infinity (which JSON has no word for).
std::string stats_number(double v);

}  // namespace softcpu
