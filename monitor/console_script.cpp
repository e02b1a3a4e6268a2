#include "monitor/console_script.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace softcpu {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct Token {
  std::string text;  // after unescaping (double quotes) or as written
  bool bare = true;  // not quoted
};

// Split a line into tokens: bare words, "double-quoted" (escapes) and 'single-quoted' (raw)
// strings; `#` at the start of a token begins a comment.
bool tokenize(const std::string& line, std::vector<Token>* tokens, std::string* error) {
  size_t i = 0;
  const size_t n = line.size();
  auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (i < n) {
    if (space(line[i])) {
      ++i;
      continue;
    }
    if (line[i] == '#') break;
    Token t;
    if (line[i] == '"' || line[i] == '\'') {
      const char quote = line[i++];
      std::string raw;
      bool closed = false;
      while (i < n) {
        if (line[i] == quote) {
          closed = true;
          ++i;
          break;
        }
        if (quote == '"' && line[i] == '\\' && i + 1 < n) raw.push_back(line[i++]);
        raw.push_back(line[i++]);
      }
      if (!closed) {
        *error = std::string("unterminated ") + (quote == '"' ? "\"string\"" : "'string'");
        return false;
      }
      if (i < n && !space(line[i])) {
        *error = "expected a space after the closing quote";
        return false;
      }
      t.bare = false;
      if (quote == '\'') {
        t.text = raw;
      } else if (!unescape_script_string(raw, &t.text, error)) {
        return false;
      }
    } else {
      while (i < n && !space(line[i])) t.text.push_back(line[i++]);
    }
    tokens->push_back(std::move(t));
  }
  return true;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool parse_status(const std::string& s, int* out) {
  if (s.empty() || s.size() > 3) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > 255) return false;
  *out = v;
  return true;
}

const char kCommands[] =
    "wait, expect, check, check-not, fail-on, send, sendline, wait-screen, check-screen, "
    "check-screen-not, sleep, timeout, status, exit, wait-exit, print, transcript";

}  // namespace

bool unescape_script_string(const std::string& in, std::string* out, std::string* error) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c != '\\' || i + 1 == in.size()) {
      out->push_back(c);
      continue;
    }
    const char e = in[++i];
    switch (e) {
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'e':
        out->push_back('\x1b');
        break;
      case '0':
        out->push_back('\0');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '"':
        out->push_back('"');
        break;
      case 'x': {
        const int hi = i + 1 < in.size() ? hex_digit(in[i + 1]) : -1;
        const int lo = i + 2 < in.size() ? hex_digit(in[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
          *error = "\\x needs two hex digits (e.g. \\x1b)";
          return false;
        }
        out->push_back(static_cast<char>(hi << 4 | lo));
        i += 2;
        break;
      }
      case 'c': {
        if (i + 1 == in.size()) {
          *error = "\\c needs a character (e.g. \\cC for Ctrl-C)";
          return false;
        }
        char k = in[++i];
        if (k >= 'a' && k <= 'z') k = static_cast<char>(k - 'a' + 'A');
        if (k == '?') {
          out->push_back('\x7f');
        } else if (k >= '@' && k <= '_') {
          out->push_back(static_cast<char>(k - '@'));
        } else {
          *error = std::string("\\c") + in[i] +
                   " is not a control character (use \\c@ .. \\c_, a letter or \\c?)";
          return false;
        }
        break;
      }
      default:  // kept as written: regular-expression escapes such as \. \w \( pass through
        out->push_back('\\');
        out->push_back(e);
        break;
    }
  }
  return true;
}

bool parse_script_duration(const std::string& s, double* seconds) {
  if (s.empty()) return false;
  double scale = 1;
  std::string digits = s;
  if (digits.size() > 2 && digits.compare(digits.size() - 2, 2, "ms") == 0) {
    scale = 1e-3;
    digits.resize(digits.size() - 2);
  } else if (digits.back() == 's') {
    digits.pop_back();
  } else if (digits.back() == 'm') {
    scale = 60;
    digits.pop_back();
  }
  if (digits.empty() || !(std::isdigit(static_cast<unsigned char>(digits[0])) || digits[0] == '.'))
    return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(digits.c_str(), &end);
  if (errno || *end != '\0' || !std::isfinite(v) || v < 0 || v * scale > 1e7) return false;
  *seconds = v * scale;
  return true;
}

