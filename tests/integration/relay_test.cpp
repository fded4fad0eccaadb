// --upstream: okq-server as a client of another okq-server, relaying every
// message there and every reply back, in order, on every backend and thread
// count; chains of relays; an upstream that is refused, killed mid-burst or
// silent; --trace of both legs.
#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "okq.hpp"
#include "process.hpp"
#include "tcp.hpp"

namespace okq::test {
namespace {

using namespace std::string_literals;

// client -> okq (relay) -> okq (relay) -> okq: three hops. 100 clients at once
// each pipeline 1,000 messages and a Q; each gets 1,000 OKs and its echo, in
// order, and every connection closes.
TEST(Relay, ThreeHopChainCarriesEveryReplyInOrder) {
  TestServer last;
  TestServer middle({"--upstream", last.address()});
  TestServer first({"--upstream", middle.address()});
  constexpr int kClients = 100, kMessages = 1000;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<RawClient>(first.port()));
    std::string burst;
    for (int m = 0; m < kMessages; ++m)
      burst += "c" + std::to_string(c) + "m" + std::to_string(m) + "\n";
    clients.back()->send(burst + "Q client " + std::to_string(c) + "\n");
  }
  const std::string oks = repeat("OK\n", kMessages);
  for (int c = 0; c < kClients; ++c)
    EXPECT_EQ(clients[c]->read_to_eof(30s), oks + "Q client " + std::to_string(c) + "\n")
        << "client " << c;
}

TEST(Relay, HalfCloseGetsEveryReplyIncludingAnUnterminatedLastMessage) {
  TestServer upstream;
  TestServer relay({"--upstream", upstream.address()});
  RawClient c(relay.port());
  c.send("one\ntwo\nthree");
  c.shutdown_write();
  EXPECT_EQ(c.read_to_eof(), "OK\nOK\nOK\n");
  EXPECT_TRUE(c.eof());
}

TEST(Relay, UpstreamRefusedGetsErrAndTheLogSaysWhy) {
  const auto nobody = unused_port();
  TestServer relay({"--upstream", "127.0.0.1:" + std::to_string(nobody)});
  RawClient c(relay.port());
  c.send("hello\n");
  EXPECT_EQ(c.read_to_eof(), "ERR upstream unavailable\n");
  c.close();
  ASSERT_TRUE(relay.process().wait_stderr("upstream unavailable (Connection refused)"))
      << relay.process().err();
}

// The upstream dies with SIGKILL while a client's burst is under way: the
// client gets the replies that came back, then ERR upstream unavailable,
// then EOF; never a half reply, never silence.
TEST(Relay, UpstreamKilledMidBurstEndsWithErr) {
  auto upstream = std::make_unique<TestServer>();
  TestServer relay({"--upstream", upstream->address()});
  RawClient c(relay.port());
  c.send(repeat("m\n", 100));
  ASSERT_EQ(c.read_exact(300), repeat("OK\n", 100));  // the relay is up and relaying
  std::atomic<bool> sending{true};
  std::thread burst([&] {
    for (int i = 0; i < 2000 && sending; ++i) {
      if (c.send_nonblocking(repeat("m\n", 512)) < 0) break;
      std::this_thread::sleep_for(1ms);
    }
  });
  std::this_thread::sleep_for(100ms);
  upstream->process().signal(SIGKILL);
  ASSERT_TRUE(upstream->process().wait(5s).has_value());
  upstream.reset();
  const std::string rest = c.read_to_eof(10s);
  sending = false;
  burst.join();
  EXPECT_TRUE(c.eof());
  c.close();
  ASSERT_GE(rest.size(), 25u) << rest;
  EXPECT_EQ(rest.substr(rest.size() - 25), "ERR upstream unavailable\n");
  EXPECT_EQ(rest.substr(0, rest.size() - 25),
            repeat("OK\n", static_cast<int>((rest.size() - 25) / 3)))
      << "whole OK replies before the ERR";
  ASSERT_TRUE(relay.process().wait_stderr("upstream unavailable ("));
}

