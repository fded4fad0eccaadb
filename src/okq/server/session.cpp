// session.cpp -- the per-connection state machine, without sockets.
#include "okq/server/session.hpp"

#include <algorithm>

namespace okq::server {

const char* to_string(SessionState state) noexcept {
  switch (state) {
    case SessionState::Reading:
      return "reading";
    case SessionState::Flushing:
      return "flushing";
    case SessionState::Lingering:
      return "lingering";
    case SessionState::Closed:
      return "closed";
  }
  return "?";
}

Session::Session(const SessionLimits& limits, Time now)
    : limits_(limits), codec_(proto::make_codec(limits.codec)), last_progress_(now) {}

void Session::reject(std::string_view line) {
  rejected_ = true;
  out_.append(line);
  finish_input(CloseReason::Rejected);
}

bool Session::wants_input() const noexcept {
  return state_ == SessionState::Reading && out_.size() <= limits_.max_output &&
         !(stopping_ && stop_budget_ == 0);
}

void Session::expect_proxy_header(Time now) {
  proxy_ = std::make_unique<proto::ProxyHeaderParser>();
  header_deadline_ = now + limits_.header_timeout;
}

std::size_t Session::read_limit(std::size_t buffer) const noexcept {
  // While a PROXY header is awaited, never a byte past its end: what follows
  // is the client's, framed as if it had come first.
  const std::size_t limit =
      std::min(buffer, awaiting_header() ? proxy_->wanted() : codec_->read_limit());
  return stopping_ ? std::min(limit, stop_budget_) : limit;
}

void Session::on_input(std::string_view bytes, Time now) {
  if (state_ != SessionState::Reading) return;  // lingering: dropped
  const std::size_t n = bytes.size();
  if (awaiting_header()) bytes = take_header(bytes, now);
  if (state_ == SessionState::Reading && !bytes.empty()) {
    const auto before = codec_->messages();
    if (codec_->feed(bytes, out_.back()) == proto::Verdict::Close)
      finish_input(CloseReason::ProtocolEnd);
    if (codec_->messages() != before) last_progress_ = now;
  }
  if (stopping_ && state_ == SessionState::Reading) {
    stop_budget_ -= std::min(stop_budget_, n);
    if (stop_budget_ == 0) finish_input(CloseReason::ServerShutdown);
  }
}

// The header's bytes go to its parser (never more than it wants); what
// follows them, if a read brought any, is the client's.
std::string_view Session::take_header(std::string_view bytes, Time now) {
  using Status = proto::ProxyHeaderParser::Status;
  while (!bytes.empty() && proxy_->status() == Status::NeedMore) {
    const std::size_t n = std::min(bytes.size(), proxy_->wanted());
    proxy_->feed(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  if (proxy_->status() == Status::Invalid) {
    close(CloseReason::ProxyInvalid);  // nothing is owed yet: no reply
    return {};
  }
  if (proxy_->status() == Status::Done) {
    header_deadline_ = Time::max();
    last_progress_ = now;
  }
  return bytes;
}

void Session::on_eof(Time now) {
  peer_eof_ = true;
  if (state_ == SessionState::Lingering) return close(reason_);
  if (state_ != SessionState::Reading) return;
  if (awaiting_header()) return close(CloseReason::PeerClosed);  // never a client message
  const auto before = codec_->messages();
  codec_->finish(out_.back());  // an unterminated last fragment is still a message
  if (codec_->messages() != before) last_progress_ = now;
  finish_input(CloseReason::PeerClosed);
}

void Session::on_sent(std::size_t n, Time now) {
  if (n == 0 || closed()) return;
  out_.consume(n);
  last_progress_ = now;
  settle();
}

bool Session::wants_fin() const noexcept {
  return state_ == SessionState::Flushing && out_.empty() && !peer_eof_;
}

void Session::on_fin_sent(Time now) {
  if (!wants_fin()) return;
  state_ = SessionState::Lingering;
  linger_deadline_ = now + limits_.linger_timeout;
}

void Session::on_shutdown(std::size_t unread) {
  if (state_ != SessionState::Reading) return;  // already finishing on its own
  if (unread == 0 && out_.empty()) {
    // Idle: nothing to answer, nothing to send. Lingering would only make the
    // whole stop wait for a client that may never close.
    return close(CloseReason::ServerShutdown);
  }
  stopping_ = true;
  stop_budget_ = unread;
  if (unread == 0) finish_input(CloseReason::ServerShutdown);
}

void Session::close(CloseReason reason) noexcept {
  if (closed()) return;
  state_ = SessionState::Closed;
  reason_ = reason;
}

Session::Time Session::idle_deadline() const noexcept {
  return limits_.idle_timeout.count() > 0 ? last_progress_ + limits_.idle_timeout : Time::max();
}

Session::Time Session::deadline() const noexcept {
  return closed() ? Time::max()
                  : std::min({idle_deadline(), linger_deadline_, header_deadline_});
}

void Session::on_timer(Time now) {
  if (closed()) return;
  if (now >= linger_deadline_) return close(CloseReason::LingerTimeout);
  if (now >= header_deadline_) return close(CloseReason::ProxyTimeout);
  // Nothing owed can still be delivered to a client this stuck: close at once.
  if (now >= idle_deadline()) close(CloseReason::IdleTimeout);
}

void Session::finish_input(CloseReason why) {
  if (state_ != SessionState::Reading) return;
  reason_ = why;
  state_ = SessionState::Flushing;
  settle();
}

void Session::settle() {
  if (state_ != SessionState::Flushing || !out_.empty()) return;
  if (peer_eof_) close(reason_);  // else wants_fin(): the driver sends FIN
}

}  // namespace okq::server
