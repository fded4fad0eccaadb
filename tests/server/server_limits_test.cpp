// Tests of the --max-connections default.
#include <gtest/gtest.h>

#include "okq/server/server.hpp"

namespace okq::server {
namespace {

TEST(DefaultMaxConnections, KeepsAReserveOfAQuarterAtMost128) {
  EXPECT_EQ(default_max_connections(20000), 20000u - 128u);
  EXPECT_EQ(default_max_connections(1024), 1024u - 128u);
  EXPECT_EQ(default_max_connections(64), 48u);
  EXPECT_EQ(default_max_connections(4), 3u);
  EXPECT_EQ(default_max_connections(1), 1u);  // never 0
}

}  // namespace
}  // namespace okq::server
