// Session driven without a socket: what it owes, what it wants next, and why
// it ends, for each rule a driver relies on.
#include "okq/server/session.hpp"

#include <gtest/gtest.h>

#include <string>

namespace okq::server {
namespace {

using namespace std::chrono_literals;
using Time = Session::Time;

const Time t0 = Time{} + 1000s;

SessionLimits limits(std::size_t max_output = 1 << 20, std::chrono::milliseconds idle = 300s) {
  SessionLimits l;
  l.max_output = max_output;
  l.idle_timeout = idle;
  l.linger_timeout = 5s;
  return l;
}

// Takes everything owed, as a driver would with complete writes.
std::string drain(Session& s, Time now) {
  std::string out;
  for (int i = 0; i < 100 && s.owed_bytes() > 0 && !s.closed(); ++i) {
    const auto window = s.owed();
    out.append(window);
    s.on_sent(window.size(), now);
  }
  return out;
}

TEST(SessionRules, AnswersEachMessageAndWantsMore) {
  const auto l = limits();
  Session s(l, t0);
  EXPECT_TRUE(s.wants_input());
  s.on_input("a\nb\n", t0);
  EXPECT_EQ(drain(s, t0), "OK\nOK\n");
  EXPECT_EQ(s.state(), SessionState::Reading);
  EXPECT_EQ(s.messages(), 2u);
}

TEST(SessionRules, QMidBurstEndsInputThenFinThenLingersUntilThePeersFin) {
  const auto l = limits();
  Session s(l, t0);
  s.on_input("a\nQbye\nignored\n", t0);
  EXPECT_EQ(s.state(), SessionState::Flushing);
  EXPECT_FALSE(s.wants_input());
  EXPECT_FALSE(s.wants_fin()) << "FIN before the echo is written";
  EXPECT_EQ(drain(s, t0), "OK\nQbye\n");
  ASSERT_TRUE(s.wants_fin());
  s.on_fin_sent(t0);
  EXPECT_EQ(s.state(), SessionState::Lingering);
  EXPECT_TRUE(s.discards_input());
  s.on_input("more\n", t0);  // dropped, never answered
  EXPECT_EQ(s.owed_bytes(), 0u);
  s.on_eof(t0 + 1s);
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::ProtocolEnd);
}

TEST(SessionRules, LingeringIsBoundedByTheLingerTimeout) {
  const auto l = limits();
  Session s(l, t0);
  s.on_input("Q\n", t0);
  drain(s, t0);
  s.on_fin_sent(t0);
  EXPECT_EQ(s.deadline(), t0 + 5s);
  s.on_timer(t0 + 4s);
  EXPECT_FALSE(s.closed());
  s.on_timer(t0 + 5s);
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::LingerTimeout);
}

TEST(SessionRules, HalfCloseGetsEveryReplyIncludingTheUnterminatedFragmentThenCloses) {
  const auto l = limits();
  Session s(l, t0);
  s.on_input("a\nb", t0);
  s.on_eof(t0);
  EXPECT_EQ(s.state(), SessionState::Flushing);
  EXPECT_FALSE(s.wants_fin()) << "the peer has already sent FIN: close after the flush";
  EXPECT_EQ(drain(s, t0), "OK\nOK\n");
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::PeerClosed);
}

TEST(SessionRules, BackPressurePausesInputUntilTheOwedBytesAreTaken) {
  const auto l = limits(/*max_output=*/10);
  Session s(l, t0);
  s.on_input("a\nb\nc\nd\n", t0);  // 12 bytes owed
  EXPECT_FALSE(s.wants_input());
  s.on_sent(3, t0);  // 9 owed
  EXPECT_TRUE(s.wants_input());
}

