#include <gtest/gtest.h>

#include "monitor/stats.h"

namespace softcpu {
namespace {

TEST(StatsRegistry, TextAndNestedJson) {
  StatsRegistry s;
  uint64_t hits = 7, misses = 3;
  s.add("instructions", [] { return 1234.0; });
  s.add("cache.hits", &hits);
  s.add("cache.misses", &misses);
  s.add("cache.hit_rate", [&] { return double(hits) / double(hits + misses); });
  EXPECT_EQ(s.json(), "{\"instructions\": 1234, \"cache\": {\"hits\": 7, \"misses\": 3, "
                      "\"hit_rate\": 0.7}}\n");
  hits = 8;  // read live at print time
  std::string t = s.text();
  EXPECT_NE(t.find("cache.hits      8\n"), std::string::npos) << t;
}

}  // namespace
}  // namespace softcpu
