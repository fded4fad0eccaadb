// Tests of the socket wrappers: errors read "call, address, reason".
#include "okq/net/socket.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

}  // namespace
}  // namespace okq::net
