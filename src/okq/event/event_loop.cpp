// event_loop.cpp -- the loop's phases, timers and cross-thread door.
#include "okq/event/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <system_error>

namespace okq::server {

// Drains the eventfd; what it announced runs in the queued-work phase.
class EventLoop::Waker final : public EventHandler {
 public:
  explicit Waker(int fd) : fd_(fd) {}
  void on_ready(Ready) override {
    std::uint64_t count;
    [[maybe_unused]] const ssize_t n = ::read(fd_, &count, sizeof count);
  }

 private:
  int fd_;
};

EventLoop::EventLoop(std::string_view backend) : EventLoop(std::unique_ptr<Poller>{}) {
  poller_ = make_poller(backend, &fallback_);
  uring_ = poller_->uring();
  fall_back_ = backend == "auto";
  watch_waker();
}

EventLoop::EventLoop(std::unique_ptr<Poller> poller, bool fall_back_to_epoll)
    : poller_(std::move(poller)),
      fall_back_(fall_back_to_epoll),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!wake_fd_) throw std::system_error(errno, std::generic_category(), "eventfd");
  waker_ = std::make_unique<Waker>(wake_fd_.get());
  uring_ = poller_ ? poller_->uring() : nullptr;
  if (poller_) watch_waker();
}

void EventLoop::watch_waker() {
  if (const int rc = poller_->add(wake_fd_.get(), Interest{.read = true}, waker_.get()); rc != 0)
    throw std::system_error(-rc, std::generic_category(), "cannot watch the loop's eventfd");
}

EventLoop::~EventLoop() {
  if (poller_) poller_->remove(wake_fd_.get());  // none if making it threw
}

void EventLoop::assert_in_loop_thread() const noexcept {
  assert(owner_ == std::this_thread::get_id() && "called off the loop's thread");
}

int EventLoop::add(int fd, Interest interest, EventHandler* handler) noexcept {
  assert_in_loop_thread();
  return poller_->add(fd, interest, handler);
}

int EventLoop::modify(int fd, Interest interest, EventHandler* handler) noexcept {
  assert_in_loop_thread();
  return poller_->modify(fd, interest, handler);
}

void EventLoop::remove(int fd) noexcept {
  assert_in_loop_thread();
  poller_->remove(fd);
}

EventLoop::TimerId EventLoop::run_at(Clock::time_point when, std::function<void()> fn) {
  assert_in_loop_thread();
  const TimerId id = next_timer_++;
  callbacks_.emplace(Due{when, id}, std::move(fn));
  when_.emplace(id, when);
  rearm_callbacks();
  return id;
}

void EventLoop::cancel(TimerId id) noexcept {
  assert_in_loop_thread();
  const auto it = when_.find(id);
  if (it == when_.end()) return;  // fired or cancelled already
  callbacks_.erase(Due{it->second, id});
  when_.erase(it);
  rearm_callbacks();
}

void EventLoop::rearm_callbacks() {
  if (callbacks_.empty())
    disarm(callback_timer_);
  else if (!callback_timer_.armed() || callback_timer_.when() != callbacks_.begin()->first.first)
    timers_.arm(callback_timer_, callbacks_.begin()->first.first);
}

void EventLoop::run_due_callbacks() {
  while (!callbacks_.empty() && callbacks_.begin()->first.first <= now_) {
    const auto it = callbacks_.begin();
    auto fn = std::move(it->second);
    when_.erase(it->first.second);
    callbacks_.erase(it);
    fn();  // may arm or cancel others
  }
  rearm_callbacks();
}

void EventLoop::defer(std::function<void()> fn) {
  assert_in_loop_thread();
  deferred_.push_back(std::move(fn));
}

void EventLoop::queue_in_loop(std::function<void()> fn) {
  {
    std::lock_guard lock(queue_mu_);
    queued_.push_back(std::move(fn));
  }
  wake();
}

void EventLoop::stop() noexcept {
  stop_requested_.store(true, std::memory_order_release);
  wake();
}

void EventLoop::wake() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

bool EventLoop::attach() {
  owner_ = std::this_thread::get_id();
  if (attached_) return false;
  try {
    poller_->attach();
  } catch (const std::system_error& e) {
    // The probe at construction passed, the real thing did not: another
    // process (after a fork), another user (after --user), no descriptor left.
    if (!fall_back_ || std::string_view(poller_->name()) == "epoll") throw;
    auto epoll = make_epoll_poller();
    for (const auto& r : poller_->registrations())
      if (const int rc = epoll->add(r.fd, r.interest, r.handler); rc != 0)
        throw std::system_error(-rc, std::generic_category(), "epoll_ctl");
    poller_ = std::move(epoll);
    uring_ = nullptr;
    fallback_ = e.what();
    attached_ = true;
    return true;
  }
  attached_ = true;
  return false;
}

void EventLoop::run() {
  attach();
  // A stop() that came before run() (from another thread) still counts.
  while (!stop_requested_.load(std::memory_order_acquire)) {
    if (const int rc = poller_->wait(poll_timeout(), ready_); rc != 0)
      throw std::system_error(-rc, std::generic_category(), poller_->name());
    now_ = Clock::now();
    for (const auto& event : ready_) {
      if (event.done)
        event.done->on_complete(event.completion);
      else
        event.handler->on_ready(event.ready);
    }
    run_deferred();
    run_due_timers();
    run_queued();
    run_deferred();
  }
  stop_requested_.store(false, std::memory_order_release);  // the loop may run again
}

std::chrono::nanoseconds EventLoop::poll_timeout() const {
  using std::chrono::nanoseconds;
  if (!deferred_.empty()) return nanoseconds(0);
  if (timers_.empty()) return nanoseconds(-1);
  const auto wait = timers_.next() - Clock::now();
  return wait <= Clock::duration::zero() ? nanoseconds(0)
                                         : std::chrono::duration_cast<nanoseconds>(wait);
}

void EventLoop::run_due_timers() {
  timers_.run_due(now_);
}

void EventLoop::run_deferred() {
  // Deferred work may defer more; swap so this call stays bounded.
  std::vector<std::function<void()>> batch;
  batch.swap(deferred_);
  for (auto& fn : batch) fn();
}

void EventLoop::run_queued() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(queue_mu_);
    batch.swap(queued_);
  }
  for (auto& fn : batch) fn();
}

}  // namespace okq::server
