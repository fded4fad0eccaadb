// load_thread.cpp -- the load loop of one okq-bench thread, and its epoll driver
// (the io_uring one is in load_thread_uring.cpp).
#include "okq/bench/load_thread.hpp"

#include <sys/socket.h>

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <system_error>
#include <utility>

#include "okq/net/error.hpp"
#include "okq/net/socket.hpp"

namespace okq::bench {
namespace {

constexpr std::uint64_t kTimerTag = UINT64_MAX;
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

LoadThread::LoadThread(const Exchange& exchange, LoadPlan plan, const std::atomic<bool>& stop)
    : exchange_(exchange), plan_(plan), stop_(stop), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
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
  conns_.resize(plan_.connections);
  for (std::size_t i = 0; i < conns_.size(); ++i) open(i);
  for (std::size_t i = 0; i < plan_.idle_connections; ++i)
    idle_.push_back(net::connect_to(plan_.target, std::chrono::seconds(10)));
  if (plan_.rate > 0) {
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer_) throw std::system_error(errno, std::generic_category(), "timerfd_create");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, timer_.get(), &ev);
  }
}

bool LoadThread::may_send() const noexcept {
  return !stopping_ && (plan_.max_requests == 0 || issued_ < plan_.max_requests);
}

std::uint64_t LoadThread::outstanding() const noexcept {
  std::uint64_t n = 0;
  for (const auto& c : conns_)
    if (!c.broken) n += c.inflight.size() + c.due.size();
  return n;
}

void LoadThread::schedule(Clock::time_point now) {
  // Request k falls due at start + k / rate, on connection k mod c: one global
  // schedule, spread evenly over the connections.
  for (;;) {
    if (!may_send()) return;
    const auto due = due_time(next_seq_);
    if (due > now) return;
    const std::size_t index = next_seq_ % conns_.size();
    conns_[index].due.push_back(due);
    touch(index);
    ++next_seq_;
    ++issued_;
  }
}

Clock::time_point LoadThread::due_time(std::uint64_t seq) const noexcept {
  const double period_ns = 1e9 / plan_.rate;
  return start_ +
         std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(seq) * period_ns));
}

