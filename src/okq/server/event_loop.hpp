// event_loop.hpp -- EventLoop: one epoll instance with its timers and deferred
// work, run by exactly one thread. Several loops may run on several threads:
// nothing here is global. It does not own the descriptors or handlers it watches.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "okq/net/fd.hpp"

namespace okq::server {

// Something that wants readiness events for one descriptor.
class EventHandler {
 public:
  virtual void on_events(std::uint32_t events) = 0;

 protected:
  ~EventHandler() = default;
};

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = std::uint64_t;

  EventLoop();  // throws std::system_error
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Level-triggered interest in EPOLLIN / EPOLLOUT for `fd`.
  void add(int fd, std::uint32_t events, EventHandler* handler);
  void modify(int fd, std::uint32_t events, EventHandler* handler);
  void remove(int fd) noexcept;

  // Runs `fn` once at `when`. Cost O(log n); a cancelled timer is dropped lazily.
  TimerId run_at(Clock::time_point when, std::function<void()> fn);
  void cancel(TimerId id) noexcept { timers_.erase(id); }

  // Runs `fn` after the current batch of events, when no handler is mid-call:
  // the safe moment to destroy a handler.
  void defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

  // The time when the current batch of events arrived: one clock read per
  // loop iteration instead of one per use. Good enough for timeouts.
  Clock::time_point now() const noexcept { return now_; }

  // Dispatches events until stop(): poll, dispatch, run timers, run deferred work.
  void run();
  void stop() noexcept { running_ = false; }

 private:
  int poll_timeout_ms() const;
  void run_due_timers();
  void run_deferred();

  net::Fd epoll_;
  bool running_ = false;
  Clock::time_point now_ = Clock::now();
  std::vector<epoll_event> events_;

  using Due = std::pair<Clock::time_point, TimerId>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  std::unordered_map<TimerId, std::function<void()>> timers_;
  TimerId next_timer_ = 1;
  std::vector<std::function<void()>> deferred_;
};

}  // namespace okq::server
