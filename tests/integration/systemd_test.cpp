// Integration: okq-server under a service manager: readiness, status and
// watchdog over $NOTIFY_SOCKET, and sockets passed by socket activation.
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

#include "../support/okq.hpp"
#include "../support/process.hpp"
#include "../support/tcp.hpp"

namespace okq::test {
namespace {

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
