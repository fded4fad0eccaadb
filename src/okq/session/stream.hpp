// stream.hpp -- Stream: what a driver drives. A driver (one per I/O backend)
// owns a socket and makes the system calls; a stream owns no socket and reads
// no clock: it says what it wants next (input, and how much; bytes written;
// a FIN; a wake-up at its deadline) and is told what happened. The stages
// between a driver and a Session are streams over the stream inside them
// (HeaderGate, and where a transport goes), and the Session is the innermost.
//
// What a driver promises a stream: it reads only while wants_input() (or
// discards_input()) and never more than read_limit() at once; it hands every
// byte read to on_input() in order and the peer's FIN to on_eof(); it writes
// owed() from its start, which stays put until on_sent() has taken it all,
// and reports each write's count; it sends FIN only when wants_fin(), then
// calls on_fin_sent(); it calls on_timer() at or after deadline(); and once
// closed() it lets go of the socket and calls nothing more.
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

#include "okq/session/close_reason.hpp"

namespace okq::server {

class Stream {
 public:
  using Clock = std::chrono::steady_clock;
  using Time = Clock::time_point;

  virtual ~Stream() = default;

  // --- input
  // Input is wanted now (not held back): read at most read_limit() of it.
  virtual bool wants_input() const noexcept = 0;
  // Input is read only to be dropped, until the peer's FIN.
  virtual bool discards_input() const noexcept = 0;
  // The most worth reading at once, out of a buffer of `buffer` bytes.
  virtual std::size_t read_limit(std::size_t buffer) const noexcept = 0;
  virtual void on_input(std::string_view bytes, Time now) = 0;
  virtual void on_eof(Time now) = 0;

  // --- output
  // The next bytes to write; they stay put until all of them are sent.
  virtual std::string_view owed() noexcept = 0;
  virtual std::size_t owed_bytes() const noexcept = 0;
  virtual void on_sent(std::size_t n, Time now) = 0;
  // Everything owed is written and the peer may still send: send FIN
  // (shutdown SHUT_WR), then on_fin_sent().
  virtual bool wants_fin() const noexcept = 0;
  virtual void on_fin_sent(Time now) = 0;

  // --- ending, and time
  // The server is stopping; `unread` bytes had arrived and wait in the
  // kernel. Every one of them is answered; nothing that arrives later is read.
  virtual void on_stop(std::size_t unread) = 0;
  virtual void close(CloseReason reason) noexcept = 0;
  virtual bool closed() const noexcept = 0;
  // When on_timer() should next look; Time::max() if never.
  virtual Time deadline() const noexcept = 0;
  virtual void on_timer(Time now) = 0;
};

}  // namespace okq::server
