// The I/O backends: what --io auto chooses and says where io_uring is
// refused, what asking for a refused io_uring by name costs, and io_uring's
// own edge: a loop's shared receive buffers running out.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/io_uring.h>

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
  io_uring_params params{};
  const long ring = ::syscall(__NR_io_uring_setup, 1, &params);
  if (ring < 0) GTEST_SKIP() << "io_uring is not available here";
  ::close(static_cast<int>(ring));
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
