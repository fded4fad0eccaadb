// uring_poller.cpp -- the io_uring backend of Poller: level-triggered polls,
// completions routed to their handlers, one submit-and-wait per loop pass.
#include "okq/event/uring_poller.hpp"

#include <poll.h>

#include <cerrno>
#include <exception>
#include <new>
#include <system_error>

namespace okq::server {
namespace {

constexpr unsigned kOpPoll = 7;  // user_data of a poll: generation << 3 | kOpPoll
constexpr std::uint64_t kOpMask = 7;
constexpr unsigned kSubmissionEntries = 1024;
// One receive and one send in flight per connection: a burst from 8,000
// connections fits; past that the kernel keeps completions in its overflow
// list (IORING_FEAT_NODROP) and the next pass reaps them.
constexpr unsigned kCompletionEntries = 16384;

// Whether this process may make a ring as attach() will: asked once, by
// making one and letting it go. Every loop (the server's and each worker's)
// and okq-server's check of --io ask the same kernel the same question.
struct Probe {
  const char* mode = "plain";
  std::exception_ptr refused;  // the std::system_error saying why not
};

const Probe& probe() {
  static const Probe answer = [] {
    Probe p;
    try {
      p.mode = net::Uring(kSubmissionEntries, kCompletionEntries).mode();
    } catch (const std::system_error&) {
      p.refused = std::current_exception();
    }
    return p;
  }();
  return answer;
}

}  // namespace

UringPoller::UringPoller() {
  if (probe().refused) std::rethrow_exception(probe().refused);
  mode_ = probe().mode;
}

UringPoller::~UringPoller() = default;

void UringPoller::attach() {
  if (!ring_) ring_.emplace(kSubmissionEntries, kCompletionEntries);
}

std::vector<Poller::Registration> UringPoller::registrations() const {
  std::vector<Registration> out;
  for (const auto& [fd, watch] : watches_) out.push_back({fd, watch.interest, watch.handler});
  return out;
}

int UringPoller::buffer_group() noexcept {
  const int rc = ring_->provide_buffers(kBufferCount, kBufferSize);
  return rc == 0 ? static_cast<int>(net::Uring::kBufferGroup) : rc;
}

int UringPoller::add(int fd, Interest interest, EventHandler* handler) noexcept {
  try {
    if (!watches_.emplace(fd, Watch{handler, interest}).second) return -EEXIST;
    to_arm_.push_back(fd);
    return 0;
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

int UringPoller::modify(int fd, Interest interest, EventHandler* handler) noexcept {
  const auto it = watches_.find(fd);
  if (it == watches_.end()) return -ENOENT;
  Watch& watch = it->second;
  watch.handler = handler;
  if (watch.interest == interest) return 0;
  watch.interest = interest;
  disarm(watch);
  try {
    to_arm_.push_back(fd);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  return 0;
}

void UringPoller::remove(int fd) noexcept {
  const auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  disarm(it->second);
  watches_.erase(it);
}

void UringPoller::disarm(Watch& watch) noexcept {
  if (watch.armed == 0) return;
  polls_.erase(watch.armed);  // a completion still on its way is stale now
  if (io_uring_sqe* s = sqe()) {
    io_uring_prep_poll_remove(s, watch.armed << 3 | kOpPoll);
    io_uring_sqe_set_data64(s, 0);
  }
  watch.armed = 0;
}

// A poll reports once; arming it again at each pass is what keeps readiness
// level-triggered: a descriptor still ready completes again at once.
void UringPoller::arm_polls() noexcept {
  std::size_t i = 0;
  for (; i < to_arm_.size(); ++i) {
    const auto it = watches_.find(to_arm_[i]);
    if (it == watches_.end()) continue;
    Watch& watch = it->second;
    if (watch.armed != 0 || !(watch.interest.read || watch.interest.write)) continue;
    io_uring_sqe* s = sqe();
    if (!s) break;  // the rest wait for the next pass
    const std::uint64_t generation = next_generation_++;
    io_uring_prep_poll_add(
        s, it->first, (watch.interest.read ? POLLIN : 0u) | (watch.interest.write ? POLLOUT : 0u));
    io_uring_sqe_set_data64(s, generation << 3 | kOpPoll);
    watch.armed = generation;
    polls_.emplace(generation, it->first);
  }
  to_arm_.erase(to_arm_.begin(), to_arm_.begin() + static_cast<std::ptrdiff_t>(i));
}

void UringPoller::polled(std::uint64_t generation, int result, std::vector<Event>& out) noexcept {
  const auto it = polls_.find(generation);
  if (it == polls_.end()) return;  // removed or changed since it was armed
  const int fd = it->second;
  polls_.erase(it);
  const auto watch = watches_.find(fd);
  if (watch == watches_.end()) return;
  watch->second.armed = 0;
  to_arm_.push_back(fd);
  if (result == -ECANCELED) return;
  // Any other failure is the descriptor's: the handler's next call says which.
  const auto events = result < 0 ? unsigned{POLLERR} : static_cast<unsigned>(result);
  out.push_back(Event::readiness(
      watch->second.handler,
      Ready{(events & POLLIN) != 0, (events & POLLOUT) != 0, (events & (POLLHUP | POLLERR)) != 0}));
}

int UringPoller::wait(std::chrono::nanoseconds timeout, std::vector<Event>& out) noexcept {
  out.clear();
  if (!ring_) return -EBADF;  // attach() first
  arm_polls();
  if (const int rc = ring_->submit_and_wait(timeout); rc != 0) return rc;
  io_uring_cqe* cqe;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(ring_->get(), head, cqe) {
    ++seen;
    const std::uint64_t tag = cqe->user_data;
    if (tag == 0) continue;  // a cancel or a poll removal: nobody waits for it
    const auto op = static_cast<unsigned>(tag & kOpMask);
    if (op == kOpPoll) {
      polled(tag >> 3, cqe->res, out);
      continue;
    }
    // The tag is the handler's address (see submitted()) with the op in its low bits.
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    auto* handler = reinterpret_cast<EventHandler*>(tag & ~kOpMask);
    out.push_back(Event::completed(handler, Completion{op, cqe->res, cqe->flags}));
  }
  io_uring_cq_advance(ring_->get(), seen);
  return 0;
}

std::unique_ptr<Poller> make_uring_poller() {
  return std::make_unique<UringPoller>();
}

}  // namespace okq::server
