// uring.cpp -- setting up an io_uring and its provided-buffer ring.
#include "okq/net/uring.hpp"

#include <sys/mman.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <system_error>

namespace okq::net {
namespace {

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

// Multishot receive came in Linux 6.0 (provided-buffer rings in 5.19); its
// absence shows only at the first receive, so the version is the honest test.
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

// OKQ_IO_URING_SETUP=coop_taskrun|plain starts the search there, so that
// the test suite can run on the older modes a newer kernel would never pick.
std::size_t first_setup() noexcept {
  const char* forced = std::getenv("OKQ_IO_URING_SETUP");
  for (std::size_t i = 0; forced && i < std::size(kSetups); ++i)
    if (std::strcmp(forced, kSetups[i].mode) == 0) return i;
  return 0;
}

}  // namespace

Uring::Uring(unsigned submission_entries, unsigned completion_entries) {
  int rc = -EINVAL;
  for (std::size_t i = first_setup(); i < std::size(kSetups); ++i) {
    const auto& setup = kSetups[i];
    io_uring_params params{};
    params.flags = setup.flags | IORING_SETUP_CQSIZE;
    params.cq_entries = completion_entries;
    rc = io_uring_queue_init_params(submission_entries, &ring_, &params);
    if (rc == 0) {
      mode_ = setup.mode;
      break;
    }
    if (rc != -EINVAL) break;  // EINVAL: an older kernel; anything else: not allowed
  }
  if (rc != 0) throw std::system_error(-rc, std::generic_category(), "io_uring_setup");
  const char* lacks = nullptr;
  constexpr unsigned need = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
  if ((ring_.features & need) != need)
    lacks = "io_uring: the kernel lacks NODROP or EXT_ARG (Linux 5.11)";
  else if (!kernel_has_multishot_receive())
    lacks = "io_uring: the kernel lacks multishot receive (Linux 6.0)";
  if (lacks) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(ENOTSUP, std::generic_category(), lacks);
  }
  // OKQ_RECV_BUNDLE=1, where the kernel has them (Linux 6.10; liburing 2.3
  // predates the flag): a multishot receive brings what waits in the socket
  // in as many buffers as it fills, in one completion. An experiment, off
  // by default: it saves CPU once a pipeline's bytes pass one buffer, but
  // one completion may then bring the loop's whole receive pool, past what
  // --max-output bounds (bench/recv-bundles, docs/performance.md).
  constexpr unsigned kFeatRecvsendBundle = 1U << 14;
  const char* bundle = std::getenv("OKQ_RECV_BUNDLE");
  bundles_ = (ring_.features & kFeatRecvsendBundle) && bundle && std::strcmp(bundle, "1") == 0;
  // Spares the kernel a descriptor lookup per enter; optional.
  io_uring_register_ring_fd(&ring_);
}

Uring::~Uring() {
  io_uring_queue_exit(&ring_);
  unmap_buffers();
}

io_uring_sqe* Uring::sqe() noexcept {
  if (io_uring_sqe* s = io_uring_get_sqe(&ring_)) return s;
  io_uring_submit(&ring_);  // the queue is full: hand it over now
  return io_uring_get_sqe(&ring_);
}

int Uring::submit_and_wait(std::chrono::nanoseconds timeout) noexcept {
  int rc;
  if (timeout.count() < 0) {
    rc = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts{.tv_sec = timeout.count() / 1'000'000'000,
                         .tv_nsec = timeout.count() % 1'000'000'000};
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  // ETIME: the time is up; EINTR: a signal; EBUSY, EAGAIN: completions wait
  // in the kernel's overflow list and reaping these makes room for them.
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) return rc;
  return 0;
}

// liburing 2.3 has no io_uring_setup_buf_ring: map and register by hand.
int Uring::provide_buffers(unsigned count, std::size_t size) noexcept {
  if (buffers_) return 0;
  buffers_ = static_cast<char*>(map_anonymous(count * size, MAP_POPULATE));
  buf_ring_ = static_cast<io_uring_buf_ring*>(map_anonymous(count * sizeof(io_uring_buf)));
  buffer_count_ = count;
  buffer_size_ = size;
  int rc = -ENOMEM;
  if (buffers_ && buf_ring_) {
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(buf_ring_);
    reg.ring_entries = count;
    reg.bgid = kBufferGroup;
    rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  }
  if (rc != 0) {
    unmap_buffers();
    return rc;
  }
  io_uring_buf_ring_init(buf_ring_);
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i)
    io_uring_buf_ring_add(buf_ring_, buffers_ + i * size, static_cast<unsigned>(size),
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));
  return 0;
}

void Uring::unmap_buffers() noexcept {
  if (buf_ring_) ::munmap(buf_ring_, buffer_count_ * sizeof(io_uring_buf));
  if (buffers_) ::munmap(buffers_, buffer_count_ * buffer_size_);
  buf_ring_ = nullptr;
  buffers_ = nullptr;
}

std::string_view Uring::received(int result, std::uint32_t flags) const noexcept {
  if (!(flags & IORING_CQE_F_BUFFER) || result <= 0) return {};
  const unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
  return {buffers_ + id * buffer_size_, static_cast<std::size_t>(result)};
}

void Uring::recycle(int result, std::uint32_t flags) noexcept {
  if (!(flags & IORING_CQE_F_BUFFER)) return;
  unsigned count = 1;
  if (bundles_ && result > 0)
    count =
        static_cast<unsigned>((static_cast<std::size_t>(result) + buffer_size_ - 1) / buffer_size_);
  for (unsigned i = 0; i < count; ++i) {
    const unsigned id = buffer_id(flags, i);
    io_uring_buf_ring_add(buf_ring_, buffers_ + id * buffer_size_,
                          static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(buffer_count_), static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));
  head_ += count;
  if (count > 1) ++bundled_;
}

}  // namespace okq::net
