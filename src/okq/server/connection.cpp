// connection.cpp -- the per-connection state machine.
#include "okq/server/connection.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "okq/net/socket.hpp"

namespace okq::server {
namespace {

// Reads per wake-up before other connections get a turn (level-triggered epoll
// calls back if more is queued).
constexpr int kReadsPerWakeup = 16;
// After our FIN, how long a peer may keep sending before the socket is closed
// regardless. Closing with unread input would make the kernel send RST, which
// can destroy replies still in flight; draining first avoids that.
constexpr auto kLingerTimeout = std::chrono::seconds(5);

}  // namespace

const char* to_string(ConnState state) noexcept {
  switch (state) {
    case ConnState::Reading:
      return "reading";
    case ConnState::Flushing:
      return "flushing";
    case ConnState::Lingering:
      return "lingering";
    case ConnState::Closed:
      return "closed";
  }
  return "?";
}

Connection::Connection(std::uint64_t id, net::Fd fd, std::string peer, ConnectionContext& ctx,
                       OnClosed on_closed)
    : id_(id),
      fd_(std::move(fd)),
      peer_(std::move(peer)),
      ctx_(ctx),
      on_closed_(std::move(on_closed)),
      codec_(proto::make_codec(ctx.codec)) {
  if (ctx_.log.enabled(Level::Trace)) {
    codec_->set_observer([this](std::string_view message) {
      ctx_.log.log(Level::Trace, "conn {} message \"{}\"", id_, escape(message));
    });
  }
}

void Connection::start() {
  interest_ = EPOLLIN;
  ctx_.loop.add(fd_.get(), interest_, this);
  last_progress_ = ctx_.loop.now();
  if (ctx_.idle_timeout.count() > 0) arm_idle_timer(last_progress_ + ctx_.idle_timeout);
}

void Connection::reject(std::string_view line) {
  rejected_ = true;
  out_.append(line);
  finish_input("rejected: too many connections");
  ctx_.loop.add(fd_.get(), 0, this);
  flush();
}

void Connection::arm_idle_timer(EventLoop::Clock::time_point when) {
  idle_timer_ = ctx_.loop.run_at(when, [this] { on_idle_timer(); });
}

// Re-armed lazily: progress only moves last_progress_, and the timer, when it
// fires, sleeps again until last_progress_ + timeout. One heap operation per
// timeout period per connection, not one per message.
void Connection::on_idle_timer() {
  idle_timer_ = 0;
  const auto deadline = last_progress_ + ctx_.idle_timeout;
  if (ctx_.loop.now() < deadline) {
    arm_idle_timer(deadline);
    return;
  }
  // Nothing owed can still be delivered to a client this stuck: close at once.
  close("idle timeout");
}

void Connection::on_events(std::uint32_t events) {
  // EPOLLHUP/EPOLLERR are reported whatever the interest: a read shows what happened.
  const bool readable = events & (EPOLLIN | EPOLLHUP | EPOLLERR);
  if (readable && state_ == ConnState::Reading) read_input(kReadsPerWakeup);
  if (readable && state_ == ConnState::Lingering) discard_input();
  if (state_ != ConnState::Closed && state_ != ConnState::Lingering) flush();
}

void Connection::read_input(int max_reads) {
  for (int i = 0; i < max_reads && state_ == ConnState::Reading; ++i) {
    if (owed() > ctx_.max_output) break;  // back-pressure: the client is not reading
    std::size_t want = std::min(ctx_.read_buffer.size(), codec_->read_limit());
    if (stopping_) want = std::min(want, stop_budget_);
    const ssize_t n = net::recv_some(fd_.get(), ctx_.read_buffer.data(), want);
    if (n > 0) {
      const std::string_view bytes(ctx_.read_buffer.data(), static_cast<std::size_t>(n));
      const auto before = codec_->messages();
      if (codec_->feed(bytes, out_.back()) == proto::Verdict::Close) finish_input("protocol end");
      if (codec_->messages() != before) last_progress_ = ctx_.loop.now();
      if (stopping_ && (stop_budget_ -= static_cast<std::size_t>(n)) == 0)
        finish_input("server shutdown");
      // A short read drained the socket: another recv would only say EAGAIN,
      // a syscall per request. Level-triggered epoll reports whatever comes next.
      if (static_cast<std::size_t>(n) < want) break;
    } else if (n == 0) {
      peer_eof_ = true;
      codec_->finish(out_.back());
      finish_input("client closed");
    } else if (n == -EAGAIN || n == -EWOULDBLOCK) {
      break;
    } else {
      close(std::strerror(static_cast<int>(-n)));
    }
  }
}

void Connection::discard_input() {
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    const ssize_t n = net::recv_some(fd_.get(), ctx_.read_buffer.data(), ctx_.read_buffer.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n <= 0) {
      close(why_);
      return;
    }
  }
}

