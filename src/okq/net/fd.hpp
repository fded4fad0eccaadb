// fd.hpp -- Fd, an owning file descriptor: it closes what it holds exactly once.
// It knows nothing of what the descriptor is (socket, pipe, epoll, ...).
#pragma once

#include <cstddef>
#include <string_view>
#include <utility>

namespace okq::net {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the held descriptor (if any) and takes `fd`.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Opens /dev/null on each of descriptors 0, 1 and 2 that is closed. Call it
// first thing: a program started with stdin closed would otherwise get its
// first socket as descriptor 0 and read its own socket as input.
void reserve_standard_fds() noexcept;

// Writes all of `bytes` to `fd` (a file, a pipe, a terminal: not a socket,
// whose sends go through send_some), retrying EINTR and short writes: 0, or
// the errno that stopped it (EIO for a write of nothing).
int write_all(int fd, std::string_view bytes) noexcept;

// Raises the soft RLIMIT_NOFILE to the hard limit (many connections need many
// descriptors); returns the soft limit now in force.
std::size_t raise_fd_limit() noexcept;

}  // namespace okq::net
