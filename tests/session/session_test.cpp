// Session driven without a socket: what it owes, what it wants next, and why
// it ends, for each rule a driver relies on.
#include "okq/session/session.hpp"

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

// `line` LF, n times.
std::string repeat_line(const std::string& line, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += line + "\n";
  return out;
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
  const std::string v2 = std::string("\r\n\r\n\0\r\nQUIT\n", 12) + "\x21\x11" +
                         std::string("\0\x0c", 2) +
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

// A relaying session (--upstream), driven without sockets: what goes
// upstream, what comes back, and how it ends.
std::string take_upstream(Session& s) {
  std::string out(s.upstream_owed());
  s.on_upstream_sent(out.size());
  return out;
}

// A session relaying to an upstream that has connected.
void relaying(Session& s) {
  s.relay_to_upstream(t0);
  s.on_upstream_connected(t0);
}

TEST(SessionRelay, MessagesGoOnAsTheyAreAndOnlyWholeRepliesComeBack) {
  const auto l = limits();
  Session s(l, t0);
  relaying(s);
  s.on_input("a\nb", t0);
  EXPECT_EQ(take_upstream(s), "a\nb") << "bytes go on as they arrive";
  s.on_input("\n", t0);
  EXPECT_EQ(take_upstream(s), "\n");
  EXPECT_EQ(s.messages(), 2u);
  EXPECT_EQ(s.owed_bytes(), 0u) << "no OK of its own";
  s.on_upstream_input("OK\nO", t0);
  EXPECT_EQ(drain(s, t0), "OK\n") << "half a reply waits";
  s.on_upstream_input("K\n", t0);
  EXPECT_EQ(drain(s, t0), "OK\n");
  EXPECT_EQ(s.state(), SessionState::Reading);
}

TEST(SessionRelay, QEndsTheClientsInputAndItsEchoEndsTheRelay) {
  const auto l = limits();
  Session s(l, t0);
  relaying(s);
  s.on_input("x\nQ bye\nnever\n", t0);
  EXPECT_EQ(take_upstream(s), "x\nQ bye\n") << "nothing after Q goes on";
  EXPECT_EQ(s.state(), SessionState::Flushing);
  EXPECT_FALSE(s.wants_fin()) << "not before the upstream has answered";
  s.on_upstream_input("OK\n", t0);
  EXPECT_FALSE(s.upstream_done());
  s.on_upstream_input("Q bye\n", t0);
  EXPECT_TRUE(s.upstream_done());
  EXPECT_EQ(drain(s, t0), "OK\nQ bye\n");
  EXPECT_TRUE(s.wants_fin());
}

TEST(SessionRelay, ClientFinGoesUpstreamAndTheLastFragmentIsAnswered) {
  const auto l = limits();
  Session s(l, t0);
  relaying(s);
  s.on_input("a\nlast", t0);
  EXPECT_FALSE(s.upstream_wants_fin());
  s.on_eof(t0);
  EXPECT_EQ(take_upstream(s), "a\nlast");
  EXPECT_TRUE(s.upstream_wants_fin());
  s.on_upstream_fin_sent();
  s.on_upstream_input("OK\nOK\n", t0);
  EXPECT_TRUE(s.upstream_done());
  EXPECT_EQ(drain(s, t0), "OK\nOK\n");
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::PeerClosed);
}

TEST(SessionRelay, UpstreamGoneWithRepliesOwedIsErrAfterWhatCameBack) {
  const auto l = limits();
  Session s(l, t0);
  relaying(s);
  s.on_input("a\nb\nc\n", t0);
  s.on_upstream_input("OK\nO", t0);
  s.on_upstream_eof();
  EXPECT_EQ(drain(s, t0), "OK\nERR upstream unavailable\n");
  EXPECT_EQ(s.reason(), CloseReason::UpstreamUnavailable);
  EXPECT_EQ(s.upstream_failure(), "closed with replies owed");
  EXPECT_FALSE(s.wants_input());
}

TEST(SessionRelay, AnUpstreamErrAndCloseIsRelayedAsTheEnd) {
  const auto l = limits();
  Session s(l, t0);
  relaying(s);
  s.on_input(std::string(100, 'x') + "\nmore\n", t0);
  s.on_upstream_input("ERR line too long\n", t0);
  s.on_upstream_eof();
  EXPECT_EQ(drain(s, t0), "ERR line too long\n") << "the upstream's own ERR, nothing added";
  EXPECT_NE(s.reason(), CloseReason::UpstreamUnavailable);
}

