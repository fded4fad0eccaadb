// timer.hpp -- Timer and TimerHeap: a deadline embedded in what it times
// (h2o's timerwheel and nginx's event timers embed theirs too), kept in a
// 4-ary min-heap of pointers. Arming, moving and disarming cost O(log n) and
// allocate nothing; an idle connection's timer is 24 bytes inside it and one
// pointer in the heap.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace okq::server {

class TimerHeap;

// Not polymorphic: what runs when it expires is a plain function its owner
// names, so the heap's work on it involves no dynamic type (UBSan's first
// check of one opens a pipe, and a server out of descriptors still arms and
// disarms timers).
class Timer {
 public:
  using Clock = std::chrono::steady_clock;
  // Its time came: it is no longer armed, and may arm itself again.
  using Expire = void (*)(Timer& timer);

  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool armed() const noexcept { return slot_ != kUnarmed; }
  Clock::time_point when() const noexcept { return when_; }

 protected:
  explicit Timer(Expire expire) noexcept : expire_(expire) {}
  ~Timer() = default;  // the owner disarms it first

 private:
  friend class TimerHeap;
  static constexpr std::uint32_t kUnarmed = ~std::uint32_t{0};

  Expire expire_;
  Clock::time_point when_{};
  std::uint32_t slot_ = kUnarmed;  // its place in the heap
  std::uint32_t order_ = 0;        // arming order: equal deadlines fire first-armed first
};

class TimerHeap {
 public:
  // Arms `timer` at `when`, or moves it there if it is armed already.
  void arm(Timer& timer, Timer::Clock::time_point when);
  void disarm(Timer& timer) noexcept;

  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  Timer::Clock::time_point next() const noexcept { return heap_.front()->when_; }
  // Disarms and fires every timer due by `now`, earliest first (one armed
  // meanwhile for no later than `now` fires too).
  void run_due(Timer::Clock::time_point now);

 private:
  static bool before(const Timer* a, const Timer* b) noexcept;
  void place(std::uint32_t slot, Timer* timer) noexcept;
  void sift_up(std::uint32_t slot) noexcept;
  void sift_down(std::uint32_t slot) noexcept;

  std::vector<Timer*> heap_;
  std::uint32_t next_order_ = 0;
};

}  // namespace okq::server
