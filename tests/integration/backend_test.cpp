// The I/O backends: what --io auto chooses and says where io_uring is
// refused, what asking for a refused io_uring by name costs, and io_uring's
// own edges: a loop's shared receive buffers running out, and quiet
// connections parked on a poll.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/io_uring.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "okq.hpp"
#include "process.hpp"
#include "tcp.hpp"

namespace okq::test {
namespace {

bool have_io_uring() {
  io_uring_params params{};
  const long ring = ::syscall(__NR_io_uring_setup, 1, &params);
  if (ring < 0) return false;
  ::close(static_cast<int>(ring));
  return true;
}

// What a process's rings hold armed, by operation, from their fdinfo's
// PollList (IORING_OP_RECV 27, IORING_OP_POLL_ADD 6); `listed` false where
// the kernel does not list them.
struct Armed {
  bool listed = false;
  int receives = 0;
  int polls = 0;
};

Armed armed_in_rings(pid_t pid) {
  Armed armed;
  const std::string dir = "/proc/" + std::to_string(pid);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/fd", ec)) {
    std::error_code link_ec;
    const auto target = std::filesystem::read_symlink(entry.path(), link_ec).string();
    if (target.find("io_uring") == std::string::npos) continue;
    std::ifstream info(dir + "/fdinfo/" + entry.path().filename().string());
    bool in_list = false;
    for (std::string line; std::getline(info, line);) {
      if (line.rfind("PollList:", 0) == 0) {
        armed.listed = in_list = true;
        continue;
      }
      if (in_list && line.rfind("  op=", 0) != 0) in_list = false;
      if (!in_list) continue;
      const int op = std::stoi(line.substr(5));
      armed.receives += op == IORING_OP_RECV;
      armed.polls += op == IORING_OP_POLL_ADD;
    }
  }
  return armed;
}

TEST(Backend, AutoFallsBackToEpollWithOneLineSayingWhy) {
  TestServer server({"--io", "auto", "--threads", "2", "-v"}, false, {without_io_uring_bin()});
  ASSERT_TRUE(server.process().wait_stderr("backend\n"));
  const std::string log = server.process().err();
  EXPECT_EQ(occurrences(
                log, "io_uring unavailable (io_uring_setup: Operation not permitted): using epoll"),
            1u)
      << log;
  EXPECT_NE(log.find("2 workers, epoll backend"), std::string::npos) << log;
  RawClient client(server.port());
  client.send("hello\nQ\n");
  EXPECT_EQ(client.read_to_eof(), "OK\nQ\n");
}

TEST(Backend, IoUringAskedForByNameButRefusedExits69) {
  Process server({without_io_uring_bin(), server_bin(), "--foreground", "-l", "127.0.0.1:0", "--io",
                  "io_uring"});
  EXPECT_EQ(server.wait(), 69);
  EXPECT_NE(server.err().find("okq-server: --io io_uring: io_uring_setup: Operation not permitted"),
            std::string::npos)
      << server.err();
}

// 64 clients each pipelining 256 KiB at once fill more than the loop's 1,024
// shared receive buffers in one pass: receives end with ENOBUFS and must be
// armed again, never taken for an error. Every reply arrives.
TEST(Backend, IoUringReceiveBuffersRunningOutLosesNothing) {
  if (!have_io_uring()) GTEST_SKIP() << "io_uring is not available here";
  TestServer server({"--io", "io_uring", "--threads", "1", "-v"});
  constexpr int kClients = 64;
  const std::string burst = repeat("m\n", 128 * 1024);
  const std::string replies = repeat("OK\n", 128 * 1024);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RawClient>(server.port()));
  std::vector<std::thread> writers;
  for (auto& c : clients) writers.emplace_back([&c, &burst] { c->send(burst); });
  std::vector<std::string> got(kClients);
  std::vector<std::thread> readers;
  for (int i = 0; i < kClients; ++i)
    readers.emplace_back([&, i] { got[i] = clients[i]->read_exact(replies.size(), 60s); });
  for (auto& t : writers) t.join();
  for (auto& t : readers) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(got[i].size(), replies.size()) << "client " << i;
  clients.clear();
  ASSERT_EQ(server.stop(), 0);
  const std::string log = server.process().err();
  EXPECT_NE(log.find("worker 0: receive buffers ran out"), std::string::npos)
      << "the run never ran out of buffers, so it shows nothing:\n"
      << log.substr(log.size() > 2000 ? log.size() - 2000 : 0);
}

