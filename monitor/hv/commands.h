// The primary hypervisor's monitor commands: `info partitions`, `partition start|stop|reset
// NAME`, `partition mem-lend|mem-return FROM TO SIZE`, `info stats`, `quit`. The monitor
// console (monitor/hv/monitor_console.h) and every partition's gdb stub (`monitor ...`) send
// command lines to the primary (PrimaryHypervisor::post_command), which runs them here on its
// own thread.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace softcpu::hv {

class PrimaryHypervisor;

// The commands, one per line, for `help`.
extern const char kHvCommandsHelp[];

// True if `line` is one of these commands (a partition's gdb stub forwards it to the primary
// rather than answering "unknown command"). "help" is not: each front end has its own.
bool is_hv_command(std::string_view line);

// Runs `line` on the primary's thread and returns the text to print (an error is a line that
// says what was wrong; nothing throws).
std::string execute_hv_command(PrimaryHypervisor& hv, std::string_view line);

// "4096", "64K", "1M", "0x1000": bytes; false if malformed.
bool parse_hv_size(std::string_view s, uint64_t* bytes);

}  // namespace softcpu::hv
