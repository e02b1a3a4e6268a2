#include "monitor/console_match.h"

#include <regex.h>

#include <algorithm>

namespace softcpu {

struct ConsoleRegex::Impl {
  regex_t re{};
};

std::shared_ptr<const ConsoleRegex> ConsoleRegex::compile(const std::string& pattern,
                                                          std::string* error) {
  if (pattern.find('\0') != std::string::npos) {
    if (error) *error = "a regular expression cannot hold a NUL byte";
    return nullptr;
  }
  std::shared_ptr<ConsoleRegex> rx(new ConsoleRegex);
  rx->pattern_ = pattern;
  auto impl = std::make_unique<Impl>();
  // REG_NEWLINE: `.` and [^...] stop at newlines, `^`/`$` match at line starts and ends.
  const int rc = regcomp(&impl->re, pattern.c_str(), REG_EXTENDED | REG_NEWLINE);
  if (rc != 0) {
    char message[256];
    regerror(rc, &impl->re, message, sizeof message);
    if (error) *error = message;
    return nullptr;
  }
  rx->impl_ = std::move(impl);
  return rx;
}

ConsoleRegex::~ConsoleRegex() {
  if (impl_) regfree(&impl_->re);
}

std::optional<ConsoleRegex::Match> ConsoleRegex::search(const std::string& text, size_t from,
                                                        size_t to, bool end_is_line_end,
                                                        bool text_starts_line) const {
  to = std::min(to, text.size());
  if (from > to) return std::nullopt;
  // REG_STARTEND (glibc, BSD): search [rm_so, rm_eo) of a string that may hold any byte; the
  // characters before rm_so still give `^` and `\b` their context.
  regmatch_t m[1];
  m[0].rm_so = static_cast<regoff_t>(from);
  m[0].rm_eo = static_cast<regoff_t>(to);
  int flags = REG_STARTEND;
  if (!end_is_line_end) flags |= REG_NOTEOL;
  if (!text_starts_line) flags |= REG_NOTBOL;
  if (regexec(&impl_->re, text.c_str(), 1, m, flags) != 0) return std::nullopt;
  return Match{static_cast<size_t>(m[0].rm_so), static_cast<size_t>(m[0].rm_eo)};
}

void ConsoleHistory::append(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i)
    if (data[i] != '\r' && data[i] != '\0') text_.push_back(static_cast<char>(data[i]));
  if (text_.size() <= limit_) return;
  // Drop the older half, up to the start of a line if one is near.
  size_t cut = text_.size() - limit_ / 2;
  const size_t nl = text_.find('\n', cut);
  if (nl != std::string::npos && nl + 1 < text_.size() && nl - cut < 4096) cut = nl + 1;
  starts_mid_line_ = text_[cut - 1] != '\n';
  text_.erase(0, cut);
  dropped_ += cut;
}

uint64_t ConsoleHistory::line_start(uint64_t pos) const {
  if (pos <= dropped_) return dropped_;
  const size_t at = static_cast<size_t>(std::min<uint64_t>(pos, end()) - dropped_);
  if (at == 0) return dropped_;
  const size_t nl = text_.rfind('\n', at - 1);
  return nl == std::string::npos ? dropped_ : dropped_ + nl + 1;
}

std::optional<ConsoleHistory::Found> ConsoleHistory::search(const ConsoleRegex& re,
                                                            uint64_t from) const {
  const size_t at = static_cast<size_t>(std::max(from, dropped_) - dropped_);
  auto m = re.search(text_, at, text_.size(), false, !starts_mid_line_);
  if (!m) return std::nullopt;
  return Found{dropped_ + m->begin, dropped_ + m->end};
}

std::string ConsoleHistory::text(uint64_t from, uint64_t to) const {
  from = std::clamp(from, dropped_, end());
  to = std::clamp(to, from, end());
  return text_.substr(static_cast<size_t>(from - dropped_), static_cast<size_t>(to - from));
}

std::string ConsoleHistory::last_lines(unsigned n) const {
  if (n == 0 || text_.empty()) return {};
  size_t at = text_.size();
  if (text_.back() == '\n') --at;  // the final newline ends the last line
  for (unsigned k = 0; k < n; ++k) {
    const size_t nl = at == 0 ? std::string::npos : text_.rfind('\n', at - 1);
    if (nl == std::string::npos) return text_;
    if (k + 1 == n) return text_.substr(nl + 1);
    at = nl;
  }
  return text_;
}

std::string printable_console_text(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7F)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('^');
      out.push_back(static_cast<char>(c ^ 0x40));  // 0x1B -> '[', 0x7F -> '?'
    }
  }
  return out;
}

}  // namespace softcpu