// An upstream that accepts and never reads: the relay writes until the
// kernel's buffers are full, stops reading its client (back-pressure: the
// client's sends stall), and after --upstream-timeout gives the client its
// ERR line and closes.
TEST(Relay, UpstreamThatNeverReadsHoldsTheClientBackThenTimesOut) {
  RawListener silent;
  TestServer relay(
      {"--upstream", "127.0.0.1:" + std::to_string(silent.port()), "--upstream-timeout", "6"});
  RawClient c(relay.port());
  const auto start = std::chrono::steady_clock::now();
  // The sends stall long before the timeout (once the relay's kernel buffers
  // and --max-output toward the upstream are full); after it, the relay
  // discards what the client sends while it closes, so a stall must be seen
  // first.
  const std::size_t sent = c.send_until_stalled(repeat("m\n", 4096), 300ms, 64u << 20);
  EXPECT_LT(sent, 64u << 20) << "the relay kept reading a client it could not forward for";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 6s) << "stalled only after the timeout";
  const std::string answer = c.read_to_eof(15s);
  EXPECT_EQ(answer, "ERR upstream unavailable\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 14s);
  c.close();
  ASSERT_TRUE(relay.process().wait_stderr("no reply within --upstream-timeout"))
      << relay.process().err();
}

TEST(Relay, TraceShowsBothLegs) {
  TestServer upstream;
  TestServer relay({"--upstream", upstream.address(), "--trace"});
  RawClient c(relay.port());
  c.send("hello\nQ bye\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQ bye\n");
  c.close();
  ASSERT_TRUE(relay.process().wait_stderr("closed: protocol end"));
  const auto log = relay.process().err();
  EXPECT_NE(log.find("relaying to " + upstream.address()), std::string::npos) << log;
  EXPECT_NE(log.find("conn 1: relaying to " + upstream.address()), std::string::npos) << log;
  EXPECT_NE(log.find("conn 1 message \"hello\""), std::string::npos) << log;
  EXPECT_NE(log.find("conn 1 upstream reply \"OK\""), std::string::npos) << log;
  EXPECT_NE(log.find("conn 1 upstream reply \"Q bye\""), std::string::npos) << log;
  EXPECT_EQ(occurrences(log, "upstream reply"), 2u) << log;
}

