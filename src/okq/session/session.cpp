// session.cpp -- the per-connection state machine, without sockets.
#include "okq/session/session.hpp"

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
         !(relay_ && relay_->to_upstream.size() > limits_.max_output) &&
         !(stopping_ && stop_budget_ == 0);
}

std::uint64_t Session::messages() const noexcept {
  return relay_ ? relay_->forwarded : codec_->messages();
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
  if (state_ == SessionState::Reading && !bytes.empty() && relay_) {
    relay_input(bytes, now);
  } else if (state_ == SessionState::Reading && !bytes.empty()) {
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
  if (relay_) {
    // An unterminated last message goes on as it is: the upstream answers
    // it at our FIN, as okq-server does at its client's.
    if (!relay_->line.empty()) ++relay_->forwarded;
    finish_input(CloseReason::PeerClosed);
    if (relay_ && !relay_->done) arm_upstream_deadline(now);
    return;
  }
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
  return state_ == SessionState::Flushing && out_.empty() && !peer_eof_ && relay_settled();
}

void Session::on_fin_sent(Time now) {
  if (!wants_fin()) return;
  state_ = SessionState::Lingering;
  linger_deadline_ = now + limits_.linger_timeout;
}

void Session::on_shutdown(std::size_t unread) {
  if (state_ != SessionState::Reading) return;  // already finishing on its own
  if (unread == 0 && out_.empty() && (!relay_ || relay_->all_answered())) {
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
                  : std::min({idle_deadline(), linger_deadline_, header_deadline_,
                              relay_ && !relay_->done ? relay_->deadline : Time::max()});
}

void Session::on_timer(Time now) {
  if (closed()) return;
  if (now >= linger_deadline_) return close(CloseReason::LingerTimeout);
  if (now >= header_deadline_) return close(CloseReason::ProxyTimeout);
  if (relay_ && !relay_->done && now >= relay_->deadline)
    return on_upstream_failed(relay_->connected ? "no reply within --upstream-timeout"
                                                : "not connected within --upstream-timeout");
  // Nothing owed can still be delivered to a client this stuck: close at once.
  if (now >= idle_deadline()) close(CloseReason::IdleTimeout);
}

void Session::finish_input(CloseReason why) {
  if (state_ != SessionState::Reading) return;
  reason_ = why;
  state_ = SessionState::Flushing;
  if (relay_ && !relay_->done) {
    // Nothing more goes upstream; once every reply is in, the relay is over.
    relay_->client_done = true;
    if (relay_->all_answered()) relay_->done = true;
  }
  settle();
}

void Session::settle() {
  // A relay waits for the upstream's replies as well as for its own writes.
  if (state_ != SessionState::Flushing || !out_.empty() || !relay_settled()) return;
  if (peer_eof_) close(reason_);  // else wants_fin(): the driver sends FIN
}

// --- relay

void Session::relay_to_upstream(Time now) {
  relay_ = std::make_unique<Relay>();
  relay_->deadline = now + limits_.upstream_timeout;  // to connect
}

std::string_view Session::upstream_owed() const noexcept {
  return relay_ ? std::string_view(relay_->to_upstream) : std::string_view();
}

void Session::on_upstream_sent(std::size_t n) {
  relay_->to_upstream.erase(0, n);
}

bool Session::upstream_wants_fin() const noexcept {
  return relay_ && relay_->connected && !relay_->done && relay_->client_done && !relay_->fin_sent &&
         relay_->to_upstream.empty();
}

void Session::on_upstream_fin_sent() noexcept {
  relay_->fin_sent = true;
}

bool Session::upstream_wants_input() const noexcept {
  return relay_ && relay_->connected && !relay_->done && out_.size() <= limits_.max_output;
}

const std::string& Session::upstream_failure() const noexcept {
  static const std::string none;
  return relay_ ? relay_->failure : none;
}

bool Session::upstream_done() const noexcept {
  return relay_ && relay_->done;
}

void Session::on_upstream_connected(Time now) {
  relay_->connected = true;
  relay_->deadline = Time::max();
  arm_upstream_deadline(now);
}

// The client's bytes go on as they are, message by message: up to and
// including a Q message, after which (as okq-server does) nothing more is
// read. Only the start of each line is looked at.
void Session::relay_input(std::string_view bytes, Time now) {
  Relay& r = *relay_;
  // What is kept of a line: its first byte (is it Q?), or all of it for
  // --trace; NUL bytes are padding to the server, so never its first byte.
  const std::size_t keep = observer_ ? limits_.codec.max_line : 1;
  while (!bytes.empty() && state_ == SessionState::Reading) {
    const auto lf = bytes.find('\n');
    const std::size_t take = lf == std::string_view::npos ? bytes.size() : lf + 1;
    const std::string_view piece = bytes.substr(0, take);
    for (std::size_t i = 0; i < piece.size() && r.line.size() < keep; ++i)
      if (piece[i] != '\0') r.line += piece[i];
    r.in_line = true;
    r.to_upstream.append(piece);
    bytes.remove_prefix(take);
    if (lf == std::string_view::npos) break;
    ++r.forwarded;
    r.in_line = false;
    last_progress_ = now;
    if (observer_) {
      std::string_view message(r.line);
      if (message.ends_with('\n')) message.remove_suffix(1);
      observer_(message);
    }
    const bool quit = !r.line.empty() && r.line[0] == 'Q';
    r.line.clear();
    if (quit) finish_input(CloseReason::ProtocolEnd);  // the rest is never read
  }
  arm_upstream_deadline(now);
}

void Session::on_upstream_input(std::string_view bytes, Time now) {
  Relay& r = *relay_;
  if (r.done) return;
  // Whole replies only: one cut short by a failure is never half-relayed.
  // + 1: a reply's own LF; however TCP split it, the same limit.
  const std::size_t longest = limits_.codec.max_line + 1;
  while (!bytes.empty()) {
    const auto lf = bytes.find('\n');
    if (lf == std::string_view::npos) {
      r.partial.append(bytes);
      if (r.partial.size() > longest) return on_upstream_failed("a reply longer than --max-line");
      break;
    }
    std::string_view reply = bytes.substr(0, lf + 1);
    if (!r.partial.empty()) {
      r.partial.append(reply);
      reply = r.partial;
    }
    if (reply.size() > longest) return on_upstream_failed("a reply longer than --max-line");
    // A reply is owed for each message forwarded, and an ERR for one cut
    // short (too long for the upstream); anything else is not okq speaking.
    if (r.all_answered() && !(r.in_line && reply.starts_with("ERR")))
      return on_upstream_failed("unexpected reply (no message outstanding)");
    out_.append(reply);
    r.last_reply_err = reply.starts_with("ERR");
    ++r.replies;
    if (reply_observer_) reply_observer_(reply.substr(0, reply.size() - 1));
    r.partial.clear();
    bytes.remove_prefix(lf + 1);
  }
  last_progress_ = now;
  r.deadline = Time::max();
  arm_upstream_deadline(now);
  if (r.client_done && r.all_answered()) relay_finished();
}

void Session::on_upstream_eof() {
  Relay& r = *relay_;
  if (r.done) return;
  // Everything asked was answered, or the upstream refused the last message
  // with an ERR line and closed, as okq-server does: relayed, the end.
  if ((r.client_done && r.all_answered()) || r.last_reply_err) {
    if (r.last_reply_err) finish_input(CloseReason::ProtocolEnd);
    return relay_finished();
  }
  on_upstream_failed(r.all_answered() ? "closed the connection while idle"
                                      : "closed with replies owed");
}

void Session::on_upstream_failed(std::string why) {
  Relay& r = *relay_;
  if (r.done || closed()) return;
  r.failure = std::move(why);
  out_.append(kUpstreamUnavailable);
  r.done = true;
  r.to_upstream.clear();
  if (state_ == SessionState::Reading)
    finish_input(CloseReason::UpstreamUnavailable);
  else
    reason_ = CloseReason::UpstreamUnavailable;
  settle();
}

void Session::relay_finished() {
  relay_->done = true;
  relay_->deadline = Time::max();
  settle();
}

// While a reply is owed (or the connection is being made) the upstream has
// limits_.upstream_timeout from its last sign of life to give the next one.
void Session::arm_upstream_deadline(Time now) {
  Relay& r = *relay_;
  if (r.done || !r.connected) return;  // connecting: the deadline set at the start holds
  if (r.all_answered()) {
    r.deadline = Time::max();
  } else if (r.deadline == Time::max()) {
    r.deadline = now + limits_.upstream_timeout;
  }
}

}  // namespace okq::server
