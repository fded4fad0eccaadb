// Integration: okq-server under hostile or broken clients (docs/reliability.md).
// Each test bounds its own loops in count and time.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <iostream>
#include <random>
#include <thread>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"
#include "harness.hpp"

namespace okq::test {
namespace {

using Clock = std::chrono::steady_clock;

// ThreadSanitizer keeps shadow memory for every byte the server touches (and
// per thread), so resident memory says nothing about the server's own bound
// there; release and ASan builds check it.
#ifdef __SANITIZE_THREAD__
#define SKIP_MEMORY_BOUND_UNDER_TSAN() GTEST_SKIP() << "RSS bounds are not meaningful under TSan"
#else
#define SKIP_MEMORY_BOUND_UNDER_TSAN() (void)0
#endif
// ASan's allocator keeps per-thread caches and a quarantine on top of what
// the server holds: with 4 workers, twice the allowance. An unbounded server
// still grows far past it (about 100 MiB in these tests).
#ifdef __SANITIZE_ADDRESS__
constexpr std::size_t kAllocatorSlack = 2;
// Freed memory ASan holds back before reusing it (quarantine_size_mb=4 in
// `make test-asan`): after a burst, up to that much of its buffers stays
// resident whatever the server gave back.
constexpr std::size_t kQuarantineKib = 4 * 1024;
#else
constexpr std::size_t kAllocatorSlack = 1;
constexpr std::size_t kQuarantineKib = 0;
#endif

// io_uring: each worker's receive buffers (UringPoller, 1,024 x 2 KiB), a
// fixed cost touched at its first connection, and as much again that a
// multishot receive may still deliver in the pass that cancels it when a
// client stops reading. Bounded per worker, whatever the clients do.
std::size_t receive_pool_kib(const TestServer& server) {
  return server.io() == "epoll" ? 0 : 2 * 2048 * server.threads();
}

// Connects until a client is served (its Q echoed) or `timeout` passes: the
// server frees a slot only after it has processed the departure.
bool served_within(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (int attempt = 0; attempt < 500 && Clock::now() < deadline; ++attempt) {
    try {
      RawClient c(port);
      c.send("Qin\n");
      if (c.read_to_eof(2s) == "Qin\n") return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST(Hostile, ClientOverMaxConnectionsGetsErrAndOthersAreUnaffected) {
  TestServer server({"--max-connections", "2"});
  RawClient a(server.port()), b(server.port());
  a.send("a\n");
  ASSERT_EQ(a.read_exact(3), "OK\n");
  b.send("b\n");
  ASSERT_EQ(b.read_exact(3), "OK\n");
  RawClient over(server.port());
  over.send("hello\n");
  EXPECT_EQ(over.read_to_eof(), "ERR too many connections\n");
  b.send("still here\n");
  EXPECT_EQ(b.read_exact(3), "OK\n");
  a.send("Qa\n");
  EXPECT_EQ(a.read_to_eof(), "Qa\n");
  a.close();
  EXPECT_TRUE(served_within(server.port(), 5s)) << "a freed slot is not reused";
}

TEST(Hostile, SlowlorisIsClosedAtTheIdleTimeoutWhileOthersAreServed) {
  TestServer server({"--idle-timeout", "1"});
  RawClient slow(server.port()), normal(server.port());
  const auto start = Clock::now();
  std::optional<Clock::duration> closed_after;
  // One byte every 250 ms, never a LF; a normal client talks at the same pace.
  for (int i = 0; i < 16 && !closed_after; ++i) {
    if (slow.peer_closed() || slow.send_nonblocking("a") < 0) closed_after = Clock::now() - start;
    normal.send("x\n");
    ASSERT_EQ(normal.read_exact(3, 2s), "OK\n") << "normal client starved at step " << i;
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(closed_after) << "slowloris still connected after 4 s";
  std::cout << "slowloris closed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(*closed_after).count()
            << " ms (idle timeout 1000 ms, one byte every 250 ms)\n";
  EXPECT_GE(*closed_after, 900ms) << "closed before the idle timeout";
  EXPECT_LE(*closed_after, 2500ms);
  normal.send("Qn\n");
  EXPECT_EQ(normal.read_to_eof(), "Qn\n") << "the normal client outlived the idle timeout";
}

TEST(Hostile, ClientThatNeverReadsLeavesServerMemoryFlat) {
  SKIP_MEMORY_BOUND_UNDER_TSAN();
  TestServer server({"--idle-timeout", "4", "--verbose"});
  const pid_t pid = server.process().pid();
  const std::size_t rss_before = rss_kib(pid);
  RawClient flood(server.port());
  const std::string chunk = repeat("m\n", 32 * 1024);
  // Push up to 100 MB of pipelined messages and never read a reply. Once the
  // server stops reading (1 MiB owed), our sends stall: stop after 1 s of that.
  std::size_t sent = 0, max_rss = rss_before;
  auto last_progress = Clock::now();
  for (int i = 0; i < 100000 && sent < 100u << 20; ++i) {
    const long n = flood.send_nonblocking(chunk);
    if (n < 0) break;
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      last_progress = Clock::now();
    } else {
      if (Clock::now() - last_progress > 1s) break;
      pollfd p{flood.fd(), POLLOUT, 0};
      ::poll(&p, 1, 50);
    }
    if (i % 16 == 0) max_rss = std::max(max_rss, rss_kib(pid));
  }
  max_rss = std::max(max_rss, rss_kib(pid));
  std::cout << "non-reading client: sent " << sent / 1024 << " KiB before the server stopped "
            << "reading; server RSS " << rss_before << " KiB before, " << max_rss << " KiB max\n";
  EXPECT_LT(sent, 100u << 20) << "the server kept reading from a client that never reads";
  // Paused, not spinning: with read interest left armed while paused, a
  // level-triggered loop would wake for the unread input over and over.
  const double cpu_before = cpu_seconds(pid);
  std::this_thread::sleep_for(1s);  // the measurement window
  const double paused_cpu = cpu_seconds(pid) - cpu_before;
  std::cout << "server CPU while paused: " << paused_cpu << " s over 1 s\n";
  EXPECT_LT(paused_cpu, 0.1) << "the server spins while it has stopped reading";
  // Growth, not the absolute figure: sanitizer builds start far higher.
  EXPECT_LT(max_rss - rss_before, kAllocatorSlack * 12u * 1024 + receive_pool_kib(server))
      << "server RSS may grow by 12 MiB at most, and the receive buffers";
  // Others are still served, and the stuck client is closed at the idle timeout.
  RawClient other(server.port());
  other.send("Qo\n");
  EXPECT_EQ(other.read_to_eof(), "Qo\n");
  EXPECT_TRUE(server.process().wait_stderr("closed: idle timeout", 8s)) << server.process().err();
}

// A relay between a client that never reads and a fast upstream: replies
// pile up at the relay only to --max-output, after which it stops reading
// upstream; the upstream's own back-pressure then stops it reading the relay,
// and the relay stops reading the client. Every leg bounded; the client's
// sends stall; the relay does not spin while paused.
TEST(Hostile, RelayBetweenANonReadingClientAndAFastUpstreamStaysBounded) {
  SKIP_MEMORY_BOUND_UNDER_TSAN();
  TestServer upstream;
  TestServer relay({"--upstream", upstream.address(), "--idle-timeout", "30"});
  const pid_t pid = relay.process().pid();
  const std::size_t rss_before = rss_kib(pid);
  RawClient flood(relay.port());
  const std::size_t sent = flood.send_until_stalled(repeat("m\n", 32 * 1024), 1s, 100u << 20);
  const std::size_t max_rss = rss_kib(pid);
  std::cout << "relay, non-reading client: sent " << sent / 1024 << " KiB before the sends "
            << "stalled; relay RSS " << rss_before << " KiB before, " << max_rss << " KiB after\n";
  EXPECT_LT(sent, 100u << 20) << "the relay kept reading from a client that never reads";
  const double cpu_before = cpu_seconds(pid);
  std::this_thread::sleep_for(1s);
  EXPECT_LT(cpu_seconds(pid) - cpu_before, 0.1) << "the relay spins while paused";
  EXPECT_LT(max_rss - rss_before, kAllocatorSlack * 12u * 1024 + receive_pool_kib(relay))
      << "relay RSS may grow by 12 MiB at most, and the receive buffers";
  // It still relays for others.
  RawClient other(relay.port());
  other.send("Qo\n");
  EXPECT_EQ(other.read_to_eof(), "Qo\n");
}

// A relay's client that pipelines a lot and reads slowly: the relay reads
// it only while it owes less than --max-output, and reads the upstream only
// while it owes less than that too, so the replies the fast upstream has
// for everything already forwarded wait in the kernel, not in the relay.
TEST(Hostile, RelayToASlowReaderHoldsAtMostMaxOutputOfReplies) {
  SKIP_MEMORY_BOUND_UNDER_TSAN();
  TestServer upstream({"--idle-timeout", "0"});
  TestServer relay({"--upstream", upstream.address(), "--idle-timeout", "0", "--max-output",
                    "65536", "--threads", "1"});
  const pid_t pid = relay.process().pid();
  RawClient warm(relay.port());  // the receive pool touched once, before measuring
  warm.send(repeat("w\n", 1000) + "Qw\n");
  warm.read_to_eof();
  const std::size_t rss_before = rss_kib(pid);
  RawClient reader(relay.port(), false, 4096);
  const std::string chunk = repeat("m\n", 32 * 1024);
  char buf[4096];
  std::size_t taken = 0, max_rss = rss_before;
  const auto until = Clock::now() + 3s;
  for (int i = 0; i < 100000 && Clock::now() < until; ++i) {
    if (reader.send_nonblocking(chunk) < 0) FAIL() << "the relay closed a slow reader";
    const ssize_t n = ::recv(reader.fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) taken += static_cast<std::size_t>(n);
    if (i % 16 == 0) max_rss = std::max(max_rss, rss_kib(pid));
    std::this_thread::sleep_for(1ms);
  }
  max_rss = std::max(max_rss, rss_kib(pid));
  std::cout << "relay to a slow reader for 3 s: took " << taken / 1024
            << " KiB of replies; relay RSS " << rss_before << " KiB before, " << max_rss
            << " KiB max\n";
  EXPECT_GT(taken, 64u * 1024) << "the reader got too little to prove anything";
  // Replies pass through the relay's buffers all the time: under ASan the
  // freed ones stay resident in its quarantine as well.
  EXPECT_LT(max_rss - rss_before, kAllocatorSlack * 2u * 1024 + kQuarantineKib)
      << "the relay took in more replies than --max-output allows";
}

// Readers that take replies steadily but slower than they pipeline: the
// server's output never drains to empty, and what it holds per connection
// must still stay within --max-output (plus one read's worth of replies).
TEST(Hostile, SlowReadersLeaveServerMemoryBounded) {
  SKIP_MEMORY_BOUND_UNDER_TSAN();
  TestServer server({"--idle-timeout", "0"});
  const pid_t pid = server.process().pid();
  const std::size_t rss_before = rss_kib(pid);
  std::vector<std::unique_ptr<RawClient>> readers;
  // A small window from the start keeps the server's send buffer small too.
  for (int i = 0; i < 4; ++i)
    readers.push_back(std::make_unique<RawClient>(server.port(), false, 4096));
  const std::string chunk = repeat("m\n", 16 * 1024);
  char buf[4096];
  std::size_t taken = 0, max_rss = rss_before;
  const auto until = Clock::now() + 4s;
  for (int i = 0; i < 200000 && Clock::now() < until; ++i) {
    for (auto& r : readers) {
      if (r->send_nonblocking(chunk) < 0) FAIL() << "server closed a slow reader";
      const ssize_t n = ::recv(r->fd(), buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) taken += static_cast<std::size_t>(n);
    }
    if (i % 64 == 0) max_rss = std::max(max_rss, rss_kib(pid));
    std::this_thread::sleep_for(500us);  // steady, but slower than the pipelining
  }
  max_rss = std::max(max_rss, rss_kib(pid));
  std::cout << "4 slow readers for 4 s: took " << taken / 1024 << " KiB of replies; server RSS "
            << rss_before << " KiB before, " << max_rss << " KiB max\n";
  ASSERT_GT(taken, 16u << 20) << "too few replies taken for the test to mean anything";
  // Each connection holds at most two windows of about --max-output (1 MiB)
  // each, and a string's capacity may be twice its size: about 5 MiB each,
  // 20 for four, plus the allocator's per-thread arenas. Unbounded, this run
  // grows by about 100 MiB.
  EXPECT_LT(max_rss - rss_before, kAllocatorSlack * 24u * 1024 + receive_pool_kib(server))
      << "server RSS may grow by 24 MiB at most, and the receive buffers";
}

// After a burst drains, an idle connection gives its output memory back: 60
// clients that each pipelined 2 MiB and went idle must not keep megabytes
// each. What stays is the allocator's (about 3 MiB per worker thread's
// arena, reused by the next burst), not the connections'.
TEST(Hostile, IdleConnectionsAfterABurstHoldNoBurstMemory) {
  SKIP_MEMORY_BOUND_UNDER_TSAN();
  TestServer server({"--idle-timeout", "0"});
  const pid_t pid = server.process().pid();
  const std::size_t rss_before = rss_kib(pid);
  const std::string burst = repeat("m\n", 1 << 20);  // 2 MiB in, 3 MiB of replies out
  const std::string replies = repeat("OK\n", 1 << 20);
  std::vector<std::unique_ptr<RawClient>> clients;
  std::size_t peak = rss_before;
  for (int i = 0; i < 60; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    RawClient& c = *clients.back();
    // Send and read at once so neither side stalls on full buffers.
    std::thread writer([&] { c.send(burst); });
    const std::string got = c.read_exact(replies.size(), 30s);
    writer.join();
    ASSERT_EQ(got.size(), replies.size()) << "client " << i;
    peak = std::max(peak, rss_kib(pid));
  }
  // Every client is idle now, still connected.
  const std::size_t rss_idle = rss_kib(pid);
  std::cout << "60 idle clients after 2 MiB bursts: server RSS " << rss_before << " KiB before, "
            << peak << " KiB at peak, " << rss_idle << " KiB idle\n";
  EXPECT_LT(rss_idle - rss_before, kAllocatorSlack * 4u * 1024 * server.threads() + kQuarantineKib +
                                       receive_pool_kib(server))
      << "idle connections keep their burst buffers";
}

TEST(Hostile, OutOfDescriptorsKeepsServingWithoutSpinning) {
  // 64 descriptors, and a connection limit above that, so accept() hits EMFILE.
  Process prlimited(plus_matrix({"/usr/bin/prlimit", "--nofile=64:64", "--", server_bin(), "-f",
                                 "-l", "127.0.0.1:0", "--max-connections", "1000"}));
  ASSERT_TRUE(prlimited.wait_stderr("listening on ")) << prlimited.err();
  ASSERT_TRUE(prlimited.wait_stderr("\n"));
  const auto port = listening_port(prlimited.err());
  const pid_t pid = prlimited.pid();
  RawClient existing(port);
  existing.send("a\n");
  ASSERT_EQ(existing.read_exact(3), "OK\n");

  std::vector<std::unique_ptr<RawClient>> flood;
  for (int i = 0; i < 120; ++i) flood.push_back(std::make_unique<RawClient>(port));
  ASSERT_TRUE(prlimited.wait_stderr("Too many open files", 5s)) << prlimited.err();

  // Saturated: the existing client is still served, and the server sleeps.
  const double cpu_before = cpu_seconds(pid);
  const auto t0 = Clock::now();
  for (int i = 0; i < 10; ++i) {
    existing.send("b\n");
    ASSERT_EQ(existing.read_exact(3), "OK\n");
    std::this_thread::sleep_for(100ms);  // the measurement window, 1 s
  }
  const double cpu = cpu_seconds(pid) - cpu_before;
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << "out of descriptors: server CPU " << cpu << " s over " << wall << " s saturated\n";
  EXPECT_LT(cpu / wall, 0.10) << "the server spins while out of descriptors";
  const std::string log = prlimited.err();
  std::size_t reports = 0;
  for (auto at = log.find("cannot accept"); at != std::string::npos;
       at = log.find("cannot accept", at + 1))
    ++reports;
  EXPECT_EQ(reports, 1u) << "one log line per burst:\n" << log;

  flood.clear();  // the old clients leave
  EXPECT_TRUE(served_within(port, 10s)) << "new clients not served once descriptors freed";
  existing.send("Qe\n");
  EXPECT_EQ(existing.read_to_eof(), "Qe\n");
}

TEST(Hostile, StopAndContinueMidBurstLosesNothing) {
  // A stopped-and-continued process sees EINTR from epoll_wait (signal(7)).
  TestServer server;
  const pid_t pid = server.process().pid();
  RawClient c(server.port());
  const std::string burst = repeat("m\n", 2000);
  const std::string expected = repeat("OK\n", 2000);
  for (int round = 0; round < 20; ++round) {
    c.send(burst);
    ASSERT_EQ(::kill(pid, SIGSTOP), 0);
    ASSERT_EQ(::kill(pid, SIGCONT), 0);
    ASSERT_EQ(c.read_exact(expected.size()), expected) << "round " << round;
  }
  c.send("Qend\n");
  EXPECT_EQ(c.read_to_eof(), "Qend\n");
}

TEST(Hostile, RandomBytesGetExactlyTheRepliesTheProtocolDefines) {
  TestServer server;
  for (unsigned seed = 1; seed <= 6; ++seed) {
    std::mt19937 rng(seed);
    // Rich in the bytes that matter (LF, CR, NUL, and Q inside lines), lines
    // up to the --max-line edge. What ends a connection (a line starting with
    // Q, a line too long) comes only at the very end, so the whole stream is
    // answered; seeds alternate between the two endings.
    const std::string alphabet = std::string("\n\r\0Q", 4) + "abcxyz\xff\x80 ";
    std::string input;
    std::size_t line = 0;
    while (input.size() < 256 * 1024) {
      char c = alphabet[rng() % alphabet.size()];
      if (c == 'Q' && line == 0) c = 'q';  // never a Q message before the end
      if (rng() % 20000 == 0) {            // a long line, just within the limit
        input += std::string(4096 - line, 'L');
        c = '\n';
      }
      if (line >= 4096 && c != '\n' && c != '\0') c = '\n';
      input += c;
      line = c == '\n' ? 0 : c == '\0' ? line : line + 1;
    }
    input += seed % 2 ? "\nQend\n" : "\n" + std::string(5000, 'L') + "\n";
    const std::string expected = fuzz::line_model(4096, input);
    ASSERT_GT(expected.size(), 3u * 10000) << "the stream must be answered, not cut short";

    RawClient c(server.port());
    try {
      c.send(input);  // the server may close early (a Q line, a too-long line)
      c.shutdown_write();
    } catch (const std::exception&) {
    }
    EXPECT_EQ(c.read_to_eof(), expected) << "seed " << seed;
  }
  EXPECT_TRUE(served_within(server.port(), 5s));
}

}  // namespace
}  // namespace okq::test
