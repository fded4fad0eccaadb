// epoll_connection.cpp -- the readiness (epoll) driver of a Session.
#include "okq/driver/epoll_connection.hpp"

#include <sys/socket.h>

#include <new>

#include "okq/net/socket.hpp"

namespace okq::server {
namespace {

// Reads per wake-up before other connections get a turn (level-triggered epoll
// calls back if more is queued).
constexpr int kReadsPerWakeup = 16;

}  // namespace

EpollConnection::EpollConnection(std::uint64_t id, net::Fd fd, std::string peer,
                                 ConnectionContext& ctx, OnClosed on_closed)
    : Connection(id, std::move(peer), ctx, std::move(on_closed)), fd_(std::move(fd)) {}

void EpollConnection::stop() {
  if (stream_->closed()) return;
  begin_stop(net::bytes_unread(fd_.get()));
  on_ready(Ready{.readable = true});  // read what the stop allows, answer, flush
}

void EpollConnection::on_ready(Ready ready) {
  if (!fd_) return;  // finished
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

void EpollConnection::read_input(int max_reads) {
  const auto buffer = ctx_.read_buffer;
  for (int i = 0; i < max_reads; ++i) {
    const bool discard = stream_->discards_input();
    if (!discard && !stream_->wants_input()) return;
    const std::size_t want = discard ? buffer.size() : stream_->read_limit(buffer.size());
    const ssize_t n = net::recv_some(fd_.get(), buffer.data(), want);
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return fail(static_cast<int>(-n));
    if (n == 0) return eof(ctx_.loop.now());
    input(std::string_view(buffer.data(), static_cast<std::size_t>(n)), ctx_.loop.now());
    // A short read drained the socket: another recv would only say EAGAIN,
    // a syscall per request. Level-triggered epoll reports whatever comes next.
    if (static_cast<std::size_t>(n) < want) return;
  }
}

void EpollConnection::flush() {
  while (!stream_->closed() && stream_->owed_bytes() > 0) {
    const auto owed = stream_->owed();
    const ssize_t n = net::send_some(fd_.get(), owed.data(), owed.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return fail(static_cast<int>(-n));
    sent(static_cast<std::size_t>(n));
  }
}

void EpollConnection::step() {
  if (stream_->wants_fin()) {
    // Our side is done; the peer may still be sending. Send FIN and drain.
    ::shutdown(fd_.get(), SHUT_WR);
    stream_->on_fin_sent(ctx_.loop.now());
  }
  if (stream_->closed()) return finish();
  update_interest();
  if (!stream_->closed()) arm_timer();
}

void EpollConnection::update_interest() {
  const Interest want{.read = stream_->wants_input() || stream_->discards_input(),
                      .write = stream_->owed_bytes() > 0};
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

void EpollConnection::finish() noexcept {
  if (!fd_) return;
  if (registered_) ctx_.loop.remove(fd_.get());
  fd_.reset();
  report_closed();
}

}  // namespace okq::server
