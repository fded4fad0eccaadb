// stage.cpp -- the transport stage.
#include "okq/tls/stage.hpp"

#include <algorithm>

namespace okq::tls {
namespace {

using server::CloseReason;

// Ciphertext owed past which the stream inside is not asked for more: about
// four records, enough to keep a socket's send buffer busy.
constexpr std::size_t kOwedHighWater = 64 * 1024;
// Plaintext encrypted at once (SSL_write cuts it into records).
constexpr std::size_t kEncryptChunk = 64 * 1024;

// One receive's plaintext, handed on at once: one buffer a thread, not one a
// connection (an idle connection holds none).
std::string& scratch() {
  thread_local std::string plain;
  plain.clear();
  return plain;
}

}  // namespace

Stage::Stage(server::Stream& inner, std::shared_ptr<const Context> context,
             std::chrono::milliseconds handshake_timeout, Time now, std::string_view server_name,
             SSL_SESSION* session)
    : inner_(inner),
      channel_(std::move(context), server_name, session),
      timeout_(handshake_timeout),
      handshake_deadline_(now + handshake_timeout),
      now_(now) {}

bool Stage::wants_input() const noexcept {
  if (closed() || inner_.closed() || channel_.failed()) return false;
  if (stopping_ && stop_budget_ == 0) return false;
  if (handshaking()) return true;
  return channel_.state() == Channel::State::Established && inner_.wants_input();
}

bool Stage::discards_input() const noexcept {
  if (inner_.closed()) return false;
  return inner_.discards_input() || channel_.state() == Channel::State::PeerClosed;
}

std::size_t Stage::read_limit(std::size_t buffer) const noexcept {
  const std::size_t limit = handshaking() ? buffer : inner_.read_limit(buffer);
  return stopping_ ? std::min(limit, stop_budget_) : limit;
}

void Stage::on_input(std::string_view bytes, Time now) {
  now_ = now;
  if (inner_.closed() || discards_input()) return;  // lingering: dropped
  if (stopping_) stop_budget_ -= std::min(stop_budget_, bytes.size());
  std::string& plain = scratch();
  const auto state = channel_.receive(bytes, plain);
  if (!plain.empty()) inner_.on_input(plain, now);
  if (state == Channel::State::PeerClosed && !eof_given_) {
    eof_given_ = true;
    inner_.on_eof(now);
  } else if (state == Channel::State::Failed && !inner_.closed()) {
    inner_.close(channel_.handshake_done() ? CloseReason::TlsError
                                           : CloseReason::TlsHandshakeFailed);
    tail_deadline_ = now + timeout_;  // the alert, if the peer spoke TLS
  }
  if (stopping_ && stop_budget_ == 0 && !stop_passed_) pass_stop();
  pump(now);
}

void Stage::on_eof(Time now) {
  now_ = now;
  if (inner_.closed()) return;
  // Gone before the handshake ended (a client that refused our certificate,
  // a scanner): no message of its was read.
  if (handshaking()) return inner_.close(CloseReason::TlsHandshakeFailed);
  if (eof_given_) return;
  // A FIN without close_notify: the line protocol frames its own messages,
  // so nothing can have been cut short unseen; it ends as a FIN does.
  eof_given_ = true;
  inner_.on_eof(now);
  pump(now);
}

void Stage::pump(Time now) {
  if (aborted_) return;
  if (channel_.established()) {
    while (inner_.owed_bytes() > 0 && channel_.owed().size() < kOwedHighWater &&
           !channel_.failed()) {
      const auto plain = inner_.owed().substr(0, kEncryptChunk);
      channel_.send(plain);
      inner_.on_sent(plain.size(), now);
    }
    // SSL_write refused (OpenSSL out of memory): nothing more can be sent.
    if (channel_.failed() && !inner_.closed()) inner_.close(CloseReason::TlsError);
  }
  if (inner_.closed() && tail_deadline_ == Time::max()) tail_deadline_ = now + timeout_;
}

bool Stage::needs_notify() const noexcept {
  return channel_.established() && !channel_.close_notify_sent() && !aborted_ &&
         inner_.owed_bytes() == 0 && (inner_.wants_fin() || inner_.closed());
}

std::string_view Stage::owed() noexcept {
  if (tail_dropped() || aborted_) return {};
  try {
    pump(now_);
    if (needs_notify()) channel_.close_notify();
  } catch (...) {  // out of memory for the records: this connection alone pays
    close(CloseReason::IoError);
    return {};
  }
  return channel_.owed().pending();
}

std::size_t Stage::owed_bytes() const noexcept {
  if (tail_dropped() || aborted_) return 0;
  const std::size_t plain = channel_.established() && !channel_.failed() ? inner_.owed_bytes() : 0;
  return channel_.owed().size() + plain + (needs_notify() ? 1 : 0);
}

void Stage::on_sent(std::size_t n, Time now) {
  now_ = now;
  channel_.owed().consume(n);
  pump(now);
  // The handshake's flight (certificate chain, tickets) is the largest
  // thing most connections ever owe: not kept for replies a few bytes long.
  if (!flight_released_ && channel_.established() && channel_.owed().empty()) {
    flight_released_ = true;
    channel_.owed().shrink();
  }
}

bool Stage::wants_fin() const noexcept {
  return inner_.wants_fin() && channel_.close_notify_sent() && channel_.owed().empty();
}

void Stage::on_stop(std::size_t unread) {
  if (stopping_ || inner_.closed()) return;
  stopping_ = true;
  stop_budget_ = unread;
  if (unread == 0) pass_stop();
}

void Stage::pass_stop() {
  stop_passed_ = true;
  if (handshaking())
    inner_.close(CloseReason::ServerShutdown);  // no message of the client's was read
  else
    inner_.on_stop(0);
  pump(now_);
}

void Stage::close(CloseReason reason) noexcept {
  aborted_ = true;
  inner_.close(reason);
}

bool Stage::closed() const noexcept {
  if (!inner_.closed()) return false;
  if (aborted_ || tail_dropped()) return true;
  if (channel_.failed()) return channel_.owed().empty();  // the alert is written
  if (!channel_.established()) return true;               // nothing of ours to finish
  return channel_.close_notify_sent() && channel_.owed().empty();
}

Stage::Time Stage::deadline() const noexcept {
  if (closed()) return Time::max();
  if (inner_.closed()) return tail_deadline_;
  return handshaking() ? std::min(handshake_deadline_, inner_.deadline()) : inner_.deadline();
}

void Stage::on_timer(Time now) {
  now_ = now;
  if (closed()) return;
  if (inner_.closed()) {
    if (now >= tail_deadline_) aborted_ = true;  // a peer that reads nothing more
    return;
  }
  if (handshaking() && now >= handshake_deadline_) return close(CloseReason::TlsTimeout);
  inner_.on_timer(now);
  if (inner_.closed()) aborted_ = true;  // timed out: nothing owed can be delivered
}

}  // namespace okq::tls
