// histogram.hpp -- Histogram: latency counts in log-linear buckets, HdrHistogram
// style: 3 significant decimal digits at every magnitude, from 1 ns to ~73
// minutes, in constant memory (33,792 counters), O(1) per record.
#pragma once

#include <cstdint>
#include <vector>

namespace okq::bench {

class Histogram {
 public:
  Histogram();

  void record(std::uint64_t value_ns) noexcept;
  void merge(const Histogram& other) noexcept;

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  double mean() const noexcept;
  // The smallest recorded value v such that `percentile`% of values are <= v,
  // accurate to the bucket (within 0.1%). 0 when empty.
  std::uint64_t percentile(double percentile) const noexcept;

  static constexpr std::uint64_t kHighest = std::uint64_t{1} << 42;  // larger values are clamped

 private:
  std::size_t index_of(std::uint64_t value) const noexcept;
  std::uint64_t highest_equivalent(std::size_t index) const noexcept;

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  long double sum_ = 0;
};

}  // namespace okq::bench
