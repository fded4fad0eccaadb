// connection.hpp -- Connection: one okq-server client on one EventLoop: its
// chain of streams (HeaderGate, tls::Stage, Session, Relay), its id and peer, the trace
// of messages, the start of a stop and the log line at the end. Its driver
// (OnEpoll / OnUring, driver/drivers.hpp) owns the socket and makes the
// system calls. The Worker owns the connection and destroys it once it has
// reported itself closed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "okq/driver/counters.hpp"
#include "okq/driver/link.hpp"
#include "okq/driver/upstream.hpp"
#include "okq/event/event_loop.hpp"
#include "okq/log/log.hpp"
#include "okq/session/header_gate.hpp"
#include "okq/session/relay.hpp"
#include "okq/session/session.hpp"
#include "okq/tls/stage.hpp"

namespace okq::server {

class Connection;

struct ConnectionLimits {
  SessionLimits session;
  // How long a PROXY listener's client has to send its whole header.
  std::chrono::milliseconds header_timeout{3000};
  // --upstream: how long the upstream may take to connect, or to send the
  // next reply it owes, before the client gets kUpstreamUnavailable.
  std::chrono::milliseconds upstream_timeout{5000};
  // How long a TLS listener's client has to finish its handshake.
  std::chrono::milliseconds handshake_timeout{10000};
};

// What a TLS listener's connections are made with: the context now (a
// reload swaps it; connections keep the one they were made with).
using TlsContextSlot = std::atomic<std::shared_ptr<const tls::Context>>;

// What every connection of one loop shares (the loop and its read buffer
// first, as every Link's).
struct ConnectionContext : LoopShare {
  Logger& log;
  ConnectionLimits limits;
  WorkerCounters& counters;
  const UpstreamTarget* upstream = nullptr;           // --upstream: relay every client there
  LogBurst invalid_headers{};                         // the loop's: one line a second at most
  LogBurst header_timeouts{};                         // likewise
  LogBurst handshake_failures{};                      // likewise
  std::function<void(std::uint64_t id)> on_opened{};  // no header or handshake awaited now
  const TlsContextSlot* tls = nullptr;                // a server with TLS listeners
  // A connection reported itself closed: its owner lets go of it.
  std::function<void(Connection&)> on_closed{};
};

// One client of okq-server: its chain of streams on a Link, and what the
// server asks of it. Made concrete for a backend by OnEpoll / OnUring.
class Connection : public Link {
 public:
  // Before start(): the client came through a PROXY listener; its header
  // comes first, and its source is the peer logged from then on.
  void expect_proxy_header();
  // Before start() and expect_proxy_header(): the client speaks TLS.
  void expect_tls();
  // Still waiting for its PROXY header (a slow or silent client).
  bool awaiting_header() const noexcept { return gate() && gate()->awaiting(); }
  // Still waiting for its PROXY header or its TLS handshake: what the
  // server's budget for connections not yet open counts.
  bool opening() const noexcept { return awaiting_header() || (tls() && tls()->handshaking()); }
  // Before start(): relay this client's messages to `to` (--upstream) and
  // its replies back, instead of answering them.
  void relay_to(const UpstreamTarget& to);
  // Instead of start(): answer `line` (e.g. "ERR too many connections\n") and close.
  void reject(std::string_view line);

  std::uint64_t id() const noexcept { return id_; }
  bool rejected() const noexcept { return session_.rejected(); }
  SessionState state() const noexcept { return session_.state(); }

  // The Link's hooks: counted, traced, the relay's leg kept in step.
  void input(std::string_view bytes, Time now) override;
  void sent(std::size_t n) override;
  void eof(Time now) override;
  void begin_stop(std::size_t unread) override;
  void report_closed() noexcept override;  // logs the end and tells the owner, once

 protected:
  Connection(std::uint64_t id, std::string peer, ConnectionContext& ctx);

 private:
  void timer_fired() override;
  void traced(std::string_view message);  // --trace: a message the session took
  void header_ended();      // the PROXY header is whole or invalid: log it, keep the source
  void handshake_ended();   // the TLS handshake is over: log and count it
  void opened_if_ready();   // neither header nor handshake awaited: tell the server, once
  void upstream_changed();  // the relay's leg moved: the session takes it in, then resume()
  void sync_upstream();     // the client's side moved: the leg follows, the session takes it in
  void release_if_done();   // closed, and the relay's leg gone too: the owner lets go of it

  // --trace: the session's messages, to the log.
  struct Tracer final : proto::MessageObserver {
    explicit Tracer(Connection& c) : conn(c) {}
    void message(std::string_view message) override { conn.traced(message); }
    Connection& conn;
  };
  // What a plain client does without: held apart, so it costs one pointer.
  struct Stages {
    std::unique_ptr<tls::Stage> tls;        // a TLS listener's transport
    std::unique_ptr<HeaderGate> gate;       // a PROXY listener's, until its header is whole
    std::unique_ptr<Relay> relay;           // --upstream: the session's responder
    std::unique_ptr<UpstreamLeg> upstream;  // the relay's leg; closed with the client's
    std::unique_ptr<Tracer> tracer;
  };
  void trace_messages();
  Stages& stages();
  tls::Stage* tls() const noexcept { return more_ ? more_->tls.get() : nullptr; }
  HeaderGate* gate() const noexcept { return more_ ? more_->gate.get() : nullptr; }
  Relay* relay() const noexcept { return more_ ? more_->relay.get() : nullptr; }
  UpstreamLeg* upstream() const noexcept { return more_ ? more_->upstream.get() : nullptr; }

  // The loop's share is the whole context (the Link holds the reference).
  ConnectionContext& ctx() const noexcept { return static_cast<ConnectionContext&>(share_); }

  // First, so they fit in what the Link leaves unused at its end.
  bool reported_ : 1 = false;
  bool released_ : 1 = false;
  bool handshake_reported_ : 1 = false;
  bool opened_reported_ : 1 = false;
  std::uint64_t id_;
  std::string peer_;
  Session session_;
  std::unique_ptr<Stages> more_;  // destroyed before the session its stages stand on
  // Its place in its owner's list (ConnectionList): nothing allocated for it.
  friend class ConnectionList;
  Connection* prev_ = nullptr;
  Connection* next_ = nullptr;
};

// The connections of one loop, owned: an intrusive list, so holding one
// costs two pointers inside it and nothing allocated.
class ConnectionList {
 public:
  ConnectionList() = default;
  ConnectionList(const ConnectionList&) = delete;
  ConnectionList& operator=(const ConnectionList&) = delete;
  ~ConnectionList() {
    while (head_) erase(*head_);
  }

  Connection& insert(std::unique_ptr<Connection> conn) noexcept;
  void erase(Connection& conn) noexcept;  // and destroys it
  // `fn` may close the connection it is given (it is erased later).
  template <class Fn>
  void for_each(Fn fn) {
    for (Connection* c = head_; c != nullptr;) {
      Connection* next = c->next_;
      fn(*c);
      c = next;
    }
  }

 private:
  Connection* head_ = nullptr;
};

}  // namespace okq::server
