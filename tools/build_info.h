// What `softcpu info` and `softcpu --version` print about this build.
#pragma once
#include <string>

namespace softcpu {

// "softcpu 0.1"
std::string version_line();
// Several lines: version, build type and compiler, debug checks, sanitizers, the JIT's LLVM, the
// default firmware and whether it is installed.
std::string build_info();

}  // namespace softcpu
