// The System.map reader behind --symbols: lookups name the closest symbol below, and malformed
// lines are reported with their line number.
#include <gtest/gtest.h>

#include "monitor/symbols.h"

namespace softcpu {
namespace {

std::string parse_error(const std::string& text) {
  try {
    SymbolTable::parse(text, "map");
  } catch (const SymbolFileError& e) {
    return e.message;
  }
  return "(no error)";
}

TEST(SymbolTable, NamesTheClosestSymbolBelow) {
  const SymbolTable t = SymbolTable::parse(
      "c1000000 T startup_32\n"
      "\n"
      "c1000100 t local_alias\n"
      "c1000100 T do_work\n"        // the global name wins at one address
      "00000000 A VDSO_OFFSET\n"    // absolute: not code, left out
      "c1000200 W weak_fn [mod]\r\n",
      "map");
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.describe(0xc1000000), "startup_32");
  EXPECT_EQ(t.describe(0xc10000ff), "startup_32+0xff");
  EXPECT_EQ(t.describe(0xc1000104), "do_work+0x4");
  EXPECT_EQ(t.describe(0xc1000300), "weak_fn+0x100");
  EXPECT_EQ(t.describe(0xbfffffff), "");
  EXPECT_EQ(SymbolTable::parse("", "empty").describe(0x1000), "");
}

TEST(SymbolTable, MalformedLinesNameTheLine) {
  EXPECT_EQ(parse_error("c1000000 T a\nc1000010 T\n").rfind("map:2: expected 3 fields, found 2", 0),
            0u)
      << parse_error("c1000000 T a\nc1000010 T\n");
  EXPECT_NE(parse_error("zz000000 T a\n").find("map:1: bad address 'zz000000'"), std::string::npos);
  EXPECT_NE(parse_error("\n\n100000000 T a\n").find("map:3: address '100000000' is above 4 GiB"),
            std::string::npos);
  EXPECT_NE(parse_error("c1000000 TT a\n").find("map:1: bad symbol type 'TT'"), std::string::npos);
  EXPECT_NE(parse_error("c1000000 T a b\n").find("map:1: expected 3 fields, found 4"),
            std::string::npos);
  EXPECT_NE(parse_error("c1000000 T a\n").find("(no error)"), std::string::npos);
  EXPECT_NE(parse_error("ffffffffffffffff B The real System.map is in the "
                        "linux-image-<version>-dbg package\n")
                .find("map:1: Debian's placeholder System.map"),
            std::string::npos);
  // Every message says what a line should look like.
  EXPECT_NE(parse_error("x\n").find("expected 'ADDRESS TYPE NAME'"), std::string::npos);
}

TEST(SymbolTable, MissingFileIsAnError) {
  try {
    SymbolTable::load("/nonexistent/System.map");
    FAIL() << "no error";
  } catch (const SymbolFileError& e) {
    EXPECT_NE(e.message.find("cannot open symbol file '/nonexistent/System.map'"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace softcpu
