#include "hostio/char_backend.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "hostio/event_loop.h"

namespace softcpu {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "softcpu_hostio_XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void put(CharBackend& b, const std::string& s) {
  b.write(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Wait (bounded) until the backend has `n` bytes of input, then take them.
std::string take(CharBackend& b, size_t n) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    uint8_t c;
    if (b.read_byte(c))
      got.push_back(static_cast<char>(c));
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return got;
}

TEST(CharBackend, FileWritesRealFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/serial.txt";
  {
    std::ofstream old(path);
    old << "stale contents that must be truncated";
  }
  EventLoop loop;
  std::string error;
  auto backend = open_char_backend("file:" + path, loop, &error);
  ASSERT_NE(backend, nullptr) << error;
  EXPECT_STREQ(backend->kind(), "file");
  put(*backend, "hello\n");
  const uint8_t bin[] = {0x00, 0xFF, 0x01};
  backend->write(bin, sizeof bin);
  uint8_t c;
  EXPECT_FALSE(backend->read_byte(c));
  EXPECT_FALSE(backend->has_input());
  EXPECT_EQ(slurp(path), std::string("hello\n\x00\xFF\x01", 9));  // written through at once
  backend.reset();
  EXPECT_EQ(slurp(path), std::string("hello\n\x00\xFF\x01", 9));
}

TEST(CharBackend, FileInMissingDirectoryIsAnError) {
  EventLoop loop;
  std::string error;
  auto backend = open_char_backend("file:/nonexistent-softcpu-dir/x", loop, &error);
  EXPECT_EQ(backend, nullptr);
  EXPECT_EQ(error,
            "cannot open serial file '/nonexistent-softcpu-dir/x': No such file or directory");
}

TEST(CharBackend, BadSpecs) {
  EventLoop loop;
  std::string error;
  EXPECT_EQ(open_char_backend("tcp:1234", loop, &error), nullptr);
  EXPECT_EQ(error, "unknown serial backend 'tcp:1234' (expected stdio, file:PATH or none)");
  EXPECT_EQ(open_char_backend("file:", loop, &error), nullptr);
  EXPECT_EQ(error, "serial backend 'file:' needs a path");
  EXPECT_EQ(open_char_backend("", loop, nullptr), nullptr);  // null error pointer is fine
}

TEST(CharBackend, NoneDiscards) {
  EventLoop loop;
  auto backend = open_char_backend("none", loop, nullptr);
  ASSERT_NE(backend, nullptr);
  put(*backend, "dropped");
  uint8_t c;
  EXPECT_FALSE(backend->read_byte(c));
  EXPECT_FALSE(backend->has_input());
}

TEST(OutputFile, WritesAndReportsErrors) {
  TempDir dir;
  std::string path = dir.path() + "/debugcon.log";
  std::string error;
  auto out = open_output_file(path, &error);
  ASSERT_NE(out, nullptr) << error;
  put(*out, "debug");
  out.reset();
  EXPECT_EQ(slurp(path), "debug");

  EXPECT_EQ(open_output_file(dir.path() + "/no/such/file", &error, "debugcon"), nullptr);
  EXPECT_EQ(error, "cannot open debugcon file '" + dir.path() +
                       "/no/such/file': No such file or directory");
  EXPECT_NE(open_output_file("-", &error), nullptr);  // stdout, not owned
}

TEST(ConsoleEscape, QemuStyleCommands) {
  ConsoleEscape esc;
  ConsoleEscape::Action action;
  uint8_t out = 0;
  EXPECT_TRUE(esc.feed('a', &out, &action));
  EXPECT_EQ(out, 'a');
  EXPECT_FALSE(esc.feed(0x01, &out, &action));
  EXPECT_EQ(action, ConsoleEscape::Action::NONE);
  EXPECT_TRUE(esc.feed(0x01, &out, &action));  // C-a C-a sends C-a
  EXPECT_EQ(out, 0x01);
  EXPECT_FALSE(esc.feed(0x01, &out, &action));
  EXPECT_FALSE(esc.feed('h', &out, &action));
  EXPECT_EQ(action, ConsoleEscape::Action::HELP);
  EXPECT_FALSE(esc.feed(0x01, &out, &action));
  EXPECT_FALSE(esc.feed('q', &out, &action));  // unknown command: dropped
  EXPECT_EQ(action, ConsoleEscape::Action::NONE);
  EXPECT_TRUE(esc.feed('q', &out, &action));
  EXPECT_FALSE(esc.feed(0x01, &out, &action));
  EXPECT_FALSE(esc.feed('x', &out, &action));
  EXPECT_EQ(action, ConsoleEscape::Action::QUIT);
}

TEST(StdioBackend, PipeInputWithEscapes) {
  int in_pipe[2], out_pipe[2];
  ASSERT_EQ(::pipe(in_pipe), 0);
  ASSERT_EQ(::pipe(out_pipe), 0);
  EventLoop loop;
  std::string error;
  auto backend = open_stdio_backend(loop, in_pipe[0], out_pipe[1], true, &error);
  ASSERT_NE(backend, nullptr) << error;
  std::atomic<int> quits{0}, notifications{0};
  backend->set_quit_handler([&] { ++quits; });
  backend->set_input_listener([&] { ++notifications; });

  const char input[] = "ab\x01\x01" "c\x01x";
  ASSERT_EQ(::write(in_pipe[1], input, sizeof input - 1), static_cast<ssize_t>(sizeof input - 1));
  EXPECT_EQ(take(*backend, 4), "ab\x01" "c");
  for (int i = 0; i < 500 && quits == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(quits.load(), 1);
  EXPECT_GE(notifications.load(), 1);
  EXPECT_FALSE(backend->has_input());

  put(*backend, "out");
  char buf[8] = {};
  ASSERT_EQ(::read(out_pipe[0], buf, sizeof buf), 3);
  EXPECT_EQ(std::string(buf, 3), "out");

  backend.reset();  // closes its handle on the loop thread
  ::close(in_pipe[1]);
  ::close(out_pipe[0]);
  ::close(out_pipe[1]);
}

TEST(StdioBackend, PipeEofAndNoEscapes) {
  int in_pipe[2];
  ASSERT_EQ(::pipe(in_pipe), 0);
  EventLoop loop;
  auto backend = open_stdio_backend(loop, in_pipe[0], -1, false, nullptr);
  ASSERT_NE(backend, nullptr);
  const char input[] = "\x01x\x01";
  ASSERT_EQ(::write(in_pipe[1], input, 3), 3);
  ::close(in_pipe[1]);  // EOF after the data
  EXPECT_EQ(take(*backend, 3), "\x01x\x01");  // passed through untouched
  put(*backend, "nowhere");                   // no output descriptor: discarded
}

TEST(StdioBackend, LargeRegularFileInputIsFlowControlled) {
  TempDir dir;
  std::string path = dir.path() + "/input.bin";
  std::string data;
  for (int i = 0; i < 300000; ++i) data.push_back(static_cast<char>('a' + i % 26));
  {
    std::ofstream f(path, std::ios::binary);
    f << data;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EventLoop loop;
  auto backend = open_stdio_backend(loop, fd, -1, false, nullptr);
  ASSERT_NE(backend, nullptr);
  std::string got = take(*backend, data.size());
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  backend.reset();  // closes fd
}

TEST(StdioBackend, DestroyAfterLoopShutdown) {
  int in_pipe[2];
  ASSERT_EQ(::pipe(in_pipe), 0);
  EventLoop loop;
  auto backend = open_stdio_backend(loop, in_pipe[0], -1, false, nullptr);
  ASSERT_NE(backend, nullptr);
  loop.shutdown();  // closes the backend's handle itself
  backend.reset();  // must not hang or touch the stopped loop
  ::close(in_pipe[1]);
}

}  // namespace
}  // namespace softcpu
