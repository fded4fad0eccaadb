// Upgrades (SIGUSR2): the binary at the server's path started again with the
// listening sockets; it takes the pid file once it serves; the old process
// stops accepting and finishes its connections. No connection refused, no
// reply lost; a new binary that fails leaves the old one serving.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "okq.hpp"
#include "process.hpp"
#include "tcp.hpp"

namespace okq::test {
namespace {

pid_t pid_in(const std::string& pidfile) {
  try {
    return static_cast<pid_t>(std::stol(read_file(pidfile)));
  } catch (const std::exception&) {
    return 0;  // not there, or being rewritten
  }
}

// The pid the file names once it is no longer `old`; 0 if that never happens.
pid_t next_pid(const std::string& pidfile, pid_t old) {
  for (int i = 0; i < 1000; ++i) {
    const pid_t now = pid_in(pidfile);
    if (now != 0 && now != old) return now;
    std::this_thread::sleep_for(10ms);
  }
  return 0;
}

std::size_t sockets_of(pid_t pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& fd :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
    if (std::filesystem::read_symlink(fd.path(), ec).string().starts_with("socket:")) ++n;
  return n;
}

// okq-bench keeps 8 connections busy and closes and reopens each after 20
// replies, and a second client opens a fresh connection every 2 ms, so new
// connections arrive throughout every hand-over: one refused would count as
// a broken connection or a failed probe, one reply lost as lost.
TEST(Upgrade, FiveUpgradesUnderLoadRefuseNoConnectionAndLoseNoReply) {
  become_subreaper();  // each new server outlives its parent: we reap it
  const std::string pidfile = private_dir("upgrade") + "/okq.pid";
  TestServer server({"--pidfile", pidfile});
  Process bench(
      {bench_bin(), "-q", "-c", "8", "--reconnect-interval", "20", "-d", "5", server.address()});
  std::atomic<bool> probing{true};
  std::atomic<int> probes{0}, failed{0};
  std::string first_failure;
  std::thread prober([&] {
    for (int i = 0; i < 5000 && probing; ++i) {
      try {
        RawClient c(server.port());
        c.send("probe\n");
        if (c.read_exact(3, 5s) != "OK\n") throw std::runtime_error("wrong or no reply");
        ++probes;
      } catch (const std::exception& e) {
        if (failed++ == 0) first_failure = e.what();
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  pid_t current = server.process().pid();
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(300ms);  // load runs on the current process meanwhile
    ASSERT_EQ(::kill(current, SIGUSR2), 0);
    const pid_t next = next_pid(pidfile, current);
    ASSERT_NE(next, 0) << "upgrade " << i + 1 << ": no new process took the pid file\n"
                       << server.process().err();
    // The old one stops once its connections are done (each lasts 20 replies).
    if (i == 0)
      EXPECT_EQ(server.process().wait(10s, false), 0);
    else
      EXPECT_EQ(wait_pid(current, 10s), 0) << "upgrade " << i + 1;
    current = next;
  }
  // The load lives on the newest process: its 8 connections and the listener
  // (okq-bench reopens them all the time: look at a few instants).
  std::size_t most = 0;
  for (int i = 0; i < 100 && most < 9; ++i, std::this_thread::sleep_for(10ms))
    most = std::max(most, sockets_of(current));
  EXPECT_GE(most, 9u);
  probing = false;
  prober.join();
  EXPECT_EQ(failed, 0) << first_failure;
  EXPECT_GT(probes, 100);
  ASSERT_EQ(bench.wait(30s), 0) << bench.out() << bench.err();
  std::cout << "5 upgrades under load: " << probes << " probe connections, " << failed
            << " failed; okq-bench: " << bench.out().substr(0, bench.out().find("latency")) << "\n";
  EXPECT_NE(bench.out().find("errors       0 (0 bad replies, 0 broken connections)"),
            std::string::npos)
      << bench.out();
  EXPECT_NE(bench.out().find("lost         0"), std::string::npos) << bench.out();
  ASSERT_EQ(::kill(current, SIGTERM), 0);
  EXPECT_EQ(wait_pid(current, 10s), 0);
  EXPECT_FALSE(std::filesystem::exists(pidfile)) << "the last server leaves its pid file behind";
  EXPECT_TRUE(server.process().wait_output_closed());
  EXPECT_EQ(occurrences(server.process().err(), "serves now; finishing"), 5u)
      << server.process().err();
}

// A PROXY listener stays one across an upgrade, and the metrics listener
// moves to the new process, even on ports the kernel chose (port 0): each
// passed socket is named for what it is (LISTEN_FDNAMES).
TEST(Upgrade, ProxyAndMetricsListenersKeepWhatTheyAre) {
  become_subreaper();
  const std::string pidfile = private_dir("upgrade-proxy") + "/okq.pid";
  TestServer server(
      {"--pidfile", pidfile, "--proxy-listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"}, true);
  const auto metrics = metrics_port(server.process());
  ASSERT_NE(metrics, 0);
  EXPECT_EQ(metric_value(scrape(metrics), "okq_up"), 1);
  const pid_t old = server.process().pid();
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  const pid_t next = next_pid(pidfile, old);
  ASSERT_NE(next, 0) << server.process().err();
  EXPECT_EQ(server.process().wait(10s, false), 0);
  {
    RawClient c(server.port());
    c.send("PROXY TCP4 192.0.2.1 192.0.2.2 5555 4242\r\nhello\nQ\n");
    EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  }
  {
    RawClient c(server.port());
    c.send("hello\n");
    EXPECT_EQ(c.read_to_eof(), "") << "still a PROXY listener: no header, no reply";
  }
  const auto after = scrape(metrics);
  EXPECT_EQ(metric_value(after, "okq_up"), 1) << after;
  // The old process has exited: the new one answers, and counts only the two
  // connections made since.
  EXPECT_EQ(metric_value(after, "okq_connections_accepted_total"), 2) << after;
  ASSERT_EQ(::kill(next, SIGTERM), 0);
  EXPECT_EQ(wait_pid(next, 10s), 0);
}

// A unix socket's file goes with the socket: the old server leaves it, the
// new one serves it and removes it when it stops.
TEST(Upgrade, AUnixSocketFileIsHandedOverAndRemovedByTheLastServer) {
  become_subreaper();
  const std::string dir = private_dir("upgrade-unix");
  const std::string path = dir + "/okq.sock", pidfile = dir + "/okq.pid";
  TestServer server({"--pidfile", pidfile, "-l", "127.0.0.1:0", "-l", "unix:" + path}, true);
  const pid_t old = server.process().pid();
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  const pid_t next = next_pid(pidfile, old);
  ASSERT_NE(next, 0) << server.process().err();
  EXPECT_EQ(server.process().wait(10s, false), 0);
  ASSERT_TRUE(std::filesystem::is_socket(path)) << "the old server took the file with it";
  {
    RawClient client(path);
    client.send("hello\nQ\n");
    EXPECT_EQ(client.read_to_eof(), "OK\nQ\n");
  }  // closed: the server need not linger for it
  ASSERT_EQ(::kill(next, SIGTERM), 0);
  EXPECT_EQ(wait_pid(next, 10s), 0);
  EXPECT_FALSE(std::filesystem::exists(path)) << "the last server left its socket file";
}

TEST(Upgrade, ANewBinaryThatFailsLeavesTheOldOneServing) {
  const std::string dir = private_dir("failed-upgrade");
  const std::string binary = dir + "/okq-server", pidfile = dir + "/okq.pid";
  std::filesystem::copy_file(server_bin(), binary);
  // Started from the copy, so that the copy is what an upgrade starts again.
  TestServer server({"--pidfile", pidfile}, false,
                    {"/bin/sh", "-c", "shift; exec \"$0\" \"$@\"", binary});
  const pid_t old = server.process().pid();
  // The new build is broken: it says why and exits 1.
  write_file(dir + "/new", "#!/bin/sh\necho 'okq-server: simulated broken build' >&2\nexit 1\n");
  ASSERT_EQ(::chmod((dir + "/new").c_str(), 0755), 0);
  std::filesystem::rename(dir + "/new", binary);
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  ASSERT_TRUE(server.process().wait_stderr(
      "upgrade failed: the new process exited with status 1; still serving"))
      << server.process().err();
  EXPECT_NE(server.process().err().find("simulated broken build"), std::string::npos);
  EXPECT_EQ(pid_in(pidfile), old);
  RawClient client(server.port());
  client.send("still there?\nQ\n");
  EXPECT_EQ(client.read_to_eof(), "OK\nQ\n");
}

}  // namespace
}  // namespace okq::test
