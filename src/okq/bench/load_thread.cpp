// load_thread.cpp -- the load of one okq-bench thread, on the server's engine.
#include "okq/bench/load_thread.hpp"

#include <sys/prctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <span>
#include <utility>

#include "okq/driver/drivers.hpp"
#include "okq/net/error.hpp"
#include "okq/net/socket.hpp"
#include "okq/tls/stage.hpp"

namespace okq::bench {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

// --reconnect: the first wait after a connection breaks, the longest, and how
// long one attempt may take (the server is local or nearby: a second is long).
constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kLastBackoff{1000};
constexpr std::chrono::milliseconds kReconnectTimeout{1000};

std::uint64_t ns_between(Clock::time_point a, Clock::time_point b) {
  const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
  return d > 0 ? static_cast<std::uint64_t>(d) : 0;
}

}  // namespace

// A Conn as its driver sees it: the driver moves the Conn's bytes and says
// when the socket is gone.
// With TLS, its stream is a tls::Stage in front of the Conn.
class LoadThread::Carrier : public server::Link {
 public:
  Carrier(server::LoopShare& share, Conn& conn, const LoadPlan& plan) : Link(share), conn_(conn) {
    stream_ = &conn;
    if (!plan.tls) return;
    tls_ = std::make_unique<tls::Stage>(conn, plan.tls, kHandshakeTimeout, share.loop.now(),
                                        plan.server_name,
                                        plan.tls_resume ? conn.session.get() : nullptr);
    stream_ = tls_.get();
  }
  void report_closed() noexcept override {
    // Kept for the next socket (--tls-resume) once this one ended cleanly.
    if (tls_ && tls_->channel().handshake_done() && !tls_->channel().failed())
      if (SSL_SESSION* s = tls_->channel().session()) conn_.session.reset(s, SSL_SESSION_free);
    conn_.thread->socket_closed(conn_);
  }

 private:
  static constexpr std::chrono::seconds kHandshakeTimeout{10};
  Conn& conn_;
  std::unique_ptr<tls::Stage> tls_;
};

LoadThread::LoadThread(const Exchange& exchange, LoadPlan plan)
    : exchange_(exchange),
      plan_(std::move(plan)),
      loop_(plan_.io_uring ? "io_uring" : "epoll"),
      read_buffer_(kReadChunk) {}

LoadThread::~LoadThread() {
  // Drivers first: they point into the loop.
  conns_.clear();
  retired_.clear();
}

std::size_t LoadThread::idle_closed() const noexcept {
  std::size_t closed = 0;
  for (const auto& fd : idle_) {
    char byte;
    const ssize_t n = ::recv(fd.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    closed += n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  return closed;
}

void LoadThread::connect() {
  for (std::size_t i = 0; i < plan_.connections; ++i) {
    conns_.push_back(std::make_unique<Conn>());
    conns_.back()->thread = this;
    conns_.back()->index = i;
    open(*conns_.back());
  }
  for (std::size_t i = 0; i < plan_.idle_connections; ++i) open_idle();
}

// A blocking handshake: the server holds an idle TLS connection as it
// would after any handshake.
void LoadThread::open_idle() {
  idle_.push_back(net::connect_to(plan_.target, std::chrono::seconds(10)));
  if (!plan_.tls) return;
  auto channel = std::make_unique<tls::Channel>(plan_.tls, plan_.server_name);
  const std::string why =
      channel->handshake_over(idle_.back().get(), Clock::now() + std::chrono::seconds(10));
  if (!why.empty()) throw net::Error(net::Call::Connect, plan_.target.to_string(), why);
  idle_tls_.push_back(std::move(channel));
}

// Connects `c` (blocking, at most `timeout`). Throws net::Error.
void LoadThread::open(Conn& c, std::chrono::milliseconds timeout) {
  c.fd = net::connect_to(plan_.target, timeout);
  c.closed_ = false;
}

void LoadThread::attach(Conn& c) {
  if (loop_.uring())
    c.link = std::make_unique<server::OnUring<Carrier>>(std::move(c.fd), share_, c, plan_);
  else
    c.link = std::make_unique<server::OnEpoll<Carrier>>(std::move(c.fd), share_, c, plan_);
}

bool LoadThread::may_send() const noexcept {
  return !stopping_ && (plan_.max_requests == 0 || issued_ < plan_.max_requests);
}

std::uint64_t LoadThread::outstanding() const noexcept {
  std::uint64_t n = 0;
  for (const auto& c : conns_)
    if (!c->broken) n += c->inflight.size() + c->due.size();
  return n;
}

void LoadThread::schedule(Clock::time_point now) {
  // Request k falls due at start + k / rate, on connection k mod c: one global
  // schedule, spread evenly over the connections.
  while (may_send()) {
    const auto due = due_time(next_seq_);
    if (due > now) return;
    Conn& c = *conns_[next_seq_ % conns_.size()];
    c.due.push_back(due);
    ++next_seq_;
    ++issued_;
    fill(c, now);
    if (c.link) c.link->start();  // writes what fill() added
  }
}

Clock::time_point LoadThread::due_time(std::uint64_t seq) const noexcept {
  const double period_ns = 1e9 / plan_.rate;
  return start_ +
         std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(seq) * period_ns));
}

void LoadThread::arm_due_timer() {
  if (!may_send()) return;
  loop_.run_at(due_time(next_seq_), [this] {
    schedule(Clock::now());
    arm_due_timer();
  });
}

