// The error a direct kernel load reports: a file that is not a kernel we can boot, a kernel
// that does not fit the machine's RAM, a bad module. The message is for the user as is.
#pragma once
#include <string>

namespace softcpu {

struct BootError {
  std::string message;
};

}  // namespace softcpu
