// Tests of the log helpers.
#include "okq/log/log.hpp"

#include <gtest/gtest.h>

namespace okq::server {
namespace {

using namespace std::string_literals;

TEST(Escape, MakesEveryByteVisibleOnOneLine) {
  EXPECT_EQ(escape("plain text"), "plain text");
  EXPECT_EQ(escape("a\nb\r\0c\\"s), "a\\nb\\r\\0c\\\\");
  EXPECT_EQ(escape("\x01\x7f\xff"s), "\\x01\\x7f\\xff");
}

TEST(Logger, LevelsFilter) {
  Logger log("test");
  log.set_level(Level::Info);
  EXPECT_TRUE(log.enabled(Level::Error));
  EXPECT_TRUE(log.enabled(Level::Info));
  EXPECT_FALSE(log.enabled(Level::Verbose));
  log.set_level(Level::Trace);
  EXPECT_TRUE(log.enabled(Level::Verbose));
}

}  // namespace
}  // namespace okq::server
