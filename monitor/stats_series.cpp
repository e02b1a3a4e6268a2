// The --stats-interval time series (monitor/stats_series.h). Sampling is a virtual-clock
// timer, so the run loop pays nothing for it: the timer fires from the clock's run_due()
// between interpreter runs, like any device timer.
#include "monitor/stats_series.h"

#include <cerrno>
#include <cstring>

#include "monitor/stats.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

std::unique_ptr<StatsSeries> StatsSeries::open(const StatsRegistry& stats, VirtualClock& clock,
                                               const std::string& path, uint64_t interval_ms,
                                               std::string* error) {
  FILE* out = std::fopen(path.c_str(), "w");
  if (!out) {
    *error = "cannot write the statistics series to '" + path + "': " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<StatsSeries>(new StatsSeries(stats, clock, out, interval_ms * 1000000));
}

StatsSeries::StatsSeries(const StatsRegistry& stats, VirtualClock& clock, FILE* out,
                         uint64_t interval_ns)
    : stats_(stats), clock_(clock), out_(out), interval_ns_(interval_ns) {
  next_ns_ = clock_.now_ns() + interval_ns_;
  timer_ = clock_.create_timer([this](uint64_t now_ns) {
    write_line(now_ns, false);
    // The next sample is one interval after this one's deadline; a guest that was away
    // longer (a long idle sleep, a slow host) skips the samples it missed.
    next_ns_ += interval_ns_;
    if (next_ns_ <= now_ns) next_ns_ = now_ns + interval_ns_;
    clock_.arm(timer_, next_ns_);
  });
  clock_.arm(timer_, next_ns_);
}

StatsSeries::~StatsSeries() {
  if (out_) {
    clock_.cancel(timer_);
    std::fclose(out_);
  }
}

void StatsSeries::write_line(uint64_t now_ns, bool final) {
  if (!out_) return;
  std::string extra = "\"guest_ms\": " + stats_number(double(now_ns) / 1e6);
  if (final) extra += ", \"final\": true";
  std::fputs(stats_.json(extra).c_str(), out_);  // json() ends the line
  std::fflush(out_);  // a line is complete on disk as soon as it is written
  ++lines_;
}

void StatsSeries::finish() {
  if (!out_) return;
  clock_.cancel(timer_);
  write_line(clock_.now_ns(), true);
  std::fclose(out_);
  out_ = nullptr;
}

}  // namespace softcpu
