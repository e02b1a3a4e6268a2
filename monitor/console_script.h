// The console script language (docs/console-script.md): one command a line, run against the
// guest's serial console (COM1) and VGA text screen by ScriptRunner (monitor/script_runner.h).
// This file is the language: its commands and the parser, which reports every error with the
// file and line before the guest starts.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "monitor/console_match.h"

namespace softcpu {

enum class ScriptOp {
  WAIT,              // wait REGEX [TIMEOUT] (alias expect): serial output since the last match
  CHECK,             // check REGEX: in the text the last wait consumed
  CHECK_NOT,         // check-not REGEX
  FAIL_ON,           // fail-on REGEX: from here on, any serial output line matching fails
  SEND,              // send STRING...; sendline adds "\r" (Enter)
  WAIT_SCREEN,       // wait-screen REGEX [TIMEOUT]: the VGA text screen, polled
  CHECK_SCREEN,      // check-screen REGEX
  CHECK_SCREEN_NOT,  // check-screen-not REGEX
  SLEEP,             // sleep DURATION
  STATUS,            // status N: the exit status when the run ends without a failure
  EXIT,              // exit [N]: stop the machine now
  WAIT_EXIT,         // wait-exit [TIMEOUT]: the guest must stop the machine (power off) in time
  PRINT,             // print STRING: a line on stderr
};

struct ScriptStep {
  ScriptOp op;
  unsigned line = 0;                          // 1-based line in the script file
  std::string source;                         // the line as written (trimmed), for messages
  std::shared_ptr<const ConsoleRegex> regex;  // the match commands
  std::string bytes;                          // SEND: what to send; PRINT: the text
  double seconds = 0;                         // WAIT*, SLEEP: the timeout or duration
  int status = -1;  // STATUS, EXIT: the status (-1 with EXIT: the `status` one, or 0)
};

struct ConsoleScript {
  std::string path;  // as given on the command line, for messages
  std::vector<ScriptStep> steps;
  std::string transcript_path;  // `transcript FILE`; empty: none
};

// The timeout of wait commands before any `timeout` command.
inline constexpr double kDefaultScriptTimeout = 30.0;

// Parse a script. On errors returns false with one "PATH:LINE: message" per error in *errors
// (all of them, in line order).
bool parse_console_script(const std::string& text, const std::string& path, ConsoleScript* out,
                          std::vector<std::string>* errors);
// Read and parse the file at `path` (a read error is one message naming the file).
bool load_console_script(const std::string& path, ConsoleScript* out,
                         std::vector<std::string>* errors);

// The escapes of a double-quoted string: \n \r \t \e (ESC) \0 \\ \" \xHH and \cX (Ctrl-X:
// \cc and \cC are 0x03, \c? is DEL, \c@ is NUL); a backslash before any other character is
// kept with it, so regular-expression escapes such as \. or \w pass through. False with
// *error on a malformed \x or \c.
bool unescape_script_string(const std::string& in, std::string* out, std::string* error);

// Durations: "30", "2.5", "500ms", "10s", "2m" (seconds unless a suffix says otherwise).
bool parse_script_duration(const std::string& s, double* seconds);

}  // namespace softcpu
