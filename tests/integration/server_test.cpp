// Integration: okq-server seen from a raw loopback socket, byte for byte.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <thread>
#include <vector>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

using namespace std::string_literals;
using Clock = std::chrono::steady_clock;

TEST(Server, AnswersPipelinedBurstAndEchoesQThenCloses) {
  TestServer server;
  RawClient c(server.port());
  c.send(repeat("hello\n", 1000) + "Qdone\r\nafter\n");
  EXPECT_EQ(c.read_to_eof(), repeat("OK\n", 1000) + "Qdone\n");
  EXPECT_TRUE(c.eof());
}

TEST(Server, HalfCloseAfterBurstStillGetsEveryReply) {
  TestServer server;
  RawClient c(server.port());
  c.send(repeat("m\n", 5000) + "last fragment");
  c.shutdown_write();
  EXPECT_EQ(c.read_to_eof(), repeat("OK\n", 5001));
  EXPECT_TRUE(c.eof());
}

TEST(Server, SeedStyleZeroPaddedFramesAreAnswered) {
  TestServer server;
  RawClient c(server.port());
  c.send("hello\n"s + std::string(14, '\0'));
  EXPECT_EQ(c.read_exact(3), "OK\n");
  c.send("Q\n"s + std::string(18, '\0'));
  EXPECT_EQ(c.read_to_eof(), "Q\n");
}

TEST(Server, ClassicModeIsByteExact) {
  TestServer server({"--classic"});
  RawClient c(server.port());
  const std::string hello = "hello\n"s + std::string(14, '\0');
  c.send(hello);
  EXPECT_EQ(c.read_exact(2), "OK");
  c.send("x");  // a short read is a message too
  EXPECT_EQ(c.read_exact(2), "OK");
  const std::string quit = "Qbye\n"s + std::string(15, '\0');
  c.send(quit);
  EXPECT_EQ(c.read_to_eof(), quit);  // 20 bytes exactly, then the close
}

TEST(Server, ClassicShortQIsZeroPaddedToClassicSize) {
  TestServer server({"--classic", "--classic-size", "8"});
  RawClient c(server.port());
  c.send("Q\n");
  EXPECT_EQ(c.read_to_eof(), "Q\n"s + std::string(6, '\0'));
}

TEST(Server, LineOverMaxLineGetsErrAndClose) {
  TestServer server({"--max-line", "16"});
  RawClient c(server.port());
  c.send("fine\n" + std::string(17, 'x') + "\nnever answered\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nERR line too long\n");
}

TEST(Server, OneMebibyteLineIsRefusedWithoutBeingBuffered) {
  TestServer server;
  RawClient c(server.port());
  c.send("before\n");
  EXPECT_EQ(c.read_exact(3), "OK\n");
  // The server closes after 4 KiB; the rest of our send may then fail.
  try {
    c.send(std::string(1 << 20, 'a') + "\n");
  } catch (const std::exception&) {
  }
  EXPECT_EQ(c.read_to_eof(), "ERR line too long\n");
  // And it still serves others.
  RawClient other(server.port());
  other.send("Q\n");
  EXPECT_EQ(other.read_to_eof(), "Q\n");
}

TEST(Server, ManyClientsAtOnceEachGetTheirOwnEcho) {
  TestServer server;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(std::make_unique<RawClient>(server.port()));
  for (int i = 0; i < 50; ++i) clients[i]->send("a\nb\nQ" + std::to_string(i) + "\n");
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(clients[i]->read_to_eof(), "OK\nOK\nQ" + std::to_string(i) + "\n");
}

TEST(Server, ResetMidBurstCostsOnlyThatConnection) {
  TestServer server;
  {
    RawClient rude(server.port());
    rude.send(repeat("m\n", 100000));  // replies pile up unread
    rude.reset();                      // RST while the server writes
  }
  RawClient polite(server.port());
  polite.send("x\nQ\n");
  EXPECT_EQ(polite.read_to_eof(), "OK\nQ\n");
}

