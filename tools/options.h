// Command-line parsing for the softcpu tool (on CLI11: tools/options.cpp).
#pragma once
#include <string>
#include <vector>

#include "monitor/machine_config.h"

namespace softcpu {

enum class Command { HELP, VERSION, RUN, RUN_HELP, CHECK_CONFIG, INFO };

struct ParsedArgs {
  Command command = Command::HELP;
  MachineConfig config;
  // run --config FILE / check-config FILE: a system description (docs/config.md).
  std::string config_path;
  // run --config FILE --monitor tcp:ADDR:PORT: the primary's monitor console (overrides the
  // file's `monitor`).
  std::string monitor;
  // HELP and RUN_HELP: the help text to print (the main help, or the asked command's).
  std::string help;
};

// Parse argv (without argv[0]). On a bad input, returns false with a one-line message.
bool parse_args(const std::vector<std::string>& args, ParsedArgs* out, std::string* error);

// The help texts, made from the option tables (so every option is in them).
std::string main_help();
std::string run_help();

// kMainHelp and kRunHelp read as the help texts: `std::string(kRunHelp)`, as when they were
// string constants.
struct HelpText {
  std::string (*make)();
  operator std::string() const { return make(); }  // NOLINT(google-explicit-constructor)
};
extern const HelpText kMainHelp;
extern const HelpText kRunHelp;

}  // namespace softcpu
