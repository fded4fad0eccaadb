// Tests of okq-bench's requests and reply checks.
#include "okq/bench/protocol.hpp"

#include <gtest/gtest.h>

namespace okq::bench {
namespace {

TEST(Exchange, OkqSendsTheMessageAndWantsOk) {
  Exchange e(Protocol::Okq, "PING");
  EXPECT_EQ(e.request(), "PING\n");
  EXPECT_TRUE(e.reply_ok("OK"));
  EXPECT_FALSE(e.reply_ok("ERR line too long"));
  EXPECT_FALSE(e.reply_ok("OKAY"));
}

TEST(Exchange, OkqRefusesMessagesThatWouldNotGetOk) {
  EXPECT_THROW(Exchange(Protocol::Okq, "Quit"), std::invalid_argument);
  EXPECT_THROW(Exchange(Protocol::Okq, "a\nb"), std::invalid_argument);
}

TEST(Exchange, RedisPingPong) {
  Exchange e(Protocol::Redis, "ignored");
  EXPECT_EQ(e.request(), "PING\r\n");
  EXPECT_TRUE(e.reply_ok("+PONG\r"));
  EXPECT_FALSE(e.reply_ok("-ERR unknown command"));
}

TEST(Exchange, MemcacheVersion) {
  Exchange e(Protocol::Memcache, "");
  EXPECT_EQ(e.request(), "version\r\n");
  EXPECT_TRUE(e.reply_ok("VERSION 1.6.18\r"));
  EXPECT_FALSE(e.reply_ok("ERROR\r"));
}

TEST(ParseProtocol, KnowsTheThreeNames) {
  EXPECT_EQ(parse_protocol("okq"), Protocol::Okq);
  EXPECT_EQ(parse_protocol("redis"), Protocol::Redis);
  EXPECT_EQ(parse_protocol("memcache"), Protocol::Memcache);
  EXPECT_EQ(parse_protocol("http"), std::nullopt);
}

}  // namespace
}  // namespace okq::bench
