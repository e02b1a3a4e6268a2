// --stats, --stats-file and --stats-interval on the command line.
#include <gtest/gtest.h>

#include "tools/options.h"

namespace softcpu {
namespace {

MachineConfig parsed(std::vector<std::string> args) {
  ParsedArgs p;
  std::string err;
  EXPECT_TRUE(parse_args(args, &p, &err)) << err;
  return p.config;
}

TEST(StatsOptions, IntervalWritesToTheStatsFile) {
  MachineConfig c = parsed({"run", "--stats-interval", "5", "--stats-file", "s.jsonl"});
  EXPECT_EQ(c.stats_interval_ms.value_or(0), 5u);
  EXPECT_EQ(c.stats_path, "s.jsonl");
  EXPECT_EQ(c.stats, StatsFormat::NONE);  // the file has the series; nothing else is printed
  c = parsed({"run", "--stats-file=s.jsonl", "--stats=json", "--stats-interval=100"});
  EXPECT_EQ(c.stats_interval_ms.value_or(0), 100u);
  EXPECT_EQ(c.stats, StatsFormat::JSON);  // asked for: printed to stderr at exit
  c = parsed({"run", "--stats-file", "s.txt"});  // without an interval, as before
  EXPECT_FALSE(c.stats_interval_ms.has_value());
  EXPECT_EQ(c.stats, StatsFormat::TEXT);
}

TEST(StatsOptions, BadIntervalsAreClearErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"run", "--stats-interval", "0", "--stats-file", "f"}, "bad --stats-interval '0'"},
      {{"run", "--stats-interval", "-5", "--stats-file", "f"}, "bad --stats-interval '-5'"},
      {{"run", "--stats-interval", "soon", "--stats-file", "f"}, "bad --stats-interval 'soon'"},
      {{"run", "--stats-interval", "2.5", "--stats-file", "f"}, "bad --stats-interval '2.5'"},
      {{"run", "--stats-file", "f", "--stats-interval"}, "needs a value"},
      {{"run", "--stats-interval", "5"}, "--stats-interval needs --stats-file"},
  };
  for (const auto& [args, message] : bad) {
    ParsedArgs p;
    std::string err;
    EXPECT_FALSE(parse_args(args, &p, &err)) << message;
    EXPECT_NE(err.find(message), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
}

TEST(StatsOptions, HelpExplainsThem) {
  for (const char* opt : {"--stats[=text|json]", "--stats-file FILE", "--stats-interval MS"})
    EXPECT_NE(std::string(kRunHelp).find(opt), std::string::npos) << opt;
}

}  // namespace
}  // namespace softcpu
