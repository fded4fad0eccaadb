// Integration: okq-server backgrounding itself, with a pid file.
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

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "okq-" + name + "-" + std::to_string(::getpid());
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

// A service manager's end of $NOTIFY_SOCKET: a datagram socket of the test's own.
class NotifySocket {
 public:
  NotifySocket() : path_(temp_path("notify") + ".sock") {
    ::unlink(path_.c_str());
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot bind the notify socket");
  }
  ~NotifySocket() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  // The next datagram, or "" after `timeout`.
  std::string next(std::chrono::milliseconds timeout = 5s) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }
  // Datagrams until one contains `needle` (bounded); all of them, in order.
  std::vector<std::string> until(const std::string& needle, int most = 100) {
    std::vector<std::string> seen;
    for (int i = 0; i < most; ++i) {
      seen.push_back(next());
      if (seen.back().empty() || seen.back().find(needle) != std::string::npos) break;
    }
    return seen;
  }

 private:
  std::string path_;
  net::Fd fd_;
};

// Type=notify: READY=1 once serving, STATUS= as connections come and go,
// watchdog pings at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM; and no
// backgrounding under a service manager even without -f.
TEST(Systemd, NotifiesReadinessStatusWatchdogAndStopping) {
  NotifySocket manager;
  ::setenv("NOTIFY_SOCKET", manager.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "200000", 1);
  Process server(plus_matrix({server_bin(), "-l", "127.0.0.1:0", "--threads", "2"}));  // no -f
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  const std::string ready = manager.next();
  EXPECT_EQ(ready, "READY=1\nSTATUS=0 connections, 2 workers");
  EXPECT_FALSE(server.wait(0ms, false)) << "it went to the background under a service manager";
  ASSERT_TRUE(server.wait_stderr("listening on 127.0.0.1:"));
  ASSERT_TRUE(server.wait_stderr("\n"));
  RawClient c(listening_port(server.err()));
  c.send("hi\n");
  ASSERT_EQ(c.read_exact(3), "OK\n");
  const auto seen = manager.until("STATUS=1 connections");
  ASSERT_EQ(seen.back(), "STATUS=1 connections, 2 workers");
  int pings = 0;
  for (const auto& d : seen) pings += d == "WATCHDOG=1";
  for (int i = 0; i < 10 && pings < 3; ++i) pings += manager.next(1s) == "WATCHDOG=1";
  EXPECT_GE(pings, 3) << "watchdog pings every 100 ms were asked for";
  c.close();
  server.signal(SIGTERM);
  EXPECT_EQ(manager.until("STOPPING=1").back(), "STOPPING=1");
  EXPECT_EQ(server.wait(), 0);
}

const std::string kActivate = "/usr/bin/systemd-socket-activate";

// Connects to what `make` returns, retrying while nothing listens yet (the
// activator binds after it starts).
template <class Make>
std::unique_ptr<RawClient> connect_when_ready(Make make) {
  for (int i = 0; i < 200; ++i) {
    try {
      return std::make_unique<RawClient>(make());
    } catch (const std::exception&) {
      std::this_thread::sleep_for(10ms);
    }
  }
  return nullptr;
}

// systemd 252's activator waits for the first connection before it starts
// the program, so the test connects first.
TEST(Systemd, ActivatedOnTcpItServesThePassedSocketAndBindsNothingElse) {
  if (::access(kActivate.c_str(), X_OK) != 0) GTEST_SKIP() << "systemd-socket-activate missing";
  const auto port = unused_port();
  Process server(plus_matrix(
      {kActivate, "-l", "127.0.0.1:" + std::to_string(port), "--", server_bin(), "-f"}));
  auto c = connect_when_ready([&] { return RawClient(port); });
  ASSERT_TRUE(c) << server.err();
  c->send("a\nQ\n");
  EXPECT_EQ(c->read_to_eof(), "OK\nQ\n");
  ASSERT_TRUE(server.wait_stderr("(passed by the service manager)\n")) << server.err();
  EXPECT_NE(server.err().find("listening on 127.0.0.1:" + std::to_string(port) +
                              " (passed by the service manager)"),
            std::string::npos);
  std::size_t lines = 0;
  for (auto at = server.err().find("listening on"); at != std::string::npos;
       at = server.err().find("listening on", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << "bound something besides the passed socket:\n" << server.err();
  c->close();
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
}

TEST(Systemd, ActivatedOnAUnixSocketItNeverRemovesTheManagersFile) {
  if (::access(kActivate.c_str(), X_OK) != 0) GTEST_SKIP() << "systemd-socket-activate missing";
  const std::string path = temp_path("activated") + ".sock";
  ::unlink(path.c_str());
  Process server(plus_matrix({kActivate, "-l", path, "--", server_bin(), "-f"}));
  auto c = connect_when_ready([&] { return RawClient(path); });
  ASSERT_TRUE(c) << server.err();
  c->send("Q\n");
  EXPECT_EQ(c->read_to_eof(), "Q\n");
  c->close();
  ASSERT_TRUE(server.wait_stderr("passed by the service manager"));
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << "okq removed a socket file it did not create";
  ::unlink(path.c_str());
}

// The protocol without systemd: a socket of the test's own as descriptor 3,
// LISTEN_PID set to the server's pid by the shell that becomes it.
TEST(Systemd, ASocketPassedByHandIsServedAndANonSocketIsRefused) {
  net::Fd listener(::socket(AF_INET, SOCK_STREAM, 0));  // inheritable on purpose
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener.get(), 16), 0);
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len);
  const std::string become =
      "export LISTEN_FDS=1 LISTEN_PID=$$ LISTEN_FDNAMES=okq && exec \"$0\" -f" + matrix_words();
  Process server({"/bin/sh", "-c", "exec 3<&" + std::to_string(listener.get()) + " && " + become,
                  server_bin()});
  ASSERT_TRUE(server.wait_stderr("(passed by the service manager)\n")) << server.err();
  listener.reset();  // the server's copy is the one that serves
  RawClient c(ntohs(a.sin_port));
  c.send("b\nQ\n");
  EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  c.close();
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);

  Process bad({"/bin/sh", "-c", "exec 3</dev/null && " + become, server_bin()});
  EXPECT_EQ(bad.wait(), 2);
  EXPECT_EQ(
      bad.err(),
      "okq-server: cannot bind inherited descriptor 3 (okq): not a listening stream socket\n");
}

}  // namespace
}  // namespace okq::test
