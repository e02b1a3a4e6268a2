// The console script language: commands, quoting and escapes, durations, and errors that name
// the file and line.
#include "monitor/console_script.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace softcpu {
namespace {

ConsoleScript parse_ok(const std::string& text) {
  ConsoleScript s;
  std::vector<std::string> errors;
  EXPECT_TRUE(parse_console_script(text, "t.script", &s, &errors));
  for (const auto& e : errors) ADD_FAILURE() << e;
  return s;
}

std::vector<std::string> parse_errors(const std::string& text) {
  ConsoleScript s;
  std::vector<std::string> errors;
  EXPECT_FALSE(parse_console_script(text, "t.script", &s, &errors)) << text;
  return errors;
}

std::string unescaped(const std::string& in) {
  std::string out, err;
  EXPECT_TRUE(unescape_script_string(in, &out, &err)) << in << ": " << err;
  return out;
}

TEST(ConsoleScript, Escapes) {
  EXPECT_EQ(unescaped("a\\nb\\r\\t"), "a\nb\r\t");
  EXPECT_EQ(unescaped("\\e[0m\\x41\\x7f"), "\x1b[0mA\x7f");
  EXPECT_EQ(unescaped("\\cC\\cc\\c[\\c?\\c@"), std::string("\x03\x03\x1b\x7f\0", 5));
  EXPECT_EQ(unescaped("\\\\ \\\" \\0"), std::string("\\ \" \0", 5));
  // Other escapes are kept for the regular expression: \. \w \( \$
  EXPECT_EQ(unescaped("1\\.5 \\w+ \\( \\$"), "1\\.5 \\w+ \\( \\$");
  std::string out, err;
  EXPECT_FALSE(unescape_script_string("\\x4", &out, &err));
  EXPECT_NE(err.find("\\x needs two hex digits"), std::string::npos);
  EXPECT_FALSE(unescape_script_string("\\c1", &out, &err));
  EXPECT_FALSE(unescape_script_string("\\c", &out, &err));
}

TEST(ConsoleScript, Durations) {
  double s = -1;
  EXPECT_TRUE(parse_script_duration("30", &s));
  EXPECT_EQ(s, 30);
  EXPECT_TRUE(parse_script_duration("2.5s", &s));
  EXPECT_EQ(s, 2.5);
  EXPECT_TRUE(parse_script_duration("500ms", &s));
  EXPECT_DOUBLE_EQ(s, 0.5);
  EXPECT_TRUE(parse_script_duration("2m", &s));
  EXPECT_EQ(s, 120);
  for (const char* bad : {"", "s", "-1", "1h", "ten", "1e400", "nan", "inf", "+3"})
    EXPECT_FALSE(parse_script_duration(bad, &s)) << bad;
}

TEST(ConsoleScript, EveryCommand) {
  ConsoleScript s = parse_ok(
      "# a comment\n"
      "\n"
      "transcript out.log\n"
      "timeout 60\n"
      "fail-on 'Kernel panic'   # trailing comment\n"
      "wait \"softcpu# \"\n"
      "expect login: 5\n"
      "sendline \"echo $((6*7))\"\n"
      "send \"a\\tb\" '\\n' \\cC\n"
      "wait '^42$' 2.5\n"
      "check '^42$'\n"
      "check-not error\n"
      "wait-screen 'SeaBIOS' 500ms\n"
      "check-screen Linux\n"
      "check-screen-not panic\n"
      "sleep 0\n"
      "status 7\n"
      "print all   done\n"
      "wait-exit\n"
      "exit 3\n"
      "exit\n");
  EXPECT_EQ(s.transcript_path, "out.log");
  ASSERT_EQ(s.steps.size(), 17u);
  EXPECT_EQ(s.steps[0].op, ScriptOp::FAIL_ON);
  EXPECT_EQ(s.steps[0].regex->pattern(), "Kernel panic");
  EXPECT_EQ(s.steps[0].line, 5u);
  EXPECT_EQ(s.steps[0].source, "fail-on 'Kernel panic'   # trailing comment");
  EXPECT_EQ(s.steps[1].op, ScriptOp::WAIT);
  EXPECT_EQ(s.steps[1].regex->pattern(), "softcpu# ");
  EXPECT_EQ(s.steps[1].seconds, 60);         // the `timeout` before it
  EXPECT_EQ(s.steps[2].op, ScriptOp::WAIT);  // expect is wait
  EXPECT_EQ(s.steps[2].seconds, 5);
  EXPECT_EQ(s.steps[3].op, ScriptOp::SEND);
  EXPECT_EQ(s.steps[3].bytes, "echo $((6*7))\r");  // sendline adds Enter
  EXPECT_EQ(s.steps[4].bytes, "a\tb\\n\\cC");      // single quotes and bare words are raw
  EXPECT_EQ(s.steps[5].seconds, 2.5);
  EXPECT_EQ(s.steps[6].op, ScriptOp::CHECK);
  EXPECT_EQ(s.steps[7].op, ScriptOp::CHECK_NOT);
  EXPECT_EQ(s.steps[8].op, ScriptOp::WAIT_SCREEN);
  EXPECT_DOUBLE_EQ(s.steps[8].seconds, 0.5);
  EXPECT_EQ(s.steps[9].op, ScriptOp::CHECK_SCREEN);
  EXPECT_EQ(s.steps[10].op, ScriptOp::CHECK_SCREEN_NOT);
  EXPECT_EQ(s.steps[11].op, ScriptOp::SLEEP);
  EXPECT_EQ(s.steps[12].op, ScriptOp::STATUS);
  EXPECT_EQ(s.steps[12].status, 7);
  EXPECT_EQ(s.steps[13].op, ScriptOp::PRINT);
  EXPECT_EQ(s.steps[13].bytes, "all done");
  EXPECT_EQ(s.steps[14].op, ScriptOp::WAIT_EXIT);
  EXPECT_EQ(s.steps[14].seconds, 60);
  EXPECT_EQ(s.steps[15].status, 3);
  EXPECT_EQ(s.steps[16].op, ScriptOp::EXIT);
  EXPECT_EQ(s.steps[16].status, -1);
  EXPECT_EQ(s.steps[16].line, 21u);
}

TEST(ConsoleScript, DefaultTimeoutAndCrlfFiles) {
  ConsoleScript s = parse_ok("wait x\r\nsendline\r\n");
  ASSERT_EQ(s.steps.size(), 2u);
  EXPECT_EQ(s.steps[0].seconds, kDefaultScriptTimeout);
  EXPECT_EQ(s.steps[0].regex->pattern(), "x");
  EXPECT_EQ(s.steps[1].bytes, "\r");
}

TEST(ConsoleScript, EveryErrorNamesItsLine) {
  auto e = parse_errors(
      "wait\n"            // 1: no regex
      "wiat foo\n"        // 2: unknown command
      "wait '('\n"        // 3: bad regex
      "send \"abc\n"      // 4: unterminated
      "wait foo ten\n"    // 5: bad timeout
      "status 256\n"      // 6
      "exit 1 2\n"        // 7
      "timeout 0\n"       // 8: a zero timeout
      "send \"\\xZZ\"\n"  // 9: bad escape
      "wait \"a\"b\n"     // 10: no space after the quote
      "check ''\n"        // 11: empty regex
      "\"wait\" x\n"      // 12: quoted command
      "transcript a\n"
      "transcript b\n"  // 14: a second transcript
      "wait ok\n");     // fine
  ASSERT_EQ(e.size(), 13u);
  const char* expected[] = {
      "t.script:1: usage: wait REGEX [TIMEOUT]",
      "t.script:2: unknown command 'wiat'",
      "t.script:3: bad regular expression '('",
      "t.script:4: unterminated \"string\"",
      "t.script:5: bad duration 'ten'",
      "t.script:6: bad exit status '256'",
      "t.script:7: usage: exit [N]",
      "t.script:8: bad duration '0'",
      "t.script:9: \\x needs two hex digits",
      "t.script:10: expected a space after the closing quote",
      "t.script:11: empty regular expression",
      "t.script:12: a line starts with a command",
      "t.script:14: a second transcript (the first is on line 13)",
  };
  for (size_t i = 0; i < e.size(); ++i)
    EXPECT_EQ(e[i].rfind(expected[i], 0), 0u) << "got: " << e[i] << "\nwant: " << expected[i];
}

TEST(ConsoleScript, LoadReportsAMissingFile) {
  ConsoleScript s;
  std::vector<std::string> errors;
  EXPECT_FALSE(load_console_script("/nonexistent/x.script", &s, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "cannot read console script '/nonexistent/x.script': No such file or directory");
  errors.clear();
  EXPECT_FALSE(load_console_script("/", &s, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("cannot read console script '/'"), std::string::npos);
}

TEST(ConsoleScript, LoadParsesAFile) {
  const std::string path = ::testing::TempDir() + "console_script_test.script";
  {
    std::ofstream f(path);
    f << "wait ready\nbogus\n";
  }
  ConsoleScript s;
  std::vector<std::string> errors;
  EXPECT_FALSE(load_console_script(path, &s, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind(path + ":2: unknown command 'bogus'", 0), 0u) << errors[0];
  std::remove(path.c_str());
}

}  // namespace
}  // namespace softcpu
