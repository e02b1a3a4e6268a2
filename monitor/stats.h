// The statistics registry: every counter a user may want, under a dotted name
// ("cache.hits"), printed as text or as nested JSON by --stats.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace softcpu {

class StatsRegistry {
 public:
  // A counter read when the registry is printed.
  void add(std::string name, std::function<double()> read);
  void add(std::string name, const uint64_t* counter);
  // Print "name value" lines, or one JSON object nested by the dots in the names.
  std::string text() const;
  std::string json() const;

 private:
  struct Entry {
    std::string name;
    std::function<double()> read;
  };
  std::vector<Entry> entries_;
};

}  // namespace softcpu