// What a stop promises: every byte that had arrived when it began is answered
// (within the shutdown timeout), even bytes still in the kernel because this
// client was held back for not reading; nothing that arrives later is read.
void Connection::shutdown() {
  if (state_ != ConnState::Reading) return;  // already finishing on its own
  int unread = 0;
  if (::ioctl(fd_.get(), FIONREAD, &unread) != 0) unread = 0;
  if (unread <= 0 && owed() == 0) {
    // Idle: nothing to answer, nothing to send. Lingering would only make the
    // whole stop wait for a client that may never close.
    close("server shutdown");
    return;
  }
  stopping_ = true;
  stop_budget_ = static_cast<std::size_t>(std::max(unread, 0));
  if (stop_budget_ == 0)
    finish_input("server shutdown");
  else
    read_input(kReadsPerWakeup);
  if (state_ != ConnState::Closed) flush();
}

void Connection::finish_input(const char* why) {
  if (state_ != ConnState::Reading) return;
  why_ = why;
  state_ = ConnState::Flushing;
}

void Connection::flush() {
  while (owed() > 0) {
    const auto pending = out_.pending();
    const ssize_t n = net::send_some(fd_.get(), pending.data(), pending.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) break;
    if (n < 0) {
      close(std::strerror(static_cast<int>(-n)));
      return;
    }
    out_.consume(static_cast<std::size_t>(n));
    last_progress_ = ctx_.loop.now();
  }
  if (owed() == 0 && state_ == ConnState::Flushing) after_flush();
  if (state_ != ConnState::Closed) update_interest();
}

void Connection::after_flush() {
  if (peer_eof_) {
    close(why_);
    return;
  }
  // Our side is done; the peer may still be sending. Send FIN and drain.
  ::shutdown(fd_.get(), SHUT_WR);
  state_ = ConnState::Lingering;
  linger_timer_ = ctx_.loop.run_at(ctx_.loop.now() + kLingerTimeout, [this] {
    linger_timer_ = 0;
    close(why_);
  });
}

void Connection::update_interest() {
  std::uint32_t want = 0;
  if ((state_ == ConnState::Reading && owed() <= ctx_.max_output) || state_ == ConnState::Lingering)
    want |= EPOLLIN;
  if (owed() > 0) want |= EPOLLOUT;
  if (want == interest_) return;
  interest_ = want;
  ctx_.loop.modify(fd_.get(), want, this);
}

void Connection::close(const char* why) noexcept {
  if (state_ == ConnState::Closed) return;
  state_ = ConnState::Closed;
  if (linger_timer_ != 0) ctx_.loop.cancel(linger_timer_);
  if (idle_timer_ != 0) ctx_.loop.cancel(idle_timer_);
  ctx_.loop.remove(fd_.get());
  fd_.reset();
  ctx_.log.log(Level::Verbose, "conn {} from {} closed: {}; {} messages", id_, peer_, why,
               codec_->messages());
  on_closed_(*this);
}

}  // namespace okq::server
