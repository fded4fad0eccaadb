// connection.cpp -- the epoll driver of a Session.
#include "okq/server/connection.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <new>

#include "okq/net/socket.hpp"

namespace okq::server {
namespace {

// Reads per wake-up before other connections get a turn (level-triggered epoll
// calls back if more is queued).
constexpr int kReadsPerWakeup = 16;

}  // namespace

Connection::Connection(std::uint64_t id, net::Fd fd, std::string peer, ConnectionContext& ctx,
                       OnClosed on_closed)
    : id_(id),
      fd_(std::move(fd)),
      peer_(std::move(peer)),
      ctx_(ctx),
      on_closed_(std::move(on_closed)),
      session_(ctx.limits, ctx.loop.now()) {
  if (ctx_.log.enabled(Level::Trace)) {
    session_.set_observer([this](std::string_view message) {
      ctx_.log.log(Level::Trace, "conn {} message \"{}\"", id_, escape(message));
    });
  }
}

void Connection::start() {
  step();
}

void Connection::reject(std::string_view line) {
  session_.reject(line);
  flush();
  step();
}

void Connection::shutdown() {
  if (session_.closed()) return;
  int unread = 0;
  if (::ioctl(fd_.get(), FIONREAD, &unread) != 0) unread = 0;
  ctx_.log.log(Level::Verbose, "conn {}: stopping, {} bytes unread and {} owed to answer", id_,
               unread, session_.owed_bytes());
  session_.on_shutdown(static_cast<std::size_t>(std::max(unread, 0)));
  on_ready(Ready{.readable = true});  // read what the stop allows, answer, flush
}

void Connection::on_ready(Ready ready) {
  try {
    // A hangup or error is reported whatever the interest: a read shows what happened.
    if (ready.readable || ready.hangup) read_input(kReadsPerWakeup);
    flush();
    step();
  } catch (const std::bad_alloc&) {
    // Out of memory for this connection's replies: it alone pays.
    fail(ENOMEM);
    finish();
  }
}

void Connection::read_input(int max_reads) {
  const auto buffer = ctx_.read_buffer;
  for (int i = 0; i < max_reads; ++i) {
    const bool discard = session_.discards_input();
    if (!discard && !session_.wants_input()) return;
    const std::size_t want = discard ? buffer.size() : session_.read_limit(buffer.size());
    const ssize_t n = net::recv_some(fd_.get(), buffer.data(), want);
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return fail(static_cast<int>(-n));
    if (n == 0) return session_.on_eof(ctx_.loop.now());
    session_.on_input(std::string_view(buffer.data(), static_cast<std::size_t>(n)),
                      ctx_.loop.now());
    // A short read drained the socket: another recv would only say EAGAIN,
    // a syscall per request. Level-triggered epoll reports whatever comes next.
    if (static_cast<std::size_t>(n) < want) return;
  }
}

void Connection::flush() {
  while (!session_.closed() && session_.owed_bytes() > 0) {
    const auto owed = session_.owed();
    const ssize_t n = net::send_some(fd_.get(), owed.data(), owed.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return fail(static_cast<int>(-n));
    session_.on_sent(static_cast<std::size_t>(n), ctx_.loop.now());
  }
}

void Connection::step() {
  if (finished_) return;
  if (session_.wants_fin()) {
    // Our side is done; the peer may still be sending. Send FIN and drain.
    ::shutdown(fd_.get(), SHUT_WR);
    session_.on_fin_sent(ctx_.loop.now());
  }
  if (session_.closed()) return finish();
  update_interest();
  if (!session_.closed()) arm_timer();
}

void Connection::update_interest() {
  const Interest want{.read = session_.wants_input() || session_.discards_input(),
                      .write = session_.owed_bytes() > 0};
  if (registered_ && want == interest_) return;
  const int rc =
      registered_ ? ctx_.loop.modify(fd_.get(), want, this) : ctx_.loop.add(fd_.get(), want, this);
  if (rc != 0) {
    fail(-rc);  // ENOSPC (max_user_watches), ENOMEM: this connection only
    finish();
    return;
  }
  registered_ = true;
  interest_ = want;
}

// Re-armed lazily: progress only moves the session's deadline later, and the
// timer, when it fires, sleeps again until the new deadline. One heap
// operation per timeout period per connection, not one per message.
void Connection::arm_timer() {
  const auto at = session_.deadline();
  if (at >= timer_at_) return;  // the armed timer comes first; it re-arms itself
  if (timer_ != 0) ctx_.loop.cancel(timer_);
  timer_at_ = at;
  timer_ = at == Session::Time::max() ? 0 : ctx_.loop.run_at(at, [this] {
    timer_ = 0;
    timer_at_ = Session::Time::max();
    session_.on_timer(ctx_.loop.now());
    step();
  });
}

void Connection::close(CloseReason why) noexcept {
  session_.close(why);
  finish();
}

void Connection::fail(int err) noexcept {
  error_ = err;
  session_.close(CloseReason::IoError);
}

void Connection::finish() noexcept {
  if (finished_) return;
  finished_ = true;
  if (timer_ != 0) ctx_.loop.cancel(timer_);
  if (registered_) ctx_.loop.remove(fd_.get());
  fd_.reset();
  const auto reason = session_.reason();
  ctx_.log.log(Level::Verbose, "conn {} from {} closed: {}; {} messages", id_, peer_,
               reason == CloseReason::IoError ? std::strerror(error_) : to_string(reason),
               session_.messages());
  on_closed_(*this);
}

}  // namespace okq::server
