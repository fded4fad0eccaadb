// poller.cpp -- choosing an I/O backend by name.
#include "okq/server/poller.hpp"

#include <stdexcept>
#include <string>

namespace okq::server {

std::unique_ptr<Poller> make_poller(std::string_view name) {
  // auto: the best the kernel allows; epoll is the only backend so far.
  if (name == "auto" || name == "epoll") return make_epoll_poller();
  throw std::invalid_argument("unknown I/O backend: " + std::string(name));
}

}  // namespace okq::server
