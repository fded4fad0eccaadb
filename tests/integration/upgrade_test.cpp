// Upgrades (SIGUSR2): the binary at the server's path started again with the
// listening sockets; it takes the pid file once it serves; the old process
// stops accepting and finishes its connections. No connection refused, no
// reply lost; a new binary that fails leaves the old one serving.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "certs.hpp"
#include "okq.hpp"
#include "okq/net/fd.hpp"
#include "process.hpp"
#include "tcp.hpp"
#include "tls_client.hpp"

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

// The children of `pid` (from /proc), to see whether an upgrade started one.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::istringstream in(
      read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"));
  for (pid_t child; in >> child;) out.push_back(child);
  return out;
}

bool gone(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return stat.empty() || (close != std::string::npos && stat.substr(close + 2, 1) == "Z");
}

// Replaces the program at `path` with a script, in one rename (a running
// server's binary is never half-written).
void install_script(const std::string& path, const std::string& script) {
  write_file(path + ".new", script);
  ASSERT_EQ(::chmod((path + ".new").c_str(), 0755), 0);
  std::filesystem::rename(path + ".new", path);
}

// A bash script that waits `delay` seconds, then runs the real okq-server
// under its own name (exec -a), so that an upgrade started from it starts
// the script again.
void write_slow_start(const std::string& path, const std::string& delay) {
  install_script(path,
                 "#!/bin/bash\nsleep " + delay + "\nexec -a \"$0\" " + server_bin() + " \"$@\"\n");
}

// A new build that keeps the sockets it is given and never says a word.
void write_hanging(const std::string& path) {
  install_script(path, "#!/bin/sh\nexec sleep 60\n");
}

