// ScriptRunner on a manual clock: waits consume output, checks look at what the last wait
// consumed, timeouts and failures name the step and show the last lines, the machine's stop
// ends a wait-exit or fails a pending step, and the exit status follows status/exit.
#include "monitor/script_runner.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace softcpu {
namespace {

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { log_ = open_memstream(&log_buf_, &log_size_); }
  void TearDown() override {
    std::fclose(log_);
    std::free(log_buf_);
  }

  void start(const std::string& text) {
    ConsoleScript s;
    std::vector<std::string> errors;
    ASSERT_TRUE(parse_console_script(text, "t.script", &s, &errors)) << errors[0];
    ScriptRunner::Hooks h;
    h.send = [this](const uint8_t* d, size_t n) {
      sent_.append(reinterpret_cast<const char*>(d), n);
    };
    h.screen = [this] { return screen_; };
    h.request_exit = [this](int status) { exit_requests_.push_back(status); };
    h.clock = [this] { return now_; };
    h.log = log_;
    runner_ = std::make_unique<ScriptRunner>(std::move(s), std::move(h));
  }
  void out(const std::string& s) {
    runner_->on_output(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    runner_->tick();
  }
  void at(double t) {
    now_ = t;
    runner_->tick();
  }
  std::string log() {
    std::fflush(log_);
    return std::string(log_buf_, log_size_);
  }

  double now_ = 100;
  std::string sent_, screen_;
  std::vector<int> exit_requests_;
  std::unique_ptr<ScriptRunner> runner_;
  FILE* log_ = nullptr;
  char* log_buf_ = nullptr;
  size_t log_size_ = 0;
};

TEST_F(RunnerTest, LoginRunCheckPowerOff) {
  start(
      "wait 'login: '\n"
      "sendline root\n"
      "wait '# '\n"
      "sendline 'echo $((6*7))'\n"
      "wait '# '\n"
      "check '^42$'\n"
      "check-not '^43$'\n"
      "sendline 'poweroff -f'\n"
      "wait-exit 10\n");
  runner_->tick();
  EXPECT_EQ(sent_, "");
  out("Welcome\r\nlog");
  EXPECT_EQ(sent_, "");
  out("in: ");
  EXPECT_EQ(sent_, "root\r");
  out("root\r\n# ");
  EXPECT_EQ(sent_, "root\recho $((6*7))\r");
  out("echo $((6*7))\r\n4");
  at(101);
  out("2\r\n# ");
  EXPECT_EQ(sent_, "root\recho $((6*7))\rpoweroff -f\r");
  at(105);
  EXPECT_FALSE(runner_->failed());
  EXPECT_EQ(runner_->finish(0), 0);  // the guest powered off: wait-exit is done
  EXPECT_TRUE(exit_requests_.empty());
  EXPECT_NE(log().find("softcpu: script t.script passed (9 steps"), std::string::npos) << log();
}

TEST_F(RunnerTest, WaitTimesOutAndTheReportNamesTheStepAndTheLastLines) {
  start(
      "timeout 5\n"
      "wait ready\n"
      "wait never\n");
  std::string lines;
  for (int i = 0; i < 30; ++i) lines += "boot line " + std::to_string(i) + "\r\n";
  out(lines + "ready\r\npartial \x1b[1m");
  at(104.9);
  EXPECT_FALSE(runner_->failed());
  at(105.0 + 100);  // well past the second wait's start + 5 s
  EXPECT_TRUE(runner_->failed());
  ASSERT_EQ(exit_requests_, std::vector<int>{ScriptRunner::FAILURE_STATUS});
  const std::string l = log();
  EXPECT_NE(l.find("softcpu: script failed at t.script:3: wait never\n"), std::string::npos) << l;
  EXPECT_NE(l.find("timed out after 5 s: no match for /never/"), std::string::npos) << l;
  EXPECT_NE(l.find("the last 20 lines of serial output:\n"), std::string::npos) << l;
  EXPECT_NE(l.find("  | boot line 29\n  | ready\n  | partial ^[[1m\n"), std::string::npos) << l;
  EXPECT_EQ(l.find("boot line 11\n"), std::string::npos) << l;  // only the last 20 lines
  EXPECT_NE(l.find("boot line 12\n"), std::string::npos) << l;
  EXPECT_EQ(runner_->finish(ScriptRunner::FAILURE_STATUS), ScriptRunner::FAILURE_STATUS);
}

TEST_F(RunnerTest, WaitsConsumeOutputInOrder) {
  start("wait A\nwait A\nwait B\ncheck '^xA'\n");
  out("A");
  out("A");  // the second wait needs an A after the first match
  EXPECT_EQ(runner_->steps_done(), 2u);
  out("B");
  // The text the last wait consumed starts mid-line: `^xA` must not match "B".
  EXPECT_TRUE(runner_->failed());
  EXPECT_NE(log().find("t.script:4: check '^xA'"), std::string::npos) << log();
  EXPECT_NE(log().find("the output of the last wait does not match /^xA/"), std::string::npos);
}

TEST_F(RunnerTest, CheckWithoutWaitFails) {
  start("check x\n");
  runner_->tick();
  EXPECT_TRUE(runner_->failed());
  EXPECT_NE(log().find("no wait before this check"), std::string::npos);
}

TEST_F(RunnerTest, CheckNotShowsWhatMatched) {
  start("wait '\\$ '\ncheck-not 'error: [a-z]+'\n");
  out("make\r\nerror: missing\r\n$ ");
  EXPECT_TRUE(runner_->failed());
  EXPECT_NE(log().find("matches /error: [a-z]+/ (\"error: missing\")"), std::string::npos) << log();
}

TEST_F(RunnerTest, FailOnWatchesEveryLaterLineAndTheUnconsumedOutput) {
  start("wait start\nfail-on 'Kernel panic'\nwait never 60\n");
  out("start Kernel pa");
  EXPECT_FALSE(runner_->failed());
  out("nic - not syncing\r\n");
  EXPECT_TRUE(runner_->failed());
  const std::string l = log();
  EXPECT_NE(l.find("failed at t.script:2: fail-on 'Kernel panic'"), std::string::npos) << l;
  EXPECT_NE(l.find("matched /Kernel panic/: \"start Kernel panic\""), std::string::npos) << l;
}

TEST_F(RunnerTest, FailOnStaysActiveAfterTheLastStep) {
  start("fail-on BUG\nsendline x\n");
  runner_->tick();
  EXPECT_EQ(sent_, "x\r");
  out("BUG: oops\n");
  EXPECT_TRUE(runner_->failed());
  EXPECT_EQ(runner_->finish(4), ScriptRunner::FAILURE_STATUS);
}

TEST_F(RunnerTest, FailOnSeesOutputThatArrivedJustBeforeTheStop) {
  start("fail-on BUG\n");
  runner_->tick();
  runner_->on_output(reinterpret_cast<const uint8_t*>("BUG"), 3);  // no tick before the stop
  EXPECT_EQ(runner_->finish(0), ScriptRunner::FAILURE_STATUS);
}

TEST_F(RunnerTest, MachineStopWhileWaitingFailsTheStep) {
  start("wait '# '\nsendline 'echo hi'\nwait hi\n");
  out("# ");
  EXPECT_EQ(runner_->finish(0), ScriptRunner::FAILURE_STATUS);
  EXPECT_NE(log().find("failed at t.script:3: wait hi"), std::string::npos) << log();
  EXPECT_NE(log().find("the machine stopped (exit status 0) before this step was done"),
            std::string::npos);
}

TEST_F(RunnerTest, ALastMatchIsFoundWhenTheMachineStops) {
  start("wait 'Power down'\nwait-exit\n");
  runner_->tick();
  runner_->on_output(reinterpret_cast<const uint8_t*>("reboot: Power down\r\n"), 20);
  EXPECT_EQ(runner_->finish(0), 0);
}

TEST_F(RunnerTest, TimeoutOfTheMachineKeeps124) {
  start("wait never\n");
  runner_->tick();
  EXPECT_EQ(runner_->finish(124), 124);
  EXPECT_NE(log().find("the machine stopped (exit status 124)"), std::string::npos);
}

TEST_F(RunnerTest, WaitExitTimesOut) {
  start("wait-exit 3\n");
  runner_->tick();  // the step starts at 100
  at(102);
  EXPECT_FALSE(runner_->failed());
  at(103.5);
  EXPECT_TRUE(runner_->failed());
  EXPECT_NE(log().find("the guest did not stop the machine"), std::string::npos);
}

TEST_F(RunnerTest, StatusAndExit) {
  start("status 9\nexit\n");
  runner_->tick();
  ASSERT_EQ(exit_requests_, std::vector<int>{9});
  EXPECT_EQ(runner_->finish(9), 9);

  start("status 9\nexit 5\n");
  exit_requests_.clear();
  runner_->tick();
  ASSERT_EQ(exit_requests_, std::vector<int>{5});
  EXPECT_EQ(runner_->finish(5), 5);

  start("exit\n");
  exit_requests_.clear();
  runner_->tick();
  ASSERT_EQ(exit_requests_, std::vector<int>{0});

  start("status 3\n");  // the script ends; the guest later stops the machine
  runner_->tick();
  EXPECT_EQ(runner_->finish(0), 3);

  start("print hello\n");  // without status: the machine's own
  runner_->tick();
  EXPECT_EQ(runner_->finish(7), 7);
  EXPECT_NE(log().find("softcpu: script: hello\n"), std::string::npos);
}

TEST_F(RunnerTest, SleepWaitsForTheClock) {
  start("sleep 2\nsend x\n");
  runner_->tick();
  EXPECT_EQ(sent_, "");
  EXPECT_DOUBLE_EQ(runner_->wake_in(), 2);
  at(101.5);
  EXPECT_EQ(sent_, "");
  at(102);
  EXPECT_EQ(sent_, "x");
}

TEST_F(RunnerTest, WaitScreenPollsAndChecksTheScreen) {
  start("wait-screen 'Boot OK$' 10\ncheck-screen '^SeaBIOS'\ncheck-screen-not panic\nsend y\n");
  screen_ = "SeaBIOS (version 1.16)\n\n";
  runner_->tick();
  EXPECT_EQ(sent_, "");
  EXPECT_LE(runner_->wake_in(), ScriptRunner::SCREEN_POLL_SECONDS);
  screen_ += "Boot OK\n";
  at(100.05);  // before the next poll: the screen is not looked at
  EXPECT_EQ(sent_, "");
  at(100.2);
  EXPECT_EQ(sent_, "y");
}

TEST_F(RunnerTest, WaitScreenFailureShowsTheScreen) {
  start("wait-screen 'login:' 1\n");
  screen_ = "Loading...\nstill loading\n";
  runner_->tick();
  at(101);
  EXPECT_TRUE(runner_->failed());
  const std::string l = log();
  EXPECT_NE(l.find("no match for /login:/ on the screen"), std::string::npos) << l;
  EXPECT_NE(l.find("the screen:\n  | Loading...\n  | still loading\n"), std::string::npos) << l;
}

TEST_F(RunnerTest, CheckScreenNotFails) {
  start("check-screen-not 'Kernel panic'\n");
  screen_ = "Kernel panic - not syncing\n";
  runner_->tick();
  EXPECT_TRUE(runner_->failed());
  EXPECT_NE(log().find("the screen matches /Kernel panic/"), std::string::npos);
}

// A wait with a lot of unmatched output is retried at most every THROTTLE_SECONDS; output
// that arrived meanwhile is matched on the next tick after that, and a deadline tick always
// looks.
TEST_F(RunnerTest, LongOutputIsThrottledButNotMissed) {
  start("wait DONE 10\nsend ok\n");
  out(std::string(ScriptRunner::THROTTLE_BYTES + 100, 'x'));
  out("DONE");  // within the throttle interval: not looked at yet
  EXPECT_EQ(sent_, "");
  EXPECT_GT(runner_->wake_in(), 0);
  EXPECT_LE(runner_->wake_in(), ScriptRunner::THROTTLE_SECONDS);
  at(100 + 2 * ScriptRunner::THROTTLE_SECONDS);
  EXPECT_EQ(sent_, "ok");
}

}  // namespace
}  // namespace softcpu