void LoadThread::arm_timer() {
  const auto due = due_time(next_seq_);
  // steady_clock is CLOCK_MONOTONIC on Linux, so its epoch is the timer's.
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(due.time_since_epoch()).count();
  itimerspec spec{};
  spec.it_value.tv_sec = ns / 1'000'000'000;
  spec.it_value.tv_nsec = ns % 1'000'000'000;
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  ::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

// Moves requests into the connection's output while the pipeline has room.
void LoadThread::fill(Conn& c, Clock::time_point now) {
  if (c.broken) return;
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

void LoadThread::write(Conn& c) {
  while (!c.broken && !c.out.empty()) {
    const auto bytes = c.out.pending();
    const ssize_t n = net::send_some(c.fd.get(), bytes.data(), bytes.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) return broken(c);
    c.out.consume(static_cast<std::size_t>(n));
  }
}

void LoadThread::read(Conn& c, Clock::time_point now) {
  char buf[kReadChunk];
  const ssize_t n = net::recv_some(c.fd.get(), buf, sizeof buf);
  if (n == -EAGAIN || n == -EWOULDBLOCK) return;
  if (n <= 0) return broken(c);
  take_replies(c, std::string_view(buf, static_cast<std::size_t>(n)), now);
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

void LoadThread::broken(Conn& c) {
  if (c.broken) return;
  c.broken = true;
  counters_.broken_connections.fetch_add(1, std::memory_order_relaxed);
  release(c);
  if (plan_.reconnect) {
    c.backoff = kFirstBackoff;
    c.retry_at = Clock::now() + c.backoff;
    ++waiting_;
  }
}

// --reconnect: broken connections whose wait is over are opened again.
void LoadThread::retry_broken(Clock::time_point now) {
  if (waiting_ == 0 || !may_send()) return;
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    if (!c.broken || c.retry_at > now) continue;
    if (!reopen(c, i)) {
      c.backoff = std::min(c.backoff * 2, kLastBackoff);
      c.retry_at = now + c.backoff;
      continue;
    }
    c.broken = false;
    --waiting_;
    touch(i);  // refilled in this pass
  }
}

void LoadThread::release(Conn& c) {
  if (!c.fd) return;
  if (ring_)
    cancel_operations(c);
  else
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  c.fd.reset();
}

// A connection that has sent its --reconnect-interval requests and had every
// reply closes cleanly and is replaced by a new one (not when the run is over).
void LoadThread::reconnect_if_due(Conn& c, std::size_t index) {
  if (!plan_.reconnect_interval || c.sent_here < plan_.reconnect_interval) return;
  if (!c.inflight.empty() || !c.out.empty() || c.sending) return;
  // Over once nothing more will be issued and nothing that fell due waits here.
  if (!may_send() && c.due.empty()) return;
  if (!reopen(c, index)) broken(c);
}

// Closes connection `index` (if open) and opens it again on a clean slate:
// requests it had taken (written, or waiting in its output) are dropped and
// stay counted as sent, so they count as lost. Open-loop requests that fell
// due and were not taken yet go out on the new connection, timed from when
// they were due.
bool LoadThread::reopen(Conn& c, std::size_t index) {
  release(c);
  c.sent_here = 0;
  c.replies = proto::LineSplitter();
  c.want_write = false;
  c.inflight.clear();
  while (!c.out.empty()) c.out.consume(c.out.pending().size());
  try {
    open(index, plan_.reconnect ? kReconnectTimeout : std::chrono::seconds(10));
  } catch (const net::Error&) {
    return false;
  }
  counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Connects connection `index` and watches it for replies. Throws net::Error.
void LoadThread::open(std::size_t index, std::chrono::milliseconds timeout) {
  Conn& c = conns_[index];
  c.fd = net::connect_to(plan_.target, timeout);
  if (plan_.io_uring) {
    if (ring_) arm_receive(c);  // else run_uring() arms every connection's first
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = index;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
}

void LoadThread::flush(Conn& c, std::size_t index) {
  if (ring_) {
    arm_receive(c);
    send_uring(c);
    return;
  }
  if (!c.out.empty()) write(c);
  update_interest(c, index);
}

// EPOLLOUT only while output is owed: it is level-triggered, and a writable
// socket with nothing to write would wake the loop for nothing.
void LoadThread::update_interest(Conn& c, std::size_t index) {
  const bool want_write = !c.out.empty();
  if (c.broken || want_write == c.want_write) return;
  c.want_write = want_write;
  epoll_event ev{};
  ev.events = EPOLLIN | (want_write ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  ev.data.u64 = index;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
}

void LoadThread::touch(std::size_t index) {
  if (conns_[index].touched) return;
  conns_[index].touched = true;
  touched_.push_back(index);
}

// Refills the connections that got replies (closed loop) or due requests (open
// loop) this round: work in proportion to the events, not to the connections.
void LoadThread::refill_touched(Clock::time_point now) {
  for (const std::size_t i : touched_) {
    Conn& c = conns_[i];
    c.touched = false;
    if (c.broken) continue;
    reconnect_if_due(c, i);
    if (c.broken) continue;
    fill(c, now);
    flush(c, i);
  }
  touched_.clear();
}

bool LoadThread::run_over() const {
  if (!may_send() && outstanding() == 0) return true;
  if (!plan_.reconnect &&
      counters_.broken_connections.load(std::memory_order_relaxed) == conns_.size())
    return true;
  return stopping_ && Clock::now() >= drain_deadline_;
}

void LoadThread::run(Clock::time_point start) {
  // The kernel may fire a timer up to 50 us late by default ("timer slack"),
  // which an open-loop run would report as server latency.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  start_ = start;
  if (plan_.io_uring) start_uring();
  const auto now0 = Clock::now();
  if (plan_.rate > 0) {
    schedule(now0);
    if (!ring_) arm_timer();
  }
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    fill(conns_[i], now0);
    flush(conns_[i], i);
  }
  if (ring_)
    run_uring();
  else
    run_epoll();
  finished_ = Clock::now();
}

void LoadThread::run_epoll() {
  std::vector<epoll_event> events(256);
  for (;;) {
    if (!stopping_ && stop_.load(std::memory_order_relaxed)) {
      stopping_ = true;
      drain_deadline_ = Clock::now() + plan_.drain_timeout;
    }
    if (run_over()) break;
    // A short wait keeps the stop flag responsive without a wake-up pipe.
    const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 50);
    const auto now = Clock::now();
    if (plan_.rate > 0) schedule(now);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kTimerTag) {
        std::uint64_t expirations;
        [[maybe_unused]] auto r = ::read(timer_.get(), &expirations, sizeof expirations);
        continue;
      }
      const std::size_t index = events[i].data.u64;
      Conn& c = conns_[index];
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read(c, now);
      if (events[i].events & EPOLLOUT) write(c);
      touch(index);
    }
    retry_broken(now);
    refill_touched(now);
    if (plan_.rate > 0 && may_send()) arm_timer();
  }
}

}  // namespace okq::bench
