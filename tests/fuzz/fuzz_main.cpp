// The libFuzzer entry point of one harness; SOFTCPU_FUZZ_TARGET names its function in
// fuzz_targets.h (tests/fuzz/CMakeLists.txt builds one executable per harness).
#include <sys/personality.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/fuzz/fuzz_targets.h"

// Coverage that depends on where things are in memory makes two runs of the same inputs differ
// (README.md "Repeatable coverage"): UBSan's -fsanitize=vptr checks look up each (vtable, type)
// pair in a 128-entry cache indexed by a hash of the vtable's address, and the cache's miss
// branch is an edge like any other; hash tables keyed by pointers (LLVM's in the translator,
// BlockCache's companions) probe by address too (heap addresses: fuzz_smoke.py --fixed keeps
// libFuzzer's own allocations the same). So the harness runs without address space randomisation:
// it sets the ADDR_NO_RANDOMIZE personality and executes itself again (what `setarch -R` does;
// fork mode's workers and a re-executed process inherit it), saying so on stderr once.
// SOFTCPU_FUZZ_ASLR=1 keeps ASLR; where personality() is refused (a seccomp filter, e.g.
// Docker's default) the run goes on with it and says so. fuzz_smoke.py checks both paths
// (the refused one under no_personality.c's filter).
extern "C" int LLVMFuzzerInitialize(int*, char*** argv) {
  if (std::getenv("SOFTCPU_FUZZ_ASLR")) return 0;
  const int current = personality(0xffffffff);
  if (current != -1 && (current & ADDR_NO_RANDOMIZE)) return 0;
  int error = errno;
  if (current != -1) {
    if (personality(static_cast<unsigned long>(current) | ADDR_NO_RANDOMIZE) == -1) {
      error = errno;
    } else {
      std::fprintf(stderr, "softcpu fuzz: executing again without address space "
                   "randomisation (SOFTCPU_FUZZ_ASLR=1 keeps it)\n");
      execv("/proc/self/exe", *argv);
      error = errno;
      personality(static_cast<unsigned long>(current));  // exec failed: go on as we are
    }
  }
  std::fprintf(stderr, "softcpu fuzz: address space randomisation stays on (%s): coverage may "
               "differ between two runs of the same inputs\n", std::strerror(error));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return softcpu::fuzz::SOFTCPU_FUZZ_TARGET(data, size);
}