// Moves requests into the connection's output while the pipeline has room.
void LoadThread::fill(Conn& c, Clock::time_point now) {
  if (c.broken || c.closed_ || !c.link) return;
  while (c.inflight.size() < plan_.pipeline) {
    if (plan_.reconnect_interval && c.sent_here >= plan_.reconnect_interval) break;
    Clock::time_point started;
    if (plan_.rate > 0) {
      if (c.due.empty()) break;
      started = c.due.front();  // latency counts from when it was due
      c.due.pop_front();
    } else {
      if (!may_send()) break;
      started = now;
      ++issued_;
    }
    c.out.append(exchange_.request());
    c.inflight.push_back(started);
    ++c.sent_here;
    counters_.sent.fetch_add(1, std::memory_order_relaxed);
  }
}

// Replies in: each checked and timed, then the pipeline refilled (the
// driver writes what was added as soon as this returns).
void LoadThread::Conn::on_input(std::string_view bytes, Time now) {
  thread->take_replies(*this, bytes, now);
  thread->reconnect_if_due(*this);
  thread->fill(*this, now);
  thread->end_if_over();
}

void LoadThread::take_replies(Conn& c, std::string_view bytes, Clock::time_point now) {
  std::uint64_t answered = 0, bad = 0;
  c.replies.feed(bytes, [&](std::string_view line) {
    if (c.inflight.empty()) {  // a reply nobody asked for
      ++bad;
      return;
    }
    latency_.record(ns_between(c.inflight.front(), now));
    c.inflight.pop_front();
    ++answered;
    if (!exchange_.reply_ok(line)) ++bad;
  });
  counters_.answered.fetch_add(answered, std::memory_order_relaxed);
  if (bad) counters_.bad_replies.fetch_add(bad, std::memory_order_relaxed);
}

// A connection that has sent its --reconnect-interval requests and had every
// reply closes cleanly and is replaced by a new one (not when the run is over):
// its stream ends, and once its driver has let go of the socket a new one is
// opened (socket_closed).
void LoadThread::reconnect_if_due(Conn& c) {
  if (!plan_.reconnect_interval || c.sent_here < plan_.reconnect_interval) return;
  if (!c.inflight.empty() || !c.out.empty() || c.closed_) return;
  // Over once nothing more will be issued and nothing that fell due waits here.
  if (!may_send() && c.due.empty()) return;
  c.reopening = true;
  c.closed_ = true;
}

// The driver let go of the socket: the connection was ended to be opened
// again, or it broke. The driver itself is destroyed once its call returns.
void LoadThread::socket_closed(Conn& c) {
  retired_.push_back(std::move(c.link));
  if (retired_.size() == 1) loop_.defer([this] { retired_.clear(); });
  if (std::exchange(c.reopening, false) && reopen(c)) {
    fill(c, loop_.now());
    c.link->start();
    return;
  }
  broken(c);
}

void LoadThread::broken(Conn& c) {
  if (c.broken) return;
  c.broken = true;
  counters_.broken_connections.fetch_add(1, std::memory_order_relaxed);
  if (plan_.reconnect) {
    c.backoff = kFirstBackoff;
    ++waiting_;
    loop_.run_at(Clock::now() + c.backoff, [this, &c] { retry(c); });
  }
  end_if_over();
}

// --reconnect: a broken connection whose wait is over is opened again, or
// waits twice as long (up to a second) while the server is not there.
void LoadThread::retry(Conn& c) {
  if (!may_send()) return;
  if (!reopen(c)) {
    c.backoff = std::min(c.backoff * 2, kLastBackoff);
    loop_.run_at(Clock::now() + c.backoff, [this, &c] { retry(c); });
    return;
  }
  c.broken = false;
  --waiting_;
  fill(c, loop_.now());
  c.link->start();
}

// Opens connection `c` again on a clean slate: requests it had taken
// (written, or waiting in its output) are dropped and stay counted as sent,
// so they count as lost. Open-loop requests that fell due and were not taken
// yet go out on the new connection, timed from when they were due.
bool LoadThread::reopen(Conn& c) {
  c.sent_here = 0;
  c.replies = proto::LineSplitter();
  c.inflight.clear();
  c.out = proto::OutputBuffer();
  try {
    open(c, plan_.reconnect ? kReconnectTimeout : std::chrono::seconds(10));
  } catch (const net::Error&) {
    return false;
  }
  counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
  attach(c);
  return true;
}

void LoadThread::request_stop() {
  loop_.queue_in_loop([this] { begin_stop(); });
}

void LoadThread::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  loop_.run_at(Clock::now() + plan_.drain_timeout, [this] { loop_.stop(); });
  end_if_over();
}

// The run is over: nothing more to send and nothing in flight, or every
// connection broken with none to be opened again.
void LoadThread::end_if_over() {
  const auto broken = counters_.broken_connections.load(std::memory_order_relaxed);
  const bool all_broken = !plan_.reconnect && broken >= conns_.size();
  if (all_broken || (!may_send() && outstanding() == 0)) loop_.stop();
}

void LoadThread::run(Clock::time_point start) {
  // The kernel may fire a timer up to 50 us late by default ("timer slack"),
  // which an open-loop run would report as server latency.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  start_ = start;
  loop_.attach();  // this thread's: an io_uring ring belongs to its maker
  for (auto& c : conns_) attach(*c);
  const auto now = Clock::now();
  if (plan_.rate > 0) {
    schedule(now);
    arm_due_timer();
  }
  for (auto& c : conns_) {
    fill(*c, now);
    c->link->start();
  }
  loop_.run();
  finished_ = Clock::now();
}

}  // namespace okq::bench
