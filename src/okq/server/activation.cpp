// activation.cpp -- LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES. The protocol is
// three variables and consecutive descriptors from 3; spoken directly, as the
// readiness protocol is, rather than through libsystemd.
#include "okq/server/activation.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "okq/net/error.hpp"
#include "okq/server/environment.hpp"

namespace okq::server {
namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

bool is_listening_stream(int fd) {
  struct stat st {};
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  len = sizeof listening;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

}  // namespace

std::vector<InheritedSocket> inherited_sockets() {
  const auto pid = env_number("LISTEN_PID");
  // More descriptors than a process can have is not a count worth believing.
  const int count =
      static_cast<int>(std::min<std::uint64_t>(env_number("LISTEN_FDS").value_or(0), 1 << 20));
  const char* names_env = std::getenv("LISTEN_FDNAMES");
  const std::string names = names_env ? names_env : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  std::vector<InheritedSocket> out;
  if (pid != static_cast<std::uint64_t>(::getpid()) || count == 0) return out;
  std::size_t at = 0;
  for (int fd = kFirstFd; fd < kFirstFd + count; ++fd) {
    const std::size_t colon = names.find(':', at);
    std::string name = at <= names.size() ? names.substr(at, colon - at) : "";
    at = colon == std::string::npos ? names.size() + 1 : colon + 1;
    const std::string what =
        "inherited descriptor " + std::to_string(fd) + (name.empty() ? "" : " (" + name + ")");
    if (!is_listening_stream(fd))
      throw net::Error(net::Call::Bind, what, "not a listening stream socket");
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    // A fresh `name` each turn: moved from once.
    out.push_back({net::Fd(fd), std::move(name)});  // NOLINT(clang-analyzer-cplusplus.Move)
  }
  return out;
}

}  // namespace okq::server
