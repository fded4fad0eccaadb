// link.hpp -- Link: one connection as a driver sees it, whoever owns it (an
// okq-server client's Connection, an okq-bench connection). It names the
// Stream the driver drives, the loop and read buffer it runs on, and the
// hooks the driver calls as bytes move; its owner overrides the hooks to
// count, log or trace. What every driver shares lives here too: the timer
// kept at the stream's deadline, and the errno behind an i/o error.
//
// A connection on a backend is a Link made concrete by OnEpoll<Owner> or
// OnUring<Owner> (driver/drivers.hpp): the owner's class with that backend's
// driver inside it, one object.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "okq/event/event_loop.hpp"
#include "okq/event/poller.hpp"
#include "okq/session/stream.hpp"

namespace okq::server {

// What every link of one loop shares, held once by the loop's owner (an
// okq-server worker's ConnectionContext, an okq-bench thread).
struct LoopShare {
  EventLoop& loop;
  std::span<char> read_buffer;  // epoll: one per loop, reused by every read
};

// The loop reports to the Link itself (its driver's socket's readiness, or
// its operations' completions): the handler interface is its primary base,
// so that costs no pointer beyond its own vtable's.
class Link : public EventHandler, private Timer {
 public:
  using Time = Stream::Time;

  virtual ~Link() { share_.loop.disarm(*this); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  void start() { resume(); }
  // The graceful stop: answer every byte that had arrived, flush, then
  // close (at once if nothing is owed or unread).
  virtual void stop() = 0;
  // At once, dropping anything unsent. It reports itself closed as soon as
  // the backend holds nothing of it (io_uring: once its operations ended).
  void close(CloseReason why) noexcept {
    stream_->close(why);
    finish();
  }

  // --- what its driver calls
  Stream& stream() noexcept { return *stream_; }
  EventLoop& loop() noexcept { return share_.loop; }
  std::span<char> read_buffer() noexcept { return share_.read_buffer; }
  // Bytes read (the stream's one way in), bytes of owed() written (the way
  // out), the peer's FIN.
  virtual void input(std::string_view bytes, Time now) { stream_->on_input(bytes, now); }
  virtual void sent(std::size_t n) { stream_->on_sent(n, share_.loop.now()); }
  virtual void eof(Time now) { stream_->on_eof(now); }
  // A stop began with `unread` bytes waiting in the kernel.
  virtual void begin_stop(std::size_t unread) { stream_->on_stop(unread); }
  // A system call failed: the stream closes with IoError; errno kept for the log.
  void fail(int err) noexcept {
    error_ = err;
    stream_->close(CloseReason::IoError);
  }
  void arm_timer();              // at the stream's deadline: on_timer, timer_fired(), then resume()
  void cancel_timer() noexcept;  // and never armed again
  // The socket is gone: the owner logs the end, counts it, lets go of the
  // connection. Called once.
  virtual void report_closed() noexcept = 0;

 protected:
  explicit Link(LoopShare& share) : Timer(&Link::expired), share_(share) {}

  // The driver's: do what the stream wants now (read, write, FIN, close; keep
  // the timer), and let go of the socket once it is closed.
  virtual void resume() = 0;
  virtual void finish() noexcept = 0;
  // After the stream's timer ran, before resume(): the owner's other legs.
  virtual void timer_fired() {}
  // The driver's own deadline, if it has one (io_uring: parking a quiet
  // receive); the timer is kept at the earlier of it and the stream's.
  virtual Time driver_deadline() const noexcept { return Time::max(); }

  LoopShare& share_;          // the owner's may be more (a ConnectionContext)
  Stream* stream_ = nullptr;  // the outermost stage: the owner sets it
  int error_ = 0;             // errno behind an IoError, for the log

 private:
  static void expired(Timer& timer);
  bool timer_off_ = false;  // cancel_timer() was called
};

}  // namespace okq::server
