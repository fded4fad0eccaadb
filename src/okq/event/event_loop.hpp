// event_loop.hpp -- EventLoop: one Poller with its timers, deferred work and a
// door for other threads (queue_in_loop, woken through an eventfd), run by
// exactly one thread. Its body is a list of phases: poll, dispatch, deferred
// work, timers, work queued by other threads. It does not own the
// descriptors or handlers it watches.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "okq/event/poller.hpp"
#include "okq/event/timer.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = std::uint64_t;

  // `backend`: a Poller name ("auto", "epoll", "io_uring"). Throws std::system_error,
  // std::invalid_argument.
  explicit EventLoop(std::string_view backend = "auto");
  // With a backend made elsewhere (tests put a failing one here). With
  // `fall_back_to_epoll`, a backend that cannot start in attach() gives way
  // to epoll, as "auto" does.
  explicit EventLoop(std::unique_ptr<Poller> poller, bool fall_back_to_epoll = false);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  const char* backend() const noexcept { return poller_->name(); }
  // Why "auto" did not take io_uring; empty when it did or was not asked.
  const std::string& fallback() const noexcept { return fallback_; }
  // The completion backend, when that is what runs this loop.
  UringPoller* uring() noexcept { return uring_; }
  std::size_t pending_timers() const noexcept {
    return timers_.size() - (callback_timer_.armed() ? 1 : 0) + callbacks_.size();
  }

  // Loop thread only. Level-triggered interest; 0 or -errno (see Poller).
  [[nodiscard]] int add(int fd, Interest interest, EventHandler* handler) noexcept;
  [[nodiscard]] int modify(int fd, Interest interest, EventHandler* handler) noexcept;
  void remove(int fd) noexcept;

  // Loop thread only. `timer` expires at `when` (moved there if armed); it
  // is the caller's, embedded in what it times, and disarmed before it goes.
  // O(log n) to arm, move and disarm, with nothing allocated.
  void arm(Timer& timer, Clock::time_point when) { timers_.arm(timer, when); }
  void disarm(Timer& timer) noexcept { timers_.disarm(timer); }

  // Loop thread only. Runs `fn` once at `when`; a cancelled one is gone at
  // once. These are kept by deadline behind one Timer of the loop's own.
  TimerId run_at(Clock::time_point when, std::function<void()> fn);
  void cancel(TimerId id) noexcept;

  // Loop thread only. Runs `fn` after the current batch of events, when no
  // handler is mid-call: the safe moment to destroy a handler.
  void defer(std::function<void()> fn);

  // Any thread: runs `fn` on the loop's thread, soon. The only way another
  // thread may touch what the loop owns.
  void queue_in_loop(std::function<void()> fn);

  // The time when the current batch of events arrived: one clock read per
  // loop iteration instead of one per use. Good enough for timeouts.
  Clock::time_point now() const noexcept { return now_; }

  // The calling thread becomes the loop's thread and its backend starts
  // (an io_uring ring is made here: after any fork and privilege drop). Under
  // "auto" a backend that cannot start gives way to epoll, which takes over
  // everything watched so far: true then, and fallback() says why. Throws
  // std::system_error otherwise. run() attaches too; calling it first lets a
  // failure show before anything is served.
  bool attach();
  // Dispatches until stop(). The calling thread becomes the loop's thread.
  void run();
  // Any thread: ends run() after the current pass.
  void stop() noexcept;

  // Debug builds: aborts if called off the loop's thread (muduo's
  // assertInLoopThread). The thread that constructs the loop owns it until
  // run() is called.
  void assert_in_loop_thread() const noexcept;

 private:
  class Waker;
  void watch_waker();
  std::chrono::nanoseconds poll_timeout() const;
  void run_due_timers();
  void run_deferred();
  void run_queued();
  void wake() noexcept;

  std::string fallback_;
  std::unique_ptr<Poller> poller_;
  UringPoller* uring_ = nullptr;  // poller_'s, if it is one
  bool fall_back_ = false;        // "auto", until attach() has decided
  bool attached_ = false;
  std::atomic<bool> stop_requested_{false};
  std::thread::id owner_ = std::this_thread::get_id();
  Clock::time_point now_ = Clock::now();
  std::vector<Poller::Event> ready_;

  // The timer of run_at's callbacks, at the earliest of them.
  class CallbackTimer final : public Timer {
   public:
    explicit CallbackTimer(EventLoop& loop) : Timer(&CallbackTimer::expired), loop_(loop) {}
    ~CallbackTimer() { loop_.disarm(*this); }

   private:
    static void expired(Timer& timer) {
      static_cast<CallbackTimer&>(timer).loop_.run_due_callbacks();
    }
    EventLoop& loop_;
  };
  void run_due_callbacks();
  void rearm_callbacks();

  TimerHeap timers_;
  using Due = std::pair<Clock::time_point, TimerId>;  // ids break ties: arming order
  std::map<Due, std::function<void()>> callbacks_;
  std::unordered_map<TimerId, Clock::time_point> when_;  // for cancel
  CallbackTimer callback_timer_{*this};
  TimerId next_timer_ = 1;
  std::vector<std::function<void()>> deferred_;

  net::Fd wake_fd_;  // eventfd: another thread queued work or asked to stop
  std::unique_ptr<Waker> waker_;
  std::mutex queue_mu_;
  std::vector<std::function<void()>> queued_;  // guarded by queue_mu_
};

}  // namespace okq::server
