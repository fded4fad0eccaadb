// poller.hpp -- Poller: the I/O backend seam. Readiness in okq's own terms
// (Interest in, Ready out) behind a handful of calls, one implementation per
// file (epoll_poller.cpp), chosen at run time by name. The EventLoop owns a
// Poller; a Poller owns no descriptor or handler it watches.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace okq::server {

struct Interest {
  bool read = false;
  bool write = false;
  bool operator==(const Interest&) const = default;
};

struct Ready {
  bool readable = false;
  bool writable = false;
  bool hangup = false;  // the peer hung up or the socket has an error: a read tells which
};

// Something that wants readiness for one descriptor.
class EventHandler {
 public:
  virtual void on_ready(Ready ready) = 0;

 protected:
  ~EventHandler() = default;
};

class Poller {
 public:
  struct Event {
    EventHandler* handler;
    Ready ready;
  };

  virtual ~Poller() = default;
  virtual const char* name() const noexcept = 0;
  // Level-triggered interest. 0 or -errno (ENOSPC at fs.epoll.max_user_watches,
  // ENOMEM): the caller decides what failing costs.
  [[nodiscard]] virtual int add(int fd, Interest interest, EventHandler* handler) noexcept = 0;
  [[nodiscard]] virtual int modify(int fd, Interest interest, EventHandler* handler) noexcept = 0;
  virtual void remove(int fd) noexcept = 0;
  // Waits up to `timeout_ms` (-1: no limit) and fills `out` with what is
  // ready. 0, or -errno for a failure of the backend itself (EINTR is 0).
  [[nodiscard]] virtual int wait(int timeout_ms, std::vector<Event>& out) noexcept = 0;
};

// The backend called `name` ("auto" or "epoll"); throws std::invalid_argument
// for an unknown name and std::system_error when the kernel refuses it.
std::unique_ptr<Poller> make_poller(std::string_view name);

// One per backend file.
std::unique_ptr<Poller> make_epoll_poller();

}  // namespace okq::server
