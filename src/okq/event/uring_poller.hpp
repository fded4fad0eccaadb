// uring_poller.hpp -- UringPoller: the io_uring backend of Poller. One ring per
// loop; everything prepared during a loop pass reaches the kernel with the one
// io_uring_submit_and_wait of the next wait(), which also reaps every
// completion. Readiness (eventfds, listeners, signalfd) is a poll re-armed
// after each report, so it stays level-triggered as the Poller promises;
// connections submit their own receives and sends (UringDriver) and get
// completions back. Receives land in provided buffers shared by every
// connection of the loop. It owns the ring and the buffers, not the
// descriptors or handlers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "okq/event/poller.hpp"
#include "okq/net/uring.hpp"

namespace okq::server {

class UringPoller final : public Poller {
 public:
  // Receive buffers of one loop, shared by all its connections: a connection
  // holds one only between a completion and the end of its handler, so a
  // quiet connection costs none (10,000 idle clients hold no buffer at all).
  // 1,024 of them let that many connections deliver in one pass without
  // running out; 2 KiB holds dozens of pipelined messages. 2 MiB per loop
  // that serves connections, set up (and touched) at the first one: the
  // kernel takes them in ring order, so every one is resident soon anyway,
  // and a fixed cost shows as one. A loop that only listens has none.
  static constexpr unsigned kBufferCount = 1024;  // a power of two
  static constexpr std::size_t kBufferSize = 2048;

  // Throws std::system_error saying why, if the kernel will not let this
  // process set up a ring the way attach() will (tried once per process).
  UringPoller();
  ~UringPoller() override;

  const char* name() const noexcept override { return "io_uring"; }
  int add(int fd, Interest interest, EventHandler* handler) noexcept override;
  int modify(int fd, Interest interest, EventHandler* handler) noexcept override;
  void remove(int fd) noexcept override;
  int wait(std::chrono::nanoseconds timeout, std::vector<Event>& out) noexcept override;
  // The ring is made by the thread that runs the loop (SINGLE_ISSUER binds
  // it to its creator), in the process that serves (after any fork).
  void attach() override;
  UringPoller* uring() noexcept override { return this; }
  std::vector<Registration> registrations() const override;

  // --- for completion drivers, on the loop's thread after attach()
  // A submission slot, or nullptr if the queue is full and the kernel took
  // none of it. Sent with the next wait().
  io_uring_sqe* sqe() noexcept { return ring_->sqe(); }
  // user_data for an operation of `handler`; its completion comes back with
  // `op` (1 to 6). `handler` must outlive every operation it submits.
  static std::uint64_t tag(EventHandler* handler, unsigned op) noexcept {
    return reinterpret_cast<std::uintptr_t>(handler) | op;
  }
  // The bytes a receive completion carries, handed to `fn` a buffer at a
  // time (several with recv bundles) ...
  template <class Fn>
  void each_received(const Completion& done, Fn fn) const {
    ring_->each_received(done.result, done.flags, fn);
  }
  // ... and giving their buffers back, once the handler is done with them.
  void recycle(const Completion& done) noexcept { ring_->recycle(done.result, done.flags); }
  // Multishot receives are armed as bundles (the kernel has them).
  bool bundles() const noexcept { return ring_ && ring_->bundles(); }
  std::uint64_t bundled() const noexcept { return ring_ ? ring_->bundled() : 0; }
  // The provided-buffer group receives take their buffers from (set up at
  // the first call), or -errno if the kernel will not have it.
  int buffer_group() noexcept;
  // A receive found no buffer (-ENOBUFS) and had to be armed again: counted,
  // since a loop that often runs out wants more buffers.
  void ran_out_of_buffers() noexcept { ++out_of_buffers_; }
  std::uint64_t out_of_buffers() const noexcept { return out_of_buffers_; }
  // How the ring was set up ("defer_taskrun", "coop_taskrun", "plain").
  const char* mode() const noexcept { return ring_ ? ring_->mode() : mode_; }

 private:
  struct Watch {
    EventHandler* handler;
    Interest interest;
    std::uint64_t armed = 0;  // generation of the poll in flight, 0 if none
  };
  void arm_polls() noexcept;
  void disarm(Watch& watch) noexcept;
  void polled(std::uint64_t generation, int result, std::vector<Event>& out) noexcept;

  std::optional<net::Uring> ring_;
  const char* mode_ = "plain";  // of the ring set up to test the kernel
  std::uint64_t out_of_buffers_ = 0;

  std::unordered_map<int, Watch> watches_;        // by descriptor
  std::unordered_map<std::uint64_t, int> polls_;  // poll generation -> descriptor
  std::vector<int> to_arm_;
  std::uint64_t next_generation_ = 1;
};

}  // namespace okq::server
