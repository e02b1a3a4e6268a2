// The translator's view of the instruction semantics (translator/semantics.cpp): the bitcode
// matches the host's registry and layout, and the handlers that matter for speed can be
// inlined into compiled code. Run with --gtest_also_run_disabled_tests and the filter
// SemanticsReport.Print to see every family and the handlers that are called instead.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "translator/translator.h"

namespace softcpu {
namespace {

TEST(SemanticsReport, BitcodeMatchesTheHostRegistry) {
  const SemanticsReport r = semantics_report();
  EXPECT_FALSE(r.families.empty());
  for (const auto& f : r.families) EXPECT_GT(f.handlers, 0u) << f.name;
}

// The JIT's start reads no handler body; a lookup reads what its handler reaches, not the
// rest (parsing every body was ~0.1 s of every compiling run's start).
TEST(SemanticsReport, BodiesAreReadWhenTheirHandlerIsLookedUp) {
  const SemanticsReport r = semantics_report();
  EXPECT_EQ(r.bodies_read_at_start, 0u);
  EXPECT_GT(r.bodies_read_after_one, 0u);
  EXPECT_LT(r.bodies_read_after_one * 10, r.bodies_read_after_all);
  EXPECT_LE(r.bodies_read_after_all, r.bodies);
}

// Near control transfers (interp/sem/control.h): every loop, call and return.
const std::set<std::string> kHotControl = {
    "softcpu::kJmpNearRel", "softcpu::kJmpNearRm",   "softcpu::kJccRel",
    "softcpu::kJcxzRel",    "softcpu::kLoopRel",     "softcpu::kCallNearRel",
    "softcpu::kCallNearRm", "softcpu::kRetNear",
};

// Strings (interp/sem/string.h; REP fast paths included) and the common system instructions
// (interp/sem/system.h): CLI, STI, MOV r/m, Sreg.
const std::set<std::string> kHotStringSystem = {
    "softcpu::kStringOnce", "softcpu::kStringRep",    "softcpu::kCli",
    "softcpu::kSti",        "softcpu::kMovFromSreg",
};

// Data movement (interp/sem/data.h), bit operations (interp/sem/bits.h), BCD adjustments
// (interp/sem/bcd.h) and the trap exit of IN/OUT/CPUID/RDTSC/HLT/MSR (interp/sem/trap.h):
// every handler of these families inlines.
const std::set<std::string> kHotDataBits = {
    "softcpu::kMovRmReg", "softcpu::kMovRegRm",  "softcpu::kMovRmImm", "softcpu::kMovRegImm",
    "softcpu::kMovzx",    "softcpu::kMovsx",     "softcpu::kXchg",     "softcpu::kXadd",
    "softcpu::kCmpxchg",  "softcpu::kCmpxchg8b", "softcpu::kLea",      "softcpu::kNop",
    "softcpu::kCbw",      "softcpu::kCwde",      "softcpu::kCwd",      "softcpu::kCdq",
    "softcpu::kLahf",     "softcpu::kSahf",      "softcpu::kClc",      "softcpu::kStc",
    "softcpu::kCmc",      "softcpu::kCld",       "softcpu::kStd",      "softcpu::kSalc",
    "softcpu::kXlat",     "softcpu::kBtReg",     "softcpu::kBtMem",    "softcpu::kBitScan",
    "softcpu::kSetcc",    "softcpu::kCmovcc",    "softcpu::kBswap32",  "softcpu::kBswap16",
    "softcpu::kDaa",      "softcpu::kDas",       "softcpu::kAaa",      "softcpu::kAas",
    "softcpu::kAam",      "softcpu::kAad",       "softcpu::kTrapExit",
};

// Shifts and rotates (interp/sem/shift.h), MUL/IMUL/DIV/IDIV (interp/sem/muldiv.h, the #DE
// of DIV/IDIV raised inline), the stack instructions but POP Sreg (interp/sem/stack.h, a
// segment load) and the x87 instructions but the environment and state images (interp/sem/
// fpu.h: the computational and stack forms call the backend softcpu_jit_fpu_exec, which
// compiled code may call, so a region goes on after them; FNINIT FNCLEX FLDCW FNSTCW FNSTSW
// FWAIT and the legacy no-ops): every handler of these families inlines.
const std::set<std::string> kHotShiftMulStack = {
    "softcpu::kShiftRotate", "softcpu::kShiftDouble", "softcpu::kMulAcc",
    "softcpu::kImulReg",     "softcpu::kDivAcc",      "softcpu::kPushReg",
    "softcpu::kPushRm",      "softcpu::kPushImm",     "softcpu::kPopReg",
    "softcpu::kPopRm",       "softcpu::kPushSreg",    "softcpu::kPusha",
    "softcpu::kPopa",        "softcpu::kPushf",       "softcpu::kPopf",
    "softcpu::kEnter",       "softcpu::kLeave",       "softcpu::kFninit",
    "softcpu::kFnclex",      "softcpu::kFpuLegacyNop", "softcpu::kFnstcw",
    "softcpu::kFnstswMem",   "softcpu::kFnstswAx",    "softcpu::kFwait",
    "softcpu::kFpuReg",      "softcpu::kFpuLoad",     "softcpu::kFpuStore",
    "softcpu::kFldcw",
};

// Families whose every handler must be inlinable: these are what hot guest code is made of.
TEST(SemanticsReport, HotFamiliesInline) {
  const SemanticsReport r = semantics_report();
  std::set<std::string> listed;
  for (const auto& f : r.families) listed.insert(f.name);
  for (const std::string& n : kHotControl) EXPECT_TRUE(listed.count(n)) << n << " is not registered";
  for (const std::string& n : kHotStringSystem) EXPECT_TRUE(listed.count(n)) << n << " is not registered";
  for (const std::string& n : kHotShiftMulStack) EXPECT_TRUE(listed.count(n)) << n << " is not registered";
  for (const std::string& n : kHotDataBits) EXPECT_TRUE(listed.count(n)) << n << " is not registered";
  for (const auto& f : r.families) {
    const std::string& n = f.name;
    const bool hot = n.find("kAlu") != std::string::npos || n == "softcpu::kIncDec" ||
                     n == "softcpu::kNeg" || n == "softcpu::kNot" || kHotControl.count(n) ||
                     kHotShiftMulStack.count(n) ||
                     kHotStringSystem.count(n) || kHotDataBits.count(n);
    if (!hot) continue;
    EXPECT_EQ(f.inlinable, f.handlers) << n << ": " << (f.not_inlinable.empty() ? "" : f.not_inlinable[0]);
  }
}

TEST(SemanticsReport, DISABLED_Print) {
  const SemanticsReport r = semantics_report();
  uint32_t all = 0, inl = 0;
  for (const auto& f : r.families) {
    std::printf("%-40s %4u handlers, %4u inlinable\n", f.name.c_str(), f.handlers, f.inlinable);
    for (const std::string& h : f.not_inlinable) std::printf("    called: %s\n", h.c_str());
    all += f.handlers;
    inl += f.inlinable;
  }
  std::printf("%u handlers, %u inlinable\n", all, inl);
}

}  // namespace
}  // namespace softcpu
