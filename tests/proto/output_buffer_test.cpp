// OutputBuffer: owed bytes come out in order, the bytes being written never
// move, and what it holds stays bounded when the peer never lets it drain.
#include "okq/proto/output_buffer.hpp"

#include <gtest/gtest.h>

namespace okq::proto {
namespace {

// Writes everything owed, `step` bytes at a time, as a driver would.
std::string drain(OutputBuffer& out, std::size_t step = SIZE_MAX) {
  std::string got;
  for (int i = 0; i < 100000 && !out.empty(); ++i) {
    const auto window = out.pending();
    const std::size_t n = std::min(step, window.size());
    got.append(window.substr(0, n));
    out.consume(n);
  }
  return got;
}

TEST(OutputBuffer, BytesComeOutInTheOrderTheyWereAppended) {
  OutputBuffer out;
  out.append("OK\n");
  out.back() += "Qx\n";
  EXPECT_EQ(out.size(), 6u);
  EXPECT_EQ(out.pending(), "OK\nQx\n");
  out.consume(2);
  out.append("late\n");  // after the window: comes next
  EXPECT_EQ(out.pending(), "\nQx\n");
  EXPECT_EQ(drain(out, 3), "\nQx\nlate\n");
  EXPECT_TRUE(out.empty());
  out.append("OK\n");
  EXPECT_EQ(out.pending(), "OK\n");
}

TEST(OutputBuffer, TheWindowBeingWrittenNeverMovesWhileAppendsGrowTheRest) {
  OutputBuffer out;
  out.append(std::string(1000, 'a'));
  const auto window = out.pending();
  out.consume(10);  // a partial write: the rest stays in flight
  for (int i = 0; i < 1000; ++i) out.append(std::string(1000, 'b'));  // would reallocate one string
  const auto again = out.pending();
  EXPECT_EQ(again.data(), window.data() + 10) << "the in-flight bytes moved";
  EXPECT_EQ(again, std::string(990, 'a'));
  out.consume(again.size());
  EXPECT_EQ(out.pending(), std::string(1000 * 1000, 'b').substr(0, out.pending().size()));
  EXPECT_EQ(out.size(), 1000u * 1000);
}

TEST(OutputBuffer, NeverDrainingToEmptyStillBoundsWhatItHolds) {
  // The slow reader: 100 KiB appended whenever at most 1 MiB is owed (reading
  // pauses beyond it), a little less written each time. It never drains to
  // empty; unbounded, it would hold 100 MiB by the end.
  OutputBuffer out;
  const std::string chunk(100 * 1024, 'x');
  std::size_t most = 0, written = 0;
  for (int i = 0; i < 1000; ++i) {
    if (out.size() <= (1u << 20)) out.append(chunk);
    const auto window = out.pending();
    const std::size_t n = std::min<std::size_t>(window.size(), 90 * 1024 + i % 7);
    out.consume(n);
    written += n;
    most = std::max(most, out.capacity());
  }
  EXPECT_GT(written, 80u << 20);
  EXPECT_GT(out.size(), 0u);
  EXPECT_LT(most, 6u << 20) << "holds " << most << " bytes for about 1 MiB owed";
}

TEST(OutputBuffer, MemoryOfABurstIsGivenBackOnceWritten) {
  OutputBuffer out;
  out.append(std::string(8 << 20, 'x'));
  drain(out, 1 << 20);
  EXPECT_TRUE(out.empty());
  EXPECT_LT(out.capacity(), 64u * 1024);
}

TEST(OutputBuffer, ConsumingMoreThanTheWindowStopsAtIt) {
  OutputBuffer out;
  out.append("abc");
  out.pending();
  out.consume(10);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.pending(), "");
}

}  // namespace
TEST(OutputBuffer, HoldsNothingWhileNothingIsOwedAndSteadyTrafficReusesItsWindows) {
  OutputBuffer out;
  EXPECT_EQ(out.capacity(), 0u);
  out.back();  // asked for, nothing appended (a partial message)
  out.shrink();
  EXPECT_EQ(out.capacity(), 0u);
  out.append(std::string(2000, 'x'));
  out.shrink();
  EXPECT_EQ(out.size(), 2000u) << "not while anything is owed";
  const auto* first = out.pending().data();
  out.consume(out.pending().size());
  EXPECT_EQ(out.capacity(), 0u) << "all written: the windows went back";
  // The next reply, here or on another buffer of this thread, takes them again.
  OutputBuffer other;
  other.append(std::string(1500, 'y'));
  EXPECT_EQ(other.pending().data(), first) << "allocated anew instead of reusing a spare";
  other.consume(1500);
}

}  // namespace okq::proto