TEST(Server, SigtermFlushesEveryReplyOwed) {
  TestServer server;
  RawClient c(server.port());
  c.send("first\n");
  ASSERT_EQ(c.read_exact(3), "OK\n");
  // Freeze the server, queue SIGTERM, then the burst: when it resumes, the
  // signal is handled first (epoll's ready list is FIFO) while every message
  // still sits unread in its kernel. All of them are owed a reply.
  const pid_t pid = server.process().pid();
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  constexpr int kMessages = 20000;
  c.send(repeat("m\n", kMessages));
  ASSERT_TRUE(c.wait_acked());  // every byte is in the server's kernel
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  EXPECT_EQ(c.read_to_eof(), repeat("OK\n", kMessages));
  EXPECT_TRUE(c.eof());
  c.close();
  EXPECT_EQ(server.process().wait(), 0) << server.process().err();
}

TEST(Server, SigtermWithManyClientsMidBurstFlushesEveryOne) {
  TestServer server;
  constexpr int kClients = 20, kMessages = 5000;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    clients.back()->send("hi\n");
    ASSERT_EQ(clients.back()->read_exact(3), "OK\n");
  }
  const pid_t pid = server.process().pid();
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  for (auto& c : clients) c->send(repeat("burst\n", kMessages));
  for (auto& c : clients) ASSERT_TRUE(c->wait_acked());
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(clients[i]->read_to_eof(), repeat("OK\n", kMessages)) << "client " << i;
    clients[i]->close();
  }
  EXPECT_EQ(server.process().wait(), 0) << server.process().err();
}

// A client held back for not reading has complete messages waiting in the
// server's kernel when the stop comes: every one of them is still answered.
// --max-output is small, so that most of what arrived is still unread in
// the kernel at SIGTERM (io_uring's armed receive may hold a buffer's worth
// more): a stop that answered only --max-output more would fail here (the
// log line proves the premise).
TEST(Server, SigtermAnswersEverythingThatArrivedFromABackPressuredClient) {
  TestServer server({"--max-output", "1024", "--verbose"});
  // A small receive buffer: the replies back up at once, so the server stops
  // reading early and what arrives after waits unread in its kernel.
  RawClient c(server.port(), false, 4096);
  const std::size_t sent = c.send_until_stalled(repeat("m\n", 32 * 1024), 300ms);
  // The server has stopped reading; what its kernel acknowledged has arrived.
  int unacked = c.unacked(), stable = 0;
  for (int i = 0; i < 100 && stable < 5; ++i) {
    std::this_thread::sleep_for(20ms);
    const int now = c.unacked();
    stable = now == unacked ? stable + 1 : 0;
    unacked = now;
  }
  const std::size_t arrived = sent - static_cast<std::size_t>(unacked);
  ASSERT_GT(arrived, 16u * 4096) << "the server's kernel should hold much more than --max-output";
  server.process().signal(SIGTERM);
  const std::string replies = c.read_to_eof(20s);
  ASSERT_TRUE(c.eof());
  // At least every message known to have arrived is answered. A few more may
  // arrive between this test's measurement and the moment the stop begins
  // (the kernel can reopen a closed window when it compacts its queues);
  // none can be answered that was never sent.
  const std::size_t answered = replies.size() / 3;
  EXPECT_GE(answered, arrived / 2) << "sent " << sent << ", arrived " << arrived << "\n"
                                   << server.process().err();
  EXPECT_LE(answered, sent / 2);
  EXPECT_EQ(replies, repeat("OK\n", static_cast<int>(answered)));
  c.close();
  EXPECT_EQ(server.process().wait(), 0) << server.process().err();
  std::smatch m;
  const std::string log = server.process().err();
  ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(stopping, (\d+) bytes unread)"))) << log;
  EXPECT_GT(std::stoull(m[1]), 1024u)
      << "no more than --max-output was unread: the test proves nothing";
}

