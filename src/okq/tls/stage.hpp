// stage.hpp -- tls::Stage: the transport stage. Ciphertext from the driver
// goes through a tls::Channel and the plaintext to the stream inside (the
// Session); what that stream owes is encrypted on its way out. The handshake
// is bounded by its own deadline (TlsTimeout); one that fails closes the
// stream (TlsHandshakeFailed) after the alert, or at once with no word at
// all when the peer never spoke TLS (plaintext on a TLS port). The peer's
// close_notify is its FIN to the stream inside; ours goes out before our
// FIN and before the socket closes on a graceful end, and the ciphertext
// owed when the stream inside ends is still written (bounded by the
// handshake timeout), so no reply is lost between the two.
//
// A stop counts ciphertext: the bytes that had arrived are read and their
// plaintext answered, then the stream inside is told to stop with nothing
// more to read.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "okq/session/stream.hpp"
#include "okq/tls/channel.hpp"

namespace okq::tls {

class Stage final : public server::Stream {
 public:
  // A server's stage, or a client's (the context says) checking `server_name`.
  Stage(server::Stream& inner, std::shared_ptr<const Context> context,
        std::chrono::milliseconds handshake_timeout, Time now, std::string_view server_name = {},
        SSL_SESSION* session = nullptr);

  const Channel& channel() const noexcept { return channel_; }
  bool handshaking() const noexcept { return channel_.state() == Channel::State::Handshake; }

  bool wants_input() const noexcept override;
  bool discards_input() const noexcept override;
  std::size_t read_limit(std::size_t buffer) const noexcept override;
  void on_input(std::string_view bytes, Time now) override;
  void on_eof(Time now) override;
  std::string_view owed() noexcept override;
  std::size_t owed_bytes() const noexcept override;
  void on_sent(std::size_t n, Time now) override;
  bool wants_fin() const noexcept override;
  void on_fin_sent(Time now) override { inner_.on_fin_sent(now); }
  void on_stop(std::size_t unread) override;
  void close(server::CloseReason reason) noexcept override;
  bool closed() const noexcept override;
  Time deadline() const noexcept override;
  void on_timer(Time now) override;

 private:
  void pump(Time now);  // what the stream inside owes, encrypted while there is room
  void pass_stop();     // the bytes a stop allowed are read: the stream inside stops
  bool needs_notify() const noexcept;
  bool tail_dropped() const noexcept { return channel_.failed() && !channel_.spoke_tls(); }

  server::Stream& inner_;
  Channel channel_;
  std::chrono::milliseconds timeout_;
  Time handshake_deadline_;
  Time tail_deadline_ = Time::max();  // the ciphertext owed after the stream inside ended
  Time now_;                          // the latest time a call brought
  bool eof_given_ = false;            // the stream inside has had its on_eof()
  bool aborted_ = false;              // closed at once: nothing more is written
  bool stopping_ = false;
  bool stop_passed_ = false;
  bool flight_released_ = false;
  std::size_t stop_budget_ = 0;  // ciphertext that had arrived when the stop began, unread
};

}  // namespace okq::tls
