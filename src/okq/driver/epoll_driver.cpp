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

EpollDriver::EpollDriver(Link& link, net::Fd fd) : link_(link), fd_(std::move(fd)) {}

void EpollDriver::stop() {
  if (link_.stream().closed()) return;
  link_.begin_stop(net::bytes_unread(fd_.get()));
  on_ready(Ready{.readable = true});  // read what the stop allows, answer, flush
}

void EpollDriver::on_ready(Ready ready) {
  if (!fd_) return;  // finished
  try {
    // A hangup or error is reported whatever the interest: a read shows what happened.
    hung_up_ = hung_up_ || ready.hangup;
    if (ready.readable || ready.hangup) read_input(kReadsPerWakeup);
    flush();
    step();
  } catch (const std::bad_alloc&) {
    // Out of memory for this connection's replies: it alone pays.
    link_.fail(ENOMEM);
    finish();
  }
}

void EpollDriver::read_input(int max_reads) {
  const auto buffer = link_.read_buffer();
  for (int i = 0; i < max_reads; ++i) {
    const bool discard = link_.stream().discards_input();
    if (!discard && !link_.stream().wants_input()) return;
    const std::size_t want = discard ? buffer.size() : link_.stream().read_limit(buffer.size());
    const ssize_t n = net::recv_some(fd_.get(), buffer.data(), want);
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return link_.fail(static_cast<int>(-n));
    if (n == 0) return link_.eof(link_.loop().now());
    link_.input(std::string_view(buffer.data(), static_cast<std::size_t>(n)), link_.loop().now());
    // A short read drained the socket: another recv would only say EAGAIN,
    // a syscall per request. Level-triggered epoll reports whatever comes next.
    if (static_cast<std::size_t>(n) < want) return;
  }
}

void EpollDriver::flush() {
  while (!link_.stream().closed() && link_.stream().owed_bytes() > 0) {
    const auto owed = link_.stream().owed();
    const ssize_t n = net::send_some(fd_.get(), owed.data(), owed.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return link_.fail(static_cast<int>(-n));
    link_.sent(static_cast<std::size_t>(n));
  }
}

void EpollDriver::step() {
  if (link_.stream().wants_fin()) {
    // Our side is done; the peer may still be sending. Send FIN and drain.
    ::shutdown(fd_.get(), SHUT_WR);
    link_.stream().on_fin_sent(link_.loop().now());
  }
  if (link_.stream().closed()) return finish();
  update_interest();
  if (!link_.stream().closed()) link_.arm_timer();
}

void EpollDriver::update_interest() {
  const Interest want{.read = link_.stream().wants_input() || link_.stream().discards_input(),
                      .write = link_.stream().owed_bytes() > 0};
  if (hung_up_ && !want.read && !want.write) {
    // A hang-up is reported whatever the interest, over and over: with
    // nothing to do on it now (a relay's upstream whose replies wait for a
    // slow client), the socket is not watched until there is.
    if (registered_) link_.loop().remove(fd_.get());
    registered_ = false;
    return;
  }
  if (registered_ && want == interest_) return;
  const int rc = registered_ ? link_.loop().modify(fd_.get(), want, this)
                             : link_.loop().add(fd_.get(), want, this);
  if (rc != 0) {
    link_.fail(-rc);  // ENOSPC (max_user_watches), ENOMEM: this connection only
    finish();
    return;
  }
  registered_ = true;
  interest_ = want;
}

void EpollDriver::finish() noexcept {
  if (!fd_) return;
  if (registered_) link_.loop().remove(fd_.get());
  fd_.reset();
  link_.report_closed();
}

}  // namespace okq::server
