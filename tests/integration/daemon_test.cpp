// Integration: okq-server backgrounding itself, with a pid file.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "../support/okq.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

TEST(Daemon, ParentExitsZeroOnceTheChildServesAndPidFileLivesWithIt) {
  become_subreaper();  // the backgrounded server becomes our child to wait for
  const std::string pidfile =
      ::testing::TempDir() + "okq-daemon-" + std::to_string(::getpid()) + ".pid";
  Process parent({server_bin(), "-l", "127.0.0.1:0", "--pidfile", pidfile});
  ASSERT_EQ(parent.wait(10s, /*collect_output=*/false), 0) << parent.err();
  // By the time the parent has exited 0, the pid file is written and the port serves.
  std::ifstream in(pidfile);
  pid_t daemon = 0;
  in >> daemon;
  ASSERT_GT(daemon, 0) << "no pid in " << pidfile;
  EXPECT_NE(daemon, parent.pid());
  ASSERT_TRUE(parent.wait_stderr("\n"));
  const auto port = listening_port(parent.err());
  ASSERT_NE(port, 0) << parent.err();
  RawClient c(port);
  c.send("a\nQ\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  c.close();
  EXPECT_EQ(::getsid(daemon), daemon) << "the daemon leads its own session";

  ASSERT_EQ(::kill(daemon, SIGTERM), 0);
  EXPECT_EQ(wait_pid(daemon, 10s), 0);
  EXPECT_NE(::access(pidfile.c_str(), F_OK), 0) << "pid file left behind";
}

TEST(Daemon, BindFailureIsReportedByTheParentBeforeForking) {
  TestServer first;
  Process second({server_bin(), "-l", first.address()});  // no -f
  EXPECT_EQ(second.wait(), 2);
  EXPECT_NE(second.err().find("cannot bind " + first.address() + ": Address already in use"),
            std::string::npos);
}

TEST(Daemon, UnwritablePidFileFailsTheParentToo) {
  become_subreaper();
  Process p({server_bin(), "-l", "127.0.0.1:0", "--pidfile", "/nonexistent-dir/okq.pid"});
  EXPECT_EQ(p.wait(10s, false), 73);
}

}  // namespace
}  // namespace okq::test
