// upstream.cpp -- the relay's leg to the upstream server.
#include "okq/driver/upstream.hpp"

#include <sys/socket.h>

#include <cstring>

#include "okq/net/error.hpp"
#include "okq/net/socket.hpp"

namespace okq::server {
namespace {

constexpr int kReadsPerWakeup = 16;

}  // namespace

Upstream::Upstream(EventLoop& loop, std::span<char> buffer, Relay& relay, OnChange on_change)
    : loop_(loop), buffer_(buffer), relay_(relay), on_change_(std::move(on_change)) {}

Upstream::~Upstream() {
  close();
}

void Upstream::close() noexcept {
  if (!fd_) return;
  if (registered_) loop_.remove(fd_.get());
  registered_ = false;
  fd_.reset();
}

void Upstream::connect(const net::SocketAddress& to) {
  try {
    auto started = net::start_connect(to);
    fd_ = std::move(started.fd);
    connecting_ = started.in_progress;
  } catch (const net::Error& e) {
    return fail(e.err());
  }
  if (!connecting_) relay_.on_connected(loop_.now());
  update();
}

void Upstream::update() {
  if (!fd_) return;
  if (relay_.done()) return close();
  if (!connecting_) write();
  set_interest();
}

void Upstream::on_ready(Ready ready) {
  if (!fd_) return;
  if (connecting_) {
    if (const int err = net::socket_error(fd_.get()); err != 0) {
      fail(err);
      return on_change_();
    }
    if (!ready.writable && !ready.hangup) return;
    connecting_ = false;
    relay_.on_connected(loop_.now());
  }
  if (ready.readable || ready.hangup) read();
  if (fd_ && ready.hangup && !relay_.wants_input()) {
    // Reported whatever the interest: an error ends the relay now; a clean
    // end waits, unwatched, until the client has taken what it owes.
    if (const int err = net::socket_error(fd_.get()); err != 0)
      fail(err);
    else
      hung_up_ = true;
  }
  update();
  on_change_();  // may end the client connection, and close() this one
}

void Upstream::read() {
  for (int i = 0; i < kReadsPerWakeup && fd_ && relay_.wants_input(); ++i) {
    const ssize_t n = net::recv_some(fd_.get(), buffer_.data(), buffer_.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return fail(static_cast<int>(-n));
    if (n == 0) {
      relay_.on_eof();
      return close();
    }
    relay_.on_input(std::string_view(buffer_.data(), static_cast<std::size_t>(n)), loop_.now());
    if (static_cast<std::size_t>(n) < buffer_.size()) return;
  }
}

void Upstream::write() {
  for (auto owed = relay_.owed(); fd_ && !owed.empty(); owed = relay_.owed()) {
    const ssize_t n = net::send_some(fd_.get(), owed.data(), owed.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return fail(static_cast<int>(-n));
    relay_.on_sent(static_cast<std::size_t>(n));
  }
  if (fd_ && relay_.wants_fin()) {
    ::shutdown(fd_.get(), SHUT_WR);
    relay_.on_fin_sent();
  }
}

void Upstream::set_interest() {
  if (!fd_) return;
  const Interest want{.read = !connecting_ && relay_.wants_input(),
                      .write = connecting_ || !relay_.owed().empty()};
  if (hung_up_ && !want.read && !want.write) {
    if (registered_) loop_.remove(fd_.get());
    registered_ = false;
    return;
  }
  if (registered_ && want == interest_) return;
  const int rc =
      registered_ ? loop_.modify(fd_.get(), want, this) : loop_.add(fd_.get(), want, this);
  if (rc != 0) return fail(-rc);
  registered_ = true;
  interest_ = want;
}

void Upstream::fail(int err) {
  relay_.on_failed(std::strerror(err));
  close();
}

}  // namespace okq::server
