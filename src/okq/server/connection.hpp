// connection.hpp -- Connection: the driver that moves one client's bytes
// between its socket and its Session on an EventLoop. The Session decides
// (what to read, what is owed, when to send FIN, when to close); this class
// makes the system calls and keeps the loop's interest and timer in step.
// It owns its socket and session; the Server owns it and destroys it once closed.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "okq/net/fd.hpp"
#include "okq/server/event_loop.hpp"
#include "okq/server/log.hpp"
#include "okq/server/session.hpp"

namespace okq::server {

// What every connection of one loop shares.
struct ConnectionContext {
  EventLoop& loop;
  Logger& log;
  SessionLimits limits;
  std::span<char> read_buffer;  // one per loop, reused by every read
};

class Connection final : public EventHandler {
 public:
  using OnClosed = std::function<void(Connection&)>;

  Connection(std::uint64_t id, net::Fd fd, std::string peer, ConnectionContext& ctx,
             OnClosed on_closed);

  void start();  // registers with the loop
  // Instead of start(): answer `line` (e.g. "ERR too many connections\n") and close.
  void reject(std::string_view line);
  // Server stopping: answer every byte that had arrived, flush, then close
  // (at once if nothing is owed or unread).
  void shutdown();
  void close(CloseReason why) noexcept;  // at once, dropping anything unsent

  void on_ready(Ready ready) override;

  std::uint64_t id() const noexcept { return id_; }
  bool rejected() const noexcept { return session_.rejected(); }
  SessionState state() const noexcept { return session_.state(); }

 private:
  void read_input(int max_reads);
  void flush();
  void step();  // after any event: FIN, close, interest and timer as the session wants
  void update_interest();
  void arm_timer();
  void fail(int err) noexcept;  // a system call failed: close with IoError
  void finish() noexcept;       // the session closed: release the socket, log, tell the owner

  std::uint64_t id_;
  net::Fd fd_;
  std::string peer_;
  ConnectionContext& ctx_;
  OnClosed on_closed_;
  Session session_;
  bool registered_ = false;
  bool finished_ = false;
  int error_ = 0;  // errno behind an IoError, for the log
  Interest interest_;
  EventLoop::TimerId timer_ = 0;
  Session::Time timer_at_ = Session::Time::max();
};

}  // namespace okq::server
