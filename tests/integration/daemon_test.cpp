// Integration: okq-server backgrounding itself, its pid file, log file,
// signals and privileges (under a service manager: systemd_test.cpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include <fstream>
#include <iterator>

#include "../support/okq.hpp"
#include "../support/process.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

TEST(Daemon, ParentExitsZeroOnceTheChildServesAndPidFileLivesWithIt) {
  become_subreaper();  // the backgrounded server becomes our child to wait for
  const std::string pidfile =
      ::testing::TempDir() + "okq-daemon-" + std::to_string(::getpid()) + ".pid";
  Process parent(plus_matrix({server_bin(), "-l", "127.0.0.1:0", "--pidfile", pidfile}));
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

// `out=$(okq-server ...)` must return: once ready, the daemon holds none of
// the caller's descriptors (stderr too, since a log file is given).
TEST(Daemon, BackgroundServerLetsGoOfTheCallersOutput) {
  become_subreaper();
  const std::string pidfile = temp_path("stdio") + ".pid", log = temp_path("stdio") + ".log";
  Process parent(
      plus_matrix({server_bin(), "-l", "127.0.0.1:0", "--pidfile", pidfile, "--log-file", log}));
  ASSERT_EQ(parent.wait(10s, /*collect_output=*/false), 0);
  EXPECT_TRUE(parent.wait_output_closed(5s)) << "the daemon kept the caller's pipes open";
  const pid_t daemon = std::stoi(read_file(pidfile));
  EXPECT_NE(wait_for_file(log, "listening on").find("listening on"), std::string::npos);
  ASSERT_EQ(::kill(daemon, SIGTERM), 0);
  EXPECT_EQ(wait_pid(daemon, 10s), 0);
  ::unlink(log.c_str());
}

// The "listening on" line comes from the process that serves, once start-up
// can no longer fail.
TEST(Daemon, ListeningIsLoggedByTheServingProcessOnceStartUpSucceeded) {
  become_subreaper();
  const std::string pidfile = temp_path("announce") + ".pid";
  Process parent(plus_matrix({server_bin(), "-l", "127.0.0.1:0", "--pidfile", pidfile}));
  ASSERT_EQ(parent.wait(10s, false), 0) << parent.err();
  const std::string daemon = std::to_string(std::stoi(read_file(pidfile)));
  ASSERT_TRUE(parent.wait_stderr("listening on"));
  EXPECT_NE(parent.err().find("okq-server[" + daemon + "]: listening on"), std::string::npos)
      << parent.err();
  ASSERT_EQ(::kill(std::stoi(daemon), SIGTERM), 0);
  EXPECT_EQ(wait_pid(std::stoi(daemon), 10s), 0);

  // A start that fails after binding (here: the pid file) never says it listens.
  const std::string not_pid = temp_path("announce-notpid");
  write_file(not_pid, "not a pid\n");
  Process failing({server_bin(), "-f", "-l", "127.0.0.1:0", "--pidfile", not_pid});
  EXPECT_EQ(failing.wait(), 73);
  EXPECT_EQ(failing.err().find("listening on"), std::string::npos) << failing.err();
  ::unlink(not_pid.c_str());
}

TEST(PidFile, AFileThatIsNotAPidFileIsRefusedAndKept) {
  const std::string path = temp_path("config");
  write_file(path, "listen = 4242\n");
  Process p({server_bin(), "-f", "-l", "127.0.0.1:0", "--pidfile", path});
  EXPECT_EQ(p.wait(), 73);
  EXPECT_NE(p.err().find("does not hold a pid"), std::string::npos) << p.err();
  EXPECT_EQ(read_file(path), "listen = 4242\n");
  ::unlink(path.c_str());
}

// Each refusal says what is wrong with the file, and nothing else (no
// stray ": File exists").
TEST(PidFile, RefusalsSayWhatIsWrongAndNothingElse) {
  const std::string dir = private_dir("pid-messages");
  write_file(dir + "/not-a-pid", "hello\n");
  Process p({server_bin(), "-f", "-l", "127.0.0.1:0", "--pidfile", dir + "/not-a-pid"});
  EXPECT_EQ(p.wait(), 73);
  EXPECT_EQ(p.err(), "okq-server: pid file " + dir +
                         "/not-a-pid exists and does not hold a pid: not overwriting it\n");
  std::filesystem::create_symlink(dir + "/elsewhere", dir + "/link.pid");
  Process q({server_bin(), "-f", "-l", "127.0.0.1:0", "--pidfile", dir + "/link.pid"});
  EXPECT_EQ(q.wait(), 73);
  EXPECT_EQ(q.err(),
            "okq-server: pid file " + dir + "/link.pid is a symbolic link: not following it\n");
  EXPECT_FALSE(std::filesystem::exists(dir + "/elsewhere"));
}

TEST(PidFile, APidFileNamingALiveProcessIsRefusedAndKept) {
  const std::string path = temp_path("live") + ".pid";
  const std::string mine = std::to_string(::getpid()) + "\n";  // this test is alive
  write_file(path, mine);
  Process p({server_bin(), "-f", "-l", "127.0.0.1:0", "--pidfile", path});
  EXPECT_EQ(p.wait(), 73);
  EXPECT_NE(p.err().find("names running process " + std::to_string(::getpid())), std::string::npos)
      << p.err();
  EXPECT_EQ(read_file(path), mine);
  ::unlink(path.c_str());
}

TEST(PidFile, ASecondInstanceIsRefusedWhileTheFirstHoldsTheLock) {
  const std::string path = temp_path("locked") + ".pid";
  TestServer first({"--pidfile", path});
  const std::string first_pid = std::to_string(first.process().pid()) + "\n";
  EXPECT_EQ(read_file(path), first_pid);
  Process second({server_bin(), "-f", "-l", "127.0.0.1:0", "--pidfile", path});
  EXPECT_EQ(second.wait(), 73);
  EXPECT_NE(second.err().find("held by running process " + std::to_string(first.process().pid())),
            std::string::npos)
      << second.err();
  EXPECT_EQ(read_file(path), first_pid) << "the second instance touched the first's pid file";
  EXPECT_EQ(first.stop(), 0);
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the first instance left its pid file";
}

TEST(PidFile, AStalePidFileIsTakenOverAndAReplacedOneIsNotRemoved) {
  const std::string path = temp_path("stale") + ".pid";
  pid_t dead = 0;
  {
    Process gone({"/bin/true"});
    gone.wait();
    dead = gone.pid();  // reaped: no such process now
  }
  write_file(path, std::to_string(dead) + "\n");
  TestServer server({"--pidfile", path});
  EXPECT_EQ(read_file(path), std::to_string(server.process().pid()) + "\n");
  // Someone else's file now stands at the path: the server must leave it.
  ::unlink(path.c_str());
  write_file(path, "12345\n");
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(read_file(path), "12345\n");
  ::unlink(path.c_str());
}

TEST(Signals, SighupReopensTheLogFileAndKeepsServing) {
  const std::string log = temp_path("rotate") + ".log";
  TestServer server({"--log-file", log}, false);
  ASSERT_NE(wait_for_file(log, "listening on").find("listening on"), std::string::npos);
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);  // what logrotate does
  server.process().signal(SIGHUP);
  EXPECT_NE(wait_for_file(log, "log file reopened").find("log file reopened"), std::string::npos);
  RawClient c(server.port());
  c.send("Q\n");
  EXPECT_EQ(c.read_to_eof(), "Q\n");
  c.close();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_NE(read_file(log).find("stopped"), std::string::npos) << "later lines go to the new file";
  EXPECT_EQ(read_file(log + ".1").find("stopped"), std::string::npos);
  ::unlink(log.c_str());
  ::unlink((log + ".1").c_str());
}

