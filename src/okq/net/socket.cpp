// socket.cpp -- thin wrappers over the socket system calls.
#include "okq/net/socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "okq/net/error.hpp"

namespace okq::net {
namespace {

constexpr int kSockFlags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;

Fd make_socket(const SocketAddress& addr) {
  Fd fd(::socket(addr.family(), kSockFlags, 0));
  if (!fd) throw Error(Call::Socket, addr.to_string(), errno);
  return fd;
}

void set_int_option(int fd, int level, int name, int value) noexcept {
  ::setsockopt(fd, level, name, &value, sizeof value);
}

bool is_tcp(int family) noexcept {
  return family == AF_INET || family == AF_INET6;
}

// A unix socket path that exists is either a live server (never take it over),
// the leftover of one that died (safe to remove), or something that is not a
// socket at all: a file, a directory, a FIFO, a symlink. Those belong to
// someone else and are never touched. lstat, not stat: a symlink is refused
// even when it points at a socket, since removing it would remove the link.
void clear_stale_unix_path(const SocketAddress& addr) {
  const char* path = addr.unix_file();
  if (!path) return;  // abstract namespace: no file
  struct stat st {};
  if (::lstat(path, &st) != 0) return;  // nothing there (or unreadable: bind will say)
  if (S_ISDIR(st.st_mode)) throw Error(Call::Bind, addr.to_string(), "is a directory");
  if (!S_ISSOCK(st.st_mode))
    throw Error(Call::Bind, addr.to_string(), "exists and is not a socket");
  Fd probe(::socket(AF_UNIX, kSockFlags, 0));
  if (!probe) return;
  if (::connect(probe.get(), addr.get(), addr.size()) == 0 || errno == EAGAIN)
    throw Error(Call::Bind, addr.to_string(), EADDRINUSE);
  if (errno == ECONNREFUSED) ::unlink(path);
}

// Waits for `events` on fd; false on timeout. A zero timeout waits forever.
bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  const int ms = timeout.count() > 0 ? static_cast<int>(timeout.count()) : -1;
  for (;;) {
    const int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return true;  // let the caller's next call report it
  }
}

}  // namespace

namespace {

bool is_wildcard(const SocketAddress& a) noexcept {
  if (a.family() == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(a.get())->sin_addr.s_addr == htonl(INADDR_ANY);
  if (a.family() == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(a.get())->sin6_addr);
  return false;
}

// Binding a datagram socket to the address (port 0) succeeds only for an
// address of this host: the kernel's own answer, aliases and all.
bool is_local(const SocketAddress& a) noexcept {
  Fd fd(::socket(a.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  SocketAddress any_port = a;
  if (a.family() == AF_INET) reinterpret_cast<sockaddr_in*>(any_port.get())->sin_port = 0;
  if (a.family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(any_port.get())->sin6_port = 0;
  return ::bind(fd.get(), any_port.get(), any_port.size()) == 0;
}

}  // namespace

bool reaches(const SocketAddress& addr, const SocketAddress& listening) {
  if (addr.family() != listening.family()) return false;  // IPV6_V6ONLY: families never mix
  if (addr.family() == AF_UNIX) return addr.to_string() == listening.to_string();
  if (addr.port() != listening.port()) return false;
  if (addr.to_string() == listening.to_string()) return true;
  return is_wildcard(listening) && (is_wildcard(addr) || is_local(addr));
}

Fd listen_on(const SocketAddress& addr, int backlog, int unix_mode) {
  if (addr.family() == AF_UNIX) clear_stale_unix_path(addr);
  Fd fd = make_socket(addr);
  if (is_tcp(addr.family())) {
    // Lets a restarted server bind while old connections sit in TIME_WAIT. Unlike
    // SO_REUSEPORT it never lets two live servers share the address.
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  }
  // "[::]" then serves IPv6 only, so it can sit beside a "0.0.0.0" listener.
  if (addr.family() == AF_INET6) set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1);
  if (::bind(fd.get(), addr.get(), addr.size()) != 0)
    throw Error(Call::Bind, addr.to_string(), errno);
  // Before listen(): no client can connect while the file still has the
  // umask's permissions.
  if (const char* path = addr.unix_file(); path && unix_mode >= 0) {
    if (::chmod(path, static_cast<mode_t>(unix_mode)) != 0) {
      const int err = errno;
      ::unlink(path);  // ours: created by the bind just above
      throw Error(Call::Bind, addr.to_string(), err);
    }
  }
  if (::listen(fd.get(), backlog) != 0) throw Error(Call::Listen, addr.to_string(), errno);
  return fd;
}

Connecting start_connect(const SocketAddress& addr) {
  Fd fd = make_socket(addr);
  if (is_tcp(addr.family())) set_nodelay(fd.get());
  if (::connect(fd.get(), addr.get(), addr.size()) == 0) return {std::move(fd), false};
  // EINTR: the connection goes on being made, as with EINPROGRESS.
  if (errno != EINPROGRESS && errno != EINTR && errno != EAGAIN)
    throw Error(Call::Connect, addr.to_string(), errno);
  return {std::move(fd), true};
}

int socket_error(int fd) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

Fd connect_to(const SocketAddress& addr, std::chrono::milliseconds timeout) {
  auto [fd, in_progress] = start_connect(addr);
  if (!in_progress) return std::move(fd);
  if (!wait_for(fd.get(), POLLOUT, timeout))
    throw Error(Call::Connect, addr.to_string(), ETIMEDOUT);
  if (const int err = socket_error(fd.get()); err != 0)
    throw Error(Call::Connect, addr.to_string(), err);
  return std::move(fd);
}

int accept_one(int listen_fd) noexcept {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno != EINTR) return -errno;
  }
}

void set_nodelay(int fd) noexcept {
  // Fails harmlessly (EOPNOTSUPP) on a unix socket, so no family check is needed.
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

ssize_t send_some(int fd, const char* data, std::size_t len) noexcept {
  for (;;) {
    const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

ssize_t recv_some(int fd, char* data, std::size_t len) noexcept {
  for (;;) {
    const ssize_t n = ::recv(fd, data, len, 0);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

std::size_t bytes_unread(int fd) noexcept {
  int n = 0;
  if (::ioctl(fd, FIONREAD, &n) != 0 || n < 0) return 0;
  return static_cast<std::size_t>(n);
}

}  // namespace okq::net
