// tls::Stage in front of a Session, driven without a socket, against a client
// tls::Channel: the handshake and the client's messages cut at every split of
// the byte stream, both versions; plaintext on a TLS port; the handshake's
// deadline; a stop; and no reply lost between the session's end and ours.
#include "okq/tls/stage.hpp"

#include <gtest/gtest.h>

#include <string>

#include "../session/support.hpp"
#include "certs.hpp"
#include "okq/session/session.hpp"

namespace okq::tls {
namespace {

using namespace server::test;
using server::CloseReason;
using server::Session;

std::shared_ptr<const Context> server_context() {
  Settings s;
  s.cert = okq::test::certs().server_cert;
  s.key = okq::test::certs().server_key;
  return Context::server(s);
}

std::shared_ptr<const Context> client_context(int version = 0) {
  Settings s;
  s.ca = okq::test::certs().ca;
  auto c = Context::client(s);
  if (version) {
    SSL_CTX_set_min_proto_version(c->get(), version);
    SSL_CTX_set_max_proto_version(c->get(), version);
  }
  return c;
}

// What the driver would do: every byte the stage owes, taken whole.
std::string take(server::Stream& s, Time now) {
  return drain(s, now);
}

struct Pair {
  explicit Pair(int version = 0)
      : l(limits()),
        session(l, t0),
        stage(session, server_context(), 3s, t0),
        client(client_context(version), "127.0.0.1") {}

  // Client to server, cut at `split` (0: whole); the server's answer back.
  void to_server(std::string bytes, std::size_t split = 0) {
    if (split > 0 && split < bytes.size()) {
      stage.on_input(std::string_view(bytes).substr(0, split), t0);
      bytes.erase(0, split);
    }
    stage.on_input(bytes, t0);
  }
  std::string from_client() {
    auto& out = client.owed();
    std::string bytes;
    while (!out.empty()) {
      const auto w = out.pending();
      bytes.append(w);
      out.consume(w.size());
    }
    return bytes;
  }
  // Moves bytes both ways until neither side has any: the plaintext the client got.
  std::string settle() {
    std::string plain;
    for (int i = 0; i < 20; ++i) {
      const std::string up = from_client();
      if (!up.empty()) to_server(up);
      const std::string down = take(stage, t0);
      if (!down.empty()) client.receive(down, plain);
      if (up.empty() && down.empty()) break;
    }
    return plain;
  }

