// connection.hpp -- Connection: one client's Session on one EventLoop, and what
// every backend's driver of it shares: the id and peer, the idle and linger
// timer, the trace of messages, the start of a stop and the log line at the
// end. A driver (EpollConnection, UringConnection) owns the socket and makes
// the system calls. The Worker owns the connection and destroys it once it
// has reported itself closed.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "okq/driver/counters.hpp"
#include "okq/driver/upstream.hpp"
#include "okq/event/event_loop.hpp"
#include "okq/log/log.hpp"
#include "okq/session/header_gate.hpp"
#include "okq/session/relay.hpp"
#include "okq/session/session.hpp"

namespace okq::server {

struct ConnectionLimits {
  SessionLimits session;
  // How long a PROXY listener's client has to send its whole header.
  std::chrono::milliseconds header_timeout{3000};
  // --upstream: how long the upstream may take to connect, or to send the
  // next reply it owes, before the client gets kUpstreamUnavailable.
  std::chrono::milliseconds upstream_timeout{5000};
};

// What every connection of one loop shares.
struct ConnectionContext {
  EventLoop& loop;
  Logger& log;
  ConnectionLimits limits;
  std::span<char> read_buffer;  // epoll: one per loop, reused by every read
  WorkerCounters& counters;
  const net::SocketAddress* upstream = nullptr;             // --upstream: relay every client there
  LogBurst invalid_headers{};                               // the loop's: one line a second at most
  LogBurst header_timeouts{};                               // likewise
  std::function<void(std::uint64_t id)> on_header_ended{};  // a PROXY header is whole or invalid
};

class Connection {
 public:
  using OnClosed = std::function<void(Connection&)>;

  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() { resume(); }
  // Before start(): the client came through a PROXY listener; its header
  // comes first, and its source is the peer logged from then on.
  void expect_proxy_header();
  // Still waiting for its PROXY header (a slow or silent client).
  bool awaiting_header() const noexcept { return gate_ && gate_->awaiting(); }
  // Before start(): relay this client's messages to `to` (--upstream) and
  // its replies back, instead of answering them.
  void relay_to(const net::SocketAddress& to);
  // Instead of start(): answer `line` (e.g. "ERR too many connections\n") and close.
  void reject(std::string_view line);
  // Server stopping: answer every byte that had arrived, flush, then close
  // (at once if nothing is owed or unread).
  virtual void stop() = 0;
  // At once, dropping anything unsent. It reports itself closed as soon as
  // the backend holds nothing of it (io_uring: once its operations ended).
  void close(CloseReason why) noexcept;

  std::uint64_t id() const noexcept { return id_; }
  bool rejected() const noexcept { return session_.rejected(); }
  SessionState state() const noexcept { return session_.state(); }

 protected:
  Connection(std::uint64_t id, std::string peer, ConnectionContext& ctx, OnClosed on_closed);

  // Do what the session wants now: read, write, FIN, close; keep the timer.
  virtual void resume() = 0;
  // The session closed: let go of the socket, then report_closed().
  virtual void finish() noexcept = 0;

  // A stop began with `unread` bytes waiting in the kernel: each is to be
  // answered. The driver then reads what the stop allows.
  void begin_stop(std::size_t unread);
  // Bytes read from the client, to the session (the drivers' one way in),
  // and bytes of owed() written (the way out); both counted.
  void input(std::string_view bytes, Session::Time now);
  void sent(std::size_t n);
  void eof(Session::Time now);  // the client's FIN (may end a last unterminated message)
  void arm_timer();             // at the session's deadline: on_timer, then resume()
  void cancel_timer() noexcept;
  void fail(int err) noexcept;    // a system call failed: close with IoError
  void report_closed() noexcept;  // logs the end and tells the owner, once

  std::uint64_t id_;
  std::string peer_;
  ConnectionContext& ctx_;
  Session session_;
  // What the driver drives: the stages in front of the session, wire order
  // first (the PROXY header's gate; a transport goes after it), or the
  // session itself.
  Stream* stream_ = &session_;

 private:
  void header_ended();      // the PROXY header is whole or invalid: log it, keep the source
  void upstream_changed();  // the relay's leg moved: the session takes it in, then resume()

  std::unique_ptr<HeaderGate> gate_;  // a PROXY listener's, until its header is whole
  Relay* relay_ = nullptr;            // --upstream: the session's responder

  OnClosed on_closed_;
  bool reported_ = false;
  int error_ = 0;  // errno behind an IoError, for the log
  EventLoop::TimerId timer_ = 0;
  Session::Time timer_at_ = Session::Time::max();
  std::unique_ptr<Upstream> upstream_;  // the relay's leg (--upstream); closed with the client's
};

}  // namespace okq::server
