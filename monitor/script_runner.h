// Runs a console script (monitor/console_script.h, docs/console-script.md) against the
// machine: it sees the guest's serial output (through a ConsoleTap observer), sends bytes to
// the guest's serial input, reads the VGA text screen, and stops the machine with a status.
//
// Threads: everything here runs on the CPU thread. The machine calls tick() between
// interpreter runs (service_devices) and finish() when its run loop ends; the output observer
// is called from the UART's writes, also on the CPU thread. So the runner takes no locks and
// reads the screen and the output without racing the guest; it never blocks (waits are
// states that tick() re-examines).
//
// Time: timeouts and sleeps read one function, Hooks::clock (seconds). The machine gives it
// the host's monotonic clock (wall time); a deterministic mode can give it guest time instead.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "monitor/console_match.h"
#include "monitor/console_script.h"

namespace softcpu {

class ScriptRunner {
 public:
  struct Hooks {
    std::function<void(const uint8_t*, size_t)> send;  // to the guest's serial input
    std::function<std::string()> screen;               // the VGA text screen as text
    std::function<void(int)> request_exit;             // stop the machine with this status
    std::function<double()> clock;                     // seconds; empty: host monotonic time
    FILE* log = stderr;                                // failure reports and `print`
  };
  // Process exit status of a failed script (docs/console-script.md).
  static constexpr int FAILURE_STATUS = 4;
  // Lines of serial output a failure report shows.
  static constexpr unsigned REPORT_LINES = 20;
  // How often wait-screen looks at the screen.
  static constexpr double SCREEN_POLL_SECONDS = 0.1;
  // A wait whose unmatched output is longer than this is retried at most this often (a regex
  // search costs time linear in the text, and the output grows a byte at a time).
  static constexpr size_t THROTTLE_BYTES = 4096;
  static constexpr double THROTTLE_SECONDS = 0.02;

  ScriptRunner(ConsoleScript script, Hooks hooks);
  // Replace the hooks (the machine creates the runner before the devices it reaches); the
  // script's time starts again.
  void set_hooks(Hooks hooks);

  // Guest serial output (the ConsoleTap observer).
  void on_output(const uint8_t* data, size_t len);
  // Advance the script as far as it can go now.
  void tick();
  // Seconds until tick() has something to do that no output or input will announce (a
  // timeout, a sleep, a screen poll); a large number when there is none.
  double wake_in();
  // The machine's run loop ended with `machine_status`: finish the steps that can still
  // finish (a wait-exit, a last match), report a step left waiting, and return the process
  // exit status.
  int finish(int machine_status);

  bool failed() const { return state_ == State::FAILED; }
  size_t steps_done() const { return pc_; }

 private:
  enum class State { RUNNING, DONE, EXITED, FAILED };
  double now() const;
  // Run steps until one has to wait. `stopped`: the machine has stopped (finish()).
  void advance(bool stopped);
  // One step: true when it completed (pc_ moves on).
  bool run_step(const ScriptStep& s, double t, bool stopped);
  bool try_wait(const ScriptStep& s, double t, bool force);
  void scan_watchers(bool force);
  void fail(const ScriptStep* s, const std::string& reason, bool show_screen = false);
  std::string describe_regex(const ConsoleRegex& re) const;

  ConsoleScript script_;
  Hooks hooks_;
  State state_ = State::RUNNING;
  size_t pc_ = 0;
  bool step_started_ = false;
  double step_start_ = 0, step_deadline_ = 0, next_screen_poll_ = 0;
  double started_ = 0;

  ConsoleHistory history_;
  uint64_t match_pos_ = 0;      // the end of the last wait's match: output before it is consumed
  uint64_t attempted_end_ = 0;  // history end at the last wait attempt
  double attempted_at_ = -1;
  std::string last_wait_text_;  // what the last wait consumed (for check / check-not)
  bool last_wait_text_starts_line_ = true;
  bool have_wait_text_ = false;

  struct Watcher {
    const ScriptStep* step;
    uint64_t scanned;  // output before this position has been scanned (line-wise)
  };
  std::vector<Watcher> watchers_;
  uint64_t watched_end_ = 0;  // history end at the last watcher scan
  double watched_at_ = -1;

  int status_ = -1;         // `status N`; -1: the machine's own
  int exit_status_ = 0;     // the status `exit` asked for
  int stopped_status_ = 0;  // the machine's status, once finish() is called
};

}  // namespace softcpu
