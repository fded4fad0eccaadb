// upstream.hpp -- UpstreamLeg: a relaying connection's second leg
// (--upstream), from okq-server to the upstream server. It is a Link like the
// client's own, driven by the same drivers on the client's loop (OnEpoll /
// OnUring, driver/drivers.hpp): on io_uring its receives and sends are
// operations in the ring, sent to the kernel in the one system call of the
// loop's pass that also carries the client leg's. Its stream is the relay's
// upstream side (RelayStream), under a client's tls::Stage with
// --upstream-tls. Until TCP is up the leg waits for writability itself,
// then its driver takes over. The client's Connection owns it and waits for
// it to be gone before it lets go of itself.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "okq/driver/link.hpp"
#include "okq/event/event_loop.hpp"
#include "okq/net/address.hpp"
#include "okq/session/relay.hpp"
#include "okq/tls/stage.hpp"

namespace okq::server {

// --upstream: where to relay, and over TLS how (null: plaintext).
struct UpstreamTarget {
  net::SocketAddress address;
  std::shared_ptr<const tls::Context> tls;
  std::string server_name;  // sent (SNI) and checked
};

// The relay's upstream side as a Stream: what its driver moves. It ends
// when the relay is done, or when the driver closed it (an i/o error).
class RelayStream final : public Stream {
 public:
  explicit RelayStream(Relay& relay) : relay_(relay) {}

  bool wants_input() const noexcept override { return !closed() && relay_.wants_input(); }
  bool discards_input() const noexcept override { return false; }
  std::size_t read_limit(std::size_t buffer) const noexcept override { return buffer; }
  void on_input(std::string_view bytes, Time now) override { relay_.on_input(bytes, now); }
  void on_eof(Time) override { relay_.on_eof(); }
  std::string_view owed() noexcept override {
    return closed() ? std::string_view() : relay_.owed();
  }
  std::size_t owed_bytes() const noexcept override { return closed() ? 0 : relay_.owed_bytes(); }
  void on_sent(std::size_t n, Time) override { relay_.on_sent(n); }
  bool wants_fin() const noexcept override { return !closed() && relay_.wants_fin(); }
  void on_fin_sent(Time) override { relay_.on_fin_sent(); }
  void on_stop(std::size_t) override {}  // the client's side stops; this leg follows the relay
  void close(CloseReason reason) noexcept override {
    if (!reason_) reason_ = reason;
  }
  bool closed() const noexcept override { return reason_ || relay_.done(); }
  Time deadline() const noexcept override { return Time::max(); }  // the relay's is the client's
  void on_timer(Time) override {}

  // Why the driver closed it, if it did.
  std::optional<CloseReason> reason() const noexcept { return reason_; }

 private:
  Relay& relay_;
  std::optional<CloseReason> reason_;
};

class UpstreamLeg : public Link {
 public:
  // Called after the leg changed the relay (replies for the client, room
  // for more of its messages, the end) and once it is gone.
  using OnChange = std::function<void()>;

  // Starts connecting to `to` on the loop's backend. A failure reaches the
  // relay, now (nullptr is returned) or later. `handshake_timeout` bounds
  // the TLS handshake with --upstream-tls.
  static std::unique_ptr<UpstreamLeg> open(LoopShare& share, Relay& relay, OnChange on_change,
                                           const UpstreamTarget& to,
                                           std::chrono::milliseconds handshake_timeout);
  ~UpstreamLeg() override;

  // The client's side changed the relay: write what is owed upstream, send
  // FIN when nothing more will follow, close once the relay is over.
  void update();
  // The socket is closed and the backend holds nothing of the leg.
  bool gone() const noexcept { return gone_; }

  // The Link's hooks: the relay moved, so the client's side hears of it.
  void input(std::string_view bytes, Time now) override;
  void eof(Time now) override;
  void sent(std::size_t n) override;
  void report_closed() noexcept override;

 protected:
  UpstreamLeg(LoopShare& share, Relay& relay);

 private:
  // Before the driver has the socket: TCP is being set up.
  void watch_connect(int fd, bool in_progress);
  void connect_ready(Ready ready);  // the socket became writable (or failed) while connecting
  void connected();
  void stop_watching() noexcept;
  bool watching() const noexcept { return connecting_fd_ >= 0; }
  void changed() {
    if (on_change_) on_change_();
  }

  // What the loop tells of the socket while TCP is being set up (the Link
  // itself is told by its driver's backend, once the driver has it).
  struct ConnectWatch final : EventHandler {
    explicit ConnectWatch(UpstreamLeg& owner) : leg(owner) {}
    void on_ready(Ready ready) override { leg.connect_ready(ready); }
    UpstreamLeg& leg;
  };

  Relay& relay_;
  OnChange on_change_;
  ConnectWatch watch_{*this};
  RelayStream relay_stream_;
  std::unique_ptr<tls::Stage> tls_;  // with --upstream-tls
  int connecting_fd_ = -1;           // the driver's socket, while its writability is watched
  bool relay_connected_ = false;     // the relay was told the leg is up
  bool gone_ = false;
};

}  // namespace okq::server
