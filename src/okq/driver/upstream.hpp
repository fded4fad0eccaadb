// upstream.hpp -- Upstream: a relaying connection's second leg (--upstream):
// one non-blocking TCP connection from okq-server to the upstream server,
// driven by readiness on the client connection's own loop (on either
// backend), moving the bytes its Relay asks for and telling it what
// happened. It owns its socket; the client's Connection owns it.
#pragma once

#include <functional>
#include <span>

#include "okq/event/event_loop.hpp"
#include "okq/net/address.hpp"
#include "okq/net/fd.hpp"
#include "okq/session/relay.hpp"

namespace okq::server {

class Upstream final : public EventHandler {
 public:
  // Called after the upstream changed the relay (replies for the client,
  // the end): the client's side takes over from there.
  using OnChange = std::function<void()>;

  Upstream(EventLoop& loop, std::span<char> buffer, Relay& relay, OnChange on_change);
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  // Starts connecting; a failure reaches the relay (now or later).
  void connect(const net::SocketAddress& to);
  // The client's side changed the relay: write what is owed upstream,
  // send FIN when nothing more will follow, or close once the relay is over.
  void update();
  // Lets go of the socket (the client connection has ended).
  void close() noexcept;

  void on_ready(Ready ready) override;

 private:
  void read();
  void write();
  void set_interest();
  void fail(int err);

  EventLoop& loop_;
  std::span<char> buffer_;  // the loop's read buffer, shared with its connections
  Relay& relay_;
  OnChange on_change_;
  net::Fd fd_;
  bool connecting_ = false;
  bool registered_ = false;
  bool hung_up_ = false;  // the kernel reports a hang-up: watched only when reading
  Interest interest_{};
};

}  // namespace okq::server