// A PROXY listener in front of a relay: the header is the relay's, the
// messages after it go upstream.
TEST(Relay, BehindAProxyListener) {
  TestServer upstream;
  TestServer relay({"--proxy-listen", "127.0.0.1:0", "--upstream", upstream.address(), "-v"}, true);
  RawClient c(relay.port());
  c.send("PROXY TCP4 192.0.2.1 192.0.2.2 5555 4242\r\nhello\nQ\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  c.close();
  ASSERT_TRUE(relay.process().wait_stderr("closed: protocol end"));
  EXPECT_NE(relay.process().err().find("from 192.0.2.1:5555 via"), std::string::npos)
      << relay.process().err();
}

// SIGTERM to a relay with a burst under way: everything that had arrived
// still goes upstream and its replies come back before the relay closes.
TEST(Relay, GracefulStopRelaysEveryReplyOwed) {
  TestServer upstream;
  TestServer relay({"--upstream", upstream.address()});
  RawClient c(relay.port());
  c.send("first\n");
  ASSERT_EQ(c.read_exact(3), "OK\n");  // relaying
  c.send(repeat("m\n", 1000));
  ASSERT_TRUE(c.wait_acked());  // every byte is in the relay's kernel
  relay.process().signal(SIGTERM);
  EXPECT_EQ(c.read_to_eof(10s), repeat("OK\n", 1000));
  EXPECT_TRUE(c.eof());
  c.close();
  EXPECT_EQ(relay.process().wait(10s), 0);
}

TEST(Relay, ClassicFramingIsRefused) {
  Process p({server_bin(), "--foreground", "-l", "127.0.0.1:0", "--classic", "--upstream",
             "127.0.0.1:1"});
  EXPECT_EQ(p.wait(), 64);
  EXPECT_NE(p.err().find("--classic excludes --upstream"), std::string::npos) << p.err();
}

// A relay to itself would turn each message into thousands of connections:
// refused at start, however the address is written.
TEST(Relay, AnUpstreamThatIsOneOfItsOwnListenersIsRefused) {
  const auto port = std::to_string(unused_port());
  for (const auto& [listen, upstream] :
       std::vector<std::pair<std::string, std::string>>{{"127.0.0.1:" + port, "127.0.0.1:" + port},
                                                        {port, "localhost:" + port},
                                                        {"0.0.0.0:" + port, "127.0.0.2:" + port}}) {
    Process p({server_bin(), "-f", "-l", listen, "--upstream", upstream});
    EXPECT_EQ(p.wait(), 64) << listen << " -> " << upstream;
    EXPECT_NE(p.err().find("is this server's own listener"), std::string::npos) << p.err();
  }
}

// Two relays pointed at each other: one message fills both to
// --max-connections, the last hop is turned away, and an ERR comes back
// along the chain; every connection then closes. The log says what is
// likely wrong, once.
TEST(Relay, TwoRelaysPointedAtEachOtherEndWithAnErrAndALogLine) {
  const auto pa = unused_port(), pb = unused_port();
  const auto a_addr = "127.0.0.1:" + std::to_string(pa), b_addr = "127.0.0.1:" + std::to_string(pb);
  TestServer a({"-l", a_addr, "--upstream", b_addr, "--max-connections", "100"}, true);
  TestServer b({"-l", b_addr, "--upstream", a_addr, "--max-connections", "100"}, true);
  Process client({client_bin(), "--timeout", "20", a_addr});
  client.write_stdin("hello\n");
  client.close_stdin();
  EXPECT_EQ(client.wait(30s), 5) << client.out() << client.err();
  // The last hop's refusal comes back as it is, or, when it came before
  // the message reached that hop (a reply to nothing), as the relay's own.
  EXPECT_TRUE(client.out() == "Server: ERR too many connections\n" ||
              client.out() == "Server: ERR upstream unavailable\n")
      << client.out();
  EXPECT_TRUE(a.process().wait_stderr("is the upstream relaying back here?") ||
              b.process().wait_stderr("is the upstream relaying back here?", 1s))
      << a.process().err() << b.process().err();
  EXPECT_LE(occurrences(a.process().err() + b.process().err(), "turning new clients away"), 2u);
  // The chain unwinds: both servers end up with their listener only.
  for (auto* s : {&a, &b}) {
    std::size_t open = 0;
    for (int i = 0; i < 1000 && (open = sockets_of(s->process().pid())) > 1; ++i)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(open, 1u) << "connections left open after the loop ended";
  }
  RawClient direct(pb);  // B still serves, and relays to A, which relays to B...
  direct.shutdown_write();
  EXPECT_EQ(direct.read_to_eof(20s), "");
}

// An upstream that sends replies it was not asked for is not okq: the
// client gets what it was owed, then ERR, and the log says why.
TEST(Relay, AnUpstreamsUnsolicitedRepliesEndTheRelay) {
  RawListener fake;
  TestServer relay({"--upstream", "127.0.0.1:" + std::to_string(fake.port())});
  RawClient client(relay.port());
  RawClient upstream = fake.accept();
  client.send("one\n");
  EXPECT_EQ(upstream.read_exact(4), "one\n");
  upstream.send("OK\nOK\nOK\n");
  EXPECT_EQ(client.read_to_eof(), "OK\nERR upstream unavailable\n");
  client.close();
  EXPECT_TRUE(relay.process().wait_stderr("unexpected reply (no message outstanding)"))
      << relay.process().err();
}

}  // namespace
}  // namespace okq::test
