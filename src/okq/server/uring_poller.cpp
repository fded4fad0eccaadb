// uring_poller.cpp -- the io_uring backend of Poller: ring setup, the
// provided-buffer ring, level-triggered polls, and one submit-and-wait per
// loop pass.
#include "okq/server/uring_poller.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
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

struct Setup {
  unsigned flags;
  const char* mode;
};
// Best first. DEFER_TASKRUN (6.1) runs completion work only when this thread
// enters the kernel, in batches; COOP_TASKRUN (5.19) at least spares the
// thread an interrupt per completion.
constexpr Setup kSetups[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "defer_taskrun"},
    {IORING_SETUP_COOP_TASKRUN, "coop_taskrun"},
    {0, "plain"},
};

[[noreturn]] void refuse(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

// Multishot receive came in Linux 6.0; its absence shows only at the first
// receive, so the version is the honest test.
bool kernel_has_multishot_receive() noexcept {
  utsname u{};
  int major = 0;
  if (::uname(&u) != 0 || std::sscanf(u.release, "%d.", &major) != 1) return false;
  return major >= 6;
}

void* map_anonymous(std::size_t bytes, int flags = 0) noexcept {
  void* p =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

constexpr unsigned kBufferGroup = 0;

}  // namespace

UringPoller::UringPoller() {
  open();
  close();
}

UringPoller::~UringPoller() {
  close();
}

void UringPoller::attach() {
  if (!open_) open();
}

void UringPoller::open() {
  int rc = -EINVAL;
  for (const auto& setup : kSetups) {
    io_uring_params params{};
    params.flags = setup.flags | IORING_SETUP_CQSIZE;
    params.cq_entries = kCompletionEntries;
    rc = io_uring_queue_init_params(kSubmissionEntries, &ring_, &params);
    if (rc == 0) {
      mode_ = setup.mode;
      break;
    }
    if (rc != -EINVAL) break;  // EINVAL: an older kernel; anything else: not allowed
  }
  if (rc != 0) refuse(-rc, "io_uring_setup");
  open_ = true;
  const char* lacks = nullptr;
  constexpr unsigned need = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
  if ((ring_.features & need) != need)
    lacks = "io_uring: the kernel lacks NODROP or EXT_ARG (Linux 5.11)";
  else if (!kernel_has_multishot_receive())  // provided-buffer rings (5.19) come with it
    lacks = "io_uring: the kernel lacks multishot receive (Linux 6.0)";
  if (lacks) {
    close();
    refuse(ENOTSUP, lacks);
  }
  // Spares the kernel a descriptor lookup per enter; optional.
  io_uring_register_ring_fd(&ring_);
}

int UringPoller::buffer_group() noexcept {
  if (buffers_) return static_cast<int>(kBufferGroup);
  const int rc = set_up_buffers();
  return rc == 0 ? static_cast<int>(kBufferGroup) : rc;
}

// liburing 2.3 has no io_uring_setup_buf_ring: map and register by hand.
int UringPoller::set_up_buffers() noexcept {
  buffers_ = static_cast<char*>(map_anonymous(kBufferCount * kBufferSize, MAP_POPULATE));
  buf_ring_ = static_cast<io_uring_buf_ring*>(map_anonymous(kBufferCount * sizeof(io_uring_buf)));
  int rc = -ENOMEM;
  if (buffers_ && buf_ring_) {
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(buf_ring_);
    reg.ring_entries = kBufferCount;
    reg.bgid = kBufferGroup;
    rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  }
  if (rc != 0) {
    unmap_buffers();
    return rc;
  }
  io_uring_buf_ring_init(buf_ring_);
  const int mask = io_uring_buf_ring_mask(kBufferCount);
  for (unsigned i = 0; i < kBufferCount; ++i)
    io_uring_buf_ring_add(buf_ring_, buffers_ + i * kBufferSize, kBufferSize,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(kBufferCount));
  return 0;
}

void UringPoller::unmap_buffers() noexcept {
  if (buf_ring_) ::munmap(buf_ring_, kBufferCount * sizeof(io_uring_buf));
  if (buffers_) ::munmap(buffers_, kBufferCount * kBufferSize);
  buf_ring_ = nullptr;
  buffers_ = nullptr;
}

void UringPoller::close() noexcept {
  if (open_) io_uring_queue_exit(&ring_);
  open_ = false;
  unmap_buffers();
}

io_uring_sqe* UringPoller::sqe() noexcept {
  if (io_uring_sqe* s = io_uring_get_sqe(&ring_)) return s;
  io_uring_submit(&ring_);  // the queue is full: hand it over now
  return io_uring_get_sqe(&ring_);
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
    io_uring_prep_poll_add(s, it->first,
                           (watch.interest.read ? POLLIN : 0u) | (watch.interest.write ? POLLOUT : 0u));
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
  out.push_back(Event::readiness(watch->second.handler,
                                 Ready{(events & POLLIN) != 0, (events & POLLOUT) != 0,
                                       (events & (POLLHUP | POLLERR)) != 0}));
}

int UringPoller::wait(int timeout_ms, std::vector<Event>& out) noexcept {
  out.clear();
  if (!open_) return -EBADF;  // attach() first
  arm_polls();
  io_uring_cqe* cqe = nullptr;
  int rc;
  if (timeout_ms < 0) {
    rc = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts{.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000LL};
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  // ETIME: the time is up; EINTR: a signal; EBUSY, EAGAIN: completions wait
  // in the kernel's overflow list and reaping these makes room for them.
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) return rc;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    const std::uint64_t tag = cqe->user_data;
    if (tag == 0) continue;  // a cancel or a poll removal: nobody waits for it
    const auto op = static_cast<unsigned>(tag & kOpMask);
    if (op == kOpPoll) {
      polled(tag >> 3, cqe->res, out);
      continue;
    }
    out.push_back(Event::completed(reinterpret_cast<CompletionHandler*>(tag & ~kOpMask),
                                   Completion{op, cqe->res, cqe->flags}));
  }
  io_uring_cq_advance(&ring_, seen);
  return 0;
}

std::string_view UringPoller::received(const Completion& done) const noexcept {
  if (!(done.flags & IORING_CQE_F_BUFFER) || done.result <= 0) return {};
  const unsigned id = done.flags >> IORING_CQE_BUFFER_SHIFT;
  return {buffers_ + id * kBufferSize, static_cast<std::size_t>(done.result)};
}

void UringPoller::recycle(const Completion& done) noexcept {
  if (!(done.flags & IORING_CQE_F_BUFFER)) return;
  const unsigned id = done.flags >> IORING_CQE_BUFFER_SHIFT;
  io_uring_buf_ring_add(buf_ring_, buffers_ + id * kBufferSize, kBufferSize,
                        static_cast<unsigned short>(id), io_uring_buf_ring_mask(kBufferCount), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

std::unique_ptr<Poller> make_uring_poller() {
  return std::make_unique<UringPoller>();
}

}  // namespace okq::server
