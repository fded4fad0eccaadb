// session.hpp -- Session: one connection's protocol state with no system calls
// in it: the codec, the replies owed, the state, why it ended, the idle and
// linger deadlines, back-pressure and what a stop promises. A driver (one per
// I/O backend) moves the bytes and tells the session what happened; the
// session decides what is wanted next. It owns no socket and reads no clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "okq/proto/codec.hpp"
#include "okq/proto/output_buffer.hpp"
#include "okq/proto/proxy_header.hpp"
#include "okq/session/close_reason.hpp"

namespace okq::server {

enum class SessionState {
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
  // How long a PROXY listener's client has to send its whole header.
  std::chrono::milliseconds header_timeout{3000};
  // --upstream: how long the upstream may take to connect, or to send the
  // next reply it owes, before the client gets kUpstreamUnavailable.
  std::chrono::milliseconds upstream_timeout{5000};
};

inline constexpr std::string_view kUpstreamUnavailable = "ERR upstream unavailable\n";

class Session {
 public:
  using Clock = std::chrono::steady_clock;
  using Time = Clock::time_point;

  Session(const SessionLimits& limits, Time now);

  // Instead of serving: owe `line` (e.g. "ERR too many connections\n"), then close.
  void reject(std::string_view line);

  // Before start: the connection came through a PROXY listener; a PROXY
  // protocol header comes first, within limits.header_timeout. Nothing after
  // it is read until it is whole; a malformed one closes the session with no
  // reply (ProxyInvalid), a late one likewise (ProxyTimeout).
  void expect_proxy_header(Time now);
  bool awaiting_header() const noexcept {
    return proxy_ && proxy_->status() == proto::ProxyHeaderParser::Status::NeedMore;
  }
  // The header's parser (done or invalid) until drop_header(); nullptr without one.
  const proto::ProxyHeaderParser* proxy_header() const noexcept { return proxy_.get(); }
  void drop_header() noexcept {
    if (!awaiting_header()) proxy_.reset();
  }

  // --- relay (--upstream): before start, the session forwards the client's
  // messages to an upstream okq server instead of answering them, and its
  // replies are the upstream's, relayed in order. A driver of the upstream
  // leg moves those bytes and tells the session what happened, as the
  // client's driver does.
  void relay_to_upstream(Time now);
  // Client messages to write upstream (stay put until written).
  std::string_view upstream_owed() const noexcept;
  void on_upstream_sent(std::size_t n);
  // Every client message went upstream and none will follow: send it FIN.
  bool upstream_wants_fin() const noexcept;
  void on_upstream_fin_sent() noexcept;
  // The upstream's replies are wanted (not held back by a slow client).
  bool upstream_wants_input() const noexcept;
  void on_upstream_connected(Time now);
  void on_upstream_input(std::string_view bytes, Time now);
  void on_upstream_eof();
  // Refused, reset, silent: the client gets what was relayed, then
  // kUpstreamUnavailable, and the session ends.
  void on_upstream_failed(std::string why);
  // Why the upstream failed ("" while it has not).
  const std::string& upstream_failure() const noexcept;
  // The upstream leg has nothing more to do: its socket can be closed.
  bool upstream_done() const noexcept;
  void set_reply_observer(proto::MessageObserver observer) {
    reply_observer_ = std::move(observer);
  }

  // --- input
  // Reading, and not held back: the driver should read (at most read_limit()).
  bool wants_input() const noexcept;
  // Lingering: input is read only to be dropped, until the peer's FIN.
  bool discards_input() const noexcept { return state_ == SessionState::Lingering; }
  // The most worth reading at once (a classic message is exactly one read;
  // during a stop, no more than had arrived when it began).
  std::size_t read_limit(std::size_t buffer) const noexcept;
  void on_input(std::string_view bytes, Time now);
  void on_eof(Time now);

  // --- output
  // The next replies to write; they stay put until all of them are sent.
  std::string_view owed() noexcept { return out_.pending(); }
  std::size_t owed_bytes() const noexcept { return out_.size(); }
  void on_sent(std::size_t n, Time now);
  // Every reply is written and the peer may still send: the driver sends FIN
  // (shutdown SHUT_WR) and calls on_fin_sent().
  bool wants_fin() const noexcept;
  void on_fin_sent(Time now);

  // --- ending
  // The server is stopping; `unread` bytes had arrived and wait in the kernel.
  // Every one of them is answered; nothing that arrives later is read. With
  // nothing owed and nothing unread, the session closes at once.
  void on_shutdown(std::size_t unread);
  void close(CloseReason reason) noexcept;

  // --- time
  // When on_timer() should next look (idle or linger deadline); Time::max() if never.
  Time deadline() const noexcept;
  void on_timer(Time now);

  SessionState state() const noexcept { return state_; }
  bool closed() const noexcept { return state_ == SessionState::Closed; }
  CloseReason reason() const noexcept { return reason_; }
  bool rejected() const noexcept { return rejected_; }
  std::uint64_t messages() const noexcept;
  void set_observer(proto::MessageObserver observer) {
    observer_ = observer;
    codec_->set_observer(std::move(observer));
  }

 private:
  std::string_view take_header(std::string_view bytes, Time now);
  void relay_input(std::string_view bytes, Time now);
  bool relay_settled() const noexcept { return !relay_ || relay_->done; }
  void finish_input(CloseReason why);
  void settle();                        // Flushing with nothing owed: close, or ask for FIN
  Time idle_deadline() const noexcept;  // Time::max() without an idle timeout

  const SessionLimits& limits_;
  std::unique_ptr<proto::Codec> codec_;
  proto::OutputBuffer out_;
  SessionState state_ = SessionState::Reading;
  CloseReason reason_ = CloseReason::ProtocolEnd;  // why input ended, then why it closed
  bool peer_eof_ = false;
  bool rejected_ = false;
  bool stopping_ = false;        // server stopping: read only stop_budget_ more bytes
  std::size_t stop_budget_ = 0;  // bytes that had arrived when the stop began
  // Last time a message completed or owed bytes were written. Bytes that never
  // make a message do not count: that is the slowloris defence.
  Time last_progress_;
  Time linger_deadline_ = Time::max();
  std::unique_ptr<proto::ProxyHeaderParser> proxy_;  // a PROXY listener's, while it matters
  Time header_deadline_ = Time::max();

  struct Relay {
    std::string to_upstream;  // client messages not yet written upstream
    // The start of the client's current line (its first byte, or all of it
    // for --trace); empty between lines.
    std::string line;
    bool in_line = false;         // part of the client's current line went upstream
    std::string partial;          // an upstream reply not yet whole
    std::uint64_t forwarded = 0;  // client messages sent on (a last unterminated one counts)
    std::uint64_t replies = 0;    // whole replies relayed back
    bool last_reply_err = false;  // the upstream's last reply was an ERR (it closes after one)
    bool client_done = false;     // nothing more from the client goes upstream
    bool fin_sent = false;
    bool connected = false;
    bool done = false;            // the upstream leg is over (answered everything, or failed)
    std::string failure;          // why it failed, for the log
    Time deadline = Time::max();  // connect, or the next reply owed, by then

    bool all_answered() const noexcept { return replies >= forwarded; }
  };
  void relay_finished();
  void arm_upstream_deadline(Time now);
  std::unique_ptr<Relay> relay_;
  proto::MessageObserver observer_;        // forwarded messages, for --trace
  proto::MessageObserver reply_observer_;  // relayed replies, for --trace
};

}  // namespace okq::server