// An armed multishot receive costs the kernel ~860 bytes a connection, a poll
// ~256 (epoll's item: 128). So on io_uring a connection quiet for two seconds
// has its receive parked: a poll waits in its place, and the receive is armed
// again once it speaks. One that keeps talking is never parked.
TEST(Backend, QuietIoUringConnectionsWaitOnAPollAndAnswerAtOnceWhenTheySpeak) {
  if (!have_io_uring()) GTEST_SKIP() << "io_uring is not available here";
  TestServer server({"--io", "io_uring", "--threads", "1"});
  const pid_t pid = server.process().pid();
  const Armed base = armed_in_rings(pid);  // the loop's own (its wake-up eventfd)
  if (!base.listed) GTEST_SKIP() << "this kernel's io_uring fdinfo lists no PollList";
  constexpr int kQuiet = 20;
  std::vector<std::unique_ptr<RawClient>> quiet;
  for (int i = 0; i < kQuiet; ++i) {
    quiet.push_back(std::make_unique<RawClient>(server.port()));
    quiet.back()->send("a\n");
    ASSERT_EQ(quiet.back()->read_exact(3), "OK\n");
  }
  RawClient talker(server.port());
  talker.send("t\n");
  ASSERT_EQ(talker.read_exact(3), "OK\n");
  const auto spoke = std::chrono::steady_clock::now();
  EXPECT_EQ(armed_in_rings(pid).receives, kQuiet + 1) << "each connection's receive armed";
  // The talker speaks every 100 ms; the others say nothing.
  Armed now;
  auto parked_at = spoke;
  for (int n = 0; n < 100; ++n) {
    talker.send("t\n");
    ASSERT_EQ(talker.read_exact(3), "OK\n");
    now = armed_in_rings(pid);
    parked_at = std::chrono::steady_clock::now();
    if (now.receives == 1 && now.polls == base.polls + kQuiet) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(now.receives, 1) << "only the talker's receive stays armed";
  EXPECT_EQ(now.polls, base.polls + kQuiet) << "every quiet connection waits on a poll";
  EXPECT_GE(parked_at - spoke, 1900ms) << "parked before it had been quiet for two seconds";
  // Each speaks again: answered at once, its receive armed again.
  for (auto& c : quiet) {
    c->send("b\n");
    EXPECT_EQ(c->read_exact(3, 2s), "OK\n");
  }
  now = armed_in_rings(pid);
  EXPECT_EQ(now.receives, kQuiet + 1);
  EXPECT_EQ(now.polls, base.polls);
  // A parked connection's FIN is seen too: it gets its reply and is closed.
  for (int n = 0; n < 50 && armed_in_rings(pid).polls < base.polls + kQuiet; ++n)
    std::this_thread::sleep_for(100ms);
  quiet.front()->send("last");
  quiet.front()->shutdown_write();
  EXPECT_EQ(quiet.front()->read_to_eof(5s), "OK\n");
  EXPECT_EQ(server.stop(), 0);
}

// On io_uring a relay's upstream leg is a connection like the client's:
// its replies come in on a receive in the ring (no poll, then a recv system
// call, per message), and it is parked like any other once quiet.
TEST(Backend, ARelaysUpstreamLegReceivesInTheRingAndIsParkedWhenQuiet) {
  if (!have_io_uring()) GTEST_SKIP() << "io_uring is not available here";
  TestServer upstream({"--io", "epoll", "--threads", "1"});
  TestServer relay({"--io", "io_uring", "--threads", "1", "--upstream", upstream.address()});
  const pid_t pid = relay.process().pid();
  const Armed base = armed_in_rings(pid);
  if (!base.listed) GTEST_SKIP() << "this kernel's io_uring fdinfo lists no PollList";
  constexpr int kClients = 10;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(relay.port()));
    clients.back()->send("a\n");
    ASSERT_EQ(clients.back()->read_exact(3), "OK\n");
  }
  const auto spoke = std::chrono::steady_clock::now();
  Armed now = armed_in_rings(pid);
  EXPECT_EQ(now.receives, 2 * kClients) << "a receive on each leg of each relayed client";
  EXPECT_EQ(now.polls, base.polls) << "no leg waits on readiness";
  for (int n = 0; n < 50 && now.polls < base.polls + 2 * kClients; ++n) {
    std::this_thread::sleep_for(100ms);
    now = armed_in_rings(pid);
  }
  EXPECT_EQ(now.receives, 0);
  EXPECT_EQ(now.polls, base.polls + 2 * kClients) << "both legs parked once quiet";
  EXPECT_GE(std::chrono::steady_clock::now() - spoke, 1900ms);
  for (auto& c : clients) {  // and relayed at once when they speak again
    c->send("b\nQ\n");
    EXPECT_EQ(c->read_to_eof(2s), "OK\nQ\n");
  }
  clients.clear();  // no linger left to wait for
  EXPECT_EQ(relay.stop(), 0);
}

