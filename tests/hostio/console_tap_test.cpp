// ConsoleTap: the guest's output reaches the wrapped backend, the transcript and the observer;
// injected input comes before the backend's own and wakes the listener.
#include "hostio/console_tap.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/vdevices/test_backend.h"

namespace softcpu {
namespace {

TEST(ConsoleTap, OutputGoesEverywhereInputIsMerged) {
  auto inner = std::make_unique<test::RecordingBackend>();
  test::RecordingBackend* in = inner.get();
  const std::string path = ::testing::TempDir() + "console_tap_test.log";
  std::string error;
  auto transcript = open_output_file(path, &error, "serial transcript");
  ASSERT_TRUE(transcript) << error;
  ConsoleTap tap(std::move(inner), std::move(transcript));
  std::string observed;
  tap.set_output_observer(
      [&](const uint8_t* d, size_t n) { observed.append(reinterpret_cast<const char*>(d), n); });
  int wakes = 0;
  tap.set_input_listener([&] { ++wakes; });
  EXPECT_STREQ(tap.kind(), "test");

  const std::string hello = "hello\r\n";
  tap.write(reinterpret_cast<const uint8_t*>(hello.data()), hello.size());
  EXPECT_EQ(std::string(in->out.begin(), in->out.end()), hello);
  EXPECT_EQ(observed, hello);

  in->feed({'k'});
  EXPECT_TRUE(tap.has_input());
  tap.inject(reinterpret_cast<const uint8_t*>("ab"), 2);
  EXPECT_EQ(wakes, 1);
  uint8_t b = 0;
  std::string got;
  while (tap.read_byte(b)) got.push_back(char(b));
  EXPECT_EQ(got, "abk");
  EXPECT_FALSE(tap.has_input());

  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  EXPECT_EQ(text.str(), hello);
  std::remove(path.c_str());
}

TEST(ConsoleTap, NoTranscriptNoObserver) {
  auto inner = std::make_unique<test::RecordingBackend>();
  test::RecordingBackend* in = inner.get();
  ConsoleTap tap(std::move(inner), nullptr);
  tap.write(reinterpret_cast<const uint8_t*>("x"), 1);
  EXPECT_EQ(in->out.size(), 1u);
}

}  // namespace
}  // namespace softcpu
