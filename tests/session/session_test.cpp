// Session driven without a socket: what it owes, what it wants next, and why
// it ends, for each rule a driver relies on.
#include "okq/session/session.hpp"

#include <gtest/gtest.h>

#include <string>

#include "support.hpp"

namespace okq::server {
namespace {

using namespace test;

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

TEST(SessionRules, AStopWithNothingOwedOrUnreadClosesAtOnce) {
  const auto l = limits();
  Session s(l, t0);
  s.on_input("a\n", t0);
  drain(s, t0);
  s.on_stop(0);
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::ServerShutdown);
}

TEST(SessionRules, AStopReadsExactlyWhatHadArrivedAndAnswersIt) {
  const auto l = limits(/*max_output=*/4);
  Session s(l, t0);
  s.on_input("a\nb\n", t0);  // 6 owed: held back
  EXPECT_FALSE(s.wants_input());
  s.on_stop(6);  // "c\nd\ne\n" waits in the kernel
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

}  // namespace
}  // namespace okq::server
