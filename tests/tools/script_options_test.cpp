// --serial-script (--expect) and --serial-transcript on the command line.
#include <gtest/gtest.h>

#include "tools/options.h"

namespace softcpu {
namespace {

TEST(ScriptOptions, ScriptAndTranscript) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(
      parse_args({"run", "--serial-script", "ci.script", "--serial-transcript=t.log"}, &p, &err))
      << err;
  EXPECT_EQ(p.config.serial_script, "ci.script");
  EXPECT_EQ(p.config.serial_transcript, "t.log");
  ParsedArgs q;
  ASSERT_TRUE(parse_args({"run", "--expect=x.script"}, &q, &err)) << err;
  EXPECT_EQ(q.config.serial_script, "x.script");
  EXPECT_EQ(q.config.serial_transcript, "");
  for (const char* opt : {"--serial-script FILE", "--expect", "--serial-transcript FILE",
                          "4 when a console\nscript fails"})
    EXPECT_NE(std::string(kRunHelp).find(opt), std::string::npos) << opt;
}

TEST(ScriptOptions, Errors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"run", "--serial-script"}, "option --serial-script needs a value"},
      {{"run", "--expect="}, "option --expect needs a file name"},
      {{"run", "--serial-transcript="}, "option --serial-transcript needs a file name"},
      {{"run", "--serial-script", "a", "--expect", "b"},
       "only one console script can run (--serial-script 'a' and 'b')"},
  };
  for (const auto& [args, message] : bad) {
    ParsedArgs p;
    std::string err;
    EXPECT_FALSE(parse_args(args, &p, &err));
    EXPECT_EQ(err, message);
  }
}

}  // namespace
}  // namespace softcpu
