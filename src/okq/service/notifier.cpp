// notifier.cpp -- $NOTIFY_SOCKET and $WATCHDOG_USEC.
#include "okq/service/notifier.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "okq/server/environment.hpp"

namespace okq::server {

Notifier::Notifier(net::Fd fd, net::SocketAddress to, std::chrono::microseconds watchdog)
    : fd_(std::move(fd)), to_(to), watchdog_(watchdog) {}

std::unique_ptr<Notifier> Notifier::from_environment() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || (path[0] != '/' && path[0] != '@')) return nullptr;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(path);
  if (len >= sizeof un.sun_path) return nullptr;
  std::memcpy(un.sun_path, path, len);
  if (path[0] == '@') un.sun_path[0] = '\0';  // the abstract namespace
  const auto size =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
  net::Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return nullptr;
  std::chrono::microseconds watchdog{0};
  const auto watchdog_pid = env_number("WATCHDOG_PID");
  if (!watchdog_pid || *watchdog_pid == static_cast<std::uint64_t>(::getpid()))
    watchdog = std::chrono::microseconds(env_number("WATCHDOG_USEC").value_or(0) / 2);
  return std::unique_ptr<Notifier>(new Notifier(
      std::move(fd), net::SocketAddress(reinterpret_cast<const sockaddr*>(&un), size), watchdog));
}

bool Notifier::send(std::string_view state) noexcept {
  ssize_t n;
  do n = ::sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL, to_.get(), to_.size());
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(state.size());
}

}  // namespace okq::server
