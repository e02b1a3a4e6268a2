// System description harness: the TOML file of `softcpu run --config` and `softcpu
// check-config` (docs/config.md), malformed. The input is the file's text; it goes through
// what check-config does with a file (monitor/hv/config_file.cpp read_system_config): the TOML
// parser (toml++: the fuzz tree compiles it into the reader in its header-only mode, so it is
// instrumented with the rest; CMakeLists.txt), the key and type reader, and,
// unless the TOML syntax is broken, the checks across elements (config_check.cpp). Every error
// is formatted as check-config prints it. Relative paths resolve against a directory that does
// not exist, so the checks that look at files see none and nothing on the host is opened.
// A crash, a sanitizer report or any exception is a finding: the reader reports every mistake
// as a ConfigError and throws nothing.
#include <string>
#include <string_view>
#include <vector>

#include "monitor/hv/config_check.h"
#include "monitor/hv/config_file.h"
#include "tests/fuzz/fuzz_targets.h"

namespace softcpu::fuzz {

int config(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  hv::SystemConfig c;
  std::vector<hv::ConfigError> errors;
  if (!hv::parse_system_config(text, "fuzz.toml", "/nonexistent-softcpu-fuzz", &c, &errors) &&
      !errors.empty() && errors.back().message.rfind("TOML syntax", 0) == 0)
    return 0;  // read_system_config stops here too
  hv::check_system_config(c, &errors);
  size_t chars = 0;
  for (const hv::ConfigError& e : errors) chars += hv::format_config_error("fuzz.toml", e).size();
  if (!errors.empty() && chars == 0) fail("config", "an error with an empty message");
  return 0;
}

}  // namespace softcpu::fuzz
