// The translator's bounded percentile summary (translator/latency_summary.h): quantiles within
// 1/32 of the exact order statistic that the translator's sorted vectors gave before, exact
// for a single or repeated value, and 0 when empty.
#include "translator/latency_summary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace softcpu {
namespace {

double exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(double(v.size()) * q))];
}

TEST(LatencySummary, QuantilesWithinOneThirtySecondOfTheSortedValue) {
  std::mt19937_64 rng(7);
  // Compile and wait times span microseconds to seconds: log-uniform over 0.5 µs .. 20 s.
  std::uniform_real_distribution<double> log2_us(-1, 24.3);
  for (size_t n : {1u, 2u, 3u, 10u, 99u, 100u, 1000u, 20000u}) {
    LatencySummary s;
    std::vector<double> v;
    for (size_t k = 0; k < n; ++k) {
      const double us = std::exp2(log2_us(rng));
      v.push_back(us);
      s.add(us);
    }
    ASSERT_EQ(s.count(), n);
    for (double q : {0.0, 0.5, 0.9, 0.99, 1.0}) {
      const double want = exact(v, q), got = s.quantile(q);
      // Below 2 µs a bucket is a sixteenth of a µs wide.
      EXPECT_NEAR(got, want, std::max(want / 32, 1.0 / 32)) << "n=" << n << " q=" << q;
    }
  }
}

TEST(LatencySummary, OneValueOrAllEqualComeBackExact) {
  LatencySummary s;
  EXPECT_EQ(s.quantile(0.5), 0.0);  // empty
  s.add(123456.789);
  EXPECT_EQ(s.quantile(0.5), 123456.789);
  EXPECT_EQ(s.quantile(0.99), 123456.789);
  for (int k = 0; k < 50; ++k) s.add(123456.789);
  EXPECT_EQ(s.quantile(0.99), 123456.789);
  s.add(0);  // the smallest now: p0 is it, the median is still the repeated value
  EXPECT_EQ(s.quantile(0.0), 0.0);
  EXPECT_EQ(s.quantile(0.5), 123456.789);
}

TEST(LatencySummary, ExtremeValuesStayInRange) {
  LatencySummary s;
  s.add(-5);    // clocks do not go back, but a negative value must not index before bucket 0
  s.add(1e30);  // nor a huge one past the last
  EXPECT_EQ(s.count(), 2u);
  EXPECT_GE(s.quantile(0.0), -5.0);  // in the first bucket, [0, 1/16 µs)
  EXPECT_LT(s.quantile(0.0), 1.0 / 16);
  EXPECT_GT(s.quantile(1.0), 1e17);  // in the last one
  EXPECT_LE(s.quantile(1.0), 1e30);
}

}  // namespace
}  // namespace softcpu
