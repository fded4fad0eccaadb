// Upgrades (SIGUSR2): the binary at the server's path started again with the
// listening sockets; it takes the pid file once it serves; the old process
// stops accepting and finishes its connections. No connection refused, no
// reply lost; a new binary that fails leaves the old one serving.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "okq.hpp"
#include "process.hpp"
#include "tcp.hpp"

namespace okq::test {
namespace {

std::string scratch_dir(const std::string& name) {
  std::string tmpl = ::testing::TempDir() + "okq-" + name + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

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

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// okq-bench keeps 8 connections busy and closes and reopens each after 20
// replies, so new connections arrive throughout every hand-over: one refused
// would count as a broken connection, one reply lost as lost.
TEST(Upgrade, FiveUpgradesUnderLoadRefuseNoConnectionAndLoseNoReply) {
  become_subreaper();  // each new server outlives its parent: we reap it
  const std::string pidfile = scratch_dir("upgrade") + "/okq.pid";
  TestServer server({"--pidfile", pidfile});
  Process bench({bench_bin(), "-q", "-c", "8", "--reconnect-interval", "20", "-d", "5",
                 server.address()});
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
  ASSERT_EQ(bench.wait(30s), 0) << bench.out() << bench.err();
  EXPECT_NE(bench.out().find("errors       0 (0 bad replies, 0 broken connections)"),
            std::string::npos)
      << bench.out();
  EXPECT_NE(bench.out().find("lost         0"), std::string::npos) << bench.out();
  ASSERT_EQ(::kill(current, SIGTERM), 0);
  EXPECT_EQ(wait_pid(current, 10s), 0);
  EXPECT_FALSE(std::filesystem::exists(pidfile)) << "the last server leaves its pid file behind";
  EXPECT_TRUE(server.process().wait_output_closed());
  EXPECT_EQ(count(server.process().err(), "serves now; finishing"), 5u) << server.process().err();
}

TEST(Upgrade, ANewBinaryThatFailsLeavesTheOldOneServing) {
  const std::string dir = scratch_dir("failed-upgrade");
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
