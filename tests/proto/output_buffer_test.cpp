// OutputBuffer: owed bytes come out in order, and what it holds stays bounded
// when the peer never lets it drain to empty.
#include "okq/proto/output_buffer.hpp"

#include <gtest/gtest.h>

namespace okq::proto {
namespace {

TEST(OutputBuffer, BytesComeOutInTheOrderTheyWereAppended) {
  OutputBuffer out;
  out.append("OK\n");
  out.back() += "Qx\n";
  EXPECT_EQ(out.pending(), "OK\nQx\n");
  out.consume(2);
  EXPECT_EQ(out.pending(), "\nQx\n");
  out.consume(4);
  EXPECT_TRUE(out.empty());
  out.append("OK\n");
  EXPECT_EQ(out.pending(), "OK\n");
}

TEST(OutputBuffer, NeverDrainingToEmptyStillBoundsWhatItHolds) {
  // The slow reader: 100 KiB appended, a little less written, over and over.
  // Owed stays near 1 MiB; without dropping written bytes it would hold 100 MiB.
  OutputBuffer out;
  const std::string chunk(100 * 1024, 'x');
  std::size_t most = 0;
  for (int i = 0; i < 1000; ++i) {
    if (out.size() <= (1u << 20)) out.append(chunk);
    out.consume(std::min<std::size_t>(out.size() - 1, 90 * 1024 + static_cast<std::size_t>(i % 7)));
    most = std::max(most, out.capacity());
  }
  EXPECT_GT(out.size(), 0u);
  EXPECT_LT(most, 4u << 20) << "holds " << most << " bytes for about 1 MiB owed";
}

TEST(OutputBuffer, MemoryOfABurstIsGivenBackOnceWritten) {
  OutputBuffer out;
  out.append(std::string(8 << 20, 'x'));
  out.consume(out.size());
  EXPECT_TRUE(out.empty());
  EXPECT_LT(out.capacity(), 64u * 1024);
}

TEST(OutputBuffer, ConsumingMoreThanIsOwedStopsAtEmpty) {
  OutputBuffer out;
  out.append("abc");
  out.consume(10);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.pending(), "");
}

}  // namespace
}  // namespace okq::proto
