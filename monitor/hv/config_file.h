// Reading a system description (docs/config.md) from a TOML file into hv::SystemConfig: the
// TOML syntax, the keys and their types. Every mistake is collected, each with the line (and
// column) of the file it is on; the checks across elements are monitor/hv/config_check.h.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "monitor/hv/system_config.h"

namespace softcpu::hv {

struct ConfigError {
  unsigned line = 0;    // 1-based; 0: not tied to a line
  unsigned column = 0;  // 1-based; 0: unknown
  std::string message;
};

// Parses TOML `text` named `source` in messages; relative paths in it resolve against
// `base_dir` (the file's folder). Fills *out as far as the text allows and appends every error
// to *errors (the key and type errors only: call check_system_config for the rest). Returns
// whether it appended none.
bool parse_system_config(std::string_view text, const std::string& source,
                         const std::string& base_dir, SystemConfig* out,
                         std::vector<ConfigError>* errors);

// Reads the file at `path`, parses it as above and runs check_system_config on the result.
// Returns whether there was no error.
bool read_system_config(const std::string& path, SystemConfig* out,
                        std::vector<ConfigError>* errors);

// "FILE:LINE:COLUMN: MESSAGE" (LINE and COLUMN left out when unknown).
std::string format_config_error(const std::string& source, const ConfigError& e);

// "N bytes" as the file would say it: "256M", "1G", "4K", or a plain number.
std::string format_size(uint64_t bytes);

// Parses a size: a whole number of bytes with an optional K/M/G (or KiB/MiB/GiB) suffix.
bool parse_size_string(const std::string& s, uint64_t* out);

}  // namespace softcpu::hv
