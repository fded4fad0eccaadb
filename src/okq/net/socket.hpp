// socket.hpp -- the calls the seed teaches (socket, bind, listen, accept, connect,
// send, recv), made non-blocking and close-on-exec, retried on EINTR, never raising
// SIGPIPE, and failing with net::Error ("call, address, reason").
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>

#include "okq/net/address.hpp"
#include "okq/net/fd.hpp"

namespace okq::net {

// socket + SO_REUSEADDR (+ IPV6_V6ONLY) + bind + listen. For a unix socket, a stale
// socket file left by a dead server is removed first; a live one is "in use", and
// a path that is not a socket (file, directory, FIFO, symlink) is refused, never
// removed. `unix_mode` (>= 0) sets a unix socket file's permissions before listen.
Fd listen_on(const SocketAddress& addr, int backlog, int unix_mode = -1);

// Would connecting to `addr` reach a listener of this host at `listening`
// (a wildcard listener counts for every local address of its family)? For a
// relay: an upstream that is one of the server's own listeners is a loop.
// An address is local when a socket can be bound to it.
bool reaches(const SocketAddress& addr, const SocketAddress& listening);

// Non-blocking connect bounded by `timeout` (zero: the kernel's own limit).
// TCP sockets get TCP_NODELAY.
Fd connect_to(const SocketAddress& addr, std::chrono::milliseconds timeout);

// A connect started and not waited for (an event loop waits): the socket
// (non-blocking, close-on-exec, TCP_NODELAY) and whether the connection is
// still being made; once the socket is writable, socket_error() tells how it
// went. Throws net::Error when it fails at once.
struct Connecting {
  Fd fd;
  bool in_progress = false;
};
Connecting start_connect(const SocketAddress& addr);

// The socket's pending error (SO_ERROR), taken and cleared; 0 if none.
int socket_error(int fd) noexcept;

// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC. Returns the descriptor or -errno.
int accept_one(int listen_fd) noexcept;

// TCP_NODELAY: replies are tiny, so latency beats coalescing. No-op on unix sockets.
void set_nodelay(int fd) noexcept;

// One send / recv, retried on EINTR. Return bytes moved, or -errno
// (-EAGAIN when a non-blocking socket would block). recv returns 0 at EOF.
ssize_t send_some(int fd, const char* data, std::size_t len) noexcept;
ssize_t recv_some(int fd, char* data, std::size_t len) noexcept;
// Bytes received and not yet read (FIONREAD); 0 if the kernel will not say.
std::size_t bytes_unread(int fd) noexcept;

}  // namespace okq::net