TEST(Signals, SighupWithoutALogFileIsLoggedAndIgnored) {
  TestServer server;
  server.process().signal(SIGHUP);
  EXPECT_TRUE(server.process().wait_stderr("Hangup: no log file to reopen; ignored"))
      << server.process().err();
  RawClient c(server.port());
  c.send("Q\n");
  EXPECT_EQ(c.read_to_eof(), "Q\n");
  c.close();
  EXPECT_EQ(server.stop(), 0);
}

// Started as root, the server binds, then serves as `nobody`; its pid file
// is given to that user so it can still remove it.
TEST(Privileges, UserNobodyServesAfterBindingAndStillRemovesItsPidFile) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  const std::string pidfile = temp_path("nobody") + ".pid";
  TestServer server({"--user", "nobody", "--pidfile", pidfile});
  std::ifstream status("/proc/" + std::to_string(server.process().pid()) + "/status");
  std::string line, uid, gid;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) uid = line;
    if (line.rfind("Gid:", 0) == 0) gid = line;
  }
  EXPECT_EQ(uid, "Uid:\t65534\t65534\t65534\t65534");
  EXPECT_EQ(gid, "Gid:\t65534\t65534\t65534\t65534");
  RawClient c(server.port());
  c.send("a\nQ\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  c.close();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_NE(::access(pidfile.c_str(), F_OK), 0) << "pid file left behind";
}

