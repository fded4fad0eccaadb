// event_loop.cpp -- the epoll loop.
#include "okq/server/event_loop.hpp"

#include <cerrno>
#include <system_error>

namespace okq::server {
namespace {

void control(int epfd, int op, int fd, std::uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epfd, op, fd, &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
}

}  // namespace

EventLoop::EventLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)), events_(256) {
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

void EventLoop::add(int fd, std::uint32_t events, EventHandler* handler) {
  control(epoll_.get(), EPOLL_CTL_ADD, fd, events, handler);
}

void EventLoop::modify(int fd, std::uint32_t events, EventHandler* handler) {
  control(epoll_.get(), EPOLL_CTL_MOD, fd, events, handler);
}

void EventLoop::remove(int fd) noexcept {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::run_at(Clock::time_point when, std::function<void()> fn) {
  const TimerId id = next_timer_++;
  timers_.emplace(id, std::move(fn));
  due_.emplace(when, id);
  return id;
}

void EventLoop::run() {
  running_ = true;
  while (running_) {
    const int n = ::epoll_wait(epoll_.get(), events_.data(), static_cast<int>(events_.size()),
                               poll_timeout_ms());
    if (n < 0 && errno != EINTR)
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    now_ = Clock::now();
    for (int i = 0; i < n; ++i)
      static_cast<EventHandler*>(events_[i].data.ptr)->on_events(events_[i].events);
    run_deferred();
    run_due_timers();
    run_deferred();
  }
}

int EventLoop::poll_timeout_ms() const {
  if (!deferred_.empty()) return 0;
  if (due_.empty()) return -1;
  const auto wait = due_.top().first - Clock::now();
  if (wait <= Clock::duration::zero()) return 0;
  // Round up so a timer is never woken for early and then spun on.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
}

void EventLoop::run_due_timers() {
  while (!due_.empty() && due_.top().first <= now_) {
    const TimerId id = due_.top().second;
    due_.pop();
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled
    auto fn = std::move(it->second);
    timers_.erase(it);
    fn();
  }
}

void EventLoop::run_deferred() {
  // Deferred work may defer more; swap so this call stays bounded.
  std::vector<std::function<void()>> batch;
  batch.swap(deferred_);
  for (auto& fn : batch) fn();
}

}  // namespace okq::server
