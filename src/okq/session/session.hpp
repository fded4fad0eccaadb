// session.hpp -- Session: one connection's protocol state with no system calls
// in it: the replies owed, the state, why it ended, the idle and linger
// deadlines, back-pressure and what a stop promises. Its Responder answers
// the messages (the codec's answers unless given another); a driver (one per
// I/O backend) moves the bytes and tells the session what happened, and the
// session decides what is wanted next. It owns no socket and reads no clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "okq/proto/codec.hpp"
#include "okq/proto/output_buffer.hpp"
#include "okq/session/close_reason.hpp"
#include "okq/session/responder.hpp"
#include "okq/session/stream.hpp"

namespace okq::server {

enum class SessionState : std::uint8_t {
  Reading,    // reading messages and answering them
  Flushing,   // no more input wanted; writing the replies still owed
  Lingering,  // replies written and FIN sent; discarding input until the peer's FIN
  Closed,     // done: the driver closes the socket
};

const char* to_string(SessionState state) noexcept;

struct SessionLimits {
  proto::CodecOptions codec;
  std::size_t max_output = 1 << 20;                // owed bytes past which reading pauses
  std::chrono::milliseconds idle_timeout{300000};  // 0: never
  // After our FIN, how long a peer may keep sending before the socket is
  // closed regardless. Closing with unread input makes the kernel send RST,
  // which can destroy replies still in flight; draining first avoids that.
  std::chrono::milliseconds linger_timeout{5000};
};

class Session final : public Stream {
 public:
  Session(const SessionLimits& limits, Time now);

  // Before any input and before set_observer(): answer through `responder`
  // (built over output(), owned by the caller, outliving the session's use
  // of it) instead of the codec's own answers.
  void answer_with(Responder& responder) noexcept { responder_ = &responder; }
  proto::OutputBuffer& output() noexcept { return out_; }
  // The responder changed on its own (replies came, or it ended): take it in.
  void on_answers();

  // Instead of serving: owe `line` (e.g. "ERR too many connections\n"), then close.
  void reject(std::string_view line);

  // --- input
  bool wants_input() const noexcept override;
  bool discards_input() const noexcept override { return state_ == SessionState::Lingering; }
  // A classic message is exactly one read; during a stop, no more than had
  // arrived when it began.
  std::size_t read_limit(std::size_t buffer) const noexcept override;
  void on_input(std::string_view bytes, Time now) override;
  void on_eof(Time now) override;

  // --- output
  std::string_view owed() noexcept override { return out_.pending(); }
  std::size_t owed_bytes() const noexcept override { return out_.size(); }
  void on_sent(std::size_t n, Time now) override;
  bool wants_fin() const noexcept override;
  void on_fin_sent(Time now) override;

  // --- ending, and time
  // With nothing owed, nothing outstanding and nothing unread, the session
  // closes at once.
  void on_stop(std::size_t unread) override;
  void close(CloseReason reason) noexcept override;
  bool closed() const noexcept override { return state_ == SessionState::Closed; }
  // The idle or linger deadline, or the responder's.
  Time deadline() const noexcept override;
  void on_timer(Time now) override;

  SessionState state() const noexcept { return state_; }
  CloseReason reason() const noexcept { return reason_; }
  bool rejected() const noexcept { return rejected_; }
  std::uint64_t messages() const noexcept {
    return responder_ ? responder_->messages() : answers_.messages();
  }
  void set_observer(proto::MessageObserver* observer) noexcept {
    if (responder_)
      responder_->set_observer(observer);
    else
      answers_.set_observer(observer);
  }

 private:
  void finish_input(CloseReason why);
  void settle();  // Flushing with nothing owed: close, or ask for FIN
  bool settled() const noexcept { return !responder_ || responder_->settled(); }
  Time idle_deadline_from(Time now) const noexcept;  // Time::max() without an idle timeout

  const SessionLimits& limits_;
  proto::OutputBuffer out_;
  Answers answers_;                 // the codec's own answers, unless given others
  Responder* responder_ = nullptr;  // the others (a relay), if given
  SessionState state_ = SessionState::Reading;
  CloseReason reason_ = CloseReason::ProtocolEnd;  // why input ended, then why it closed
  bool peer_eof_ : 1 = false;
  bool rejected_ : 1 = false;
  bool stopping_ : 1 = false;      // server stopping: read only stop_budget_ more bytes
  bool linger_first_ : 1 = false;  // lingering, and the linger timeout is the nearer bound
  std::uint32_t stop_budget_ = 0;  // bytes that had arrived when the stop began
  // The idle timeout from the last time a message completed or owed bytes
  // were written. Bytes that never make a message do not count: that is the
  // slowloris defence. Once lingering, the nearer of it and the linger timeout.
  Time deadline_;
};

}  // namespace okq::server
