// wire.hpp -- Wire: okq-client's socket, plain or TLS: plaintext owed is
// sent (encrypted first over TLS), what arrives is read as plaintext, and
// the end of our messages is a FIN (after our close_notify over TLS). The
// handshake is done by open(), bounded; a failure there is a connect error.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "okq/net/fd.hpp"
#include "okq/proto/output_buffer.hpp"
#include "okq/tls/channel.hpp"

namespace okq::client {

class Wire {
 public:
  using Clock = std::chrono::steady_clock;

  // `tls` null: plaintext. Else `server_name` is sent (SNI) and checked.
  Wire(net::Fd sock, std::string name, std::shared_ptr<const tls::Context> tls = nullptr,
       const std::string& server_name = {});

  int fd() const noexcept { return sock_.get(); }
  // The TLS handshake, by `deadline` if set. Throws net::Error (Connect).
  void open(std::optional<Clock::time_point> deadline);

  // Plaintext to send.
  proto::OutputBuffer& out() noexcept { return out_; }
  // Bytes still to be written to the socket, or a FIN.
  bool wants_write() const noexcept;
  // Writes what the socket takes now. Throws net::Error (Send).
  void send();
  // Reads once what has arrived, appending its plaintext. False at the
  // peer's end (its FIN, or its close_notify). Throws net::Error (Recv).
  bool receive(std::string& plain);
  // Once everything owed is written: our FIN (after close_notify over TLS).
  void finish_sending() noexcept { fin_wanted_ = true; }

 private:
  proto::OutputBuffer& wire_bytes() noexcept { return channel_ ? channel_->owed() : out_; }

  net::Fd sock_;
  std::string name_;
  proto::OutputBuffer out_;
  std::unique_ptr<tls::Channel> channel_;
  bool fin_wanted_ = false;
  bool fin_sent_ = false;
};

}  // namespace okq::client
