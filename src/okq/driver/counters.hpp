// counters.hpp -- WorkerCounters: what one worker's connections have done,
// for --metrics. Written by the worker's thread only and read by the
// server's: each counter is a relaxed atomic, bumped by a plain load and
// store (one writer needs no locked instruction on the hot path).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "okq/session/close_reason.hpp"

namespace okq::server {

class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

struct WorkerCounters {
  Counter messages;   // messages answered (each complete message is one reply)
  Counter bytes_in;   // read from clients (PROXY headers included)
  Counter bytes_out;  // written to clients
  std::array<Counter, kCloseReasons> closed;  // connections ended, by why
  Counter tls_full;                           // TLS handshakes completed in full
  Counter tls_resumed;                        // ... resuming an earlier session

  void count_close(CloseReason why) noexcept { closed[static_cast<std::size_t>(why)].add(); }
  std::uint64_t closes(CloseReason why) const noexcept {
    return closed[static_cast<std::size_t>(why)].get();
  }
};

}  // namespace okq::server
