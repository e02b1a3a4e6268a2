#include "tools/build_info.h"

#include <unistd.h>

#include "monitor/machine.h"

// CMakeLists.txt defines these for this file alone (so a new build type recompiles only it).
#ifndef SOFTCPU_VERSION
#define SOFTCPU_VERSION "unknown"
#endif
#ifndef SOFTCPU_BUILD_TYPE
#define SOFTCPU_BUILD_TYPE "unknown"
#endif
#ifndef SOFTCPU_LLVM_VERSION
#define SOFTCPU_LLVM_VERSION "unknown"
#endif
#ifndef SOFTCPU_SANITIZERS
#define SOFTCPU_SANITIZERS ""
#endif

namespace softcpu {

std::string version_line() { return std::string("softcpu ") + SOFTCPU_VERSION; }

std::string build_info() {
  const std::string build_type = SOFTCPU_BUILD_TYPE[0] ? SOFTCPU_BUILD_TYPE : "(none)";
  const std::string sanitizers = SOFTCPU_SANITIZERS[0] ? SOFTCPU_SANITIZERS : "none";
#ifdef SOFTCPU_DEBUG_CHECKS
  const char* checks = "on";
#else
  const char* checks = "off";
#endif
  std::string s = version_line() + "\n";
#ifdef __clang__
  const char* compiler = "clang " __clang_version__;
#else
  const char* compiler = "g++ " __VERSION__;
#endif
  s += "build:         " + build_type + ", " + compiler + "\n";
  s += std::string("debug checks:  ") + checks + "\n";
  s += "sanitizers:    " + sanitizers + "\n";
  s += std::string("tier 1 (JIT):  built in, LLVM ") + SOFTCPU_LLVM_VERSION +
       " ORC; off unless --jit on\n";
  s += std::string("firmware:      ") + kDefaultBios +
       (access(kDefaultBios, R_OK) == 0 ? " (installed)"
                                        : " (missing: install seabios or give --bios)") +
       "\n";
  return s;
}

}  // namespace softcpu
