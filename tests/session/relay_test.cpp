// Relay, the responder of a relaying session (--upstream), driven without
// sockets: what goes upstream, what comes back, and how it ends.
#include "okq/session/relay.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support.hpp"

namespace okq::server {
namespace {

using namespace test;

// A session answering through a relay (connected unless told otherwise).
struct Relayed {
  Session s;
  Relay r;

  explicit Relayed(const SessionLimits& l, std::chrono::milliseconds timeout = 5s,
                   bool connected = true)
      : s(l, t0), r(l, timeout, s.output(), t0) {
    s.answer_with(r);
    if (connected) r.on_connected(t0);
  }
};

// The upstream's bytes, as its driver hands them over, then the session told.
void upstream(Relayed& x, std::string_view bytes, Time now = t0) {
  x.r.on_input(bytes, now);
  x.s.on_answers();
}

// What is owed upstream, written whole.
std::string take_upstream(Relay& r) {
  std::string out;
  for (int i = 0; i < 10 && !r.owed().empty(); ++i) {
    const auto window = r.owed();
    out.append(window);
    r.on_sent(window.size());
  }
  return out;
}

TEST(Relay, MessagesGoOnAsTheyAreAndOnlyWholeRepliesComeBack) {
  const auto l = limits();
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input("a\nb", t0);
  EXPECT_EQ(take_upstream(r), "a\nb") << "bytes go on as they arrive";
  s.on_input("\n", t0);
  EXPECT_EQ(take_upstream(r), "\n");
  EXPECT_EQ(s.messages(), 2u);
  EXPECT_EQ(s.owed_bytes(), 0u) << "no OK of its own";
  upstream(x, "OK\nO", t0);
  EXPECT_EQ(drain(s, t0), "OK\n") << "half a reply waits";
  upstream(x, "K\n", t0);
  EXPECT_EQ(drain(s, t0), "OK\n");
  EXPECT_EQ(s.state(), SessionState::Reading);
}

TEST(Relay, QEndsTheClientsInputAndItsEchoEndsTheRelay) {
  const auto l = limits();
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input("x\nQ bye\nnever\n", t0);
  EXPECT_EQ(take_upstream(r), "x\nQ bye\n") << "nothing after Q goes on";
  EXPECT_EQ(s.state(), SessionState::Flushing);
  EXPECT_FALSE(s.wants_fin()) << "not before the upstream has answered";
  upstream(x, "OK\n", t0);
  EXPECT_FALSE(r.done());
  upstream(x, "Q bye\n", t0);
  EXPECT_TRUE(r.done());
  EXPECT_EQ(drain(s, t0), "OK\nQ bye\n");
  EXPECT_TRUE(s.wants_fin());
}

TEST(Relay, ClientFinGoesUpstreamAndTheLastFragmentIsAnswered) {
  const auto l = limits();
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input("a\nlast", t0);
  EXPECT_FALSE(r.wants_fin());
  s.on_eof(t0);
  EXPECT_EQ(take_upstream(r), "a\nlast");
  EXPECT_TRUE(r.wants_fin());
  r.on_fin_sent();
  upstream(x, "OK\nOK\n", t0);
  EXPECT_TRUE(r.done());
  EXPECT_EQ(drain(s, t0), "OK\nOK\n");
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.reason(), CloseReason::PeerClosed);
}

TEST(Relay, UpstreamGoneWithRepliesOwedIsErrAfterWhatCameBack) {
  const auto l = limits();
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input("a\nb\nc\n", t0);
  upstream(x, "OK\nO", t0);
  r.on_eof();
  s.on_answers();
  EXPECT_EQ(drain(s, t0), "OK\nERR upstream unavailable\n");
  EXPECT_EQ(s.reason(), CloseReason::UpstreamUnavailable);
  EXPECT_EQ(r.failure(), "closed with replies owed");
  EXPECT_FALSE(s.wants_input());
}

TEST(Relay, AnUpstreamErrAndCloseIsRelayedAsTheEnd) {
  const auto l = limits();
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input(std::string(100, 'x') + "\nmore\n", t0);
  upstream(x, "ERR line too long\n", t0);
  r.on_eof();
  s.on_answers();
  EXPECT_EQ(drain(s, t0), "ERR line too long\n") << "the upstream's own ERR, nothing added";
  EXPECT_NE(s.reason(), CloseReason::UpstreamUnavailable);
}

TEST(Relay, SilentUpstreamTimesOutFromItsLastReply) {
  const auto l = limits();
  Relayed x(l, 2s, false);
  auto& [s, r] = x;
  EXPECT_EQ(s.deadline(), t0 + 2s) << "to connect";
  r.on_connected(t0 + 1s);
  EXPECT_EQ(s.deadline(), t0 + 300s) << "nothing owed: only the idle timeout";
  s.on_input("a\nb\n", t0 + 1s);
  EXPECT_EQ(s.deadline(), t0 + 3s);
  upstream(x, "OK\n", t0 + 2s);
  EXPECT_EQ(s.deadline(), t0 + 4s) << "from the last reply";
  s.on_timer(t0 + 4s);
  EXPECT_EQ(drain(s, t0 + 4s), "OK\nERR upstream unavailable\n");
  EXPECT_EQ(r.failure(), "no reply within --upstream-timeout");
}

// --max-line bounds a whole reply, however TCP split it.
TEST(Relay, AReplyLongerThanMaxLineIsRefusedWhoeverSplitIt) {
  auto l = limits();
  l.codec.max_line = 8;
  for (const std::size_t split : {std::size_t{0}, std::size_t{4}}) {
    Relayed x(l);
    auto& [s, r] = x;
    s.on_input("a\n", t0);
    take_upstream(r);
    const std::string reply = "0123456789\n";  // 10 bytes and LF: over 8
    if (split > 0) upstream(x, reply.substr(0, split), t0);
    upstream(x, reply.substr(split), t0);
    EXPECT_EQ(drain(s, t0), "ERR upstream unavailable\n") << "split at " << split;
    EXPECT_EQ(r.failure(), "a reply longer than --max-line");
  }
}

// A reply with no message outstanding is the upstream breaking the
// protocol: what was owed goes out, then ERR, and the relay ends.
TEST(Relay, AnUnsolicitedReplyEndsTheRelayWithErr) {
  const auto l = limits();
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input("a\n", t0);
  take_upstream(r);
  upstream(x, "OK\nOK\nOK\n", t0);
  EXPECT_EQ(drain(s, t0), "OK\nERR upstream unavailable\n");
  EXPECT_EQ(r.failure(), "unexpected reply (no message outstanding)");
  EXPECT_TRUE(r.done());
}

// The upstream's ERR for a message it found too long comes before the
// message's LF: that one is owed, not unsolicited.
TEST(Relay, AnErrForAMessageCutShortIsRelayed) {
  const auto l = limits();
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input("a\nvery long and still go", t0);
  take_upstream(r);
  upstream(x, "OK\nERR line too long\n", t0);
  r.on_eof();
  s.on_answers();
  EXPECT_EQ(drain(s, t0), "OK\nERR line too long\n");
  EXPECT_EQ(r.failure(), "");
}

// NUL bytes are padding to okq-server, so "\0Q" is a Q to the relay too:
// nothing after it is read or forwarded.
TEST(Relay, ANulBeforeQIsAQ) {
  const auto l = limits();
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input(std::string("\0Qbye\nmore\n", 11), t0);
  EXPECT_EQ(take_upstream(r), std::string("\0Qbye\n", 6));
  EXPECT_FALSE(s.wants_input());
}

TEST(Relay, BackPressureBothWays) {
  const auto l = limits(/*max_output=*/16);
  Relayed x(l);
  auto& [s, r] = x;
  s.on_input(repeat_line("m", 10), t0);  // 20 bytes not yet written upstream
  EXPECT_FALSE(s.wants_input()) << "a slow upstream slows the client's reads";
  take_upstream(r);
  EXPECT_TRUE(s.wants_input());
  upstream(x, repeat_line("OK", 6), t0);  // 18 bytes owed to the client
  EXPECT_FALSE(r.wants_input()) << "a slow client slows the upstream's reads";
  EXPECT_FALSE(s.wants_input());
  drain(s, t0);
  EXPECT_TRUE(r.wants_input());
}

}  // namespace
}  // namespace okq::server
