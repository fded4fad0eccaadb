// channel.hpp -- tls::Channel: one TLS connection's state with no socket:
// ciphertext in from the peer, plaintext out to its owner; plaintext in from
// the owner, ciphertext owed to the peer. It reads and writes through a BIO
// of its own over those buffers (no copy through a memory BIO's), so any
// driver (epoll readiness, io_uring completions, okq-client's poll loop)
// moves its bytes. The handshake runs as bytes arrive; once it is over,
// established() and the session's facts (version, cipher, the peer's
// certificate) hold.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "okq/proto/output_buffer.hpp"
#include "okq/tls/context.hpp"

namespace okq::tls {

class Channel {
 public:
  enum class State {
    Handshake,    // not yet established
    Established,  // application data flows
    PeerClosed,   // the peer's close_notify came: no more plaintext from it
    Failed,       // a fatal error (error()); an alert may be owed
  };

  // A server's channel, or a client's naming `server_name` (SNI, and the
  // name or IP address its certificate must carry; "" checks none).
  // `session`: a client's earlier session to resume (may be null).
  Channel(std::shared_ptr<const Context> context, std::string_view server_name = {},
          SSL_SESSION* session = nullptr);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Ciphertext from the peer. Every byte of it is taken; plaintext it
  // carries is appended to `plain`. Returns the state after.
  State receive(std::string_view cipher, std::string& plain);
  // Plaintext to send once established: encrypted onto owed(). The whole of
  // it is taken (it is only called while established).
  void send(std::string_view plain);
  // The whole handshake over `fd` (connected, non-blocking), waiting in
  // poll until it is over or `deadline` passes, its last flight written:
  // for a client that waits for it before it sends anything (okq-client,
  // okq-bench's idle connections), so no plaintext can come with it. ""
  // once established, else why not (an alert for the peer written first).
  std::string handshake_over(int fd, std::optional<std::chrono::steady_clock::time_point> deadline);
  // Our close_notify onto owed() (once; after a failure, nothing).
  void close_notify();
  bool close_notify_sent() const noexcept { return notify_sent_; }

  // Writes what of owed() the socket `fd` (non-blocking) takes now: 0 (what
  // is left waits for writability), or the errno that ended it.
  int write_owed(int fd) noexcept;
  // Ciphertext owed to the peer: the handshake's flights, records, alerts.
  proto::OutputBuffer& owed() noexcept { return out_; }
  const proto::OutputBuffer& owed() const noexcept { return out_; }

  State state() const noexcept { return state_; }
  bool established() const noexcept {
    return state_ == State::Established || state_ == State::PeerClosed;
  }
  bool failed() const noexcept { return state_ == State::Failed; }
  // The handshake completed (whatever came after).
  bool handshake_done() const noexcept { return handshake_done_; }
  // Bytes the peer sent were TLS records (false: nothing yet, or plaintext
  // on a TLS port, which is closed without a word).
  bool spoke_tls() const noexcept { return spoke_tls_; }
  const std::string& error() const noexcept { return error_; }

  // Once established.
  bool resumed() const noexcept;
  const char* version() const noexcept;
  const char* cipher() const noexcept;
  std::string peer_subject() const;  // "" without a peer certificate
  // A client's session to resume later (a new reference, or null).
  SSL_SESSION* session() const noexcept;

 private:
  friend struct ChannelBio;
  void handshake();
  void read_plain(std::string& plain);
  void failure(int ret, const char* during);

  std::shared_ptr<const Context> context_;
  SSL* ssl_ = nullptr;
  std::string_view in_;  // ciphertext not yet read by OpenSSL (valid during receive())
  proto::OutputBuffer out_;
  State state_ = State::Handshake;
  bool notify_sent_ = false;
  bool handshake_done_ = false;
  bool spoke_tls_ = false;
  bool first_byte_seen_ = false;
  std::string error_;
};

}  // namespace okq::tls
