// upstream.cpp -- the relay's leg to the upstream server.
#include "okq/driver/upstream.hpp"

#include <cstring>

#include "okq/driver/drivers.hpp"
#include "okq/net/error.hpp"
#include "okq/net/socket.hpp"

namespace okq::server {

std::unique_ptr<UpstreamLeg> UpstreamLeg::open(LoopShare& share, Relay& relay, OnChange on_change,
                                               const UpstreamTarget& to,
                                               std::chrono::milliseconds handshake_timeout) {
  net::Connecting started;
  try {
    started = net::start_connect(to.address);
  } catch (const net::Error& e) {
    relay.on_failed(e.err() != 0 ? std::strerror(e.err()) : e.what());
    return nullptr;
  }
  const int fd = started.fd.get();
  std::unique_ptr<UpstreamLeg> leg;
  EventLoop& loop = share.loop;
  if (loop.uring())
    leg = std::make_unique<OnUring<UpstreamLeg>>(std::move(started.fd), share, relay);
  else
    leg = std::make_unique<OnEpoll<UpstreamLeg>>(std::move(started.fd), share, relay);
  if (to.tls) {
    // The ClientHello is owed from now; the handshake's time counts from the connect.
    leg->tls_ = std::make_unique<tls::Stage>(leg->relay_stream_, to.tls, handshake_timeout,
                                             loop.now(), to.server_name);
    leg->stream_ = leg->tls_.get();
  }
  leg->watch_connect(fd, started.in_progress);
  // Told from here on: what happened before the client's connection started
  // is not news to it.
  leg->on_change_ = std::move(on_change);
  return leg;
}

UpstreamLeg::UpstreamLeg(LoopShare& share, Relay& relay)
    : Link(share), relay_(relay), relay_stream_(relay) {
  stream_ = &relay_stream_;
}

UpstreamLeg::~UpstreamLeg() {
  stop_watching();
}

void UpstreamLeg::watch_connect(int fd, bool in_progress) {
  if (!in_progress) return connected();
  if (const int rc = loop().add(fd, Interest{.write = true}, &watch_); rc != 0) {
    fail(-rc);
    return close(CloseReason::IoError);
  }
  connecting_fd_ = fd;
}

void UpstreamLeg::connect_ready(Ready ready) {
  if (!watching()) return;
  const int err = net::socket_error(connecting_fd_);
  if (err == 0 && !ready.writable && !ready.hangup) return;
  stop_watching();
  if (err != 0) {
    fail(err);
    return close(CloseReason::IoError);
  }
  connected();
}

// TCP is up: the driver takes the socket over; the relay is the leg's now,
// or once the TLS handshake is over.
void UpstreamLeg::connected() {
  if (!tls_) {
    relay_connected_ = true;
    relay_.on_connected(loop().now());
  }
  start();
}

void UpstreamLeg::stop_watching() noexcept {
  if (!watching()) return;
  loop().remove(connecting_fd_);
  connecting_fd_ = -1;
}

void UpstreamLeg::update() {
  if (gone_) return;
  // Failed (a timeout, the client gone): nothing owed is worth writing now.
  if (relay_.done() && !relay_.failure().empty()) return close(CloseReason::UpstreamUnavailable);
  if (watching()) return;  // once connected
  resume();
}

void UpstreamLeg::input(std::string_view bytes, Time now) {
  Link::input(bytes, now);
  if (!relay_connected_ && tls_ && tls_->channel().established()) {
    relay_connected_ = true;
    relay_.on_connected(now);
  }
  changed();
}

void UpstreamLeg::eof(Time now) {
  Link::eof(now);
  changed();
}

void UpstreamLeg::sent(std::size_t n) {
  Link::sent(n);
  changed();  // room for more of the client's messages
}

void UpstreamLeg::report_closed() noexcept {
  if (gone_) return;
  gone_ = true;
  stop_watching();
  if (!relay_.done()) {
    // The driver closed the stream: why, in the relay's words.
    const auto reason = relay_stream_.reason();
    std::string why = "closed";
    if (reason == CloseReason::IoError)
      why = std::strerror(error_);
    else if (reason == CloseReason::TlsTimeout)
      why = "TLS handshake timed out";
    else if (tls_ && (reason == CloseReason::TlsHandshakeFailed || reason == CloseReason::TlsError))
      why = tls_->channel().error().empty() ? "the upstream closed in the TLS handshake"
                                            : "TLS " + tls_->channel().error();
    relay_.on_failed(std::move(why));
  }
  changed();
}

}  // namespace okq::server
