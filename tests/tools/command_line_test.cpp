// The command line on CLI11 (tools/options.cpp): each command's help, the value syntax the
// hand-written parser had, and the errors of CLI11's own cases (unknown option or command,
// missing value, '--').
#include <gtest/gtest.h>

#include "tools/options.h"

namespace softcpu {
namespace {

struct Result {
  bool ok;
  ParsedArgs parsed;
  std::string error;
};

Result parse(const std::vector<std::string>& args) {
  Result r;
  r.ok = parse_args(args, &r.parsed, &r.error);
  return r;
}

// The error for `args`, which must be refused with one line.
std::string error_of(const std::vector<std::string>& args) {
  Result r = parse(args);
  EXPECT_FALSE(r.ok) << args.back();
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
  return r.error;
}

TEST(CommandLine, EachCommandHasItsOwnHelp) {
  Result main = parse({"--help"});
  ASSERT_TRUE(main.ok);
  EXPECT_EQ(main.parsed.command, Command::HELP);
  for (const char* line : {"usage: softcpu <command>", "  run [disk-image]", "  check-config FILE",
                           "  info", "  help [COMMAND]", "  --version"})
    EXPECT_NE(main.parsed.help.find(line), std::string::npos) << line;
  EXPECT_EQ(parse({}).parsed.help, main.parsed.help);
  EXPECT_EQ(parse({"help"}).parsed.help, main.parsed.help);
  EXPECT_EQ(parse({"-h"}).parsed.help, main.parsed.help);
  EXPECT_EQ(std::string(kMainHelp), main.parsed.help);

  Result run = parse({"run", "-h"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.parsed.command, Command::RUN_HELP);
  EXPECT_EQ(run.parsed.help.rfind("usage: softcpu run [options] [disk-image]\n", 0), 0u);
  EXPECT_EQ(parse({"help", "run"}).parsed.command, Command::RUN_HELP);
  EXPECT_EQ(parse({"help", "run"}).parsed.help, run.parsed.help);
  EXPECT_EQ(std::string(kRunHelp), run.parsed.help);

  Result check = parse({"check-config", "--help"});
  ASSERT_TRUE(check.ok);
  EXPECT_EQ(check.parsed.command, Command::HELP);
  EXPECT_EQ(check.parsed.help.rfind("usage: softcpu check-config FILE\n", 0), 0u);
  EXPECT_EQ(parse({"help", "check-config"}).parsed.help, check.parsed.help);
  Result info = parse({"info", "--help"});
  ASSERT_TRUE(info.ok);
  EXPECT_EQ(info.parsed.help.rfind("usage: softcpu info\n", 0), 0u);
  EXPECT_EQ(parse({"info"}).parsed.command, Command::INFO);
  EXPECT_EQ(error_of({"help", "frob"}), "unknown command 'frob' (try 'softcpu --help')");
}

// The run help lists its options by group, in this order, and every option the hand-written
// help listed.
TEST(CommandLine, RunHelpGroupsEveryOption) {
  const std::string help = run_help();
  size_t at = 0;
  for (const char* group : {"\narguments:\n", "\nboot:\n", "\nmachine:\n", "\ndevices:\n",
                            "\ndeterminism (", "\ndebugging:\n", "\nJIT (", "\ntranslation cache (",
                            "\nstatistics and profiling:\n", "\nhelp:\n", "\nexit status: "}) {
    size_t found = help.find(group, at);
    EXPECT_NE(found, std::string::npos) << group;
    if (found != std::string::npos) at = found;
  }
  for (const char* opt : {"  --bios FILE ",
                          "  --kernel FILE ",
                          "  --initrd FILE[,FILE] ",
                          "  --append STRING ",
                          "  disk-image ",
                          "  --drive file=PATH[,format=raw]",
                          "  --config FILE ",
                          "  -m, --memory MiB ",
                          "  --serial SPEC ",
                          "  --serial-script FILE ",
                          "(alias --expect FILE",
                          "  --serial-transcript FILE\n",
                          "  --debugcon PORT:FILE ",
                          "  --screen-dump FILE ",
                          "  --save-on-exit FILE ",
                          "  --loadvm FILE ",
                          "  --timeout SECONDS ",
                          "  --insn-limit N ",
                          "  --on-triple-fault reset|exit\n",
                          "  --device pc-testdev ",
                          "  --deterministic ",
                          "  --icount SHIFT ",
                          "  --rtc base=DATE ",
                          "  --record FILE ",
                          "  --replay FILE ",
                          "  --gdb tcp:ADDR:PORT ",
                          "  -s ",
                          "  -S ",
                          "  --trace FILE ",
                          "  --trace-events LIST ",
                          "  --trace-range A-B ",
                          "  --stats[=text|json] ",
                          "  --stats-file FILE ",
                          "  --stats-interval MS ",
                          "  --jit on|off ",
                          "  --jit-threshold N ",
                          "  --jit-sync ",
                          "  --perf-map ",
                          "  --jit-dump DIR ",
                          "  --state-log FILE ",
                          "  --tcache-size SIZE ",
                          "  --tcache-blocks N ",
                          "  --tcache-policy flush|fifo|lru\n",
                          "  --profile FILE ",
                          "  --profile-top N ",
                          "  --symbols FILE ",
                          "  -h, --help "})
    EXPECT_NE(help.find(opt), std::string::npos) << opt;
  // Descriptions start in one column; continuation lines line up under them.
  EXPECT_NE(help.find("  --bios FILE            firmware ROM"), std::string::npos);
  EXPECT_NE(help.find("\n                         0xFFFFFFFF (default"), std::string::npos);
}

TEST(CommandLine, UnknownOptionsAndCommands) {
  EXPECT_EQ(error_of({"frobnicate"}), "unknown command 'frobnicate' (try 'softcpu --help')");
  EXPECT_EQ(error_of({"--frob"}), "unknown command '--frob' (try 'softcpu --help')");
  EXPECT_EQ(error_of({"run", "--frob"}), "unknown option '--frob' (try 'softcpu run --help')");
  EXPECT_EQ(error_of({"run", "--bios", "b", "--frob=3"}),
            "unknown option '--frob=3' (try 'softcpu run --help')");
  EXPECT_EQ(error_of({"run", "-x"}), "unknown option '-x' (try 'softcpu run --help')");
  EXPECT_EQ(error_of({"run", "-"}), "unknown option '-' (try 'softcpu run --help')");
  EXPECT_EQ(error_of({"run", "--version"}),
            "unknown option '--version' (try 'softcpu run --help')");
  EXPECT_EQ(error_of({"info", "--jit"}), "unknown option '--jit' (try 'softcpu info --help')");
  EXPECT_EQ(error_of({"check-config", "--jit"}),
            "usage: softcpu check-config FILE (a system description, docs/config.md)");
}

TEST(CommandLine, MissingValues) {
  EXPECT_EQ(error_of({"run", "--kernel"}), "option --kernel needs a value");
  EXPECT_EQ(error_of({"run", "-m"}), "option -m needs a value");
  EXPECT_EQ(error_of({"run", "--memory"}), "option --memory needs a value");
  EXPECT_EQ(error_of({"run", "--bios", "b", "--trace-range"}),
            "option --trace-range needs a value");
  EXPECT_EQ(error_of({"run", "-s", "--gdb"}), "option --gdb needs a value");
}

TEST(CommandLine, BadNumbersNameTheOption) {
  EXPECT_EQ(error_of({"run", "-m", "lots"}), "bad memory size 'lots': give MiB between 1 and 3072");
  EXPECT_EQ(error_of({"run", "--memory=4096"}),
            "bad memory size '4096': give MiB between 1 and 3072");
  EXPECT_EQ(error_of({"run", "--jit-threshold", "many"}),
            "bad --jit-threshold 'many': expected a number of executions");
  EXPECT_EQ(error_of({"run", "--timeout", "1e"}),
            "bad --timeout '1e': expected a positive number of seconds");
  EXPECT_EQ(error_of({"run", "--tcache-size", "4X"}),
            "bad --tcache-size '4X': expected bytes, e.g. 65536, 64K or 4M");
  EXPECT_EQ(error_of({"run", "--jit", "maybe"}), "bad --jit 'maybe': expected on or off");
  // The first bad option on the line is the one reported, as the options are met.
  EXPECT_EQ(error_of({"run", "--jit", "maybe", "-m", "0"}),
            "bad --jit 'maybe': expected on or off");
  EXPECT_EQ(error_of({"run", "-m", "0", "--jit", "maybe"}),
            "bad memory size '0': give MiB between 1 and 3072");
}

// --accel (QEMU's -accel tcg,thread=multi): parallel vCPU threads, or the default round-robin.
TEST(CommandLine, AccelThreads) {
  Result r = parse({"run", "-smp", "2", "-accel", "tcg,thread=multi"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.parsed.config.smp_threads);
  EXPECT_EQ(r.parsed.config.cpus, 2u);
  r = parse({"run", "--accel=thread=multi", "--accel", "tcg,thread=single"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.parsed.config.smp_threads);
  EXPECT_EQ(error_of({"run", "--accel", "kvm"}),
            "bad --accel 'kvm': expected tcg,thread=multi or tcg,thread=single");
  EXPECT_EQ(error_of({"run", "--accel", "tcg,thread=many"}),
            "bad --accel 'tcg,thread=many': expected tcg,thread=multi or tcg,thread=single");
}

// A value is the next argument whatever it looks like, or follows '=' (possibly empty).
TEST(CommandLine, ValueSyntax) {
  Result r = parse({"run", "--kernel", "k", "--append", "--quiet", "--trace", "-", "-m", "-5"});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "bad memory size '-5': give MiB between 1 and 3072");
  r = parse({"run", "--kernel", "k", "--append", "--quiet", "--trace", "-", "--memory=256", "-m",
             "64", "--append=", "--initrd=i,j"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.parsed.config.trace_path, "-");
  EXPECT_EQ(r.parsed.config.ram_mib, 64u);  // the last one given
  EXPECT_EQ(r.parsed.config.append, "");    // --append= is an empty value
  EXPECT_EQ(r.parsed.config.initrd_path, "i,j");
  r = parse({"run", "--kernel", "k", "--append", "console=ttyS0 -- init=/bin/sh"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.parsed.config.append, "console=ttyS0 -- init=/bin/sh");
  // Flags take no value; --stats takes one only after '='.
  EXPECT_EQ(error_of({"run", "--jit-sync=yes"}), "option --jit-sync takes no value");
  EXPECT_EQ(error_of({"run", "--perf-map=on"}), "option --perf-map takes no value");
  r = parse({"run", "--stats", "disk.img"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.parsed.config.stats, StatsFormat::TEXT);
  ASSERT_EQ(r.parsed.config.drives.size(), 1u);
  EXPECT_EQ(r.parsed.config.drives[0].path, "disk.img");
}

// QEMU's style: a long option with one dash (how -smp N would be given).
TEST(CommandLine, SingleDashLongNames) {
  Result r = parse({"run", "-memory", "64", "-bios=x.rom", "-jit-sync", "-stats=json", "-sS"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.parsed.config.ram_mib, 64u);
  EXPECT_EQ(r.parsed.config.bios_path, "x.rom");
  EXPECT_TRUE(r.parsed.config.jit_sync);
  EXPECT_EQ(r.parsed.config.stats, StatsFormat::JSON);
  EXPECT_EQ(r.parsed.config.gdb, "tcp:127.0.0.1:1234");  // -sS: the short flags -s and -S
  EXPECT_TRUE(r.parsed.config.start_frozen);
  EXPECT_EQ(error_of({"run", "-timeout"}), "option -timeout needs a value");
  EXPECT_EQ(error_of({"run", "-sm"}), "option -m needs a value");
  EXPECT_EQ(error_of({"run", "-frob"}), "unknown option '-frob' (try 'softcpu run --help')");
  r = parse({"run", "-config", "s.toml"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.parsed.config_path, "s.toml");
}

// '--' ends the options: what follows is disk images, even one whose name begins with '-'.
TEST(CommandLine, DoubleDashEndsOptions) {
  Result r = parse({"run", "-m", "64", "--", "-odd.img"});
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.parsed.config.drives.size(), 1u);
  EXPECT_EQ(r.parsed.config.drives[0].path, "-odd.img");
  EXPECT_EQ(r.parsed.config.ram_mib, 64u);
  EXPECT_EQ(error_of({"run", "--", "a.img", "-m"}),
            "more than one disk image given ('a.img' and '-m')");
  EXPECT_EQ(error_of({"run", "-odd.img"}), "unknown option '-odd.img' (try 'softcpu run --help')");
  r = parse({"check-config", "--", "-odd.toml"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.parsed.config_path, "-odd.toml");
  EXPECT_EQ(error_of({"check-config", "-odd.toml"}),
            "usage: softcpu check-config FILE (a system description, docs/config.md)");
}

// --help stops where it stands: options after it are not looked at, options before it are.
TEST(CommandLine, HelpStopsTheParse) {
  EXPECT_EQ(parse({"run", "--help", "-m", "0"}).parsed.command, Command::RUN_HELP);
  EXPECT_EQ(error_of({"run", "-m", "0", "--help"}),
            "bad memory size '0': give MiB between 1 and 3072");
  EXPECT_EQ(parse({"--version", "frob"}).parsed.command, Command::VERSION);
}

}  // namespace
}  // namespace softcpu