TEST(SessionRules, IdleDeadlineMovesOnlyWithProgressNotWithPartialBytes) {
  const auto l = limits(1 << 20, 10s);
  Session s(l, t0);
  EXPECT_EQ(s.deadline(), t0 + 10s);
  s.on_input("partial", t0 + 5s);  // no message completed: the slowloris defence
  EXPECT_EQ(s.deadline(), t0 + 10s);
  s.on_input(" done\n", t0 + 6s);
  EXPECT_EQ(s.deadline(), t0 + 16s);
  drain(s, t0 + 7s);  // a reply byte taken is progress too
  EXPECT_EQ(s.deadline(), t0 + 17s);
  s.on_timer(t0 + 16s);
  EXPECT_FALSE(s.closed());
  s.on_timer(t0 + 17s);
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::IdleTimeout);
}

TEST(SessionRules, NoIdleTimeoutMeansNoDeadline) {
  const auto l = limits(1 << 20, 0s);
  Session s(l, t0);
  EXPECT_EQ(s.deadline(), Time::max());
}

TEST(SessionRules, ShutdownWithNothingOwedOrUnreadClosesAtOnce) {
  const auto l = limits();
  Session s(l, t0);
  s.on_input("a\n", t0);
  drain(s, t0);
  s.on_shutdown(0);
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::ServerShutdown);
}

TEST(SessionRules, ShutdownReadsExactlyWhatHadArrivedAndAnswersIt) {
  const auto l = limits(/*max_output=*/4);
  Session s(l, t0);
  s.on_input("a\nb\n", t0);  // 6 owed: held back
  EXPECT_FALSE(s.wants_input());
  s.on_shutdown(6);  // "c\nd\ne\n" waits in the kernel
  EXPECT_FALSE(s.wants_input()) << "back-pressure still applies during a stop";
  EXPECT_EQ(drain(s, t0), "OK\nOK\n");
  ASSERT_TRUE(s.wants_input());
  EXPECT_EQ(s.read_limit(64 * 1024), 6u) << "never read past what had arrived";
  s.on_input("c\nd\n", t0);
  EXPECT_EQ(s.read_limit(64 * 1024), 2u);
  EXPECT_EQ(drain(s, t0), "OK\nOK\n");
  s.on_input("e\n", t0);
  EXPECT_EQ(s.state(), SessionState::Flushing);
  EXPECT_EQ(drain(s, t0), "OK\n");
  EXPECT_TRUE(s.wants_fin());
  s.on_fin_sent(t0);
  s.on_eof(t0);
  EXPECT_EQ(s.reason(), CloseReason::ServerShutdown);
}

TEST(SessionRules, RejectOwesTheLineThenFinishes) {
  const auto l = limits();
  Session s(l, t0);
  s.reject("ERR too many connections\n");
  EXPECT_TRUE(s.rejected());
  EXPECT_FALSE(s.wants_input());
  EXPECT_EQ(drain(s, t0), "ERR too many connections\n");
  EXPECT_TRUE(s.wants_fin());
  s.on_fin_sent(t0);
  s.on_eof(t0);
  EXPECT_EQ(s.reason(), CloseReason::Rejected);
}

TEST(SessionRules, CloseIsFinalAndKeepsTheFirstReason) {
  const auto l = limits();
  Session s(l, t0);
  s.close(CloseReason::IoError);
  s.close(CloseReason::Forced);
  s.on_input("a\n", t0);
  EXPECT_EQ(s.reason(), CloseReason::IoError);
  EXPECT_EQ(s.owed_bytes(), 0u);
  EXPECT_EQ(s.deadline(), Time::max());
  EXPECT_STREQ(to_string(CloseReason::IdleTimeout), "idle timeout");
  EXPECT_STREQ(to_string(SessionState::Lingering), "lingering");
}

