// epoll_poller.cpp -- the epoll backend of Poller: level-triggered, one
// epoll_ctl per interest change, one epoll_wait per loop pass.
#include <sys/epoll.h>

#include <cerrno>
#include <system_error>

#include "okq/event/poller.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {
namespace {

std::uint32_t to_epoll(Interest interest) noexcept {
  return (interest.read ? EPOLLIN : 0u) | (interest.write ? EPOLLOUT : 0u);
}

class EpollPoller final : public Poller {
 public:
  EpollPoller() : epoll_(::epoll_create1(EPOLL_CLOEXEC)), events_(256) {
    if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }

  const char* name() const noexcept override { return "epoll"; }

  int add(int fd, Interest interest, EventHandler* handler) noexcept override {
    return control(EPOLL_CTL_ADD, fd, interest, handler);
  }
  int modify(int fd, Interest interest, EventHandler* handler) noexcept override {
    return control(EPOLL_CTL_MOD, fd, interest, handler);
  }
  void remove(int fd) noexcept override { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }
  // The kernel keeps epoll's interest list; nothing ever takes over from it.
  std::vector<Registration> registrations() const override { return {}; }

  int wait(std::chrono::nanoseconds timeout, std::vector<Event>& out) noexcept override {
    out.clear();
    const int n = wait_for(timeout);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; ++i) {
      const std::uint32_t e = events_[i].events;
      out.push_back(Event::readiness(
          static_cast<EventHandler*>(events_[i].data.ptr),
          Ready{(e & EPOLLIN) != 0, (e & EPOLLOUT) != 0, (e & (EPOLLHUP | EPOLLERR)) != 0}));
    }
    return 0;
  }

 private:
  // epoll_pwait2 (Linux 5.11) waits to the nanosecond, so a timer (okq-bench's
  // open loop) is not woken up to a millisecond late; before it, epoll_wait
  // in whole milliseconds, rounded up.
  int wait_for(std::chrono::nanoseconds timeout) noexcept {
    const int size = static_cast<int>(events_.size());
    if (pwait2_) {
      const timespec ts{.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000),
                        .tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000)};
      const int n = ::epoll_pwait2(epoll_.get(), events_.data(), size,
                                   timeout.count() < 0 ? nullptr : &ts, nullptr);
      if (n >= 0 || errno != ENOSYS) return n;
      pwait2_ = false;
    }
    const int ms =
        timeout.count() < 0
            ? -1
            : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(timeout).count());
    return ::epoll_wait(epoll_.get(), events_.data(), size, ms);
  }

  int control(int op, int fd, Interest interest, EventHandler* handler) noexcept {
    epoll_event ev{};
    ev.events = to_epoll(interest);
    ev.data.ptr = handler;
    return ::epoll_ctl(epoll_.get(), op, fd, &ev) == 0 ? 0 : -errno;
  }

  net::Fd epoll_;
  std::vector<epoll_event> events_;
  bool pwait2_ = true;  // until the kernel says ENOSYS
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller() {
  return std::make_unique<EpollPoller>();
}

}  // namespace okq::server
