// Command-line parsing for the softcpu tool.
#pragma once
#include <string>
#include <vector>

#include "monitor/machine_config.h"

namespace softcpu {

enum class Command { HELP, VERSION, RUN, RUN_HELP, CHECK_CONFIG };

struct ParsedArgs {
  Command command = Command::HELP;
  MachineConfig config;
  // run --config FILE / check-config FILE: a system description (docs/config.md).
  std::string config_path;
  // run --config FILE --monitor tcp:ADDR:PORT: the primary's monitor console (overrides the
  // file's `monitor`).
  std::string monitor;
};

// Parse argv (without argv[0]). On a bad input, returns false with a one-line message.
bool parse_args(const std::vector<std::string>& args, ParsedArgs* out, std::string* error);

extern const char kMainHelp[];
extern const char kRunHelp[];

}  // namespace softcpu
