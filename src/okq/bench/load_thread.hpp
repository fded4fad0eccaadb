// load_thread.hpp -- LoadThread: one okq-bench thread driving many
// connections on the server's own engine: an EventLoop (epoll or io_uring)
// and its drivers, each connection a Stream of requests out and replies in.
// Closed loop: each connection keeps `pipeline` requests in flight. Open loop
// (--rate): requests fall due on a fixed schedule (a loop timer, to the
// nanosecond) and their latency counts from when they were due, not when
// they could be sent, so a stalled server cannot hide its stall (coordinated
// omission). Every reply is checked. Owns its connections.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "okq/bench/histogram.hpp"
#include "okq/bench/protocol.hpp"
#include "okq/driver/link.hpp"
#include "okq/event/event_loop.hpp"
#include "okq/net/address.hpp"
#include "okq/net/fd.hpp"
#include "okq/proto/line_splitter.hpp"
#include "okq/proto/output_buffer.hpp"
#include "okq/session/stream.hpp"
#include "okq/tls/channel.hpp"

namespace okq::bench {

using Clock = std::chrono::steady_clock;

struct LoadPlan {
  net::SocketAddress target;
  std::size_t connections = 1;
  std::size_t idle_connections = 0;  // opened and held, never used
  std::size_t pipeline = 1;
  std::uint64_t max_requests = 0;  // 0: until stopped
  double rate = 0;                 // requests/s for this thread; 0: closed loop
  std::chrono::milliseconds drain_timeout{2000};
  // Close each connection cleanly after this many requests and open a new
  // one (memtier_benchmark's --reconnect-interval); 0: never.
  std::uint64_t reconnect_interval = 0;
  // A connection that breaks is opened again (after 10 ms, doubling to 1 s
  // while the server is not there) instead of being left; the requests it
  // had not had answered count as lost.
  bool reconnect = false;
  bool io_uring = false;  // else epoll
  // Speak TLS with this context (null: plaintext), checking `server_name`;
  // with `tls_resume`, each connection opened again resumes its last session.
  std::shared_ptr<const tls::Context> tls;
  std::string server_name;
  bool tls_resume = false;
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
  LoadThread(const Exchange& exchange, LoadPlan plan);
  ~LoadThread();

  // Opens every connection (on the calling thread). Throws net::Error.
  void connect();
  // Drives the load until stopped (or max_requests answered), then waits for
  // the replies still in flight, at most drain_timeout.
  void run(Clock::time_point start);
  // Any thread: stop sending; the run ends once what is in flight is answered.
  void request_stop();

  const Histogram& latency() const noexcept { return latency_; }
  // The --idle connections the server has closed (looked at now, after the run).
  std::size_t idle_closed() const noexcept;
  const Counters& counters() const noexcept { return counters_; }
  Clock::time_point finished() const noexcept { return finished_; }

 private:
  using Time = server::Stream::Time;

  // One connection's requests and replies, across the sockets it is opened
  // on: the stream its driver drives.
  struct Conn final : server::Stream {
    LoadThread* thread = nullptr;
    std::size_t index = 0;
    net::Fd fd;                              // opened, not yet given to a driver
    std::unique_ptr<server::Link> link;      // its driver, while open
    std::deque<Clock::time_point> due;       // requests due, not yet sent (open loop)
    std::deque<Clock::time_point> inflight;  // sent, awaiting a reply, oldest first
    proto::OutputBuffer out;                 // request bytes not yet written
    proto::LineSplitter replies;
    std::uint64_t sent_here = 0;  // requests sent on this socket (--reconnect-interval)
    bool closed_ = false;         // this socket's stream is over
    bool reopening = false;       // ... ended to be opened again (--reconnect-interval)
    bool broken = false;          // broken, and not (yet) opened again
    std::chrono::milliseconds backoff{0};
    std::shared_ptr<SSL_SESSION> session;  // --tls-resume: the last socket's

    bool wants_input() const noexcept override { return !closed_; }
    bool discards_input() const noexcept override { return false; }
    std::size_t read_limit(std::size_t buffer) const noexcept override { return buffer; }
    void on_input(std::string_view bytes, Time now) override;
    void on_eof(Time) override { closed_ = true; }
    std::string_view owed() noexcept override { return out.pending(); }
    std::size_t owed_bytes() const noexcept override { return out.size(); }
    void on_sent(std::size_t n, Time) override { out.consume(n); }
    bool wants_fin() const noexcept override { return false; }
    void on_fin_sent(Time) override {}
    void on_stop(std::size_t) override {}
    void close(server::CloseReason) noexcept override { closed_ = true; }
    bool closed() const noexcept override { return closed_; }
    Time deadline() const noexcept override { return Time::max(); }
    void on_timer(Time) override {}
  };
  class Carrier;  // a Conn's Link

  bool may_send() const noexcept;
  void fill(Conn& c, Clock::time_point now);
  void take_replies(Conn& c, std::string_view bytes, Clock::time_point now);
  void attach(Conn& c);         // gives its open socket to a driver
  void socket_closed(Conn& c);  // its driver let go of the socket
  void broken(Conn& c);
  void reconnect_if_due(Conn& c);
  bool reopen(Conn& c);  // false: the server is not there
  void retry(Conn& c);   // --reconnect: after its backoff
  void open(Conn& c, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void open_idle();  // one --idle connection (its TLS handshake done, with --tls)
  void schedule(Clock::time_point now);
  Clock::time_point due_time(std::uint64_t seq) const noexcept;  // open loop
  void arm_due_timer();
  void begin_stop();
  void end_if_over();
  std::uint64_t outstanding() const noexcept;

  const Exchange& exchange_;
  LoadPlan plan_;
  server::EventLoop loop_;
  std::vector<char> read_buffer_;
  server::LoopShare share_{loop_, read_buffer_};  // what its connections' links share
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<server::Link>> retired_;  // drivers done with, destroyed next
  std::vector<net::Fd> idle_;
  std::vector<std::unique_ptr<tls::Channel>> idle_tls_;  // their TLS, once its handshake is done
  Clock::time_point start_{};
  std::uint64_t next_seq_ = 0;  // open loop: index of the next request to fall due
  std::uint64_t issued_ = 0;    // requests sent or due, toward max_requests
  bool stopping_ = false;
  std::size_t waiting_ = 0;  // broken connections --reconnect will open again
  Histogram latency_;
  Counters counters_;
  Clock::time_point finished_{};
};

}  // namespace okq::bench
