// link.cpp -- what every driver's connection shares: the timer.
#include "okq/driver/link.hpp"

#include <algorithm>

namespace okq::server {

// Re-armed lazily: progress only moves the stream's deadline later, and the
// timer, when it fires, sleeps again until the new deadline. One heap
// operation per timeout period per connection, not one per message.
void Link::arm_timer() {
  const auto at = std::min(stream_->deadline(), driver_deadline());
  if (timer_off_ || (armed() && at >= when())) return;  // it comes first; it re-arms itself
  if (at == Time::max())
    share_.loop.disarm(*this);
  else
    share_.loop.arm(*this, at);
}

void Link::expired(Timer& timer) {
  auto& link = static_cast<Link&>(timer);
  link.stream_->on_timer(link.share_.loop.now());
  link.timer_fired();
  link.resume();
}

void Link::cancel_timer() noexcept {
  share_.loop.disarm(*this);
  timer_off_ = true;
}

}  // namespace okq::server
