// poller.hpp -- Poller: the I/O backend seam. Readiness in okq's own terms
// (Interest in, Ready out) behind a handful of calls, one implementation per
// file (epoll_poller.cpp, uring_poller.cpp), chosen at run time by name. A
// completion backend (io_uring) also hands back the completions of
// operations that handlers submitted to it. The EventLoop owns a Poller; a
// Poller owns no descriptor or handler it watches.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
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

// One operation, submitted by a handler, has finished (or made progress,
// for a multishot operation: see UringPoller).
struct Completion {
  unsigned op = 0;          // the handler's own operation code
  int result = 0;           // >= 0, or -errno
  std::uint32_t flags = 0;  // the kernel's completion flags
};

// What the loop reports to: readiness of a descriptor it watches, or the
// completion of an operation it submitted (a completion backend). One
// interface for both, so a connection is told either through the one
// vtable pointer it has anyway (driver/link.hpp).
class EventHandler {
 public:
  virtual void on_ready(Ready ready) = 0;
  // Only what submits operations is told of them.
  virtual void on_complete(Completion done) { (void)done; }

 protected:
  ~EventHandler() = default;
};

class UringPoller;

class Poller {
 public:
  // Readiness for `handler`, or else a completion for `done`.
  struct Event {
    EventHandler* handler = nullptr;
    Ready ready;
    EventHandler* done = nullptr;
    Completion completion;

    static Event readiness(EventHandler* handler, Ready ready) noexcept {
      return {handler, ready, nullptr, {}};
    }
    static Event completed(EventHandler* done, Completion completion) noexcept {
      return {nullptr, {}, done, completion};
    }
  };

  virtual ~Poller() = default;
  virtual const char* name() const noexcept = 0;
  // Level-triggered interest. 0 or -errno (ENOSPC at fs.epoll.max_user_watches,
  // ENOMEM): the caller decides what failing costs.
  [[nodiscard]] virtual int add(int fd, Interest interest, EventHandler* handler) noexcept = 0;
  [[nodiscard]] virtual int modify(int fd, Interest interest, EventHandler* handler) noexcept = 0;
  virtual void remove(int fd) noexcept = 0;
  // Waits up to `timeout` (negative: no limit) and fills `out` with what is
  // ready. 0, or -errno for a failure of the backend itself (EINTR is 0).
  [[nodiscard]] virtual int wait(std::chrono::nanoseconds timeout,
                                 std::vector<Event>& out) noexcept = 0;

  // Called by the thread that runs the loop, before its first wait(): a
  // backend bound to one thread (or one process, after a fork) starts here.
  // Throws std::system_error.
  virtual void attach() {}
  // The completion backend, for drivers that submit their own operations.
  virtual UringPoller* uring() noexcept { return nullptr; }

  // What is watched, so another backend can take over before attach().
  struct Registration {
    int fd;
    Interest interest;
    EventHandler* handler;
  };
  virtual std::vector<Registration> registrations() const = 0;
};

// The backend called `name`: "epoll", "io_uring", or "auto" (io_uring when
// the kernel allows it, else epoll, with the reason in `*fallback`). Throws
// std::invalid_argument for an unknown name and std::system_error when the
// kernel refuses the backend asked for by name.
std::unique_ptr<Poller> make_poller(std::string_view name, std::string* fallback = nullptr);

// One per backend file.
std::unique_ptr<Poller> make_epoll_poller();
// Throws std::system_error saying why the kernel refuses io_uring.
std::unique_ptr<Poller> make_uring_poller();

}  // namespace okq::server
