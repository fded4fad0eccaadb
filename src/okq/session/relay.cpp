// relay.cpp -- the relay's pure half: what goes upstream, what comes back.
#include "okq/session/relay.hpp"

namespace okq::server {

Relay::Relay(const SessionLimits& limits, std::chrono::milliseconds timeout,
             proto::OutputBuffer& out, Time now)
    : Responder(out), limits_(limits), timeout_(timeout), deadline_(now + timeout) {}

// The client's bytes go on as they are, message by message: up to and
// including a Q message, after which (as okq-server does) nothing more is
// read. Only the start of each line is looked at.
proto::Verdict Relay::feed(std::string_view bytes, Time now) {
  // What is kept of a line: its first byte (is it Q?), or all of it for
  // --trace; NUL bytes are padding to the server, so never its first byte.
  const std::size_t keep = observer_ ? limits_.codec.max_line : 1;
  while (!bytes.empty() && !quit_ && !done_) {
    const auto lf = bytes.find('\n');
    const std::size_t take = lf == std::string_view::npos ? bytes.size() : lf + 1;
    const std::string_view piece = bytes.substr(0, take);
    for (std::size_t i = 0; i < piece.size() && line_.size() < keep; ++i)
      if (piece[i] != '\0') line_ += piece[i];
    in_line_ = true;
    to_upstream_.append(piece);
    bytes.remove_prefix(take);
    if (lf == std::string_view::npos) break;
    ++forwarded_;
    in_line_ = false;
    if (observer_) {
      std::string_view message(line_);
      if (message.ends_with('\n')) message.remove_suffix(1);
      observer_->message(message);
    }
    quit_ = !line_.empty() && line_[0] == 'Q';  // the rest is never read
    line_.clear();
  }
  arm_deadline(now);
  return quit_ ? proto::Verdict::Close : proto::Verdict::Continue;
}

// An unterminated last message goes on as it is: the upstream answers it at
// our FIN, as okq-server does at its client's.
void Relay::finish(Time now) {
  if (!line_.empty()) ++forwarded_;
  arm_deadline(now);
}

void Relay::input_ended() {
  if (done_) return;
  // Nothing more goes upstream; once every reply is in, the relay is over.
  client_done_ = true;
  if (all_answered()) done_ = true;
}

void Relay::on_timer(Time now) {
  if (!done_ && now >= deadline_)
    on_failed(connected_ ? "no reply within --upstream-timeout"
                         : "not connected within --upstream-timeout");
}

bool Relay::wants_fin() const noexcept {
  return connected_ && !done_ && client_done_ && !fin_sent_ && to_upstream_.empty();
}

bool Relay::wants_input() const noexcept {
  return connected_ && !done_ && out_.size() <= limits_.max_output;
}

void Relay::on_connected(Time now) {
  connected_ = true;
  deadline_ = Time::max();
  arm_deadline(now);
}

void Relay::on_input(std::string_view bytes, Time now) {
  if (done_) return;
  // Whole replies only: one cut short by a failure is never half-relayed.
  // + 1: a reply's own LF; however TCP split it, the same limit.
  const std::size_t longest = limits_.codec.max_line + 1;
  while (!bytes.empty()) {
    const auto lf = bytes.find('\n');
    if (lf == std::string_view::npos) {
      partial_.append(bytes);
      if (partial_.size() > longest) return on_failed("a reply longer than --max-line");
      break;
    }
    std::string_view reply = bytes.substr(0, lf + 1);
    if (!partial_.empty()) {
      partial_.append(reply);
      reply = partial_;
    }
    if (reply.size() > longest) return on_failed("a reply longer than --max-line");
    // A reply is owed for each message forwarded, and an ERR for one cut
    // short (too long for the upstream); anything else is not okq speaking.
    if (all_answered() && !(in_line_ && reply.starts_with("ERR")))
      return on_failed("unexpected reply (no message outstanding)");
    out_.append(reply);
    last_reply_err_ = reply.starts_with("ERR");
    ++replies_;
    if (reply_observer_) reply_observer_(reply.substr(0, reply.size() - 1));
    partial_.clear();
    bytes.remove_prefix(lf + 1);
  }
  deadline_ = Time::max();
  arm_deadline(now);
  if (client_done_ && all_answered()) finished();
}

void Relay::on_eof() {
  if (done_) return;
  // Everything asked was answered, or the upstream refused the last message
  // with an ERR line and closed, as okq-server does: relayed, the end.
  if ((client_done_ && all_answered()) || last_reply_err_) {
    if (last_reply_err_) end_ = End{CloseReason::ProtocolEnd, false};
    return finished();
  }
  on_failed(all_answered() ? "closed the connection while idle" : "closed with replies owed");
}

void Relay::on_failed(std::string why) {
  if (done_) return;
  failure_ = std::move(why);
  out_.append(kUpstreamUnavailable);
  // What was owed upstream is never sent now (owed() is empty), but its
  // buffer stays until the relay is destroyed: a send of it may still be
  // in flight in the kernel (io_uring) until the leg's socket is closed.
  end_ = End{CloseReason::UpstreamUnavailable, true};
  finished();
}

void Relay::finished() {
  done_ = true;
  deadline_ = Time::max();
}

// While a reply is owed (or the connection is being made) the upstream has
// the timeout from its last sign of life to give the next one.
void Relay::arm_deadline(Time now) {
  if (done_ || !connected_) return;  // connecting: the deadline set at the start holds
  if (all_answered()) {
    deadline_ = Time::max();
  } else if (deadline_ == Time::max()) {
    deadline_ = now + timeout_;
  }
}

}  // namespace okq::server
