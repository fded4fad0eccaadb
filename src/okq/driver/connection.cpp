// connection.cpp -- what every backend's connection driver shares.
#include "okq/driver/connection.hpp"

#include <cstring>

namespace okq::server {

Connection::Connection(std::uint64_t id, std::string peer, ConnectionContext& ctx)
    : Link(ctx), id_(id), peer_(std::move(peer)), session_(ctx.limits.session, ctx.loop.now()) {
  stream_ = &session_;
  if (ctx.log.enabled(Level::Trace)) trace_messages();
}

// What --trace costs is kept apart, so a connection without it pays nothing.
void Connection::trace_messages() {
  if (!stages().tracer) stages().tracer = std::make_unique<Tracer>(*this);
  session_.set_observer(stages().tracer.get());
}

Connection::Stages& Connection::stages() {
  if (!more_) more_ = std::make_unique<Stages>();
  return *more_;
}

Connection& ConnectionList::insert(std::unique_ptr<Connection> conn) noexcept {
  Connection* c = conn.release();
  c->next_ = head_;
  if (head_) head_->prev_ = c;
  head_ = c;
  return *c;
}

void ConnectionList::erase(Connection& conn) noexcept {
  if (conn.prev_) conn.prev_->next_ = conn.next_;
  if (conn.next_) conn.next_->prev_ = conn.prev_;
  if (head_ == &conn) head_ = conn.next_;
  delete &conn;
}

void Connection::traced(std::string_view message) {
  ctx().log.log(Level::Trace, "conn {} message \"{}\"", id_, escape(message));
}

void Connection::expect_tls() {
  stages().tls = std::make_unique<tls::Stage>(session_, ctx().tls->load(),
                                              ctx().limits.handshake_timeout, ctx().loop.now());
  stream_ = tls();
}

void Connection::expect_proxy_header() {
  stages().gate =
      std::make_unique<HeaderGate>(*stream_, ctx().limits.header_timeout, ctx().loop.now());
  stream_ = gate();
}

void Connection::relay_to(const UpstreamTarget& to) {
  stages().relay = std::make_unique<Relay>(ctx().limits.session, ctx().limits.upstream_timeout,
                                           session_.output(), ctx().loop.now());
  session_.answer_with(*relay());
  if (ctx().log.enabled(Level::Trace)) {
    trace_messages();
    relay()->set_reply_observer([this](std::string_view reply) {
      ctx().log.log(Level::Trace, "conn {} upstream reply \"{}\"", id_, escape(reply));
    });
  }
  stages().upstream = UpstreamLeg::open(
      ctx(), *relay(), [this] { upstream_changed(); }, to, ctx().limits.upstream_timeout);
  ctx().log.log(Level::Verbose, "conn {}: relaying to {}{}", id_, to.address.to_string(),
                to.tls ? " over TLS" : "");
  session_.on_answers();  // a connect refused at once
}

// The client's side moved: the relay's leg writes, reads or closes as the
// relay now wants, and whatever that did to the relay (a write refused by a
// dead upstream ends it) the session takes in at once, not at the leg's next
// event, which may never come.
void Connection::sync_upstream() {
  if (!upstream()) return;
  upstream()->update();
  session_.on_answers();
}

void Connection::upstream_changed() {
  if (reported_) return release_if_done();
  session_.on_answers();
  resume();
}

// The leg's operations may outlive the client's (io_uring): the connection,
// which owns the relay they point into, lives until both are over.
void Connection::release_if_done() {
  if (!reported_ || released_ || (upstream() && !upstream()->gone())) return;
  released_ = true;
  ctx().on_closed(*this);
}

void Connection::reject(std::string_view line) {
  session_.reject(line);
  resume();
}

void Connection::input(std::string_view bytes, Session::Time now) {
  const auto before = session_.messages();
  stream_->on_input(bytes, now);
  ctx().counters.bytes_in.add(bytes.size());
  ctx().counters.messages.add(session_.messages() - before);
  if (gate() && !gate()->awaiting()) header_ended();
  if (tls() && !handshake_reported_ && !tls()->handshaking()) handshake_ended();
  sync_upstream();
}

void Connection::eof(Session::Time now) {
  const auto before = session_.messages();
  stream_->on_eof(now);
  ctx().counters.messages.add(session_.messages() - before);
  sync_upstream();
}

void Connection::sent(std::size_t n) {
  stream_->on_sent(n, ctx().loop.now());
  ctx().counters.bytes_out.add(n);
  sync_upstream();  // a slow client's replies went out: read upstream again
}

// The header's addresses are the peer's bytes (a v2 unix path may hold any):
// escaped before they reach a log line, so no client can forge one.
void Connection::header_ended() {
  const auto* parser = &gate()->parser();
  std::uint64_t held = 0;
  if (parser->status() == proto::ProxyHeaderParser::Status::Invalid) {
    if (ctx().invalid_headers.admit(ctx().loop.now(), held))
      ctx().log.log(Level::Info,
                    "conn {} from {}: invalid PROXY header ({}); closed without a reply{}", id_,
                    peer_, escape(parser->error()), held_back(held));
  } else if (const auto& h = parser->header(); h.local) {
    ctx().log.log(Level::Verbose, "conn {} from {}: PROXY v{} {}: served as itself", id_, peer_,
                  h.version, h.version == 1 ? "UNKNOWN" : "LOCAL (a health check)");
  } else {
    const std::string source = escape(h.source);
    ctx().log.log(Level::Verbose, "conn {}: PROXY v{}: client {} to {} via {}", id_, h.version,
                  source, escape(h.destination), peer_);
    peer_ = source + " via " + peer_;
  }
  // Whole or invalid, the header is over: the gate leaves the chain.
  stream_ = tls() ? static_cast<Stream*>(tls()) : &session_;
  more_->gate.reset();
  opened_if_ready();
}

void Connection::handshake_ended() {
  handshake_reported_ = true;
  const auto& channel = tls()->channel();
  if (channel.handshake_done()) {
    (channel.resumed() ? ctx().counters.tls_resumed : ctx().counters.tls_full).add();
    if (ctx().log.enabled(Level::Verbose)) {
      const std::string subject = channel.peer_subject();
      ctx().log.log(Level::Verbose, "conn {}: {} {}{}{}", id_, channel.version(), channel.cipher(),
                    channel.resumed() ? ", resumed" : "",
                    subject.empty() ? "" : ", client certificate " + escape(subject));
    }
  }
  opened_if_ready();
}

void Connection::opened_if_ready() {
  if (opened_reported_ || opening()) return;
  opened_reported_ = true;
  if (ctx().on_opened) ctx().on_opened(id_);
}

void Connection::begin_stop(std::size_t unread) {
  ctx().log.log(Level::Verbose, "conn {}: stopping, {} bytes unread and {} owed to answer", id_,
                unread, session_.owed_bytes());
  stream_->on_stop(unread);
}

void Connection::timer_fired() {
  sync_upstream();
}

void Connection::report_closed() noexcept {
  if (reported_) return;
  reported_ = true;
  cancel_timer();
  const auto reason = session_.reason();
  ctx().counters.count_close(reason);
  std::string why = reason == CloseReason::IoError ? std::strerror(error_) : to_string(reason);
  if (relay() && reason == CloseReason::UpstreamUnavailable) why += " (" + relay()->failure() + ")";
  if (tls() && tls()->channel().failed()) why += " (" + escape(tls()->channel().error()) + ")";
  // A PROXY client that never finished its header (a misconfigured
  // balancer) and an upstream that failed are worth an operator's eye; the
  // rest is the normal course of things.
  // Silent PROXY clients can come in floods: a line a second of those.
  std::uint64_t held = 0;
  // A handshake that fails is a client misconfigured (or a scanner): worth
  // a line, a second at most.
  const bool notable =
      (reason == CloseReason::ProxyTimeout &&
       ctx().header_timeouts.admit(ctx().loop.now(), held)) ||
      ((reason == CloseReason::TlsHandshakeFailed || reason == CloseReason::TlsTimeout) &&
       ctx().handshake_failures.admit(ctx().loop.now(), held)) ||
      reason == CloseReason::UpstreamUnavailable;
  ctx().log.log(notable ? Level::Info : Level::Verbose, "conn {} from {} closed: {}; {} messages{}",
                id_, peer_, why, session_.messages(), held_back(held));
  if (upstream()) upstream()->close(CloseReason::UpstreamUnavailable);  // the client is gone
  release_if_done();
}

}  // namespace okq::server
