// Integration: okq-bench against a real okq-server, a short smoke run. Speed is
// measured by `make bench`, not here: these only check that the tool counts
// and checks correctly.
#include <gtest/gtest.h>

#include <signal.h>

#include <regex>
#include <thread>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

TEST(Bench, ClosedLoopAnswersEveryRequestAndLosesNone) {
  TestServer server;
  Process bench({bench_bin(), "-c", "8", "-t", "2", "-P", "4", "-n", "50000", "--json", "-q",
                 server.address()});
  ASSERT_EQ(bench.wait(60s), 0) << bench.err() << bench.out();
  const auto out = bench.out();
  EXPECT_EQ(json_field(out, "sent"), 50000u) << out;
  EXPECT_EQ(json_field(out, "answered"), 50000u) << out;
  EXPECT_EQ(json_field(out, "lost"), 0u) << out;
  EXPECT_EQ(json_field(out, "errors"), 0u) << out;
  EXPECT_GT(json_field(out, "p50"), 0u) << out;
}

TEST(Bench, DurationRunPrintsProgressAndTheTextReport) {
  TestServer server;
  Process bench({bench_bin(), "-c", "4", "-d", "1.5", server.address()});
  ASSERT_EQ(bench.wait(30s), 0) << bench.err();
  EXPECT_NE(bench.err().find("req/s"), std::string::npos) << "no progress line: " << bench.err();
  EXPECT_NE(bench.out().find("lost         0\n"), std::string::npos) << bench.out();
  EXPECT_NE(bench.out().find("latency us   p50"), std::string::npos) << bench.out();
}

TEST(Bench, OpenLoopSendsOnScheduleAndLosesNone) {
  TestServer server;
  Process bench(
      {bench_bin(), "-c", "4", "--rate", "2000", "-d", "1", "--json", "-q", server.address()});
  ASSERT_EQ(bench.wait(30s), 0) << bench.err();
  const auto out = bench.out();
  // About 2000 fall due in one second; a loaded machine may stop a little late.
  EXPECT_GE(json_field(out, "sent"), 1000u) << out;
  EXPECT_LE(json_field(out, "sent"), 4000u) << out;
  EXPECT_EQ(json_field(out, "lost"), 0u) << out;
}

