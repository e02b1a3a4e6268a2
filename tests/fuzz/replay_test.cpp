// Replays every seed in tests/fuzz/corpus/<harness>/ and every fixed crash in
// tests/fuzz/regressions/<harness>/ through the harness's function, in the normal build: the
// regression tests of the fuzzers' findings. A crash, sanitizer report (in a sanitizer build)
// or broken invariant aborts the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cache/block_cache.h"
#include "interp/cpu.h"
#include "interp/exceptions.h"
#include "tests/fuzz/fuzz_targets.h"

namespace softcpu::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs(const std::string& harness, const char* kind) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(SOFTCPU_FUZZ_DIR) / kind / harness;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void replay(const std::string& harness, int (*fn)(const uint8_t*, size_t), size_t min_seeds) {
  const auto seeds = inputs(harness, "corpus");
  EXPECT_GE(seeds.size(), min_seeds) << "seed corpus of " << harness;
  auto all = seeds;
  for (const auto& p : inputs(harness, "regressions")) all.push_back(p);
  for (const auto& p : all) {
    SCOPED_TRACE(p.string());
    const auto bytes = slurp(p);
    EXPECT_EQ(fn(bytes.data(), bytes.size()), 0);
  }
}

TEST(FuzzReplay, Insn) { replay("insn", insn, 4); }
// insn_jit's seeds are insn's; building a JIT per input takes seconds, so only its fixed
// findings are replayed here.
TEST(FuzzReplay, InsnJit) { replay("insn_jit", insn_jit, 0); }
TEST(FuzzReplay, Platform) { replay("platform", platform, 4); }
TEST(FuzzReplay, Gdb) { replay("gdb", gdb, 4); }
TEST(FuzzReplay, Boot) { replay("boot", boot, 4); }
TEST(FuzzReplay, Config) { replay("config", config, 4); }

// Findings whose effect only a sanitizer sees get a direct check of the repaired state too, so
// that the normal build's ctest notices a regression.

// fuzz_insn, regressions/insn/ubsan-sign-bit-lz-size-0: a Jcc on OF right after reset computed
// sign_bit(0) (1 << -1) in lazy_of(): reset left lz_size at 0.
TEST(FuzzFindings, ResetLeavesAValidLazyFlagSize) {
  Cpu c{};
  c.lz_size = 0;
  reset_cpu(c);
  EXPECT_TRUE(c.lz_size == 1 || c.lz_size == 2 || c.lz_size == 4);
  EXPECT_EQ(c.lz_kind, LZ_NONE);
}

// fuzz_insn, regressions/insn/timeout-fault-loop-retires-nothing: the IDT's #PF gate led to
// code whose first fetch faulted again, so no instruction retired; the harness bounded
// instructions only and called run() 5 000 times, 4 000 deliveries each (CI's fuzz-smoke
// timed out under ASan). Deliveries now count against the harness's 4 000.
// The work (instructions, deliveries, slow accesses / 16) the insn harness does for one of
// its regression inputs; 0 if the file is missing or empty.
uint64_t insn_regression_work(const char* name) {
  const auto bytes = slurp(fs::path(SOFTCPU_FUZZ_DIR) / "regressions" / "insn" / name);
  return bytes.empty() ? 0 : insn_work(bytes.data(), bytes.size());
}

TEST(FuzzFindings, AFaultLoopThatRetiresNothingEndsAtTheLimit) {
  const uint64_t work = insn_regression_work("timeout-fault-loop-retires-nothing");
  EXPECT_GE(work, 4000u);
  EXPECT_LE(work, 8000u);  // the limit, plus at most one run()'s stall allowance
}

// fuzz_insn, regressions/insn/timeout-rep-pauses-retire-nothing: single steps of a REP MOVSB
// whose stores went to the slow path; each step ran a 16 384-element chunk (which counts as
// one instruction), 1 000 of them took 44 s under ASan. Slow-path accesses now count 1/16 of
// an instruction each against the harness's limit.
TEST(FuzzFindings, RepChunksOnTheSlowPathEndAtTheLimit) {
  const uint64_t work = insn_regression_work("timeout-rep-pauses-retire-nothing");
  EXPECT_GE(work, 4000u);
  // The limit, plus one chunk's 2 x 16 384 accesses / 16 and one run()'s stall allowance.
  EXPECT_LE(work, 4000u + 2048u + 4000u);
}

}  // namespace
}  // namespace softcpu::fuzz
