// Tests of the socket wrappers: errors read "call, address, reason".
#include "okq/net/socket.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "okq/net/error.hpp"

namespace okq::net {
namespace {

using namespace std::chrono_literals;

SocketAddress loopback(std::uint16_t port) {
  return resolve(parse_endpoint("127.0.0.1:" + std::to_string(port), "127.0.0.1"), false)[0];
}

TEST(Socket, ListenOnPortZeroGetsARealPortAndAcceptsAConnection) {
  Fd listener = listen_on(loopback(0), 16);
  const auto bound = SocketAddress::local_of(listener.get());
  ASSERT_NE(bound.port(), 0);
  Fd client = connect_to(bound, 2s);
  int accepted = -EAGAIN;
  for (int i = 0; i < 1000 && accepted == -EAGAIN; ++i) accepted = accept_one(listener.get());
  ASSERT_GE(accepted, 0);
  Fd server(accepted);
  EXPECT_EQ(send_some(client.get(), "hi", 2), 2);
  char buf[4];
  ssize_t n = -EAGAIN;
  for (int i = 0; i < 1000 && n == -EAGAIN; ++i) n = recv_some(server.get(), buf, sizeof buf);
  EXPECT_EQ(n, 2);
}

TEST(Socket, SecondListenerOnTheSameAddressIsABindError) {
  Fd first = listen_on(loopback(0), 16);
  const auto bound = SocketAddress::local_of(first.get());
  try {
    listen_on(bound, 16);
    ADD_FAILURE() << "bound twice";
  } catch (const Error& e) {
    EXPECT_EQ(e.call(), Call::Bind);
    EXPECT_EQ(std::string(e.what()),
              "cannot bind " + bound.to_string() + ": Address already in use");
  }
}

TEST(Socket, ConnectingToNothingIsAConnectError) {
  SocketAddress nothing;
  {
    Fd probe = listen_on(loopback(0), 1);
    nothing = SocketAddress::local_of(probe.get());
  }  // closed: nothing listens there now
  try {
    connect_to(nothing, 2s);
    ADD_FAILURE() << "connected";
  } catch (const Error& e) {
    EXPECT_EQ(e.call(), Call::Connect);
    EXPECT_EQ(e.err(), ECONNREFUSED);
  }
}

TEST(Socket, SendToAVanishedPeerFailsWithoutSigpipe) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ::close(fds[1]);
  // SIGPIPE is not ignored in this process: MSG_NOSIGNAL is what keeps it alive.
  EXPECT_EQ(send_some(fds[0], "x", 1), -EPIPE);
  ::close(fds[0]);
}

TEST(Socket, StaleUnixSocketFileIsReplacedButALiveOneIsNot) {
  const std::string path =
      ::testing::TempDir() + "okq-stale-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  const auto addr = SocketAddress::unix_path(path);
  {
    // A server that died without removing its socket file.
    Fd dead(::socket(AF_UNIX, SOCK_STREAM, 0));
    ASSERT_EQ(::bind(dead.get(), addr.get(), addr.size()), 0);
    ASSERT_EQ(::listen(dead.get(), 1), 0);
  }
  ASSERT_EQ(::access(path.c_str(), F_OK), 0) << "the stale file should exist";
  Fd live = listen_on(addr, 16);  // replaces the stale file
  try {
    listen_on(addr, 16);  // but never a live one
    ADD_FAILURE() << "took over a live unix socket";
  } catch (const Error& e) {
    EXPECT_EQ(e.call(), Call::Bind);
    EXPECT_EQ(e.err(), EADDRINUSE);
  }
  Fd client = connect_to(addr, 2s);  // the live listener still has its path
  EXPECT_TRUE(client.valid());
  ::unlink(path.c_str());
}

// Only a stale socket may be removed: whatever else is at the path belongs to
// someone else and is refused with a reason, and left exactly as it was.
TEST(Socket, UnixPathThatIsNotASocketIsRefusedAndLeftAlone) {
  const std::string dir = ::testing::TempDir() + "okq-notsock-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0700);
  const std::string file = dir + "/file", fifo = dir + "/fifo", sub = dir + "/dir",
                    link = dir + "/link", dead = dir + "/dead.sock", dead_link = dir + "/dl";
  {
    FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("precious\n", f);
    std::fclose(f);
  }
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(file.c_str(), link.c_str()), 0);
  {
    const auto addr = SocketAddress::unix_path(dead);  // a stale socket behind a symlink
    Fd s(::socket(AF_UNIX, SOCK_STREAM, 0));
    ASSERT_EQ(::bind(s.get(), addr.get(), addr.size()), 0);
  }
  ASSERT_EQ(::symlink(dead.c_str(), dead_link.c_str()), 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {file, "exists and is not a socket"},
      {fifo, "exists and is not a socket"},
      {sub, "is a directory"},
      {link, "exists and is not a socket"},
      {dead_link, "exists and is not a socket"}};
  for (const auto& [path, reason] : cases) {
    struct stat before {};
    ASSERT_EQ(::lstat(path.c_str(), &before), 0);
    try {
      listen_on(SocketAddress::unix_path(path), 16);
      ADD_FAILURE() << "listened on " << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.call(), Call::Bind);
      EXPECT_EQ(std::string(e.what()), "cannot bind unix:" + path + ": " + reason);
    }
    struct stat after {};
    ASSERT_EQ(::lstat(path.c_str(), &after), 0) << path << " was removed";
    EXPECT_EQ(after.st_ino, before.st_ino) << path << " was replaced";
  }
  std::ifstream in(file);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "precious");
  for (const auto& p : {dead_link, link, file, fifo, dead}) ::unlink(p.c_str());
  ::rmdir(sub.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace okq::net
