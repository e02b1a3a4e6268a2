// --stats-interval MS --stats-file FILE: a time series of the statistics. Every MS
// milliseconds of guest time (the machine's virtual clock, which stands still while a
// debugger holds the guest) one line goes to FILE: the complete --stats=json object with
// "guest_ms", the guest time it was taken at. The last line, at exit, also has "final": true.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace softcpu {

class StatsRegistry;
class VirtualClock;

class StatsSeries {
 public:
  // Opens (truncates) `path` and arms a timer on `clock`; nullptr with `error` set when the
  // file cannot be opened.
  static std::unique_ptr<StatsSeries> open(const StatsRegistry& stats, VirtualClock& clock,
                                           const std::string& path, uint64_t interval_ms,
                                           std::string* error);
  ~StatsSeries();

  // The last line ("final": true); the file is closed after it.
  void finish();
  uint64_t lines() const { return lines_; }

 private:
  StatsSeries(const StatsRegistry& stats, VirtualClock& clock, FILE* out, uint64_t interval_ns);
  void write_line(uint64_t now_ns, bool final);

  const StatsRegistry& stats_;
  VirtualClock& clock_;
  FILE* out_;
  uint64_t interval_ns_;
  uint64_t next_ns_;
  unsigned timer_ = 0;
  uint64_t lines_ = 0;
};

}  // namespace softcpu
