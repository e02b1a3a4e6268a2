// The command line's system-description forms: check-config FILE and run --config FILE.
#include <gtest/gtest.h>

#include "tools/options.h"

namespace softcpu {
namespace {

TEST(ConfigOptions, CheckConfigTakesOneFile) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse_args({"check-config", "system.toml"}, &p, &err)) << err;
  EXPECT_EQ(p.command, Command::CHECK_CONFIG);
  EXPECT_EQ(p.config_path, "system.toml");
  EXPECT_FALSE(parse_args({"check-config"}, &p, &err));
  EXPECT_EQ(err, "usage: softcpu check-config FILE (a system description, docs/config.md)");
  EXPECT_FALSE(parse_args({"check-config", "a.toml", "b.toml"}, &p, &err));
  EXPECT_FALSE(parse_args({"check-config", "--jit"}, &p, &err));
}

TEST(ConfigOptions, RunConfigTakesNoOtherOption) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse_args({"run", "--config", "s.toml"}, &p, &err)) << err;
  EXPECT_EQ(p.command, Command::RUN);
  EXPECT_EQ(p.config_path, "s.toml");
  ParsedArgs q;
  ASSERT_TRUE(parse_args({"run", "--config=t.toml"}, &q, &err)) << err;
  EXPECT_EQ(q.config_path, "t.toml");
  EXPECT_FALSE(parse_args({"run", "--config", "s.toml", "-m", "64"}, &p, &err));
  EXPECT_EQ(err, "--config FILE takes no other option (but --stats, --stats-file and "
                 "--monitor): the file describes the whole system");
  EXPECT_FALSE(parse_args({"run", "disk.img", "--config", "s.toml"}, &p, &err));
  EXPECT_FALSE(parse_args({"run", "--stats", "--config", "s.toml", "--jit=on"}, &p, &err));
  // The statistics and the monitor console go with a system file.
  ParsedArgs r;
  ASSERT_TRUE(parse_args({"run", "--stats=json", "--config", "s.toml", "--stats-file", "x.json",
                          "--monitor", "tcp::4444"}, &r, &err)) << err;
  EXPECT_EQ(r.config_path, "s.toml");
  EXPECT_EQ(r.config.stats, StatsFormat::JSON);
  EXPECT_EQ(r.config.stats_path, "x.json");
  EXPECT_EQ(r.monitor, "tcp::4444");
  ParsedArgs t;
  EXPECT_FALSE(parse_args({"run", "--monitor", "tcp::4444", "--bios", "x.rom"}, &t, &err));
  EXPECT_EQ(err, "--monitor needs --config FILE: the monitor console controls a system's partitions");
  EXPECT_FALSE(parse_args({"run", "--config", "s.toml", "--monitor=4444"}, &t, &err));
  EXPECT_EQ(err, "bad --monitor '4444': expected tcp:ADDR:PORT, e.g. tcp::4444 (the loopback address)");
  EXPECT_FALSE(parse_args({"run", "--config"}, &p, &err));
  EXPECT_EQ(err, "option --config needs a value");
}

}  // namespace
}  // namespace softcpu
