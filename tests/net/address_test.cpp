// Tests of address parsing and resolution.
#include "okq/net/address.hpp"

#include <gtest/gtest.h>

#include "okq/net/error.hpp"

namespace okq::net {
namespace {

Endpoint parse(std::string_view text) {
  return parse_endpoint(text, "0.0.0.0");
}

TEST(ParseEndpoint, HostAndPort) {
  const auto ep = parse("127.0.0.1:80");
  EXPECT_EQ(ep.kind, Endpoint::Kind::Tcp);
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 80);
}

TEST(ParseEndpoint, BracketedIpv6) {
  const auto ep = parse("[::1]:8080");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 8080);
  EXPECT_EQ(ep.to_string(), "[::1]:8080");
  EXPECT_EQ(parse("[::1]").port, kDefaultPort);
}

TEST(ParseEndpoint, PortOnlyFormsUseTheDefaultHost) {
  EXPECT_EQ(parse(":9000").host, "0.0.0.0");
  EXPECT_EQ(parse(":9000").port, 9000);
  EXPECT_EQ(parse("9000").host, "0.0.0.0");
  EXPECT_EQ(parse_endpoint("9000", "127.0.0.1").to_string(), "127.0.0.1:9000");
  EXPECT_EQ(parse("0").port, 0);
}

TEST(ParseEndpoint, HostOnlyUsesTheDefaultPort) {
  EXPECT_EQ(parse("localhost").to_string(), "localhost:4242");
  EXPECT_EQ(parse("::1").host, "::1");
  EXPECT_EQ(parse("::1").port, kDefaultPort);
}

TEST(ParseEndpoint, UnixPath) {
  const auto ep = parse("unix:/tmp/okq.sock");
  EXPECT_EQ(ep.kind, Endpoint::Kind::Unix);
  EXPECT_EQ(ep.path, "/tmp/okq.sock");
  EXPECT_EQ(ep.to_string(), "unix:/tmp/okq.sock");
}

TEST(ParseEndpoint, RejectsMalformedInput) {
  for (const char* bad :
       {"", "host:", "host:port", "1.2.3.4:65536", "[::1", "[::1]x", "[]:80", "unix:", "h:-1"}) {
    try {
      parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.call(), Call::Parse) << bad;
      EXPECT_NE(std::string(e.what()).find("cannot parse address"), std::string::npos);
    }
  }
}

TEST(ParseEndpoint, AUrlIsRefusedWithTheFormsToUse) {
  try {
    parse("tcp://127.0.0.1:1");
    ADD_FAILURE() << "accepted a URL";
  } catch (const Error& e) {
    EXPECT_EQ(e.call(), Call::Parse);
    EXPECT_EQ(std::string(e.what()),
              "cannot parse address tcp://127.0.0.1:1: not a URL: write HOST:PORT or unix:PATH, "
              "without tcp://");
  }
}

TEST(Resolve, NumericAddressesNeedNoLookup) {
  const auto v4 = resolve(parse("127.0.0.1:5"), false);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].to_string(), "127.0.0.1:5");
  EXPECT_EQ(v4[0].port(), 5);
  const auto v6 = resolve(parse("[::1]:6"), false);
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].to_string(), "[::1]:6");
}

TEST(Resolve, LocalhostResolvesToLoopback) {
  const auto all = resolve(parse("localhost:7"), false);
  ASSERT_FALSE(all.empty());
  for (const auto& a : all) {
    const auto s = a.to_string();
    EXPECT_TRUE(s == "127.0.0.1:7" || s == "[::1]:7") << s;
  }
}

TEST(Resolve, UnknownNameIsAResolveError) {
  try {
    resolve(parse("no-such-host.invalid:1"), false);
    ADD_FAILURE() << "resolved";
  } catch (const Error& e) {
    EXPECT_EQ(e.call(), Call::Resolve);
    EXPECT_NE(std::string(e.what()).find("cannot resolve no-such-host.invalid:1"),
              std::string::npos);
  }
}

TEST(Resolve, UnixPathTooLongIsRefused) {
  EXPECT_THROW(resolve(parse("unix:/" + std::string(200, 'x')), true), Error);
  EXPECT_EQ(resolve(parse("unix:/tmp/a.sock"), true)[0].to_string(), "unix:/tmp/a.sock");
}

TEST(Error, ReadsCallAddressReason) {
  const Error e(Call::Bind, "0.0.0.0:4242", EADDRINUSE);
  EXPECT_STREQ(e.what(), "cannot bind 0.0.0.0:4242: Address already in use");
  EXPECT_EQ(e.err(), EADDRINUSE);
}

}  // namespace
}  // namespace okq::net
