// epoll_driver.cpp -- the readiness (epoll) driver of a stream.
#include "okq/driver/epoll_driver.hpp"

#include <sys/socket.h>

#include <new>

#include "okq/net/socket.hpp"

namespace okq::server {
namespace {

// Reads per wake-up before other connections get a turn (level-triggered epoll
// calls back if more is queued).
constexpr int kReadsPerWakeup = 16;

}  // namespace

EpollDriver::EpollDriver(net::Fd fd) : fd_(std::move(fd)) {}

void EpollDriver::stop(Link& link) {
  if (link.stream().closed()) return;
  link.begin_stop(net::bytes_unread(fd_.get()));
  on_ready(link, Ready{.readable = true});  // read what the stop allows, answer, flush
}

void EpollDriver::on_ready(Link& link, Ready ready) {
  if (!fd_) return;  // finished
  try {
    // A hangup or error is reported whatever the interest: a read shows what happened.
    hung_up_ = hung_up_ || ready.hangup;
    if (ready.readable || ready.hangup) read_input(link, kReadsPerWakeup);
    flush(link);
    step(link);
  } catch (const std::bad_alloc&) {
    // Out of memory for this connection's replies: it alone pays.
    link.fail(ENOMEM);
    finish(link);
  }
}

void EpollDriver::read_input(Link& link, int max_reads) {
  const auto buffer = link.read_buffer();
  for (int i = 0; i < max_reads; ++i) {
    const bool discard = link.stream().discards_input();
    if (!discard && !link.stream().wants_input()) return;
    const std::size_t want = discard ? buffer.size() : link.stream().read_limit(buffer.size());
    const ssize_t n = net::recv_some(fd_.get(), buffer.data(), want);
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return link.fail(static_cast<int>(-n));
    if (n == 0) return link.eof(link.loop().now());
    link.input(std::string_view(buffer.data(), static_cast<std::size_t>(n)), link.loop().now());
    // A short read drained the socket: another recv would only say EAGAIN,
    // a syscall per request. Level-triggered epoll reports whatever comes next.
    if (static_cast<std::size_t>(n) < want) return;
  }
}

void EpollDriver::flush(Link& link) {
  while (!link.stream().closed() && link.stream().owed_bytes() > 0) {
    const auto owed = link.stream().owed();
    const ssize_t n = net::send_some(fd_.get(), owed.data(), owed.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return link.fail(static_cast<int>(-n));
    link.sent(static_cast<std::size_t>(n));
  }
}

void EpollDriver::step(Link& link) {
  if (link.stream().wants_fin()) {
    // Our side is done; the peer may still be sending. Send FIN and drain.
    ::shutdown(fd_.get(), SHUT_WR);
    link.stream().on_fin_sent(link.loop().now());
  }
  if (link.stream().closed()) return finish(link);
  update_interest(link);
  if (!link.stream().closed()) link.arm_timer();
}

void EpollDriver::update_interest(Link& link) {
  const Interest want{.read = link.stream().wants_input() || link.stream().discards_input(),
                      .write = link.stream().owed_bytes() > 0};
  if (hung_up_ && !want.read && !want.write) {
    // A hang-up is reported whatever the interest, over and over: with
    // nothing to do on it now (a relay's upstream whose replies wait for a
    // slow client), the socket is not watched until there is.
    if (registered_) link.loop().remove(fd_.get());
    registered_ = false;
    return;
  }
  if (registered_ && want == interest_) return;
  const int rc = registered_ ? link.loop().modify(fd_.get(), want, &link)
                             : link.loop().add(fd_.get(), want, &link);
  if (rc != 0) {
    link.fail(-rc);  // ENOSPC (max_user_watches), ENOMEM: this connection only
    finish(link);
    return;
  }
  registered_ = true;
  interest_ = want;
}

void EpollDriver::finish(Link& link) noexcept {
  if (!fd_) return;
  if (registered_) link.loop().remove(fd_.get());
  fd_.reset();
  link.report_closed();
}

}  // namespace okq::server
