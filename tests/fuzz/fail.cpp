// fail(): how a harness reports a broken invariant.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"

namespace softcpu::fuzz {

void remove_at_exit(const std::string& path) {
  struct Files {
    std::vector<std::string> paths;
    ~Files() {
      for (const auto& p : paths) unlink(p.c_str());
    }
  };
  static Files files;
  files.paths.push_back(path);
}

void fail(const char* harness, const char* what) {
  std::fprintf(stderr, "fuzz %s: invariant broken: %s\n", harness, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace softcpu::fuzz