// With recv bundles (OKQ_RECV_BUNDLE=1, Linux 6.10) a multishot receive
// takes what waits in the socket in one completion, in as many of the
// loop's buffers as it fills: a 24 KB burst is one completion of twelve
// 2 KiB buffers, every message in it answered in order.
TEST(Backend, AnIoUringReceiveTakesABurstInOneCompletionOfSeveralBuffers) {
  if (!have_io_uring()) GTEST_SKIP() << "io_uring is not available here";
  ::setenv("OKQ_RECV_BUNDLE", "1", 1);  // the server inherits it
  TestServer server({"-v", "--io", "io_uring", "--threads", "1"});
  ::unsetenv("OKQ_RECV_BUNDLE");
  ASSERT_TRUE(server.process().wait_stderr("workers, io_uring backend"));
  if (server.process().err().find("recv bundles") == std::string::npos)
    GTEST_SKIP() << "this kernel has no recv bundles (Linux 6.10)";
  {
    RawClient c(server.port());
    c.send("a\n");
    ASSERT_EQ(c.read_exact(3), "OK\n");  // the multishot receive is armed
    std::string burst;
    for (int i = 0; i < 400; ++i) burst += std::string(59, 'm') + "\n";  // 24,000 bytes, one write
    c.send(burst + "Q\n");
    std::string want;
    for (int i = 0; i < 400; ++i) want += "OK\n";
    EXPECT_EQ(c.read_to_eof(5s), want + "Q\n");
  }  // closed: nothing lingers
  EXPECT_EQ(server.stop(), 0);
  EXPECT_NE(server.process().err().find("receives filled several buffers at once"),
            std::string::npos)
      << server.process().err();
}

// A server killed with SIGKILL refuses new connections at once. Were its
// listeners polled through a ring, the kernel would keep them open until the
// ring's teardown (after the process is gone), complete handshakes on them
// meanwhile and then reset those connections: behind a load balancer,
// connections that looked established and were lost.
TEST(Backend, AKilledServerRefusesConnectionsAtOnce) {
  for (int round = 0; round < 5; ++round) {
    TestServer server({"-v"});
    std::vector<std::unique_ptr<RawClient>> busy;  // operations in flight on every worker
    for (std::size_t i = 0; i < 2 * server.threads(); ++i) {
      busy.push_back(std::make_unique<RawClient>(server.port()));
      busy.back()->send("x\n");
      ASSERT_EQ(busy.back()->read_exact(3), "OK\n");
    }
    const auto port = server.port();
    server.process().signal(SIGKILL);
    ASSERT_TRUE(server.process().wait(5s, false).has_value());
    try {
      RawClient late(port);
      late.send("hello\n");
      ADD_FAILURE() << "round " << round << ": a connection to a dead server was accepted ("
                    << late.read_to_eof(2s).size() << " bytes, then "
                    << (late.was_reset() ? "reset" : "closed") << ")";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("Connection refused"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace okq::test