// Started through `binary` (argv[0] is that path), as an operator's would be.
const std::vector<std::string> kThrough = {"/bin/sh", "-c", "shift; exec \"$0\" \"$@\""};
std::vector<std::string> through(const std::string& binary) {
  auto w = kThrough;
  w.push_back(binary);
  return w;
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

// The old process serves until the new one says READY: here the new binary
// takes a second to start, and connections made meanwhile are the old pid's.
TEST(Upgrade, UntilTheNewProcessIsReadyTheOldOneServes) {
  become_subreaper();
  const std::string dir = private_dir("upgrade-slow");
  const std::string binary = dir + "/okq-server", pidfile = dir + "/okq.pid";
  write_slow_start(binary, "0");
  TestServer server({"--pidfile", pidfile, "-v"}, false, through(binary));
  const pid_t old = server.process().pid();
  write_slow_start(binary, "1");
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  ASSERT_TRUE(server.process().wait_stderr("SIGUSR2: starting")) << server.process().err();
  int served = 0;
  for (; served < 5 && pid_in(pidfile) == old; ++served) {
    RawClient c(server.port());
    c.send("meanwhile\nQ\n");
    ASSERT_EQ(c.read_to_eof(), "OK\nQ\n");
  }
  ASSERT_EQ(served, 5) << "the new process took over before it had started";
  const pid_t next = next_pid(pidfile, old);
  ASSERT_NE(next, 0) << server.process().err();
  ASSERT_TRUE(server.process().wait_stderr("serves now")) << server.process().err();
  const std::string err = server.process().err();
  const std::string during = err.substr(err.find("SIGUSR2: starting"));
  std::istringstream lines(during.substr(0, during.find("serves now")));
  int accepted_by_old = 0;
  for (std::string line; std::getline(lines, line);)
    accepted_by_old +=
        line.find("okq-server[" + std::to_string(old) + "]: conn ") != std::string::npos &&
        line.find(" (worker ") != std::string::npos;
  EXPECT_EQ(accepted_by_old, 5) << err;
  EXPECT_NE(err.find("process " + std::to_string(next) + " (okq-server "), std::string::npos)
      << "the version of the process that took over is not logged\n"
      << err;
  EXPECT_EQ(server.process().wait(10s, false), 0);
  ASSERT_EQ(::kill(next, SIGTERM), 0);
  EXPECT_EQ(wait_pid(next, 10s), 0);
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

// A TLS listener stays one across an upgrade (passed on named "tls"), and
// the new process loads the certificate itself.
TEST(Upgrade, ATlsListenerStaysTls) {
  become_subreaper();
  const std::string pidfile = private_dir("upgrade-tls") + "/okq.pid";
  TestServer server({"--pidfile", pidfile, "--tls-listen", "127.0.0.1:0", "--tls-cert",
                     certs().server_cert, "--tls-key", certs().server_key},
                    true);
  const pid_t old = server.process().pid();
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  const pid_t next = next_pid(pidfile, old);
  ASSERT_NE(next, 0) << server.process().err();
  EXPECT_EQ(server.process().wait(10s, false), 0);
  {
    TlsClientOptions o;
    o.ca = certs().ca;
    TlsClient c(server.port(), o);
    ASSERT_TRUE(c.ok()) << c.error();
    c.send("hello\nQ\n");
    EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  }
  {
    RawClient c(server.port());
    c.send("hello\n");
    EXPECT_EQ(c.read_to_eof(), "") << "still a TLS listener: plaintext gets nothing";
  }
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
  install_script(binary, "#!/bin/sh\necho 'okq-server: simulated broken build' >&2\nexit 1\n");
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

// nginx: "the changing binary is already in progress". Once this process
// has handed over (its old connections still open), another SIGUSR2 starts
// nothing: no second process that would get no sockets and run forever.
TEST(Upgrade, ASecondSigusr2AfterTheHandOverStartsNothing) {
  become_subreaper();
  const std::string pidfile = private_dir("upgrade-twice") + "/okq.pid";
  TestServer server({"--pidfile", pidfile});
  RawClient held(server.port());  // keeps the old process retiring
  held.send("a\n");
  ASSERT_EQ(held.read_exact(3, 5s), "OK\n");
  const pid_t old = server.process().pid();
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  const pid_t next = next_pid(pidfile, old);
  ASSERT_NE(next, 0) << server.process().err();
  ASSERT_TRUE(server.process().wait_stderr("serves now")) << server.process().err();
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  ASSERT_TRUE(server.process().wait_stderr("SIGUSR2 ignored: already handed over to process " +
                                           std::to_string(next)))
      << server.process().err();
  EXPECT_EQ(children_of(old), std::vector<pid_t>{next}) << "a second new process was started";
  held.send("Q\n");
  EXPECT_EQ(held.read_to_eof(), "Q\n");
  EXPECT_EQ(server.process().wait(10s, false), 0);
  EXPECT_EQ(pid_in(pidfile), next);
  EXPECT_EQ(occurrences(server.process().err(), "upgrade failed"), 0u) << server.process().err();
  ASSERT_EQ(::kill(next, SIGTERM), 0);
  EXPECT_EQ(wait_pid(next, 10s), 0);
}

// A new binary that hangs before READY is killed after --upgrade-timeout;
// the old process keeps the pid file and serves. A stop during an upgrade
// ends the new process too: nobody is left holding the listeners unserved.
TEST(Upgrade, ANewProcessThatNeverSaysReadyIsKilled) {
  become_subreaper();
  const std::string dir = private_dir("upgrade-hang");
  const std::string binary = dir + "/okq-server", pidfile = dir + "/okq.pid";
  std::filesystem::copy_file(server_bin(), binary);
  TestServer server({"--pidfile", pidfile, "--upgrade-timeout", "0.5"}, false, through(binary));
  const pid_t old = server.process().pid();
  write_hanging(binary);
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  ASSERT_TRUE(server.process().wait_stderr("upgrade failed: no READY within 0.5 s (process "))
      << server.process().err();
  ASSERT_TRUE(server.process().wait_stderr("killed); still serving")) << server.process().err();
  EXPECT_TRUE(children_of(old).empty()) << "the hung process was left running";
  EXPECT_EQ(pid_in(pidfile), old);
  {
    RawClient c(server.port());
    c.send("still there?\nQ\n");
    EXPECT_EQ(c.read_to_eof(), "OK\nQ\n");
  }
  // Again, and this time stop the old one while the new one hangs.
  ASSERT_EQ(server.stop(), 0);
}

TEST(Upgrade, AStopDuringAnUpgradeEndsTheNewProcess) {
  become_subreaper();
  const std::string dir = private_dir("upgrade-stop");
  const std::string binary = dir + "/okq-server";
  std::filesystem::copy_file(server_bin(), binary);
  TestServer server({"--upgrade-timeout", "60"}, false, through(binary));
  const pid_t old = server.process().pid();
  write_hanging(binary);
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < 500 && kids.empty(); ++i, std::this_thread::sleep_for(10ms))
    kids = children_of(old);
  ASSERT_EQ(kids.size(), 1u);
  ASSERT_EQ(server.stop(), 0) << server.process().err();
  EXPECT_TRUE(gone(kids[0])) << "the new process outlived the stop, holding the listeners";
  EXPECT_NE(server.process().err().find("upgrade failed: this process is stopping"),
            std::string::npos)
      << server.process().err();
  EXPECT_THROW(RawClient c(server.port()), std::exception) << "something still accepts";
}

// An operator upgrades by pointing a symlink at the new build: the path the
// server was started by is what runs again, not the binary it runs now.
TEST(Upgrade, ThroughASymlinkItRunsWhatTheLinkNamesNow) {
  const std::string dir = private_dir("upgrade-link");
  const std::string link = dir + "/okq-server";
  std::filesystem::copy_file(server_bin(), dir + "/okq-server-1");
  std::filesystem::create_symlink(dir + "/okq-server-1", link);
  TestServer server({}, false, through(link));
  write_file(dir + "/okq-server-2", "#!/bin/sh\necho 'okq-server: build 2 here' >&2\nexit 3\n");
  ASSERT_EQ(::chmod((dir + "/okq-server-2").c_str(), 0755), 0);
  std::filesystem::create_symlink(dir + "/okq-server-2", dir + "/link.new");
  std::filesystem::rename(dir + "/link.new", link);
  ASSERT_EQ(::kill(server.process().pid(), SIGUSR2), 0);
  ASSERT_TRUE(server.process().wait_stderr("upgrade failed: the new process exited with status 3"))
      << server.process().err();
  EXPECT_NE(server.process().err().find("build 2 here"), std::string::npos);
  EXPECT_NE(server.process().err().find("SIGUSR2: starting " + link + " to take over"),
            std::string::npos)
      << server.process().err();
}

// A unix socket a service manager passed stays the manager's through an
// upgrade and the stop after it; one okq created goes with its socket.
TEST(Upgrade, AUnixSocketPassedByTheServiceManagerIsNeverRemoved) {
  become_subreaper();
  const std::string dir = private_dir("upgrade-passed-unix");
  const std::string path = dir + "/managed.sock", pidfile = dir + "/okq.pid";
  net::Fd listener(::socket(AF_UNIX, SOCK_STREAM, 0));  // inheritable on purpose
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener.get(), 16), 0);
  const std::string become =
      "export LISTEN_FDS=1 LISTEN_PID=$$ LISTEN_FDNAMES=okq && exec \"$0\" -f -l 127.0.0.1:0 "
      "--pidfile " +
      pidfile + matrix_words();
  Process server({"/bin/sh", "-c", "exec 3<&" + std::to_string(listener.get()) + " && " + become,
                  server_bin()});
  ASSERT_TRUE(server.wait_stderr("(passed by the service manager)\n")) << server.err();
  listener.reset();
  const pid_t old = server.pid();
  ASSERT_EQ(::kill(old, SIGUSR2), 0);
  const pid_t next = next_pid(pidfile, old);
  ASSERT_NE(next, 0) << server.err();
  EXPECT_EQ(server.wait(10s, false), 0);
  {
    RawClient c(path);
    c.send("Q\n");
    EXPECT_EQ(c.read_to_eof(), "Q\n");
  }
  ASSERT_EQ(::kill(next, SIGTERM), 0);
  EXPECT_EQ(wait_pid(next, 10s), 0);
  EXPECT_TRUE(std::filesystem::is_socket(path)) << "okq removed the manager's socket file";
}

}  // namespace
}  // namespace okq::test
