// fd.cpp -- closing an owned descriptor.
#include "okq/net/fd.hpp"

#include <sys/resource.h>
#include <unistd.h>

namespace okq::net {

void Fd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is released
  // whatever close returns, and a retry could close a reused number.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::size_t raise_fd_limit() noexcept {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return static_cast<std::size_t>(lim.rlim_cur);
}

}  // namespace okq::net
