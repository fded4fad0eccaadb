// Tests of LineSplitter.
#include "okq/proto/line_splitter.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace okq::proto {
namespace {

TEST(LineSplitter, SplitsAcrossFeedsAndKeepsTheTail) {
  LineSplitter s;
  std::vector<std::string> lines;
  auto collect = [&](std::string_view l) { lines.emplace_back(l); };
  s.feed("a\nb", collect);
  s.feed("c\n\nd", collect);
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(s.tail(), "d");
  s.clear_tail();
  EXPECT_EQ(s.tail(), "");
}

}  // namespace
}  // namespace okq::proto
