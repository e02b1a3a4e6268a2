#include <gtest/gtest.h>

#include "tools/options.h"

namespace softcpu {
namespace {

bool parse(std::vector<std::string> a, ParsedArgs* p, std::string* err) {
  return parse_args(a, p, err);
}

TEST(Options, FullRunCommandLine) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse({"run", "--bios", "x.rom", "-m", "64", "--serial", "file:/tmp/s",
                     "--debugcon", "0xE9:-", "--debugcon=0x402:/tmp/d", "--timeout", "2.5",
                     "--trace", "t.txt", "--stats=json", "disk.img"},
                    &p, &err))
      << err;
  EXPECT_EQ(p.command, Command::RUN);
  EXPECT_EQ(p.config.bios_path, "x.rom");
  EXPECT_EQ(p.config.ram_mib, 64u);
  EXPECT_EQ(p.config.serial, "file:/tmp/s");
  ASSERT_EQ(p.config.debugcons.size(), 2u);
  EXPECT_EQ(p.config.debugcons[0].port, 0xE9);
  EXPECT_EQ(p.config.debugcons[0].path, "-");
  EXPECT_EQ(p.config.debugcons[1].port, 0x402);
  EXPECT_DOUBLE_EQ(*p.config.timeout_seconds, 2.5);
  EXPECT_EQ(p.config.trace_path, "t.txt");
  EXPECT_EQ(p.config.stats, StatsFormat::JSON);
  ASSERT_EQ(p.config.drives.size(), 1u);
  EXPECT_EQ(p.config.drives[0].path, "disk.img");
  EXPECT_EQ(p.config.drives[0].index, 0u);
}

TEST(Options, DrivesKernelAndDebuggerOptions) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse({"run", "--drive", "file=a.img,format=raw,snapshot=on", "--drive",
                     "file=b.img,index=2,readonly=on", "--kernel", "vmlinuz", "--initrd",
                     "initrd.img", "--append", "console=ttyS0 quiet", "--screen-dump", "s.txt",
                     "-s", "-S"},
                    &p, &err))
      << err;
  ASSERT_EQ(p.config.drives.size(), 2u);
  EXPECT_EQ(p.config.drives[0].path, "a.img");
  EXPECT_TRUE(p.config.drives[0].snapshot);
  EXPECT_FALSE(p.config.drives[0].readonly);
  EXPECT_EQ(p.config.drives[1].index, 2u);
  EXPECT_TRUE(p.config.drives[1].readonly);
  EXPECT_EQ(p.config.kernel_path, "vmlinuz");
  EXPECT_EQ(p.config.initrd_path, "initrd.img");
  EXPECT_EQ(p.config.append, "console=ttyS0 quiet");
  EXPECT_EQ(p.config.screen_dump_path, "s.txt");
  EXPECT_EQ(p.config.gdb, "tcp:127.0.0.1:1234");
  EXPECT_TRUE(p.config.start_frozen);
}

TEST(Options, TraceFilters) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse({"run", "--trace", "t.txt", "--trace-events", "int,io", "--trace-range",
                     "0x7c00-0x7dff", "--trace-range=1048576-1048580"},
                    &p, &err))
      << err;
  EXPECT_EQ(p.config.trace_events, unsigned(TRACE_INTERRUPT | TRACE_IO));
  ASSERT_EQ(p.config.trace_ranges.size(), 2u);
  EXPECT_EQ(p.config.trace_ranges[0].first, 0x7c00u);
  EXPECT_EQ(p.config.trace_ranges[0].last, 0x7dffu);
  EXPECT_EQ(p.config.trace_ranges[1].first, 0x100000u);
  EXPECT_EQ(p.config.trace_ranges[1].last, 0x100004u);
}

TEST(Options, Profile) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse({"run", "--profile", "p.json", "--profile-top=7", "--symbols", "System.map"},
                    &p, &err))
      << err;
  EXPECT_EQ(p.config.profile_path, "p.json");
  EXPECT_EQ(p.config.profile_top, 7u);
  EXPECT_EQ(p.config.symbols_path, "System.map");
  EXPECT_FALSE(parse({"run", "--profile", "p", "--profile-top", "0"}, &p, &err));
  EXPECT_EQ(err, "bad --profile-top '0': expected a number of rows (1-1000000)");
  ParsedArgs q;
  EXPECT_FALSE(parse({"run", "--symbols", "System.map"}, &q, &err));
  EXPECT_EQ(err, "--profile-top and --symbols need --profile FILE");
}

TEST(Options, BadInputsGiveOneLineErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {"frobnicate"},
      {"run", "--no-such-option"},
      {"run", "-m", "12abc"},
      {"run", "-m", "0"},
      {"run", "-m", "99999"},
      {"run", "-m", "-5"},
      {"run", "--timeout", "-1"},
      {"run", "--timeout", "soon"},
      {"run", "--debugcon", "0xE9"},
      {"run", "--debugcon", "0x10000:-"},
      {"run", "--stats=xml"},
      {"run", "--bios"},
      {"run", "a.img", "b.img"},
      {"run", "--drive", "format=raw"},
      {"run", "--drive", "file=a.img,format=qcow2"},
      {"run", "--drive", "file=a.img,index=4"},
      {"run", "--drive", "file=a.img,snapshot=maybe"},
      {"run", "--drive", "file=a.img,cache=none"},
      {"run", "a.img", "--drive", "file=b.img,index=0"},
      {"run", "--initrd", "i.img"},
      {"run", "--gdb", "1234"},
      {"run", "-S"},
      {"run", "--trace", "t", "--trace-events", "insn,frob"},
      {"run", "--trace", "t", "--trace-range", "0x200-0x100"},
      {"run", "--trace", "t", "--trace-range", "0x100"},
      {"run", "--trace-events", "io"},
      {"run", "--icount", "21"},
      {"run", "--icount", "fast"},
      {"run", "--rtc", "2025-01-01"},
      {"run", "--rtc", "base=2025-13-01"},
      {"run", "--rtc", "base=2025-02-30"},
      {"run", "--rtc", "base=yesterday"},
      {"run", "--record", "a.rec", "--replay", "b.rec"},
  };
  for (const auto& args : bad) {
    ParsedArgs p;
    std::string err;
    EXPECT_FALSE(parse(args, &p, &err)) << args.back();
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
}

// docs/determinism.md: --icount and --record/--replay imply --deterministic; --rtc base=.
TEST(Options, DeterministicRuns) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse({"run", "--deterministic"}, &p, &err)) << err;
  EXPECT_TRUE(p.config.deterministic);
  EXPECT_EQ(p.config.icount_shift, 0u);
  EXPECT_FALSE(p.config.rtc_base_unix_ns);
  ParsedArgs q;
  ASSERT_TRUE(parse({"run", "--icount", "shift=3", "--rtc", "base=2006-06-17T16:01:21"}, &q, &err))
      << err;
  EXPECT_TRUE(q.config.deterministic);
  EXPECT_EQ(q.config.icount_shift, 3u);
  ASSERT_TRUE(q.config.rtc_base_unix_ns);
  EXPECT_EQ(*q.config.rtc_base_unix_ns, 1150560081LL * 1000000000LL);
  ParsedArgs r;
  ASSERT_TRUE(parse({"run", "--replay", "x.rec", "--rtc", "base=2025-01-01"}, &r, &err)) << err;
  EXPECT_TRUE(r.config.deterministic);
  EXPECT_EQ(r.config.replay_path, "x.rec");
  EXPECT_EQ(*r.config.rtc_base_unix_ns, 1735689600LL * 1000000000LL);
  ParsedArgs u;
  ASSERT_TRUE(parse({"run", "--record=y.rec", "--rtc", "base=utc"}, &u, &err)) << err;
  EXPECT_EQ(u.config.record_path, "y.rec");
  EXPECT_FALSE(u.config.rtc_base_unix_ns);
  EXPECT_FALSE(parse({"run", "--record", "a", "--replay", "b"}, &u, &err));
  EXPECT_EQ(err, "--record and --replay exclude each other (replay a record, or record a new run)");
}

TEST(Options, HelpAndVersion) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse({"--help"}, &p, &err));
  EXPECT_EQ(p.command, Command::HELP);
  ASSERT_TRUE(parse({"run", "--help"}, &p, &err));
  EXPECT_EQ(p.command, Command::RUN_HELP);
  ASSERT_TRUE(parse({"--version"}, &p, &err));
  EXPECT_EQ(p.command, Command::VERSION);
  // Every option the parser accepts is explained in the run help.
  for (const char* opt : {"--bios", "-m", "--serial", "--debugcon", "--timeout", "--trace",
                          "--on-triple-fault",
                          "--stats", "--stats-file"})
    EXPECT_NE(std::string(kRunHelp).find(opt), std::string::npos) << opt;
}

}  // namespace
}  // namespace softcpu
