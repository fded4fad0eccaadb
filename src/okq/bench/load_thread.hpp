// load_thread.hpp -- LoadThread: one thread driving many non-blocking connections from
// its own epoll, or its own io_uring (one multishot receive per connection
// into shared buffers, one send in flight, one system call per pass). Closed loop: each connection
// keeps `pipeline` requests in flight. Open loop (--rate): requests fall due on a fixed schedule
// and their latency counts from when they were due, not when they could be sent, so a stalled
// server cannot hide its stall (coordinated omission). Every reply is checked. Owns its
// connections; reads the shared stop flag.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <vector>

#include "okq/bench/histogram.hpp"
#include "okq/bench/protocol.hpp"
#include "okq/net/address.hpp"
#include "okq/net/fd.hpp"
#include "okq/net/uring.hpp"
#include "okq/proto/line_splitter.hpp"
#include "okq/proto/output_buffer.hpp"

namespace okq::bench {

using Clock = std::chrono::steady_clock;

struct LoadPlan {
  net::SocketAddress target;
  std::size_t connections = 1;
  std::size_t idle_connections = 0;  // opened and held, never used
  std::size_t pipeline = 1;
  std::uint64_t max_requests = 0;  // 0: until stopped
  double rate = 0;                 // requests/s for this worker; 0: closed loop
  std::chrono::milliseconds drain_timeout{2000};
  // Close each connection cleanly after this many requests and open a new
  // one (memtier_benchmark's --reconnect-interval); 0: never.
  std::uint64_t reconnect_interval = 0;
  // A connection that breaks is opened again (after 10 ms, doubling to 1 s
  // while the server is not there) instead of being left; the requests it
  // had not had answered count as lost.
  bool reconnect = false;
  bool io_uring = false;  // else epoll
};

// Live figures, read by the progress line from another thread.
struct Counters {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::uint64_t> bad_replies{0};
  std::atomic<std::uint64_t> broken_connections{0};
  std::atomic<std::uint64_t> reconnects{0};
};

class LoadThread {
 public:
  LoadThread(const Exchange& exchange, LoadPlan plan, const std::atomic<bool>& stop);

  // Opens every connection. Throws net::Error.
  void connect();
  // Drives the load until stopped (or max_requests answered), then waits for
  // the replies still in flight, at most drain_timeout.
  void run(Clock::time_point start);

  const Histogram& latency() const noexcept { return latency_; }
  // The --idle connections the server has closed (looked at now, after the run).
  std::size_t idle_closed() const noexcept;
  const Counters& counters() const noexcept { return counters_; }
  Clock::time_point finished() const noexcept { return finished_; }

 private:
  struct Conn {
    net::Fd fd;
    std::deque<Clock::time_point> due;       // requests due, not yet sent (open loop)
    std::deque<Clock::time_point> inflight;  // sent, awaiting a reply, oldest first
    proto::OutputBuffer out;                 // request bytes not yet written
    proto::LineSplitter replies;
    std::uint64_t sent_here = 0;  // requests sent on this connection (--reconnect-interval)
    bool broken = false;
    bool touched = false;     // listed in touched_ for this round
    bool want_write = false;  // EPOLLOUT registered
    // io_uring: operations in flight carry the generation of the socket they
    // were for; completions of an older one only give their buffer back.
    std::uint32_t generation = 0;
    bool receiving = false;
    bool sending = false;
    Clock::time_point retry_at{};  // --reconnect: when to try a broken one again
    std::chrono::milliseconds backoff{0};
  };

  bool may_send() const noexcept;
  void fill(Conn& c, Clock::time_point now);
  void write(Conn& c);
  void read(Conn& c, Clock::time_point now);
  void take_replies(Conn& c, std::string_view bytes, Clock::time_point now);
  void flush(Conn& c, std::size_t index);  // writes what is owed, by the backend's means
  void release(Conn& c);                   // closes its socket, whatever is in flight
  bool run_over() const;                   // the run is over: stopped and drained, or all broken
  void run_epoll();
  // io_uring (worker_uring.cpp)
  void start_uring();
  void cancel_operations(Conn& c);
  void run_uring();
  void arm_receive(Conn& c);
  void send_uring(Conn& c);
  void completed(const io_uring_cqe& cqe, Clock::time_point now);
  std::size_t index_of(const Conn& c) const noexcept {
    return static_cast<std::size_t>(&c - conns_.data());
  }
  void schedule(Clock::time_point now);
  Clock::time_point due_time(std::uint64_t seq) const noexcept;  // open loop
  void arm_timer();
  void broken(Conn& c);
  void reconnect_if_due(Conn& c, std::size_t index);
  bool reopen(Conn& c, std::size_t index);  // false: the server is not there
  void retry_broken(Clock::time_point now);
  void open(std::size_t index, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void update_interest(Conn& c, std::size_t index);
  void touch(std::size_t index);
  void refill_touched(Clock::time_point now);
  std::uint64_t outstanding() const noexcept;

  const Exchange& exchange_;
  LoadPlan plan_;
  const std::atomic<bool>& stop_;
  std::vector<Conn> conns_;
  std::vector<std::size_t> touched_;  // connections to refill this round
  std::vector<net::Fd> idle_;
  net::Fd epoll_;
  net::Fd timer_;                   // open loop: fires when the next request is due
  std::optional<net::Uring> ring_;  // made by the thread that runs the load
  Clock::time_point start_{};
  std::uint64_t next_seq_ = 0;  // open loop: index of the next request to fall due
  std::uint64_t issued_ = 0;    // requests sent or due, toward max_requests
  bool stopping_ = false;
  Clock::time_point drain_deadline_{};
  std::size_t waiting_ = 0;  // broken connections --reconnect will open again
  Histogram latency_;
  Counters counters_;
  Clock::time_point finished_{};
};

}  // namespace okq::bench
