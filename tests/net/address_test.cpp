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

SocketAddress ip(const char* text, std::uint16_t port = 1) {
  return resolve(parse_endpoint(std::string(text).find(':') != std::string::npos
                                    ? "[" + std::string(text) + "]:" + std::to_string(port)
                                    : std::string(text) + ":" + std::to_string(port),
                                "0.0.0.0"),
                 false)
      .front();
}

TEST(Cidr, BlocksAndSingleAddresses) {
  const auto ten = Cidr::parse("10.0.0.0/8");
  EXPECT_TRUE(ten.contains(ip("10.255.1.2")));
  EXPECT_FALSE(ten.contains(ip("11.0.0.1")));
  EXPECT_EQ(ten.to_string(), "10.0.0.0/8");
  EXPECT_EQ(Cidr::parse("192.0.2.77/24").to_string(), "192.0.2.0/24") << "host bits cleared";
  const auto one = Cidr::parse("192.0.2.1");
  EXPECT_TRUE(one.contains(ip("192.0.2.1")));
  EXPECT_FALSE(one.contains(ip("192.0.2.2")));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0").contains(ip("203.0.113.9")));
  const auto v6 = Cidr::parse("2001:db8::/33");
  EXPECT_TRUE(v6.contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(v6.contains(ip("2001:db8:8000::1")));
  EXPECT_FALSE(v6.contains(ip("10.0.0.1")));
}

TEST(Cidr, MappedIpv4CountsAsIpv4AndUnixNever) {
  const auto loop = loopback_cidrs();
  auto in = [&](const SocketAddress& a) {
    for (const auto& c : loop)
      if (c.contains(a)) return true;
    return false;
  };
  EXPECT_TRUE(in(ip("127.0.0.1")));
  EXPECT_TRUE(in(ip("127.3.2.1")));
  EXPECT_TRUE(in(ip("::1")));
  EXPECT_TRUE(in(ip("::ffff:127.0.0.1"))) << "what a dual-stack listener sees";
  EXPECT_FALSE(in(ip("::ffff:192.0.2.1")));
  EXPECT_FALSE(in(ip("192.0.2.1")));
  EXPECT_FALSE(in(SocketAddress::unix_path("/tmp/x")));
}

TEST(Cidr, MalformedIsAParseErrorWithTheReason) {
  for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0/8", "host/8",
                          "10.0.0.0/8x", "10.0.0.0/-1"}) {
    try {
      Cidr::parse(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.call(), Call::Parse) << bad;
    }
  }
}

}  // namespace
}  // namespace okq::net