// A client with nothing owed and nothing unread holds up nobody's stop.
TEST(Server, SigtermClosesAnIdleClientAtOnce) {
  TestServer server;
  RawClient idle(server.port());
  idle.send("hi\n");
  ASSERT_EQ(idle.read_exact(3), "OK\n");
  const auto start = Clock::now();
  server.process().signal(SIGTERM);
  EXPECT_EQ(server.process().wait(3s), 0) << "the stop waited for an idle client";
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(idle.read_to_eof(1s), "");
  EXPECT_TRUE(idle.eof());
}

// Accepted connections go to the worker with the fewest: 100 held open over
// 4 workers is 25 each, whatever order the kernel wakes threads in.
TEST(Server, ConnectionsAreSpreadEvenlyOverTheWorkers) {
  TestServer server({"--threads", "4", "--verbose"});
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    clients.back()->send("x\n");
  }
  for (auto& c : clients) ASSERT_EQ(c->read_exact(3), "OK\n");
  // The log is collected by another thread: wait for the last line (one write each).
  ASSERT_TRUE(server.process().wait_stderr("conn 100 from"));
  const std::string log = server.process().err();
  std::vector<int> per_worker(4, 0);
  for (int w = 0; w < 4; ++w) {
    const std::string tag = "(worker " + std::to_string(w) + ")";
    for (auto at = log.find(tag); at != std::string::npos; at = log.find(tag, at + 1))
      ++per_worker[static_cast<std::size_t>(w)];
  }
  EXPECT_EQ(per_worker, (std::vector<int>{25, 25, 25, 25})) << log;
  for (auto& c : clients) c->close();
}

TEST(Server, QFollowedByUnreadInputStillDeliversTheEcho) {
  // Closing a socket with unread input makes the kernel send RST, which can
  // destroy the echo still in flight; the server drains before closing.
  TestServer server;
  const std::string input = "Qbye\n" + std::string(1 << 20, 'j');
  for (int round = 0; round < 20; ++round) {
    RawClient c(server.port());
    std::string_view rest = input;  // without lingering the server resets us mid-send
    for (int i = 0; i < 10000 && !rest.empty(); ++i) {
      const long n = c.send_nonblocking(rest);
      if (n < 0) break;
      rest.remove_prefix(static_cast<std::size_t>(n));
      if (n == 0) std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(c.read_to_eof(), "Qbye\n") << "round " << round;
    EXPECT_TRUE(c.eof());
    EXPECT_FALSE(c.was_reset()) << "round " << round << ": the server reset the connection";
  }
}

TEST(Server, SigtermWithNoClientsExitsZero) {
  TestServer server;
  EXPECT_EQ(server.stop(), 0);
  EXPECT_NE(server.process().err().find("stopped"), std::string::npos);
}

TEST(Server, ShutdownTimeoutBoundsAClientThatNeverReads) {
  TestServer server({"--shutdown-timeout", "0.5"});
  RawClient c(server.port());
  // Far more replies owed than the socket buffers hold: empty lines, 3 bytes
  // of reply each, sent until the server stops reading and our sends stall.
  std::size_t sent = c.send_until_stalled(std::string(64 * 1024, '\n'), 200ms);
  // A slow server (a sanitizer build on a busy machine) may pause for longer
  // than the stall window without having stopped reading: go on, bounded.
  for (int i = 0; i < 10 && sent * 3 <= 16u << 20; ++i)
    sent += c.send_until_stalled(std::string(64 * 1024, '\n'), 200ms);
  ASSERT_GT(sent * 3, 16u << 20) << "the replies owed must not fit in the socket buffers";
  const auto start = Clock::now();
  server.process().signal(SIGTERM);
  EXPECT_EQ(server.process().wait(5s), 0) << "--shutdown-timeout did not bound the stop";
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 400ms) << "stopped before the replies could have been written";
  EXPECT_LT(took, 3s);
  EXPECT_NE(server.process().err().find("shutdown timeout: closing 1 connections"),
            std::string::npos)
      << server.process().err();
}