// A PROXY listener's session: the header first, never read past; the
// client's bytes after it, even in the same read, framed as if they came first.
TEST(SessionProxyHeader, ReadLimitNeverReachesPastTheHeader) {
  SessionLimits l = limits();
  l.codec.classic = true;  // one read is one message: a read past the header would show
  Session s(l, t0);
  s.expect_proxy_header(t0);
  ASSERT_TRUE(s.awaiting_header());
  EXPECT_EQ(s.read_limit(65536), 15u) << "the shortest header: PROXY UNKNOWN CRLF";
  const std::string header = "PROXY TCP4 192.0.2.1 192.0.2.2 5555 4242\r\n";
  std::size_t at = 0;
  for (int i = 0; i < 100 && s.awaiting_header(); ++i) {
    const std::size_t n = s.read_limit(65536);
    ASSERT_GT(n, 0u);
    ASSERT_LE(at + n, header.size()) << "a read of " << n << " at " << at << " passes the header";
    s.on_input(std::string_view(header).substr(at, n), t0);
    at += n;
  }
  EXPECT_EQ(at, header.size());
  ASSERT_FALSE(s.awaiting_header());
  EXPECT_EQ(s.proxy_header()->header().source, "192.0.2.1:5555");
  EXPECT_EQ(s.read_limit(65536), l.codec.classic_size);
  s.on_input("hello", t0);
  EXPECT_EQ(drain(s, t0), "OK");
}

TEST(SessionProxyHeader, BytesAfterTheHeaderInOneReadAreTheClients) {
  const auto l = limits();
  Session s(l, t0);
  s.expect_proxy_header(t0);
  const std::string v2 = std::string("\r\n\r\n\0\r\nQUIT\n", 12) + "\x21\x11" + std::string("\0\x0c", 2) +
                         std::string("\x0a\0\0\x01\x0a\0\0\x02\x12\x34\x10\x92", 12);
  s.on_input(v2 + "a\nb\n", t0);  // a driver that read more than asked still loses nothing
  EXPECT_FALSE(s.awaiting_header());
  EXPECT_EQ(s.proxy_header()->header().source, "10.0.0.1:4660");
  EXPECT_EQ(drain(s, t0), "OK\nOK\n");
  s.drop_header();
  EXPECT_EQ(s.proxy_header(), nullptr);
}

TEST(SessionProxyHeader, MalformedHeaderClosesWithNothingOwed) {
  const auto l = limits();
  Session s(l, t0);
  s.expect_proxy_header(t0);
  s.on_input("GET / HTTP/1.1\r\n", t0);
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::ProxyInvalid);
  EXPECT_EQ(s.owed_bytes(), 0u);
  EXPECT_EQ(s.messages(), 0u);
}

TEST(SessionProxyHeader, NoWholeHeaderInTimeClosesWithNothingOwed) {
  SessionLimits l = limits();
  l.header_timeout = 3s;
  Session s(l, t0);
  s.expect_proxy_header(t0);
  s.on_input("PROXY TCP4 ", t0 + 1s);  // bytes, but no header: no progress
  EXPECT_EQ(s.deadline(), t0 + 3s);
  s.on_timer(t0 + 2999ms);
  EXPECT_FALSE(s.closed());
  s.on_timer(t0 + 3s);
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::ProxyTimeout);
  EXPECT_EQ(s.owed_bytes(), 0u);
}

TEST(SessionProxyHeader, AWholeHeaderLiftsItsDeadline) {
  SessionLimits l = limits(1 << 20, 60s);
  l.header_timeout = 3s;
  Session s(l, t0);
  s.expect_proxy_header(t0);
  s.on_input("PROXY UNKNOWN\r\n", t0 + 1s);
  EXPECT_FALSE(s.awaiting_header());
  EXPECT_EQ(s.deadline(), t0 + 1s + 60s) << "the idle timeout, from the header on";
}

TEST(SessionProxyHeader, ClientGoneBeforeTheHeaderIsNoMessage) {
  const auto l = limits();
  Session s(l, t0);
  s.expect_proxy_header(t0);
  s.on_input("PROX", t0);
  s.on_eof(t0);
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.messages(), 0u);
  EXPECT_EQ(s.owed_bytes(), 0u);
}

}  // namespace
}  // namespace okq::server
