// fd.cpp -- closing an owned descriptor.
#include "okq/net/fd.hpp"

#include <unistd.h>

namespace okq::net {

void Fd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is released
  // whatever close returns, and a retry could close a reused number.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace okq::net