// The operator's second signal does not wait for the shutdown timeout: every
// worker closes everything at once.
TEST(Server, SecondSigtermClosesEverythingAtOnce) {
  TestServer server({"--shutdown-timeout", "60"});
  std::vector<std::unique_ptr<RawClient>> stuck;
  for (int i = 0; i < 4; ++i) {  // spread over the workers, each owing more than buffers hold
    stuck.push_back(std::make_unique<RawClient>(server.port()));
    stuck.back()->send_until_stalled(std::string(64 * 1024, '\n'), 200ms);
  }
  server.process().signal(SIGTERM);
  ASSERT_TRUE(server.process().wait_stderr("shutting down: 4 connections to finish"));
  EXPECT_FALSE(server.process().wait(300ms, false)) << "the first stop should still be waiting";
  const auto start = Clock::now();
  server.process().signal(SIGTERM);
  EXPECT_EQ(server.process().wait(5s), 0) << server.process().err();
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_NE(server.process().err().find("second stop request: closing 4 connections now"),
            std::string::npos)
      << server.process().err();
}

TEST(Server, OnceServesOneConnectionThenExits) {
  TestServer server({"--once"});
  RawClient first(server.port());
  first.send("a\nQ\n");
  EXPECT_EQ(first.read_to_eof(), "OK\nQ\n");
  first.close();
  EXPECT_EQ(server.process().wait(), 0);
  EXPECT_THROW(RawClient second(server.port()), std::runtime_error);
}

TEST(Server, OnceEndsWhenTheClientHangsUp) {
  TestServer server({"--once"});
  {
    RawClient first(server.port());
    first.send("a\n");
    EXPECT_EQ(first.read_exact(3), "OK\n");
  }
  EXPECT_EQ(server.process().wait(), 0);
}

TEST(Server, ServesEveryListenAddress) {
  const std::string path =
      ::testing::TempDir() + "okq-listen-" + std::to_string(::getpid()) + ".sock";
  TestServer server({"--listen", "127.0.0.1:0", "--listen", "unix:" + path}, true);
  ASSERT_TRUE(server.process().wait_stderr("listening on unix:" + path));
  RawClient tcp(server.port());
  RawClient local(path);
  tcp.send("Qtcp\n");
  local.send("Qunix\n");
  EXPECT_EQ(tcp.read_to_eof(), "Qtcp\n");
  EXPECT_EQ(local.read_to_eof(), "Qunix\n");
  tcp.close();
  local.close();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "socket file left behind";
}

TEST(Server, ServesIpv6Loopback) {
  TestServer server({"--listen", "[::1]:0"}, true);
  const auto port = listening_port(server.process().err(), "[::1]:");
  if (port == 0) GTEST_SKIP() << "no IPv6 loopback here: " << server.process().err();
  RawClient c(port, /*v6=*/true);
  c.send("Q6\n");
  EXPECT_EQ(c.read_to_eof(), "Q6\n");
}

TEST(Server, TraceLogsEveryMessageToTheLogFile) {
  const std::string log = ::testing::TempDir() + "okq-trace-" + std::to_string(::getpid()) + ".log";
  ::unlink(log.c_str());
  Process server(
      plus_matrix({server_bin(), "-f", "-l", "127.0.0.1:0", "--trace", "--log-file", log}));
  const auto port = listening_port(wait_for_file(log, "listening on 127.0.0.1:"));
  ASSERT_NE(port, 0);
  EXPECT_EQ(server.err(), "") << "logs go to the file, not stderr";
  RawClient c(port);
  c.send("hi\0\n"s + "Qx\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQx\n");
  c.close();
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
  const std::string text = wait_for_file(log, "stopped");
  EXPECT_NE(text.find("message \"hi\""), std::string::npos) << text;
  EXPECT_NE(text.find("message \"Qx\""), std::string::npos) << text;
  EXPECT_NE(text.find("closed: protocol end; 2 messages"), std::string::npos) << text;
  ::unlink(log.c_str());
}

}  // namespace
}  // namespace okq::test
