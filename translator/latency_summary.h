// A bounded summary of durations for the translator's percentile statistics (jit.compile_us_*,
// jit.wait_us_*): a log-linear histogram, so a long run keeps a fixed 8 KiB per quantity
// instead of one entry per region. Values are kept in sixteenths of a microsecond; below 2 µs
// each sixteenth is its own bucket, above that each power of two is cut into 16 buckets, so a
// quantile is read back within 1/32 of its value (the bucket's midpoint, clamped to the
// smallest and largest value added: one value, or all the same, comes back exact).
// Not thread-safe: its owner locks it.
#pragma once
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace softcpu {

class LatencySummary {
 public:
  void add(double us) {
    const uint64_t x = us <= 0 ? 0 : us >= 1e15 ? UINT64_MAX : uint64_t(us * kPerUs);
    ++counts_[bucket(x)];
    if (!n_++ || us < min_) min_ = us;
    max_ = std::max(max_, us);
  }
  uint64_t count() const { return n_; }
  // The value of rank min(n-1, floor(n*q)) in sorted order (p50: rank n/2), as a bucket's
  // midpoint; 0 with no values.
  double quantile(double q) const {
    if (!n_) return 0;
    const uint64_t rank = std::min<uint64_t>(n_ - 1, uint64_t(double(n_) * q));
    uint64_t seen = 0;
    size_t k = 0;
    for (; k < kBuckets; ++k)
      if ((seen += counts_[k]) > rank) break;
    return std::clamp(midpoint(k) / kPerUs, min_, max_);
  }

 private:
  static constexpr double kPerUs = 16;  // sixteenths of a µs
  static constexpr unsigned kSub = 16;  // buckets per power of two
  static constexpr unsigned kLinear = 2 * kSub;  // 0 .. 2 µs: one bucket per sixteenth
  static constexpr size_t kBuckets = kLinear + (64 - 5) * kSub;

  static size_t bucket(uint64_t x) {
    if (x < kLinear) return size_t(x);
    const unsigned e = 63 - unsigned(std::countl_zero(x));  // >= 5
    return kLinear + (e - 5) * kSub + ((x >> (e - 4)) & (kSub - 1));
  }
  static double midpoint(size_t k) {
    if (k < kLinear) return double(k);
    const unsigned e = unsigned(k - kLinear) / kSub + 5, sub = unsigned(k - kLinear) % kSub;
    const double width = double(uint64_t(1) << (e - 4));
    return double(kSub + sub) * width + width / 2;
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t n_ = 0;
  double min_ = 0, max_ = 0;
};

}  // namespace softcpu
