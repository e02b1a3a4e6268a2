#include "monitor/script_runner.h"

#include <chrono>
#include <cinttypes>
#include <limits>
#include <sstream>

namespace softcpu {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

// Each line of `text` with a "  | " in front (a last line without a newline included).
std::string quote_lines(const std::string& text) {
  std::string out;
  std::istringstream in(printable_console_text(text));
  std::string line;
  while (std::getline(in, line)) out += line.empty() ? "  |\n" : "  | " + line + "\n";
  return out;
}

}  // namespace

ScriptRunner::ScriptRunner(ConsoleScript script, Hooks hooks)
    : script_(std::move(script)), hooks_(std::move(hooks)) {
  started_ = now();
}

void ScriptRunner::set_hooks(Hooks hooks) {
  hooks_ = std::move(hooks);
  started_ = now();
}

double ScriptRunner::now() const {
  if (hooks_.clock) return hooks_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void ScriptRunner::on_output(const uint8_t* data, size_t len) { history_.append(data, len); }

std::string ScriptRunner::describe_regex(const ConsoleRegex& re) const {
  return "/" + printable_console_text(re.pattern()) + "/";
}

void ScriptRunner::fail(const ScriptStep* s, const std::string& reason, bool show_screen) {
  if (state_ == State::FAILED) return;
  state_ = State::FAILED;
  FILE* log = hooks_.log;
  // The guest's last line may not have ended: start the report on a line of its own.
  if (!history_.at_line_start()) std::fputc('\n', log);
  if (s)
    std::fprintf(log, "softcpu: script failed at %s:%u: %s\n", script_.path.c_str(), s->line,
                 printable_console_text(s->source).c_str());
  else
    std::fprintf(log, "softcpu: script %s failed\n", script_.path.c_str());
  std::fprintf(log, "softcpu: script: %s\n", reason.c_str());
  if (show_screen && hooks_.screen) {
    std::string screen = hooks_.screen();
    while (screen.size() >= 2 && screen.back() == '\n' && screen[screen.size() - 2] == '\n')
      screen.pop_back();  // the empty rows at the bottom
    std::fprintf(log, "softcpu: script: the screen:\n%s", quote_lines(screen).c_str());
  } else {
    const std::string last = history_.last_lines(REPORT_LINES);
    if (last.empty())
      std::fprintf(log, "softcpu: script: there was no serial output\n");
    else
      std::fprintf(log, "softcpu: script: the last %u lines of serial output:\n%s", REPORT_LINES,
                   quote_lines(last).c_str());
  }
  std::fflush(log);
  if (hooks_.request_exit) hooks_.request_exit(FAILURE_STATUS);
}

// fail-on: each watcher looks at whole lines, from the start of the line it stopped in (a
// long line without a newline is looked at no more often than a throttled wait).
void ScriptRunner::scan_watchers(bool force) {
  if (watchers_.empty() || history_.end() == watched_end_) return;
  const double t = now();
  if (!force && watched_at_ >= 0 && t - watched_at_ < THROTTLE_SECONDS &&
      history_.end() - history_.line_start(watched_end_) > THROTTLE_BYTES)
    return;
  watched_end_ = history_.end();
  watched_at_ = t;
  for (Watcher& w : watchers_) {
    if (auto m = history_.search(*w.step->regex, history_.line_start(w.scanned))) {
      std::string line = history_.text(history_.line_start(m->begin), m->end);
      fail(w.step, "the serial output matched " + describe_regex(*w.step->regex) + ": \"" +
                       printable_console_text(line) + "\"");
      return;
    }
    w.scanned = history_.end();
  }
}

bool ScriptRunner::try_wait(const ScriptStep& s, double t, bool force) {
  const uint64_t end = history_.end();
  if (!force) {
    if (end == attempted_end_ && attempted_at_ >= 0) return false;  // nothing new to look at
    if (end - match_pos_ > THROTTLE_BYTES && t - attempted_at_ < THROTTLE_SECONDS) return false;
  }
  attempted_end_ = end;
  attempted_at_ = t;
  auto m = history_.search(*s.regex, match_pos_);
  if (!m) return false;
  last_wait_text_starts_line_ =
      history_.line_start(match_pos_) == std::max(match_pos_, history_.begin());
  last_wait_text_ = history_.text(match_pos_, m->end);
  have_wait_text_ = true;
  match_pos_ = m->end;
  return true;
}

bool ScriptRunner::run_step(const ScriptStep& s, double t, bool stopped) {
  if (!step_started_) {
    step_started_ = true;
    step_start_ = t;
    step_deadline_ = t + s.seconds;
    next_screen_poll_ = t;
    attempted_at_ = -1;  // a new wait looks at once
  }
  const std::string stopped_reason = "the machine stopped (exit status " +
                                     std::to_string(stopped_status_) +
                                     ") before this step was done";
  switch (s.op) {
    case ScriptOp::WAIT:
      if (try_wait(s, t, stopped || t >= step_deadline_)) return true;
      if (stopped) {
        fail(&s, stopped_reason + ": no match for " + describe_regex(*s.regex) +
                     " in the serial output since the last match");
      } else if (t >= step_deadline_) {
        fail(&s, "timed out after " + seconds_text(s.seconds) + ": no match for " +
                     describe_regex(*s.regex) + " in the serial output since the last match (" +
                     std::to_string(history_.end() - std::max(match_pos_, history_.begin())) +
                     " characters)");
      }
      return false;
    case ScriptOp::CHECK:
    case ScriptOp::CHECK_NOT: {
      if (!have_wait_text_) {
        fail(&s, "no wait before this check: it checks the text the last wait consumed");
        return false;
      }
      const auto m = s.regex->search(last_wait_text_, 0, last_wait_text_.size(), false,
                                     last_wait_text_starts_line_);
      if (s.op == ScriptOp::CHECK && !m) {
        fail(&s, "the output of the last wait does not match " + describe_regex(*s.regex));
        return false;
      }
      if (s.op == ScriptOp::CHECK_NOT && m) {
        fail(&s, "the output of the last wait matches " + describe_regex(*s.regex) + " (\"" +
                     printable_console_text(last_wait_text_.substr(m->begin, m->end - m->begin)) +
                     "\")");
        return false;
      }
      return true;
    }
    case ScriptOp::FAIL_ON:
      watchers_.push_back({&s, match_pos_});
      watched_end_ = 0;  // scan at once
      scan_watchers(true);
      return state_ != State::FAILED;
    case ScriptOp::SEND:
      if (stopped) {
        fail(&s, stopped_reason);
        return false;
      }
      if (hooks_.send)
        hooks_.send(reinterpret_cast<const uint8_t*>(s.bytes.data()), s.bytes.size());
      return true;
    case ScriptOp::WAIT_SCREEN:
    case ScriptOp::CHECK_SCREEN:
    case ScriptOp::CHECK_SCREEN_NOT: {
      const bool last = s.op != ScriptOp::WAIT_SCREEN || stopped || t >= step_deadline_;
      if (!last && t < next_screen_poll_) return false;
      next_screen_poll_ = t + SCREEN_POLL_SECONDS;
      const std::string screen = hooks_.screen ? hooks_.screen() : std::string();
      const bool found = s.regex->search(screen, 0, screen.size(), true).has_value();
      if (found == (s.op != ScriptOp::CHECK_SCREEN_NOT)) return true;
      if (!last) return false;
      if (s.op == ScriptOp::WAIT_SCREEN)
        fail(&s,
             (stopped ? stopped_reason : "timed out after " + seconds_text(s.seconds)) +
                 ": no match for " + describe_regex(*s.regex) + " on the screen",
             true);
      else
        fail(&s,
             std::string("the screen ") + (found ? "matches " : "does not match ") +
                 describe_regex(*s.regex),
             true);
      return false;
    }
    case ScriptOp::SLEEP:
      if (stopped) {
        fail(&s, stopped_reason);
        return false;
      }
      return t >= step_deadline_;
    case ScriptOp::STATUS:
      status_ = s.status;
      return true;
    case ScriptOp::EXIT:
      exit_status_ = s.status >= 0 ? s.status : status_ >= 0 ? status_ : 0;
      state_ = State::EXITED;
      if (hooks_.request_exit) hooks_.request_exit(exit_status_);
      return true;
    case ScriptOp::WAIT_EXIT:
      if (stopped) return true;
      if (t >= step_deadline_)
        fail(&s, "timed out after " + seconds_text(s.seconds) +
                     ": the guest did not stop the machine (power off, halt or debug exit)");
      return false;
    case ScriptOp::PRINT:
      std::fprintf(hooks_.log, "softcpu: script: %s\n", printable_console_text(s.bytes).c_str());
      std::fflush(hooks_.log);
      return true;
  }
  return false;
}

void ScriptRunner::advance(bool stopped) {
  const double t = now();
  while (state_ == State::RUNNING && pc_ < script_.steps.size()) {
    if (!run_step(script_.steps[pc_], t, stopped)) return;
    ++pc_;
    step_started_ = false;
  }
  if (state_ == State::RUNNING && pc_ == script_.steps.size()) state_ = State::DONE;
}

void ScriptRunner::tick() {
  if (state_ == State::FAILED) return;
  scan_watchers(false);
  if (state_ == State::RUNNING) advance(false);
}

double ScriptRunner::wake_in() {
  if (state_ != State::RUNNING || pc_ >= script_.steps.size() || !step_started_) return kNever;
  const ScriptStep& s = script_.steps[pc_];
  const double t = now();
  switch (s.op) {
    case ScriptOp::WAIT:
      // Output that arrived while the wait was throttled is looked at soon.
      if (history_.end() != attempted_end_)
        return std::max(0.0, std::min(step_deadline_, attempted_at_ + THROTTLE_SECONDS) - t);
      return std::max(0.0, step_deadline_ - t);
    case ScriptOp::WAIT_SCREEN:
      return std::max(0.0, std::min(step_deadline_, next_screen_poll_) - t);
    case ScriptOp::SLEEP:
    case ScriptOp::WAIT_EXIT:
      return std::max(0.0, step_deadline_ - t);
    default:
      return kNever;
  }
}

int ScriptRunner::finish(int machine_status) {
  stopped_status_ = machine_status;
  if (state_ != State::FAILED) scan_watchers(true);
  if (state_ == State::RUNNING) advance(true);
  switch (state_) {
    case State::FAILED:
      // A step left waiting when --timeout or --insn-limit stopped the run keeps their 124.
      return machine_status == 124 ? 124 : FAILURE_STATUS;
    case State::EXITED:
      break;
    case State::DONE:
    case State::RUNNING:  // not reached: advance(true) finishes or fails every step
      exit_status_ = status_ >= 0 ? status_ : machine_status;
      break;
  }
  std::fprintf(hooks_.log, "softcpu: script %s passed (%zu steps in %.1f s)\n",
               script_.path.c_str(), pc_, now() - started_);
  std::fflush(hooks_.log);
  return exit_status_;
}

}  // namespace softcpu
