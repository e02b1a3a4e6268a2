// fail(): how a harness reports a broken invariant.
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/fuzz_targets.h"

namespace softcpu::fuzz {

void fail(const char* harness, const char* what) {
  std::fprintf(stderr, "fuzz %s: invariant broken: %s\n", harness, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace softcpu::fuzz
