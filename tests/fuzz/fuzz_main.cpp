// The libFuzzer entry point of one harness; SOFTCPU_FUZZ_TARGET names its function in
// fuzz_targets.h (tests/fuzz/CMakeLists.txt builds one executable per harness).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return softcpu::fuzz::SOFTCPU_FUZZ_TARGET(data, size);
}