TEST(Bench, OpenLoopChargesAStallToEveryRequestDueDuringIt) {
  // Coordinated omission: a closed loop would see the stall in the few requests
  // in flight. Open loop, every request that fell due while the server was
  // frozen counts from when it was due, so the stall shows in the percentiles.
  TestServer server({"--verbose"});
  Process bench(
      {bench_bin(), "-c", "4", "--rate", "1000", "-d", "2", "--json", "-q", server.address()});
  ASSERT_TRUE(server.process().wait_stderr("conn 4 from"));
  std::this_thread::sleep_for(300ms);  // when the stall starts does not matter
  ::kill(server.process().pid(), SIGSTOP);
  std::this_thread::sleep_for(500ms);  // the stall itself
  ::kill(server.process().pid(), SIGCONT);
  ASSERT_EQ(bench.wait(30s), 0) << bench.err();
  const auto out = bench.out();
  EXPECT_EQ(json_field(out, "lost"), 0u) << out;
  // ~25% of the requests fell due in the 500 ms stall, waiting up to 500 ms.
  EXPECT_GE(json_field(out, "p90"), 100'000u) << out;
  EXPECT_GE(json_field(out, "p99"), 300'000u) << out;
}

TEST(Bench, WrongRepliesAreCountedAsErrors) {
  TestServer server;  // answers "OK", not the "+PONG" redis would
  Process bench({bench_bin(), "--protocol", "redis", "-c", "2", "-n", "100", "--json", "-q",
                 server.address()});
  EXPECT_EQ(bench.wait(30s), 1);
  EXPECT_EQ(json_field(bench.out(), "bad_replies"), 100u) << bench.out();
}

TEST(Bench, ServerVanishingShowsAsBrokenConnections) {
  TestServer server({"--verbose"});
  Process bench({bench_bin(), "-c", "4", "-d", "5", "--json", "-q", server.address()});
  ASSERT_TRUE(server.process().wait_stderr("conn 4 from"));  // all four connected
  server.process().signal(SIGKILL);
  EXPECT_EQ(bench.wait(30s), 1);
  EXPECT_EQ(json_field(bench.out(), "broken_connections"), 4u) << bench.out();
}

TEST(Bench, RequestCountAgainstASilentServerEndsAndCountsTheLost) {
  RawListener silent;  // connections complete in its backlog; nothing ever answers
  Process bench({bench_bin(), "-c", "2", "-n", "10", "--stall-timeout", "0.5", "--json", "-q",
                 "127.0.0.1:" + std::to_string(silent.port())});
  ASSERT_EQ(bench.wait(20s), 1) << "a -n run against a silent server never ended";
  EXPECT_NE(bench.err().find("no reply for 0.5 s; stopping"), std::string::npos) << bench.err();
  EXPECT_EQ(json_field(bench.out(), "sent"), 2u) << bench.out();
  EXPECT_EQ(json_field(bench.out(), "lost"), 2u) << bench.out();
}

TEST(Bench, InterruptStillPrintsTheReport) {
  TestServer server;
  Process bench({bench_bin(), "-c", "2", "-d", "60", server.address()});
  ASSERT_TRUE(bench.wait_stderr("req/s"));
  bench.signal(SIGINT);
  EXPECT_EQ(bench.wait(20s), 128 + SIGINT);
  EXPECT_NE(bench.out().find("lost         0\n"), std::string::npos) << bench.out();
}

// Load that follows a server being upgraded or drained: every connection
// closes cleanly after N requests and a new one takes its place.
TEST(Bench, ReconnectIntervalClosesCleanlyAndOpensNewConnections) {
  TestServer server({"--verbose"});
  Process bench({bench_bin(), "-c", "2", "-n", "1000", "--reconnect-interval", "100", "--json",
                 "-q", server.address()});
  ASSERT_EQ(bench.wait(30s), 0) << bench.err() << bench.out();
  const auto out = bench.out();
  EXPECT_EQ(json_field(out, "answered"), 1000u) << out;
  EXPECT_EQ(json_field(out, "lost"), 0u) << out;
  EXPECT_EQ(json_field(out, "errors"), 0u) << out;
  const auto reconnects = json_field(out, "reconnects");
  EXPECT_GE(reconnects, 8u) << out;  // 10 connections' worth of 100, 2 to start with
  EXPECT_LE(reconnects, 10u) << out;
  ASSERT_TRUE(server.process().wait_stderr("conn 10 from"));
  std::size_t clean = 0;
  const std::string log = server.process().err();
  for (auto at = log.find("closed: client closed"); at != std::string::npos;
       at = log.find("closed: client closed", at + 1))
    ++clean;
  EXPECT_GE(clean, reconnects) << "reconnects must close cleanly (FIN, not reset):\n" << log;
}

// Open loop and --reconnect-interval together: requests that fell due on a
// connection whose interval is up go out on its successor, even once the
// last request has been issued; none is dropped and the run ends.
TEST(Bench, OpenLoopWithAReconnectIntervalSendsEveryRequest) {
  TestServer server;
  Process bench({bench_bin(), "-c", "2", "--rate", "50000", "-n", "20000", "--reconnect-interval",
                 "10", "--json", "-q", server.address()});
  ASSERT_EQ(bench.wait(30s), 0) << bench.out() << bench.err();
  const auto out = bench.out();
  EXPECT_EQ(json_field(out, "sent"), 20000u) << out;
  EXPECT_EQ(json_field(out, "answered"), 20000u) << out;
  EXPECT_EQ(json_field(out, "lost"), 0u) << out;
}

// kill -9 the server mid-run and start another on the same port: okq-bench
// --reconnect carries on against it. The four connections each break once;
// what was in flight on the dead server (at most one request each, at
// pipeline 1) is lost, nothing else.
TEST(Bench, ReconnectCarriesOnAcrossAServerKilledAndRestarted) {
  auto first = std::make_unique<TestServer>();
  const std::string address = first->address();
  Process bench({bench_bin(), "-c", "4", "-d", "3", "--reconnect", "--json", "-q", address});
  std::this_thread::sleep_for(700ms);  // load on the first server meanwhile
  first->process().signal(SIGKILL);
  ASSERT_TRUE(first->process().wait(5s));
  first.reset();
  std::this_thread::sleep_for(200ms);  // nobody listens for a while: attempts are refused
  TestServer second({"--listen", address, "-v"}, true);
  ASSERT_EQ(bench.wait(30s), 1) << "broken connections make the run unclean\n" << bench.out();
  const auto out = bench.out();
  EXPECT_EQ(json_field(out, "broken_connections"), 4u) << out;
  EXPECT_LE(json_field(out, "lost"), 4u) << out;
  EXPECT_EQ(json_field(out, "sent") - json_field(out, "answered"), json_field(out, "lost")) << out;
  EXPECT_GE(json_field(out, "reconnects"), 4u) << out;
  EXPECT_TRUE(second.process().wait_stderr("conn 4 from")) << "the load did not move over\n"
                                                           << second.process().err();
}

TEST(Bench, NoServerExits2) {
  Process bench({bench_bin(), "-n", "1", "127.0.0.1:" + std::to_string(unused_port())});
  EXPECT_EQ(bench.wait(), 2);
  EXPECT_NE(bench.err().find("Connection refused"), std::string::npos) << bench.err();
}

}  // namespace
}  // namespace okq::test
