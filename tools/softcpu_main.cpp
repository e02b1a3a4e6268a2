// softcpu: the command line.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "monitor/machine_config.h"
#include "tools/options.h"

int main(int argc, char** argv) {
  using namespace softcpu;
  std::signal(SIGPIPE, SIG_IGN);  // a closed output pipe is an error return, not a kill
  std::vector<std::string> args(argv + 1, argv + argc);
  ParsedArgs parsed;
  std::string error;
  if (!parse_args(args, &parsed, &error)) {
    std::fprintf(stderr, "softcpu: %s\n", error.c_str());
    return 2;
  }
  switch (parsed.command) {
    case Command::HELP: std::fputs(kMainHelp, stdout); return 0;
    case Command::RUN_HELP: std::fputs(kRunHelp, stdout); return 0;
    case Command::VERSION: std::puts("softcpu 0.1"); return 0;
    case Command::RUN: break;
  }
  const MachineConfig& c = parsed.config;
  return run_machine(c);
}