// With --user, the log file this start created is given to the user, as the
// pid file is: an upgrade (which runs as the user) opens it again, and
// SIGHUP after a rotation says one true thing when the new file is not the
// user's to write.
TEST(Privileges, TheLogFileIsHandedToTheUserForUpgradesAndSighup) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  become_subreaper();
  const std::string dir = private_dir("user-log");
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);  // the user's to read, as /var/log/okq would be
  const std::string binary = dir + "/okq-server", log = dir + "/okq.log",
                    pidfile = dir + "/okq.pid";
  std::filesystem::copy_file(server_bin(), binary);
  TestServer server({"--user", "nobody", "--log-file", log, "--pidfile", pidfile}, false,
                    {"/bin/sh", "-c", "shift; exec \"$0\" \"$@\"", binary});
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u) << "the log file was not given to the user";
  const pid_t old = server.process().pid();
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  const std::string after = wait_for_file(log, "serves now");
  ASSERT_NE(after.find("serves now"), std::string::npos) << after;
  EXPECT_EQ(server.process().wait(10s, false), 0);
  const pid_t next = static_cast<pid_t>(std::stol(read_file(pidfile)));
  // A rotation that leaves a root-only file behind: the reopen fails, says
  // why once, and the old file goes on.
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  write_file(log, "");
  ASSERT_EQ(::chmod(log.c_str(), 0600), 0);
  ASSERT_EQ(::kill(next, SIGHUP), 0);
  const std::string old_file = wait_for_file(log + ".1", "still writing to the old one");
  EXPECT_NE(old_file.find("cannot reopen log file " + log + ": Permission denied"),
            std::string::npos)
      << old_file;
  EXPECT_EQ(old_file.find("no log file to reopen"), std::string::npos) << old_file;
  ASSERT_EQ(::kill(next, SIGTERM), 0);
  EXPECT_EQ(wait_pid(next, 10s), 0);
}

// After dropping to --user the server may not be allowed to remove its
// files from a root-owned directory: it says so instead of leaving them
// silently.
TEST(Privileges, FilesTheUserCannotRemoveAreNamedInTheLog) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  const std::string dir = private_dir("user-files");
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);  // the user may enter, not write
  const std::string sock = dir + "/okq.sock", pidfile = dir + "/okq.pid";
  TestServer server({"--user", "nobody", "-l", "unix:" + sock, "--pidfile", pidfile});
  EXPECT_EQ(server.stop(), 0);
  const auto log = server.process().err();
  EXPECT_NE(log.find("cannot remove unix socket file " + sock + ": Permission denied"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("cannot remove pid file " + pidfile + ": Permission denied"),
            std::string::npos)
      << log;
}

