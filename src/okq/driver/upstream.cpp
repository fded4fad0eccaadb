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

Upstream::Upstream(EventLoop& loop, std::span<char> buffer, Relay& relay, OnChange on_change,
                   std::shared_ptr<const tls::Context> tls, std::string server_name)
    : loop_(loop),
      buffer_(buffer),
      relay_(relay),
      on_change_(std::move(on_change)),
      tls_context_(std::move(tls)),
      server_name_(std::move(server_name)) {}

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
  if (!connecting_) connected();
  update();
}

void Upstream::connected() {
  if (!tls_context_) return relay_.on_connected(loop_.now());
  tls_ = std::make_unique<tls::Channel>(tls_context_, server_name_);  // the ClientHello, owed
}

void Upstream::update() {
  if (!fd_) return;
  if (relay_.done()) return close();
  if (!connecting_) tls_ ? write_tls() : write();
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
    connected();
  }
  if (ready.readable || ready.hangup) read();
  if (fd_ && ready.hangup && !relay_.wants_input() && !(tls_ && !tls_->established())) {
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
  const auto reading = [this] {
    return fd_ &&
           (relay_.wants_input() || (tls_ && tls_->state() == tls::Channel::State::Handshake));
  };
  for (int i = 0; i < kReadsPerWakeup && reading(); ++i) {
    const ssize_t n = net::recv_some(fd_.get(), buffer_.data(), buffer_.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return fail(static_cast<int>(-n));
    if (n == 0) {
      if (tls_ && !tls_->established()) return fail("the upstream closed in the TLS handshake");
      relay_.on_eof();
      return close();
    }
    take(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
    if (static_cast<std::size_t>(n) < buffer_.size()) return;
  }
}

void Upstream::take(std::string_view bytes) {
  if (!tls_) return relay_.on_input(bytes, loop_.now());
  const bool was_handshaking = !tls_->established();
  // One buffer a thread: an idle relay holds none.
  thread_local std::string plain;
  plain.clear();
  const auto state = tls_->receive(bytes, plain);
  if (state == tls::Channel::State::Failed) return fail("TLS " + tls_->error());
  if (was_handshaking && tls_->established()) relay_.on_connected(loop_.now());
  if (!plain.empty()) relay_.on_input(plain, loop_.now());
  if (state == tls::Channel::State::PeerClosed) {
    relay_.on_eof();
    return close();
  }
  write_tls();  // a handshake flight, or what the relay owes now that it may
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

// Over TLS: the relay's bytes encrypted once the handshake is over, our
// close_notify before FIN.
void Upstream::write_tls() {
  if (!fd_) return;
  if (tls_->established()) {
    for (auto owed = relay_.owed(); !owed.empty(); owed = relay_.owed()) {
      tls_->send(owed);
      relay_.on_sent(owed.size());
    }
    if (relay_.wants_fin()) tls_->close_notify();
  }
  if (const int err = tls_->write_owed(fd_.get()); err != 0) return fail(err);
  if (!tls_->owed().empty()) return;  // the socket is full: on writability
  if (tls_->close_notify_sent() && relay_.wants_fin()) {
    ::shutdown(fd_.get(), SHUT_WR);
    relay_.on_fin_sent();
  }
}

bool Upstream::wants_write() noexcept {
  if (connecting_) return true;
  if (!tls_) return !relay_.owed().empty();
  return !tls_->owed().empty() || (tls_->established() && !relay_.owed().empty());
}

void Upstream::set_interest() {
  if (!fd_) return;
  const bool handshaking = tls_ && tls_->state() == tls::Channel::State::Handshake;
  const Interest want{.read = !connecting_ && (relay_.wants_input() || handshaking),
                      .write = wants_write()};
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
  fail(std::string(std::strerror(err)));
}

void Upstream::fail(const std::string& why) {
  relay_.on_failed(why);
  close();
}

}  // namespace okq::server
