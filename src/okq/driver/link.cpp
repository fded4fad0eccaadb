// link.cpp -- what every driver's connection shares: the timer.
#include "okq/driver/link.hpp"

namespace okq::server {

// Re-armed lazily: progress only moves the stream's deadline later, and the
// timer, when it fires, sleeps again until the new deadline. One heap
// operation per timeout period per connection, not one per message.
void Link::arm_timer() {
  const auto at = stream_->deadline();
  if (at >= timer_at_) return;  // the armed timer comes first; it re-arms itself
  if (timer_ != 0) loop_.cancel(timer_);
  timer_at_ = at;
  timer_ = at == Time::max() ? 0 : loop_.run_at(at, [this] {
    timer_ = 0;
    timer_at_ = Time::max();
    stream_->on_timer(loop_.now());
    timer_fired();
    resume();
  });
}

void Link::cancel_timer() noexcept {
  if (timer_ != 0) loop_.cancel(timer_);
  timer_ = 0;
  timer_at_ = Time::min();  // never armed again
}

}  // namespace okq::server