TEST(Privileges, ALogFileTheUserCannotWriteIsRefusedAtStart) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  const std::string log = private_dir("root-log") + "/okq.log";
  write_file(log, "root's\n");
  Process p({server_bin(), "-f", "-l", "127.0.0.1:0", "--user", "nobody", "--log-file", log});
  EXPECT_EQ(p.wait(), 73);
  EXPECT_NE(p.err().find("log file " + log + " is not writable by user nobody"), std::string::npos)
      << p.err();
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "a file okq did not create changed owner";
}

// The pid file refuses symbolic links; so does the log file: a link planted
// in the log directory cannot make root append to the file it names.
TEST(LogFile, ASymbolicLinkIsRefusedAndTheFileItNamesIsUntouched) {
  const std::string dir = private_dir("log-link");
  write_file(dir + "/target", "precious\n");
  std::filesystem::create_symlink(dir + "/target", dir + "/okq.log");
  Process p({server_bin(), "-f", "-l", "127.0.0.1:0", "--log-file", dir + "/okq.log"});
  EXPECT_EQ(p.wait(), 73);
  EXPECT_EQ(p.err(), "okq-server: cannot open log file " + dir +
                         "/okq.log: it is a symbolic link (not followed)\n");
  EXPECT_EQ(read_file(dir + "/target"), "precious\n");
  std::filesystem::remove(dir + "/okq.log");
  std::filesystem::create_directory(dir + "/okq.log");
  Process q({server_bin(), "-f", "-l", "127.0.0.1:0", "--log-file", dir + "/okq.log"});
  EXPECT_EQ(q.wait(), 73);
  EXPECT_NE(q.err().find("Is a directory"), std::string::npos) << q.err();
}

// Every worker starts before "listening on" and before the parent exits: a
// worker that cannot (out of descriptors) fails start-up with its reason.
TEST(Daemon, AWorkerThatCannotStartFailsStartUpBeforeTheParentExits) {
  if (::access("/usr/bin/prlimit", X_OK) != 0) GTEST_SKIP() << "prlimit is not installed";
#ifdef OKQ_SANITIZER_BUILD
  // Out of descriptors, UBSan's own checks fail (they need a pipe) and
  // report the exception being thrown as a bad object.
  GTEST_SKIP() << "the sanitizer runtime cannot run out of descriptors; make test checks this";
#endif
  Process p(plus_matrix({"/usr/bin/prlimit", "--nofile=64:64", server_bin(), "-l", "127.0.0.1:0",
                         "--threads", "50"}));  // no -f
  EXPECT_EQ(p.wait(), 71) << p.err();
  EXPECT_NE(p.err().find("Too many open files"), std::string::npos) << p.err();
  EXPECT_EQ(p.err().find("listening on"), std::string::npos) << p.err();
}

TEST(Privileges, UnknownUserOrGroupIsRefusedBeforeServing) {
  Process user({server_bin(), "-f", "-l", "127.0.0.1:0", "--user", "no-such-user-okq"});
  EXPECT_EQ(user.wait(), 67);
  EXPECT_EQ(user.err(), "okq-server: unknown user no-such-user-okq\n");
  Process group({server_bin(), "-f", "-l", "127.0.0.1:0", "--user", "nobody", "--group",
                 "no-such-group-okq"});
  EXPECT_EQ(group.wait(), 67);
  EXPECT_EQ(group.err(), "okq-server: unknown group no-such-group-okq\n");
}

TEST(Privileges, ANonRootServerCannotBecomeAnotherUser) {
  if (::geteuid() == 0) {
    // As root, drop to nobody first (setpriv, util-linux), then ask for root.
    if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv is not installed";
    Process p({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", server_bin(),
               "-f", "-l", "127.0.0.1:0", "--user", "root"});
    EXPECT_EQ(p.wait(), 77);
    EXPECT_NE(p.err().find("cannot switch to user root: Operation not permitted"),
              std::string::npos)
        << p.err();
    return;
  }
  Process p({server_bin(), "-f", "-l", "127.0.0.1:0", "--user", "root"});
  EXPECT_EQ(p.wait(), 77);
  EXPECT_NE(p.err().find("cannot switch to user root"), std::string::npos) << p.err();
}

}  // namespace
}  // namespace okq::test