bool parse_console_script(const std::string& text, const std::string& path, ConsoleScript* out,
                          std::vector<std::string>* errors) {
  out->path = path;
  out->steps.clear();
  out->transcript_path.clear();
  double timeout = kDefaultScriptTimeout;
  unsigned transcript_line = 0;
  std::istringstream in(text);
  std::string line;
  unsigned number = 0;
  const size_t errors_before = errors->size();
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // a file with CRLF line ends
    auto fail = [&](const std::string& message) {
      errors->push_back(path + ":" + std::to_string(number) + ": " + message);
    };
    std::vector<Token> tok;
    std::string error;
    if (!tokenize(line, &tok, &error)) {
      fail(error);
      continue;
    }
    if (tok.empty()) continue;
    const std::string& cmd = tok[0].text;
    if (!tok[0].bare) {
      fail("a line starts with a command, not a quoted string (the commands: " +
           std::string(kCommands) + ")");
      continue;
    }
    ScriptStep step;
    step.line = number;
    step.source = trim(line);
    const size_t nargs = tok.size() - 1;
    auto arity = [&](size_t lo, size_t hi, const char* usage) {
      if (nargs >= lo && nargs <= hi) return true;
      fail(std::string("usage: ") + usage);
      return false;
    };
    auto regex_arg = [&](size_t k) {
      if (tok[k].text.empty()) {
        fail("empty regular expression (it would match anything)");
        return false;
      }
      std::string rx_error;
      step.regex = ConsoleRegex::compile(tok[k].text, &rx_error);
      if (!step.regex) fail("bad regular expression '" + tok[k].text + "': " + rx_error);
      return step.regex != nullptr;
    };
    auto duration_arg = [&](size_t k, bool positive, double* v) {
      if (!parse_script_duration(tok[k].text, v) || (positive && *v <= 0)) {
        fail("bad duration '" + tok[k].text + "': expected seconds such as 30, 2.5, 500ms or 2m" +
             (positive ? " (more than 0)" : ""));
        return false;
      }
      return true;
    };
    auto status_arg = [&](size_t k) {
      if (parse_status(tok[k].text, &step.status)) return true;
      fail("bad exit status '" + tok[k].text + "': expected 0-255");
      return false;
    };
    bool ok = true;
    if (cmd == "wait" || cmd == "expect" || cmd == "wait-screen") {
      step.op = cmd == "wait-screen" ? ScriptOp::WAIT_SCREEN : ScriptOp::WAIT;
      step.seconds = timeout;
      ok = arity(1, 2, (cmd + " REGEX [TIMEOUT]").c_str()) && regex_arg(1) &&
           (nargs < 2 || duration_arg(2, true, &step.seconds));
    } else if (cmd == "check" || cmd == "check-not" || cmd == "fail-on" || cmd == "check-screen" ||
               cmd == "check-screen-not") {
      step.op = cmd == "check"          ? ScriptOp::CHECK
                : cmd == "check-not"    ? ScriptOp::CHECK_NOT
                : cmd == "fail-on"      ? ScriptOp::FAIL_ON
                : cmd == "check-screen" ? ScriptOp::CHECK_SCREEN
                                        : ScriptOp::CHECK_SCREEN_NOT;
      ok = arity(1, 1, (cmd + " REGEX").c_str()) && regex_arg(1);
    } else if (cmd == "send" || cmd == "sendline") {
      step.op = ScriptOp::SEND;
      ok = cmd == "sendline" || arity(1, SIZE_MAX, "send STRING...");
      for (size_t k = 1; k < tok.size(); ++k) step.bytes += tok[k].text;
      if (cmd == "sendline") step.bytes += '\r';
    } else if (cmd == "sleep") {
      step.op = ScriptOp::SLEEP;
      ok = arity(1, 1, "sleep DURATION") && duration_arg(1, false, &step.seconds);
    } else if (cmd == "timeout") {
      if (arity(1, 1, "timeout DURATION") && duration_arg(1, true, &timeout)) continue;
      ok = false;
    } else if (cmd == "status") {
      step.op = ScriptOp::STATUS;
      ok = arity(1, 1, "status N") && status_arg(1);
    } else if (cmd == "exit") {
      step.op = ScriptOp::EXIT;
      ok = arity(0, 1, "exit [N]") && (nargs == 0 || status_arg(1));
    } else if (cmd == "wait-exit") {
      step.op = ScriptOp::WAIT_EXIT;
      step.seconds = timeout;
      ok = arity(0, 1, "wait-exit [TIMEOUT]") &&
           (nargs == 0 || duration_arg(1, true, &step.seconds));
    } else if (cmd == "print") {
      step.op = ScriptOp::PRINT;
      for (size_t k = 1; k < tok.size(); ++k) step.bytes += (k > 1 ? " " : "") + tok[k].text;
    } else if (cmd == "transcript") {
      if (!arity(1, 1, "transcript FILE")) continue;
      if (tok[1].text.empty()) {
        fail("empty transcript file name");
      } else if (transcript_line) {
        fail("a second transcript (the first is on line " + std::to_string(transcript_line) + ")");
      } else {
        out->transcript_path = tok[1].text;
        transcript_line = number;
      }
      continue;
    } else {
      fail("unknown command '" + cmd + "' (the commands: " + kCommands + ")");
      continue;
    }
    if (ok) out->steps.push_back(std::move(step));
  }
  return errors->size() == errors_before;
}

bool load_console_script(const std::string& path, ConsoleScript* out,
                         std::vector<std::string>* errors) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    errors->push_back("cannot read console script '" + path + "': " + std::strerror(EISDIR));
    return false;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    errors->push_back("cannot read console script '" + path + "': " + std::strerror(errno));
    return false;
  }
  std::ostringstream text;
  text << f.rdbuf();
  if (f.bad()) {
    errors->push_back("cannot read console script '" + path + "'");
    return false;
  }
  return parse_console_script(text.str(), path, out, errors);
}

}  // namespace softcpu
