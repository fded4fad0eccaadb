// poller.cpp -- choosing an I/O backend by name.
#include "okq/event/poller.hpp"

#include <stdexcept>
#include <string>
#include <system_error>

namespace okq::server {

std::unique_ptr<Poller> make_poller(std::string_view name, std::string* fallback) {
  if (name == "epoll") return make_epoll_poller();
  if (name == "io_uring") return make_uring_poller();
  if (name != "auto") throw std::invalid_argument("unknown I/O backend: " + std::string(name));
  try {
    return make_uring_poller();
  } catch (const std::system_error& e) {
    // ENOSYS (no io_uring), EPERM (kernel.io_uring_disabled, a seccomp
    // filter), ENOTSUP (too old for what okq needs): epoll serves as well.
    if (fallback) *fallback = e.what();
    return make_epoll_poller();
  }
}

}  // namespace okq::server
