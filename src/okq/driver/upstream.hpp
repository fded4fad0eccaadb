// upstream.hpp -- Upstream: a relaying connection's second leg (--upstream):
// one non-blocking TCP connection from okq-server to the upstream server,
// driven by readiness on the client connection's own loop (on either
// backend), moving the bytes its Relay asks for and telling it what
// happened; over TLS (--upstream-tls) through a tls::Channel, connected for
// the relay once the handshake is over. It owns its socket; the client's Connection owns it.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "okq/event/event_loop.hpp"
#include "okq/net/address.hpp"
#include "okq/net/fd.hpp"
#include "okq/session/relay.hpp"
#include "okq/tls/channel.hpp"

namespace okq::server {

class Upstream final : public EventHandler {
 public:
  // Called after the upstream changed the relay (replies for the client,
  // the end): the client's side takes over from there.
  using OnChange = std::function<void()>;

  // `tls` (may be null): speak TLS to the upstream, checking `server_name`.
  Upstream(EventLoop& loop, std::span<char> buffer, Relay& relay, OnChange on_change,
           std::shared_ptr<const tls::Context> tls = nullptr, std::string server_name = {});
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
  void connected();  // TCP is up: the relay's now, or after the TLS handshake
  void read();
  void take(std::string_view bytes);  // what a read brought (ciphertext over TLS)
  void write();
  void write_tls();
  bool wants_write() noexcept;
  void set_interest();
  void fail(int err);
  void fail(const std::string& why);

  EventLoop& loop_;
  std::span<char> buffer_;  // the loop's read buffer, shared with its connections
  Relay& relay_;
  OnChange on_change_;
  net::Fd fd_;
  std::shared_ptr<const tls::Context> tls_context_;
  std::string server_name_;
  std::unique_ptr<tls::Channel> tls_;  // once TCP is up, with --upstream-tls
  bool connecting_ = false;
  bool registered_ = false;
  bool hung_up_ = false;  // the kernel reports a hang-up: watched only when reading
  Interest interest_{};
};

}  // namespace okq::server
