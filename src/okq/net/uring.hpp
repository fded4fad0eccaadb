// uring.hpp -- Uring: one io_uring (liburing) set up the best way the kernel
// allows, with an optional ring of provided receive buffers, and the small
// verbs every user of it needs: a submission slot, one submit-and-wait with a
// timeout, the bytes a receive completion carries and giving its buffer back.
// It owns the ring and the buffers; what the operations point at belongs to
// whoever submitted them. One thread uses it (SINGLE_ISSUER: the one that made it).
#pragma once

#include <liburing.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace okq::net {

class Uring {
 public:
  // Throws std::system_error saying why the kernel refuses io_uring (ENOSYS,
  // EPERM from kernel.io_uring_disabled or a seccomp filter, ENOTSUP when it
  // lacks what okq needs: NODROP and EXT_ARG, multishot receive).
  Uring(unsigned submission_entries, unsigned completion_entries);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  io_uring* get() noexcept { return &ring_; }
  // How the ring was set up ("defer_taskrun", "coop_taskrun", "plain").
  const char* mode() const noexcept { return mode_; }

  // A submission slot, or nullptr if the queue is full and the kernel took
  // none of it.
  io_uring_sqe* sqe() noexcept;
  // Submits what was prepared and waits for one completion, at most
  // `timeout` (negative: no limit). 0, or -errno for a failure of the ring
  // itself (a timeout, a signal and a full completion queue are 0).
  int submit_and_wait(std::chrono::nanoseconds timeout) noexcept;

  // `count` (a power of two) buffers of `size` bytes for receives that ask
  // for buffer group 0. 0 or -errno; the first success sticks.
  int provide_buffers(unsigned count, std::size_t size) noexcept;
  bool has_buffers() const noexcept { return buffers_ != nullptr; }
  static constexpr unsigned kBufferGroup = 0;
  // The bytes a receive completion carries (empty if none), in one buffer ...
  std::string_view received(int result, std::uint32_t flags) const noexcept;
  // ... or, with recv bundles (Linux 6.10), in the consecutive buffers of
  // the ring one completion filled: handed to `fn` a buffer at a time.
  template <class Fn>
  void each_received(int result, std::uint32_t flags, Fn fn) const {
    if (!(flags & IORING_CQE_F_BUFFER) || result <= 0) return;
    if (!bundles_) return fn(received(result, flags));
    auto left = static_cast<std::size_t>(result);
    for (unsigned i = 0; left > 0; ++i) {
      const unsigned id = buffer_id(flags, i);
      const std::size_t n = left < buffer_size_ ? left : buffer_size_;
      fn(std::string_view(buffers_ + id * buffer_size_, n));
      left -= n;
    }
  }
  bool bundles() const noexcept { return bundles_; }
  // Completions that filled more than one buffer.
  std::uint64_t bundled() const noexcept { return bundled_; }
  // ... and giving their buffer (or buffers) back once they have been used.
  void recycle(int result, std::uint32_t flags) noexcept;

 private:
  void unmap_buffers() noexcept;
  // The id of the i-th buffer a completion filled: the completion names the
  // first; a bundle's others are the ring entries after it, in order.
  unsigned buffer_id(std::uint32_t flags, unsigned i) const noexcept {
    if (i == 0) return flags >> IORING_CQE_BUFFER_SHIFT;
    return buf_ring_->bufs[(head_ + i) & (buffer_count_ - 1)].bid;
  }

  io_uring ring_{};
  const char* mode_ = "plain";
  io_uring_buf_ring* buf_ring_ = nullptr;
  char* buffers_ = nullptr;
  unsigned buffer_count_ = 0;
  std::size_t buffer_size_ = 0;
  bool bundles_ = false;
  std::uint64_t bundled_ = 0;
  unsigned head_ = 0;  // with bundles: ring entries the kernel has taken, as reaped
};

}  // namespace okq::net
