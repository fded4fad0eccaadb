// timer.cpp -- the 4-ary heap behind Timer.
#include "okq/event/timer.hpp"

namespace okq::server {

namespace {
constexpr std::uint32_t kArity = 4;
}

bool TimerHeap::before(const Timer* a, const Timer* b) noexcept {
  if (a->when_ != b->when_) return a->when_ < b->when_;
  return static_cast<std::int32_t>(a->order_ - b->order_) < 0;  // serial order: wraps safely
}

void TimerHeap::place(std::uint32_t slot, Timer* timer) noexcept {
  heap_[slot] = timer;
  timer->slot_ = slot;
}

void TimerHeap::sift_up(std::uint32_t slot) noexcept {
  Timer* const timer = heap_[slot];
  while (slot > 0) {
    const std::uint32_t parent = (slot - 1) / kArity;
    if (!before(timer, heap_[parent])) break;
    place(slot, heap_[parent]);
    slot = parent;
  }
  place(slot, timer);
}

void TimerHeap::sift_down(std::uint32_t slot) noexcept {
  Timer* const timer = heap_[slot];
  const auto size = static_cast<std::uint32_t>(heap_.size());
  for (;;) {
    const std::uint32_t first = slot * kArity + 1;
    if (first >= size) break;
    std::uint32_t least = first;
    for (std::uint32_t child = first + 1; child < first + kArity && child < size; ++child)
      if (before(heap_[child], heap_[least])) least = child;
    if (!before(heap_[least], timer)) break;
    place(slot, heap_[least]);
    slot = least;
  }
  place(slot, timer);
}

void TimerHeap::arm(Timer& timer, Timer::Clock::time_point when) {
  const bool later = timer.armed() && when >= timer.when_;  // and armed after: behind its equals
  if (!timer.armed()) {
    heap_.push_back(&timer);
    timer.slot_ = static_cast<std::uint32_t>(heap_.size() - 1);
  }
  timer.when_ = when;
  timer.order_ = next_order_++;
  if (later)
    sift_down(timer.slot_);
  else
    sift_up(timer.slot_);
}

void TimerHeap::disarm(Timer& timer) noexcept {
  if (!timer.armed()) return;
  const std::uint32_t slot = timer.slot_;
  timer.slot_ = Timer::kUnarmed;
  Timer* const last = heap_.back();
  heap_.pop_back();
  if (last == &timer) return;
  place(slot, last);
  sift_up(slot);
  sift_down(last->slot_);
}

void TimerHeap::run_due(Timer::Clock::time_point now) {
  while (!heap_.empty() && heap_.front()->when_ <= now) {
    Timer& timer = *heap_.front();
    disarm(timer);
    timer.expire_(timer);  // may arm or disarm others, itself too
  }
}

}  // namespace okq::server
