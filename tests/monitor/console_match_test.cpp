// The console script's matcher: POSIX ERE over the serial output with CR and NUL removed, and
// `^`/`$` anchored to lines the same way however the output was chunked.
#include "monitor/console_match.h"

#include <gtest/gtest.h>

namespace softcpu {
namespace {

std::shared_ptr<const ConsoleRegex> rx(const std::string& p) {
  std::string err;
  auto r = ConsoleRegex::compile(p, &err);
  EXPECT_TRUE(r) << p << ": " << err;
  return r;
}

void feed(ConsoleHistory& h, const std::string& s) {
  h.append(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(ConsoleRegex, BadPatternsAreErrorsWithTheLibraryMessage) {
  std::string err;
  EXPECT_FALSE(ConsoleRegex::compile("(", &err));
  EXPECT_NE(err, "");
  EXPECT_FALSE(ConsoleRegex::compile("a{2,1}", &err));
  EXPECT_FALSE(ConsoleRegex::compile(std::string("a\0b", 3), &err));
  EXPECT_NE(err.find("NUL"), std::string::npos);
}

TEST(ConsoleRegex, DollarIsALineEndNotTheEndOfWhatArrived) {
  auto r = rx("^42$");
  EXPECT_FALSE(r->search("42", 0, 2));                           // the line may go on: "420"
  EXPECT_TRUE(r->search("42", 0, 2, /*end_is_line_end=*/true));  // a complete text (the screen)
  EXPECT_TRUE(r->search("x\n42\ny", 0, 6));
  EXPECT_FALSE(r->search("x42\n", 0, 4));
}

TEST(ConsoleRegex, CaretMatchesOnlyAtLineStartsEvenInsideARange) {
  auto r = rx("^ab");
  const std::string t = "xab\nab";
  EXPECT_FALSE(r->search(t, 1, 3));  // "ab" at 1 is mid-line: the character before is 'x'
  auto m = r->search(t, 1, t.size());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->begin, 4u);
  EXPECT_TRUE(r->search(t, 4, t.size()));
  EXPECT_FALSE(r->search("ab", 0, 2, false, /*text_starts_line=*/false));
}

TEST(ConsoleRegex, DotDoesNotCrossLinesAndGnuEscapesWork) {
  EXPECT_FALSE(rx("a.b")->search("a\nb", 0, 3));
  EXPECT_TRUE(rx("a\\s+b")->search("a  b\n", 0, 5));
  EXPECT_TRUE(rx("\\bword\\b")->search("a word.", 0, 7));
  EXPECT_FALSE(rx("\\bword\\b")->search("swordfish", 0, 9));
  EXPECT_TRUE(rx("[0-9]+ packets")->search("sent 12 packets", 0, 15));
}

TEST(ConsoleHistory, RemovesCarriageReturnsAndNuls) {
  ConsoleHistory h;
  feed(h, std::string("one\r\ntw\0o\r\n", 11));
  EXPECT_EQ(h.text(0, h.end()), "one\ntwo\n");
  EXPECT_TRUE(h.at_line_start());
  EXPECT_TRUE(h.search(*rx("^two$"), 0));
}

// The same output split at every possible place: a line-anchored pattern matches only once
// its line is complete, and always at the same place.
TEST(ConsoleHistory, AnchoredMatchesDoNotDependOnChunking) {
  const std::string out = "softcpu# echo $((6*7))\r\n42\r\nsoftcpu# ";
  auto r = rx("^42$");
  for (size_t cut = 0; cut <= out.size(); ++cut) {
    ConsoleHistory h;
    feed(h, out.substr(0, cut));
    auto early = h.search(*r, 0);
    const size_t line_end = out.find("42\r\n") + 2;  // the "\r" is dropped, the "\n" must be there
    if (cut <= line_end) {
      EXPECT_FALSE(early) << "cut " << cut;
    }
    feed(h, out.substr(cut));
    auto m = h.search(*r, 0);
    ASSERT_TRUE(m) << "cut " << cut;
    EXPECT_EQ(h.text(m->begin, m->end), "42");
  }
}

TEST(ConsoleHistory, SearchFromAPositionKeepsTheLineContext) {
  ConsoleHistory h;
  feed(h, "login: root\nPassword: ");
  auto first = h.search(*rx("login: "), 0);
  ASSERT_TRUE(first);
  // From the end of "login: " the rest of the line "root" is not at a line start.
  EXPECT_FALSE(h.search(*rx("^root"), first->end));
  EXPECT_TRUE(h.search(*rx("^Password"), first->end));
  EXPECT_EQ(h.line_start(first->end), 0u);
  EXPECT_EQ(h.line_start(h.end()), 12u);
}

TEST(ConsoleHistory, DropsOldTextButKeepsPositions) {
  ConsoleHistory h(64);
  for (int i = 0; i < 20; ++i) feed(h, "line " + std::to_string(i) + "\n");
  EXPECT_GT(h.begin(), 0u);
  EXPECT_LE(h.end() - h.begin(), 64u);
  EXPECT_EQ(h.end(), 20u * 7 + 10 * 1);  // "line N\n" is 7 characters, 8 for N >= 10
  // Dropped up to a line start: `^` still anchors at the new beginning.
  auto m = h.search(*rx("^line 19$"), 0);
  ASSERT_TRUE(m);
  EXPECT_EQ(h.text(m->begin, m->end), "line 19");
  EXPECT_EQ(h.last_lines(2), "line 18\nline 19\n");
}

TEST(ConsoleHistory, LastLines) {
  ConsoleHistory h;
  EXPECT_EQ(h.last_lines(3), "");
  feed(h, "a\nb\nc");
  EXPECT_EQ(h.last_lines(1), "c");
  EXPECT_EQ(h.last_lines(2), "b\nc");
  EXPECT_EQ(h.last_lines(10), "a\nb\nc");
  feed(h, "\n");
  EXPECT_EQ(h.last_lines(1), "c\n");
}

TEST(ConsoleText, ControlCharactersArePrintable) {
  EXPECT_EQ(printable_console_text("a\x1b[6n\tb\n\x7f"), "a^[[6n\tb\n^?");
}

}  // namespace
}  // namespace softcpu
