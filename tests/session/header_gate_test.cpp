// HeaderGate in front of a Session, driven without a socket: the PROXY
// header first, never read past; the client's bytes after it, even in the
// same read, framed as if they came first; and every way it ends.
#include "okq/session/header_gate.hpp"

#include <gtest/gtest.h>

#include <string>

#include "support.hpp"

namespace okq::server {
namespace {

using namespace test;

const std::string kV2 = std::string("\r\n\r\n\0\r\nQUIT\n", 12) + "\x21\x11" +
                        std::string("\0\x0c", 2) +
                        std::string("\x0a\0\0\x01\x0a\0\0\x02\x12\x34\x10\x92", 12);

TEST(HeaderGate, ReadLimitNeverReachesPastTheHeader) {
  SessionLimits l = limits();
  l.codec.classic = true;  // one read is one message: a read past the header would show
  Session s(l, t0);
  HeaderGate g(s, 3s, t0);
  ASSERT_TRUE(g.awaiting());
  EXPECT_EQ(g.read_limit(65536), 15u) << "the shortest header: PROXY UNKNOWN CRLF";
  const std::string header = "PROXY TCP4 192.0.2.1 192.0.2.2 5555 4242\r\n";
  std::size_t at = 0;
  for (int i = 0; i < 100 && g.awaiting(); ++i) {
    const std::size_t n = g.read_limit(65536);
    ASSERT_GT(n, 0u);
    ASSERT_LE(at + n, header.size()) << "a read of " << n << " at " << at << " passes the header";
    g.on_input(std::string_view(header).substr(at, n), t0);
    at += n;
  }
  EXPECT_EQ(at, header.size());
  ASSERT_FALSE(g.awaiting());
  EXPECT_EQ(g.parser().header().source, "192.0.2.1:5555");
  EXPECT_EQ(g.read_limit(65536), l.codec.classic_size);
  g.on_input("hello", t0);
  EXPECT_EQ(drain(g, t0), "OK");
}

TEST(HeaderGate, BytesAfterTheHeaderInOneReadAreTheClients) {
  const auto l = limits();
  Session s(l, t0);
  HeaderGate g(s, 3s, t0);
  g.on_input(kV2 + "a\nb\n", t0);  // a driver that read more than asked still loses nothing
  EXPECT_FALSE(g.awaiting());
  EXPECT_EQ(g.parser().header().source, "10.0.0.1:4660");
  EXPECT_EQ(drain(s, t0), "OK\nOK\n") << "the session saw only the client's bytes";
  EXPECT_EQ(s.messages(), 2u);
}

TEST(HeaderGate, AMalformedHeaderClosesWithNothingOwed) {
  const auto l = limits();
  Session s(l, t0);
  HeaderGate g(s, 3s, t0);
  g.on_input("GET / HTTP/1.1\r\n", t0);
  EXPECT_TRUE(g.closed());
  EXPECT_EQ(s.reason(), CloseReason::ProxyInvalid);
  EXPECT_EQ(g.owed_bytes(), 0u);
  EXPECT_EQ(s.messages(), 0u);
}

TEST(HeaderGate, NoWholeHeaderInTimeClosesWithNothingOwed) {
  const auto l = limits();
  Session s(l, t0);
  HeaderGate g(s, 3s, t0);
  g.on_input("PROXY TCP4 ", t0 + 1s);  // bytes, but no header: no progress
  EXPECT_EQ(g.deadline(), t0 + 3s);
  g.on_timer(t0 + 2999ms);
  EXPECT_FALSE(g.closed());
  g.on_timer(t0 + 3s);
  EXPECT_TRUE(g.closed());
  EXPECT_EQ(s.reason(), CloseReason::ProxyTimeout);
  EXPECT_EQ(g.owed_bytes(), 0u);
}

TEST(HeaderGate, AWholeHeaderLiftsItsDeadline) {
  const auto l = limits(1 << 20, 60s);
  Session s(l, t0);
  HeaderGate g(s, 3s, t0);
  g.on_input("PROXY UNKNOWN\r\n", t0 + 1s);
  EXPECT_FALSE(g.awaiting());
  EXPECT_EQ(g.deadline(), t0 + 60s) << "only the session's idle timeout";
}

TEST(HeaderGate, AClientGoneBeforeTheHeaderIsNoMessage) {
  const auto l = limits();
  Session s(l, t0);
  HeaderGate g(s, 3s, t0);
  g.on_input("PROX", t0);
  g.on_eof(t0);
  EXPECT_TRUE(g.closed());
  EXPECT_EQ(s.reason(), CloseReason::PeerClosed);
  EXPECT_EQ(s.messages(), 0u);
  EXPECT_EQ(g.owed_bytes(), 0u);
}

// A stop while the header is awaited: what had arrived is read (the header
// first, never past what arrived) and every message in it answered.
TEST(HeaderGate, AStopAnswersTheMessagesThatArrivedBehindTheHeader) {
  const auto l = limits();
  Session s(l, t0);
  HeaderGate g(s, 3s, t0);
  g.on_input("PROXY UNKNOWN", t0);
  g.on_stop(2 + 4);  // "\r\n" and "a\nb\n" wait in the kernel
  EXPECT_TRUE(g.wants_input());
  EXPECT_EQ(g.read_limit(65536), 2u);
  g.on_input("\r\n", t0);
  ASSERT_FALSE(g.awaiting());
  EXPECT_EQ(g.read_limit(65536), 4u) << "the session's stop budget: what is left";
  g.on_input("a\nb\n", t0);
  EXPECT_FALSE(g.wants_input()) << "nothing past what had arrived";
  EXPECT_EQ(drain(g, t0), "OK\nOK\n");
  EXPECT_TRUE(g.wants_fin());
  EXPECT_EQ(s.reason(), CloseReason::ServerShutdown);
}

TEST(HeaderGate, AStopCountsTheHeadersEndAndTheMessagesReadWithIt) {
  const auto l = limits();
  Session s(l, t0);
  HeaderGate g(s, 3s, t0);
  g.on_input("PROXY UNKNOWN", t0);
  g.on_stop(2 + 4);
  g.on_input("\r\na\nb\n", t0);  // one read brought all that had arrived
  EXPECT_FALSE(g.wants_input()) << "nothing past what had arrived";
  EXPECT_EQ(drain(g, t0), "OK\nOK\n");
  EXPECT_TRUE(g.wants_fin());
}

TEST(HeaderGate, AStopBeforeTheHeaderIsWholeClosesWithoutAReply) {
  for (const std::size_t unread : {std::size_t{0}, std::size_t{3}}) {
    const auto l = limits();
    Session s(l, t0);
    HeaderGate g(s, 3s, t0);
    g.on_input("PROXY ", t0);
    g.on_stop(unread);  // part of the header at most: no message ever arrived
    if (unread > 0) {
      EXPECT_EQ(g.read_limit(65536), unread);
      g.on_input("TCP", t0);
    }
    EXPECT_TRUE(g.closed()) << unread << " unread";
    EXPECT_EQ(s.reason(), CloseReason::ServerShutdown);
    EXPECT_EQ(g.owed_bytes(), 0u);
  }
}

}  // namespace
}  // namespace okq::server
