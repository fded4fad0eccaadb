// tcp.cpp -- blocking test sockets with poll deadlines.
#include "tcp.hpp"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

namespace okq::test {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

RawClient::RawClient(std::uint16_t port, bool v6, int rcvbuf)
    : RawClient(v6 ? "::1" : "127.0.0.1", port, rcvbuf) {}

RawClient::RawClient(const std::string& ip, std::uint16_t port, int rcvbuf) {
  const bool v6 = ip.find(':') != std::string::npos;
  fd_.reset(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (rcvbuf > 0) ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    ::inet_pton(AF_INET6, ip.c_str(), &a.sin6_addr);
    rc = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    rc = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0) throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
}

RawClient::RawClient(const std::string& unix_path) {
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, unix_path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
}

void RawClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void RawClient::shutdown_write() {
  ::shutdown(fd_.get(), SHUT_WR);
}

void RawClient::reset() {
  linger l{1, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd_.reset();
}

std::string RawClient::read_until(std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string got;
  char buf[65536];
  while (got.size() < n && !eof_) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) break;  // deadline
    const std::size_t want = std::min(sizeof buf, n - got.size());
    const ssize_t r = ::recv(fd_.get(), buf, want, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      eof_ = true;  // EOF, or a reset: either way nothing more comes
      reset_ = r < 0 && errno == ECONNRESET;
      break;
    }
    got.append(buf, static_cast<std::size_t>(r));
  }
  return got;
}

std::string RawClient::read_exact(std::size_t n, std::chrono::milliseconds timeout) {
  return read_until(n, timeout);
}

std::string RawClient::read_to_eof(std::chrono::milliseconds timeout) {
  return read_until(SIZE_MAX, timeout);
}

bool RawClient::peer_closed() const {
  char byte;
  const ssize_t n = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

long RawClient::send_nonblocking(std::string_view bytes) {
  const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n >= 0) return n;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

std::size_t RawClient::send_until_stalled(std::string_view pattern, std::chrono::milliseconds stall,
                                          std::size_t limit) {
  std::size_t sent = 0;
  auto last = Clock::now();
  for (int i = 0; i < 1000000 && sent < limit && Clock::now() - last < stall; ++i) {
    const long n = send_nonblocking(pattern.substr(sent % pattern.size()));
    if (n < 0) throw std::runtime_error("send_until_stalled: the peer closed");
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      last = Clock::now();
    } else {
      pollfd p{fd_.get(), POLLOUT, 0};
      ::poll(&p, 1, 5);
    }
  }
  return sent;
}

int RawClient::unacked() const {
  int n = 0;
  ::ioctl(fd_.get(), SIOCOUTQ, &n);
  return n;
}

bool RawClient::wait_acked(std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (unacked() > 0) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

RawListener::RawListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd_.get(), 16) != 0)
    throw std::runtime_error("RawListener: cannot listen");
  ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}

RawClient RawListener::accept(std::chrono::milliseconds timeout) {
  pollfd p{fd_.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1)
    throw std::runtime_error("RawListener: nobody connected");
  net::Fd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) throw std::runtime_error(std::string("accept: ") + std::strerror(errno));
  return RawClient(std::move(conn));
}

std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string http_get(std::uint16_t port, const std::string& target,
                     std::chrono::milliseconds timeout) {
  RawClient c(port);
  c.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nConnection: close\r\n\r\n");
  return c.read_to_eof(timeout);
}

std::string http_body(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

std::uint16_t metrics_port(Process& server) {
  const std::string key = "metrics on http://127.0.0.1:";
  if (!server.wait_stderr(key)) return 0;
  const auto log = server.err();
  return static_cast<std::uint16_t>(std::stoi(log.substr(log.find(key) + key.size())));
}

std::string scrape(std::uint16_t port) {
  return "\n" + http_body(http_get(port, "/metrics"));
}

long long metric_value(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

long long metric_sum(const std::string& text, const std::string& family) {
  long long total = 0;
  for (auto at = text.find("\n" + family + "{"); at != std::string::npos;
       at = text.find("\n" + family + "{", at + 1))
    total += std::stoll(text.substr(text.find("} ", at) + 2));
  return total;
}

}  // namespace okq::test
