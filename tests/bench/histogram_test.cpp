// Tests of the log-linear latency histogram.
#include "okq/bench/histogram.hpp"

#include <gtest/gtest.h>

namespace okq::bench {
namespace {

// Within the histogram's promise: 3 significant digits (0.1%).
void expect_close(std::uint64_t got, std::uint64_t want) {
  const double tolerance = static_cast<double>(want) * 0.001 + 1;
  EXPECT_NEAR(static_cast<double>(got), static_cast<double>(want), tolerance);
}

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 50u);
  EXPECT_EQ(h.percentile(99), 99u);
  EXPECT_EQ(h.percentile(100), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(Histogram, UniformMillionHasThreeSignificantDigits) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v) h.record(v * 1000);  // 1 us .. 1 s
  expect_close(h.percentile(50), 500'000'000);
  expect_close(h.percentile(90), 900'000'000);
  expect_close(h.percentile(99), 990'000'000);
  expect_close(h.percentile(99.9), 999'000'000);
  EXPECT_EQ(h.max(), 1'000'000'000u);
  EXPECT_EQ(h.percentile(100), h.max());
}

TEST(Histogram, TailIsNotHiddenByTheBulk) {
  Histogram h;
  for (int i = 0; i < 9990; ++i) h.record(100'000);   // 100 us
  for (int i = 0; i < 10; ++i) h.record(50'000'000);  // 50 ms stalls
  expect_close(h.percentile(99), 100'000);
  expect_close(h.percentile(99.95), 50'000'000);
  EXPECT_EQ(h.max(), 50'000'000u);
}

TEST(Histogram, MergeAddsCounts) {
  Histogram a, b;
  for (int i = 0; i < 100; ++i) a.record(1000);
  for (int i = 0; i < 100; ++i) b.record(3000);
  a.merge(b);
  EXPECT_EQ(a.count(), 200u);
  expect_close(a.percentile(25), 1000);
  expect_close(a.percentile(75), 3000);
  EXPECT_EQ(a.min(), 1000u);
  EXPECT_EQ(a.max(), 3000u);
}

TEST(Histogram, HugeValuesAreClampedNotLost) {
  Histogram h;
  h.record(UINT64_MAX);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.max(), Histogram::kHighest - 1);
  expect_close(h.percentile(50), Histogram::kHighest - 1);
}

TEST(Histogram, EveryMagnitudeRoundTrips) {
  for (std::uint64_t v = 1; v < Histogram::kHighest; v = v * 3 + 1) {
    Histogram h;
    h.record(v);
    expect_close(h.percentile(50), v);
    EXPECT_GE(h.percentile(50), v) << "percentiles report the bucket's top, never below";
  }
}

}  // namespace
}  // namespace okq::bench