  server::SessionLimits l;
  Session session;
  Stage stage;
  Channel client;
};

TEST(TlsStage, RepliesAreByteExactAtEverySplitOfTheClientsStream) {
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    std::size_t splits = 0;
    for (std::size_t split = 1;; ++split) {
      Pair p(version);
      // Each of the client's flights, then its messages right behind the
      // last, each cut in two at `split`.
      std::string plain;
      for (int round = 0; round < 4 && !p.client.established(); ++round) {
        p.to_server(p.from_client(), split);
        p.client.receive(take(p.stage, t0), plain);
      }
      ASSERT_TRUE(p.client.established()) << p.client.error();
      p.client.send("a\nb\nc\nQ\n");
      const std::string rest = p.from_client();
      p.to_server(rest, split);
      ASSERT_FALSE(p.stage.handshaking()) << p.stage.channel().error();
      plain += p.settle();
      ASSERT_EQ(plain, "OK\nOK\nOK\nQ\n") << "split " << split << " version " << version;
      EXPECT_TRUE(p.client.state() == Channel::State::PeerClosed) << "close_notify before FIN";
      EXPECT_TRUE(p.stage.wants_fin());
      ++splits;
      if (split >= rest.size()) break;
    }
    EXPECT_GT(splits, 20u);
  }
}

TEST(TlsStage, OneByteAtATimeWholeConversation) {
  Pair p;
  std::string plain;
  for (int round = 0; round < 10 && !p.client.established(); ++round) {
    for (const char c : p.from_client()) p.stage.on_input(std::string_view(&c, 1), t0);
    const std::string down = take(p.stage, t0);
    for (const char c : down) p.client.receive(std::string_view(&c, 1), plain);
  }
  ASSERT_TRUE(p.client.established());
  p.client.send("x\ny\n");
  for (const char c : p.from_client()) p.stage.on_input(std::string_view(&c, 1), t0);
  for (const char c : take(p.stage, t0)) p.client.receive(std::string_view(&c, 1), plain);
  EXPECT_EQ(plain, "OK\nOK\n");
  EXPECT_EQ(p.session.messages(), 2u);
}

TEST(TlsStage, PlaintextOnATlsPortClosesWithoutAWord) {
  // A line, and bytes that look like a TLS record but not a handshake one
  // (OpenSSL would answer those with an alert).
  for (const std::string& bytes :
       {std::string("hello\n"), std::string("\x17\x03\x03\x00\x05hello", 10)}) {
    Pair p;
    p.stage.on_input(bytes, t0);
    EXPECT_TRUE(p.stage.closed());
    EXPECT_EQ(p.stage.owed_bytes(), 0u) << "not even an alert for a peer that never spoke TLS";
    EXPECT_EQ(p.session.reason(), CloseReason::TlsHandshakeFailed);
    EXPECT_EQ(p.session.messages(), 0u);
  }
}

TEST(TlsStage, AHandshakeNotFinishedInTimeCloses) {
  Pair p;
  p.to_server(p.from_client().substr(0, 10));  // a client that stalls mid-hello
  EXPECT_EQ(p.stage.deadline(), t0 + 3s);
  p.stage.on_timer(t0 + 2999ms);
  EXPECT_FALSE(p.stage.closed());
  p.stage.on_timer(t0 + 3s);
  EXPECT_TRUE(p.stage.closed());
  EXPECT_EQ(p.session.reason(), CloseReason::TlsTimeout);
}

TEST(TlsStage, AStopAnswersTheRecordsThatHadArrivedThenSaysCloseNotify) {
  Pair p;
  p.settle();
  ASSERT_TRUE(p.client.established());
  p.client.send("a\nb\n");
  const std::string arrived = p.from_client();
  p.stage.on_stop(arrived.size());
  EXPECT_FALSE(p.stage.closed());
  EXPECT_TRUE(p.stage.wants_input());
  EXPECT_EQ(p.stage.read_limit(65536), arrived.size());
  p.stage.on_input(arrived, t0);
  std::string plain;
  p.client.receive(take(p.stage, t0), plain);
  EXPECT_EQ(plain, "OK\nOK\n");
  EXPECT_EQ(p.client.state(), Channel::State::PeerClosed);
  EXPECT_TRUE(p.stage.wants_fin()) << "then FIN, and the session lingers for the client's";
  EXPECT_EQ(p.session.reason(), CloseReason::ServerShutdown);
}

TEST(TlsStage, TheClientsCloseNotifyIsItsFinAndEveryReplyStillGoesOut) {
  Pair p;
  p.settle();
  p.client.send("a\nb\n");
  p.client.close_notify();
  p.to_server(p.from_client());
  // The session has every reply handed over and ends; the stage is not
  // closed until the records carrying them and its close_notify are written.
  EXPECT_TRUE(p.session.closed());
  EXPECT_FALSE(p.stage.closed()) << "replies still owed as ciphertext";
  std::string plain;
  p.client.receive(take(p.stage, t0), plain);
  EXPECT_EQ(plain, "OK\nOK\n");
  EXPECT_TRUE(p.stage.closed());
  EXPECT_EQ(p.session.reason(), CloseReason::PeerClosed);
}

TEST(TlsStage, ARecordThatDoesNotDecryptIsATlsError) {
  Pair p;
  p.settle();
  p.client.send("a\n");
  std::string bytes = p.from_client();
  bytes[bytes.size() - 3] ^= 0x55;
  p.to_server(bytes);
  EXPECT_EQ(p.session.reason(), CloseReason::TlsError);
  EXPECT_EQ(p.session.messages(), 0u);
  take(p.stage, t0);  // the alert
  EXPECT_TRUE(p.stage.closed());
}

TEST(TlsStage, OwedCiphertextIsBoundedWhateverTheSessionOwes) {
  Pair p;
  p.settle();
  p.client.send(repeat_line("m", 100000));
  p.to_server(p.from_client());
  EXPECT_GT(p.session.owed_bytes(), 0u) << "the session keeps what the stage has no room for";
  EXPECT_LT(p.stage.channel().owed().size(), 80u * 1024);
  std::string plain;
  p.client.receive(take(p.stage, t0), plain);
  EXPECT_EQ(plain.size(), 300000u);
}

TEST(TlsStage, AnIdleConnectionKeepsNoneOfItsHandshakesFlight) {
  Pair p;
  p.settle();
  ASSERT_TRUE(p.client.established());
  p.client.send("a\n");
  p.to_server(p.from_client());
  std::string plain;
  p.client.receive(take(p.stage, t0), plain);
  EXPECT_EQ(plain, "OK\n");
  // The certificate chain and tickets took over a kilobyte; a reply's record ~30 bytes.
  EXPECT_LT(p.stage.channel().owed().capacity(), 256u);
}

}  // namespace
}  // namespace okq::tls