TEST(SessionRelay, SilentUpstreamTimesOutFromItsLastReply) {
  SessionLimits l = limits();
  l.upstream_timeout = 2s;
  Session s(l, t0);
  s.relay_to_upstream(t0);
  EXPECT_EQ(s.deadline(), t0 + 2s) << "to connect";
  s.on_upstream_connected(t0 + 1s);
  EXPECT_EQ(s.deadline(), t0 + 300s) << "nothing owed: only the idle timeout";
  s.on_input("a\nb\n", t0 + 1s);
  EXPECT_EQ(s.deadline(), t0 + 3s);
  s.on_upstream_input("OK\n", t0 + 2s);
  EXPECT_EQ(s.deadline(), t0 + 4s) << "from the last reply";
  s.on_timer(t0 + 4s);
  EXPECT_EQ(drain(s, t0 + 4s), "OK\nERR upstream unavailable\n");
  EXPECT_EQ(s.upstream_failure(), "no reply within --upstream-timeout");
}

// --max-line bounds a whole reply, however TCP split it.
TEST(SessionRelay, AReplyLongerThanMaxLineIsRefusedWhoeverSplitIt) {
  auto l = limits();
  l.codec.max_line = 8;
  for (const std::size_t split : {std::size_t{0}, std::size_t{4}}) {
    Session s(l, t0);
    relaying(s);
    s.on_input("a\n", t0);
    take_upstream(s);
    const std::string reply = "0123456789\n";  // 10 bytes and LF: over 8
    if (split > 0) s.on_upstream_input(reply.substr(0, split), t0);
    s.on_upstream_input(reply.substr(split), t0);
    EXPECT_EQ(drain(s, t0), "ERR upstream unavailable\n") << "split at " << split;
    EXPECT_EQ(s.upstream_failure(), "a reply longer than --max-line");
  }
}

// A reply with no message outstanding is the upstream breaking the
// protocol: what was owed goes out, then ERR, and the relay ends.
TEST(SessionRelay, AnUnsolicitedReplyEndsTheRelayWithErr) {
  const auto l = limits();
  Session s(l, t0);
  relaying(s);
  s.on_input("a\n", t0);
  take_upstream(s);
  s.on_upstream_input("OK\nOK\nOK\n", t0);
  EXPECT_EQ(drain(s, t0), "OK\nERR upstream unavailable\n");
  EXPECT_EQ(s.upstream_failure(), "unexpected reply (no message outstanding)");
  EXPECT_TRUE(s.upstream_done());
}

// The upstream's ERR for a message it found too long comes before the
// message's LF: that one is owed, not unsolicited.
TEST(SessionRelay, AnErrForAMessageCutShortIsRelayed) {
  const auto l = limits();
  Session s(l, t0);
  relaying(s);
  s.on_input("a\nvery long and still go", t0);
  take_upstream(s);
  s.on_upstream_input("OK\nERR line too long\n", t0);
  s.on_upstream_eof();
  EXPECT_EQ(drain(s, t0), "OK\nERR line too long\n");
  EXPECT_EQ(s.upstream_failure(), "");
}

// NUL bytes are padding to okq-server, so "\0Q" is a Q to the relay too:
// nothing after it is read or forwarded.
TEST(SessionRelay, ANulBeforeQIsAQ) {
  const auto l = limits();
  Session s(l, t0);
  relaying(s);
  s.on_input(std::string("\0Qbye\nmore\n", 11), t0);
  EXPECT_EQ(take_upstream(s), std::string("\0Qbye\n", 6));
  EXPECT_FALSE(s.wants_input());
}

TEST(SessionRelay, BackPressureBothWays) {
  const auto l = limits(/*max_output=*/16);
  Session s(l, t0);
  relaying(s);
  s.on_input(repeat_line("m", 10), t0);  // 20 bytes not yet written upstream
  EXPECT_FALSE(s.wants_input()) << "a slow upstream slows the client's reads";
  take_upstream(s);
  EXPECT_TRUE(s.wants_input());
  s.on_upstream_input(repeat_line("OK", 6), t0);  // 18 bytes owed to the client
  EXPECT_FALSE(s.upstream_wants_input()) << "a slow client slows the upstream's reads";
  EXPECT_FALSE(s.wants_input());
  drain(s, t0);
  EXPECT_TRUE(s.upstream_wants_input());
}

}  // namespace
}  // namespace okq::server
