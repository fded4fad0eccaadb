// session.cpp -- the per-connection state machine, without sockets.
#include "okq/session/session.hpp"

#include <algorithm>
#include <limits>

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
    : limits_(limits), answers_(limits.codec), deadline_(idle_deadline_from(now)) {}

void Session::reject(std::string_view line) {
  rejected_ = true;
  out_.append(line);
  finish_input(CloseReason::Rejected);
}

bool Session::wants_input() const noexcept {
  return state_ == SessionState::Reading && out_.size() <= limits_.max_output &&
         !(responder_ && responder_->holds_back()) && !(stopping_ && stop_budget_ == 0);
}

std::size_t Session::read_limit(std::size_t buffer) const noexcept {
  const std::size_t limit =
      std::min(buffer, responder_ ? responder_->read_limit() : answers_.read_limit());
  return stopping_ ? std::min<std::size_t>(limit, stop_budget_) : limit;
}

void Session::on_input(std::string_view bytes, Time now) {
  if (state_ != SessionState::Reading) return;  // lingering: dropped
  const auto before = messages();
  if (!bytes.empty() && (responder_ ? responder_->feed(bytes, now) : answers_.feed(bytes, out_)) ==
                            proto::Verdict::Close)
    finish_input(CloseReason::ProtocolEnd);
  if (messages() != before) deadline_ = idle_deadline_from(now);
  out_.shrink();  // a partial message owes nothing yet: no buffer held for it
  if (stopping_ && state_ == SessionState::Reading) {
    stop_budget_ -= static_cast<std::uint32_t>(std::min<std::size_t>(stop_budget_, bytes.size()));
    if (stop_budget_ == 0) finish_input(CloseReason::ServerShutdown);
  }
}

void Session::on_eof(Time now) {
  peer_eof_ = true;
  if (state_ == SessionState::Lingering) return close(reason_);
  if (state_ != SessionState::Reading) return;
  const auto before = messages();
  // An unterminated last fragment is still a message.
  if (responder_)
    responder_->finish(now);
  else
    answers_.finish(out_);
  if (messages() != before) deadline_ = idle_deadline_from(now);
  finish_input(CloseReason::PeerClosed);
}

void Session::on_answers() {
  if (closed()) return;
  if (const auto end = responder_ ? responder_->ended() : std::nullopt) {
    if (state_ == SessionState::Reading)
      finish_input(end->reason);
    else if (end->failure)
      reason_ = end->reason;
  }
  settle();
}

void Session::on_sent(std::size_t n, Time now) {
  if (n == 0 || closed()) return;
  out_.consume(n);
  deadline_ = idle_deadline_from(now);
  settle();
}

bool Session::wants_fin() const noexcept {
  return state_ == SessionState::Flushing && out_.empty() && !peer_eof_ && settled();
}

void Session::on_fin_sent(Time now) {
  if (!wants_fin()) return;
  state_ = SessionState::Lingering;
  // Nothing moves the idle deadline from here on: the nearer bound holds.
  if (now + limits_.linger_timeout <= deadline_) {
    deadline_ = now + limits_.linger_timeout;
    linger_first_ = true;
  }
}

void Session::on_stop(std::size_t unread) {
  if (state_ != SessionState::Reading) return;  // already finishing on its own
  if (unread == 0 && out_.empty() && !(responder_ && responder_->outstanding())) {
    // Idle: nothing to answer, nothing to send. Lingering would only make the
    // whole stop wait for a client that may never close.
    return close(CloseReason::ServerShutdown);
  }
  stopping_ = true;
  stop_budget_ = static_cast<std::uint32_t>(
      std::min<std::size_t>(unread, std::numeric_limits<std::uint32_t>::max()));
  if (unread == 0) finish_input(CloseReason::ServerShutdown);
}

void Session::close(CloseReason reason) noexcept {
  if (closed()) return;
  state_ = SessionState::Closed;
  reason_ = reason;
}

// Fixed at each step of progress with the timeout then in force: a reload
// reaches an open connection at its next message, whenever its timer runs.
Session::Time Session::idle_deadline_from(Time now) const noexcept {
  return limits_.idle_timeout.count() > 0 ? now + limits_.idle_timeout : Time::max();
}

Session::Time Session::deadline() const noexcept {
  return closed() ? Time::max()
                  : std::min(deadline_, responder_ ? responder_->deadline() : Time::max());
}

void Session::on_timer(Time now) {
  if (closed()) return;
  if (linger_first_ && now >= deadline_) return close(CloseReason::LingerTimeout);
  if (responder_ && now >= responder_->deadline()) {
    responder_->on_timer(now);
    if (const auto end = responder_->ended(); end && end->failure) return on_answers();
  }
  // Nothing owed can still be delivered to a client this stuck: close at once.
  if (now >= deadline_) close(CloseReason::IdleTimeout);
}

void Session::finish_input(CloseReason why) {
  if (state_ != SessionState::Reading) return;
  reason_ = why;
  state_ = SessionState::Flushing;
  if (responder_) responder_->input_ended();
  settle();
}

void Session::settle() {
  // A responder still answering is waited for as well as the writes.
  if (state_ != SessionState::Flushing || !out_.empty() || !settled()) return;
  if (peer_eof_) close(reason_);  // else wants_fin(): the driver sends FIN
}

}  // namespace okq::server
