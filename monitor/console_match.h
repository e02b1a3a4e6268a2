// What a console script (monitor/console_script.h) matches against: POSIX extended regular
// expressions (as `grep -E`, with glibc's \w \s \b \< \> extensions) and the guest's serial
// output kept as text.
//
// Matching rules, the same for every chunking of the output:
//  - the text has carriage returns and NUL bytes removed, so "\r\n" line ends are "\n";
//  - `.` and bracket expressions never match a newline; `^` matches at the start of a line and
//    `$` at its end (before a "\n"), never at the end of the output received so far (the rest
//    of the line may not have arrived), nor `^` in the middle of a line where a search starts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace softcpu {

class ConsoleRegex {
 public:
  // Compile `pattern`; nullptr and *error = the library's message if it is not valid.
  static std::shared_ptr<const ConsoleRegex> compile(const std::string& pattern,
                                                     std::string* error);
  ~ConsoleRegex();
  ConsoleRegex(const ConsoleRegex&) = delete;
  ConsoleRegex& operator=(const ConsoleRegex&) = delete;

  struct Match {
    size_t begin, end;  // offsets into the searched string
  };
  // The leftmost match in text[from, to). `end_is_line_end`: `$` may match at `to` (a complete
  // text such as a screen dump), otherwise only before a "\n". `^` matches at `from` only when
  // it starts a line: text[from - 1] == '\n', or from == 0 and `text_starts_line`.
  std::optional<Match> search(const std::string& text, size_t from, size_t to,
                              bool end_is_line_end = false, bool text_starts_line = true) const;

  const std::string& pattern() const { return pattern_; }

 private:
  ConsoleRegex() = default;
  std::string pattern_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The serial output as matchable text: what arrived since the start of the run, up to a limit
// (older text is dropped, from a line start where possible), with positions that count
// characters since the start, so they stay valid when old text goes.
class ConsoleHistory {
 public:
  // Past `limit` characters, the oldest half is dropped.
  static constexpr size_t DEFAULT_LIMIT = 4u << 20;
  explicit ConsoleHistory(size_t limit = DEFAULT_LIMIT) : limit_(limit) {}

  // Append guest output; carriage returns and NUL bytes are left out.
  void append(const uint8_t* data, size_t len);

  // Positions count characters since the start of the run.
  uint64_t end() const { return dropped_ + text_.size(); }
  uint64_t begin() const { return dropped_; }
  // The first position of the line holding `pos` (clamped to begin()).
  uint64_t line_start(uint64_t pos) const;
  // Search [from, end()) (from clamped to begin()); the match in run positions.
  struct Found {
    uint64_t begin, end;
  };
  std::optional<Found> search(const ConsoleRegex& re, uint64_t from) const;
  // Text of [from, to) (clamped).
  std::string text(uint64_t from, uint64_t to) const;
  // The last `n` lines (a last line without "\n" counts as one).
  std::string last_lines(unsigned n) const;
  // True if nothing was received yet or the last character is a newline.
  bool at_line_start() const { return text_.empty() || text_.back() == '\n'; }

 private:
  size_t limit_;
  std::string text_;
  uint64_t dropped_ = 0;
  bool starts_mid_line_ = false;  // text was dropped up to a point that is not a line start
};

// `text` with control characters other than newline and tab shown as ^X (ESC as ^[), so that
// a failure report cannot reprogram the user's terminal.
std::string printable_console_text(const std::string& text);

}  // namespace softcpu
