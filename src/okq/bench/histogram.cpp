// histogram.cpp -- log-linear bucket arithmetic.
//
// Values below 2048 get a counter each. Above, each power-of-two range
// [2^k, 2^(k+1)) is split into 1024 equal sub-buckets, so a bucket is at most
// 1/1024 of its value wide: better than 3 significant digits.
#include "okq/bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace okq::bench {
namespace {

constexpr int kSubBucketBits = 11;  // 2048 sub-buckets
constexpr std::uint64_t kSubBucketCount = std::uint64_t{1} << kSubBucketBits;
constexpr std::uint64_t kSubBucketHalf = kSubBucketCount / 2;  // 1024
constexpr int kBucketCount = 42 - kSubBucketBits + 1;          // up to 2^42
constexpr std::size_t kCounters = (kBucketCount + 1) * kSubBucketHalf;

}  // namespace

Histogram::Histogram() : counts_(kCounters, 0) {}

std::size_t Histogram::index_of(std::uint64_t value) const noexcept {
  // bucket: how many doublings above the linear range the value lies.
  const int bucket = 63 - std::countl_zero(value | (kSubBucketCount - 1)) - kSubBucketBits + 1;
  const std::uint64_t sub = value >> bucket;  // in [1024, 2048) once bucket > 0
  return static_cast<std::size_t>((static_cast<std::uint64_t>(bucket) << (kSubBucketBits - 1)) +
                                  sub);
}

std::uint64_t Histogram::highest_equivalent(std::size_t index) const noexcept {
  // Inverse of index_of: index = bucket * 1024 + sub, with sub in [1024, 2048)
  // for bucket > 0 (bucket 0 covers [0, 2048) one by one).
  if (index < kSubBucketCount) return index;
  const std::uint64_t bucket = index / kSubBucketHalf - 1;
  const std::uint64_t sub = index - bucket * kSubBucketHalf;
  return ((sub + 1) << bucket) - 1;
}

void Histogram::record(std::uint64_t value) noexcept {
  value = std::min(value, kHighest - 1);
  ++counts_[index_of(value)];
  ++total_;
  max_ = std::max(max_, value);
  min_ = std::min(min_, value);
  sum_ += value;
}

void Histogram::merge(const Histogram& other) noexcept {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
  sum_ += other.sum_;
}

double Histogram::mean() const noexcept {
  return total_ ? static_cast<double>(sum_ / static_cast<long double>(total_)) : 0.0;
}

std::uint64_t Histogram::percentile(double p) const noexcept {
  if (total_ == 0) return 0;
  const double clamped = std::clamp(p, 0.0, 100.0);
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(clamped / 100.0 * static_cast<double>(total_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_equivalent(i), max_);
  }
  return max_;
}

}  // namespace okq::bench
