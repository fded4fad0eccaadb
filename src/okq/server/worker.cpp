// worker.cpp -- a worker thread and the connections on its loop.
#include "okq/server/worker.hpp"

#include <future>
#include <stdexcept>
#include <string>

#include "okq/driver/drivers.hpp"

namespace okq::server {
namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;

}  // namespace

Worker::Worker(std::size_t index, const ConnectionLimits& limits, Logger& log,
               std::string_view backend, Events events, const UpstreamTarget* upstream,
               const TlsContextSlot* tls)
    : index_(index),
      log_(log),
      events_(std::move(events)),
      loop_(backend),
      read_buffer_(kReadBufferSize),
      context_{{loop_, read_buffer_}, log_, limits, counters_, upstream} {
  context_.on_opened = [this](std::uint64_t id) {
    opening_.erase(id);
    events_.opened(id);
  };
  context_.on_closed = [this](Connection& c) { closed_in_loop(c); };
  context_.tls = tls;
}

Worker::~Worker() {
  if (thread_.joinable()) {
    loop_.stop();
    thread_.join();
  }
}

void Worker::start() {
  // The loop's backend starts on the worker's thread (a ring belongs to the
  // thread that made it); start() returns once it has, or throws why not, so
  // a worker that cannot serve is known before a connection is handed to it.
  std::promise<void> attached;
  auto started = attached.get_future();
  thread_ = std::thread([this, &attached] {
    try {
      if (loop_.attach())
        log_.log(Level::Info, "worker {}: io_uring unavailable ({}): using epoll", index_,
                 loop_.fallback());
    } catch (...) {
      attached.set_exception(std::current_exception());
      return;
    }
    attached.set_value();
    try {
      loop_.run();
      if (const UringPoller* ring = loop_.uring(); ring && ring->out_of_buffers() > 0)
        log_.log(Level::Verbose, "worker {}: receive buffers ran out {} times", index_,
                 ring->out_of_buffers());
      if (const UringPoller* ring = loop_.uring(); ring && ring->bundled() > 0)
        log_.log(Level::Verbose, "worker {}: {} receives filled several buffers at once", index_,
                 ring->bundled());
    } catch (const std::exception& e) {
      // The backend itself failed (epoll_wait): nothing on this loop can be
      // served any more. Its connections end here; the owner hears of each.
      log_.log(Level::Error, "worker {} stopped: {}", index_, e.what());
      connections_.for_each([](Connection& conn) { conn.close(CloseReason::IoError); });
    }
  });
  try {
    started.get();
  } catch (const std::exception& e) {
    thread_.join();
    throw std::runtime_error("cannot start worker " + std::to_string(index_) + ": " + e.what());
  }
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::serve(net::Fd fd, std::uint64_t id, std::string peer, bool admit,
                   std::string_view reject_line, Entrance entrance) {
  // std::function needs a copyable callable: the descriptor travels as an int
  // and is owned again on the loop's side.
  loop_.queue_in_loop([this, raw = fd.release(), id, peer = std::move(peer), admit,
                       line = std::string(reject_line), entrance]() mutable {
    serve_in_loop(net::Fd(raw), id, std::move(peer), admit, line, entrance);
  });
}

void Worker::serve_in_loop(net::Fd fd, std::uint64_t id, std::string peer, bool admit,
                           const std::string& reject_line, Entrance entrance) {
  std::unique_ptr<Connection> conn;
  if (loop_.uring())
    conn = std::make_unique<OnUring<Connection>>(std::move(fd), id, std::move(peer), context_);
  else
    conn = std::make_unique<OnEpoll<Connection>>(std::move(fd), id, std::move(peer), context_);
  auto& ref = connections_.insert(std::move(conn));
  // One turned away gets its ERR line at once (a TLS client only our FIN:
  // a handshake is what an overloaded server must not spend); its header,
  // like anything else it sends, is drained unread.
  if (admit && entrance.tls) ref.expect_tls();
  if (admit && entrance.proxy) ref.expect_proxy_header();
  if (admit && context_.upstream) ref.relay_to(*context_.upstream);
  if (admit && ref.opening()) opening_.emplace(id, &ref);
  if (admit)
    ref.start();
  else
    ref.reject(entrance.tls ? std::string() : reject_line);
}

void Worker::closed_in_loop(Connection& conn) {
  // The connection may be mid-call on the stack: destroy it after this batch.
  const std::uint64_t id = conn.id();
  const bool rejected = conn.rejected();
  const bool opening = conn.opening();
  opening_.erase(id);
  loop_.defer([this, &conn] { connections_.erase(conn); });
  events_.closed(index_, id, rejected, opening);
}

void Worker::stop() {
  loop_.queue_in_loop([this] { connections_.for_each([](Connection& conn) { conn.stop(); }); });
}

void Worker::set_limits(const ConnectionLimits& limits) {
  loop_.queue_in_loop([this, limits] { context_.limits = limits; });
}

void Worker::drop_if_opening(std::uint64_t id) {
  loop_.queue_in_loop([this, id] {
    const auto it = opening_.find(id);
    if (it == opening_.end() || !it->second->opening()) return;
    it->second->close(it->second->awaiting_header() ? CloseReason::ProxyTimeout
                                                    : CloseReason::TlsTimeout);
  });
}

void Worker::close_all(CloseReason why) {
  loop_.queue_in_loop(
      [this, why] { connections_.for_each([why](Connection& conn) { conn.close(why); }); });
}

}  // namespace okq::server
