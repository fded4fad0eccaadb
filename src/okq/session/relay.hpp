// relay.hpp -- Relay: the Responder of a relaying connection (--upstream).
// The client's messages go on, as they are, to an upstream okq server, and
// its replies come back to the client in order, whole replies only. A driver
// of the upstream leg (driver/upstream.hpp) moves the bytes and tells the
// relay what happened, as a client's driver does its session; the relay owns
// the bytes owed upstream. A refusal, a reset, a silence past the timeout or
// a reply nobody asked for ends it: the client gets what was relayed, then
// kUpstreamUnavailable, and its session ends.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "okq/proto/line_codec.hpp"
#include "okq/proto/output_buffer.hpp"
#include "okq/session/responder.hpp"
#include "okq/session/session.hpp"

namespace okq::server {

inline constexpr std::string_view kUpstreamUnavailable = "ERR upstream unavailable\n";

class Relay final : public Responder {
 public:
  // `timeout`: how long the upstream may take to connect, or to send the
  // next reply owed. `out` is the client session's output buffer.
  Relay(const SessionLimits& limits, std::chrono::milliseconds timeout, proto::OutputBuffer& out,
        Time now);

  // --- the client's side (the Session)
  proto::Verdict feed(std::string_view in, Time now) override;
  void finish(Time now) override;
  void input_ended() override;
  // As much as the line codec takes: lines are only looked at, never held.
  std::size_t read_limit() const noexcept override { return proto::kLineReadLimit; }
  std::uint64_t messages() const noexcept override { return forwarded_; }
  void set_observer(proto::MessageObserver* observer) noexcept override { observer_ = observer; }
  bool holds_back() const noexcept override {
    return !done_ && to_upstream_.size() > limits_.max_output;
  }
  bool outstanding() const noexcept override { return !all_answered(); }
  bool settled() const noexcept override { return done_; }
  Time deadline() const noexcept override { return done_ ? Time::max() : deadline_; }
  void on_timer(Time now) override;
  std::optional<End> ended() const noexcept override { return end_; }
  void set_reply_observer(std::function<void(std::string_view reply)> observer) {
    reply_observer_ = std::move(observer);
  }

  // --- the upstream's side (its driver)
  // Client messages to write upstream (they stay put until written).
  std::string_view owed() noexcept { return done_ ? std::string_view() : to_upstream_.pending(); }
  std::size_t owed_bytes() const noexcept { return done_ ? 0 : to_upstream_.size(); }
  void on_sent(std::size_t n) noexcept { to_upstream_.consume(n); }
  // Every client message went upstream and none will follow: send it FIN.
  bool wants_fin() const noexcept;
  void on_fin_sent() noexcept { fin_sent_ = true; }
  // The upstream's replies are wanted (not held back by a slow client).
  bool wants_input() const noexcept;
  void on_connected(Time now);
  void on_input(std::string_view bytes, Time now);
  void on_eof();
  void on_failed(std::string why);
  // Why it failed ("" while it has not).
  const std::string& failure() const noexcept { return failure_; }
  // Nothing more to do upstream: its socket can be closed.
  bool done() const noexcept { return done_; }

 private:
  bool all_answered() const noexcept { return replies_ >= forwarded_; }
  void finished();
  void arm_deadline(Time now);

  const SessionLimits& limits_;
  std::chrono::milliseconds timeout_;
  proto::OutputBuffer to_upstream_;  // client messages not yet written upstream
  // The start of the client's current line (its first byte, or all of it for
  // --trace); empty between lines.
  std::string line_;
  bool in_line_ = false;         // part of the client's current line went upstream
  bool quit_ = false;            // a Q went upstream: nothing more is read
  std::string partial_;          // an upstream reply not yet whole
  std::uint64_t forwarded_ = 0;  // client messages sent on (a last unterminated one counts)
  std::uint64_t replies_ = 0;    // whole replies relayed back
  bool last_reply_err_ = false;  // the upstream's last reply was an ERR (it closes after one)
  bool client_done_ = false;     // nothing more from the client goes upstream
  bool fin_sent_ = false;
  bool connected_ = false;
  bool done_ = false;  // the upstream leg is over (answered everything, or failed)
  std::string failure_;
  std::optional<End> end_;
  Time deadline_;                               // connect, or the next reply owed, by then
  proto::MessageObserver* observer_ = nullptr;  // forwarded messages, for --trace
  std::function<void(std::string_view)> reply_observer_;  // relayed replies, for --trace
};

}  // namespace okq::server
