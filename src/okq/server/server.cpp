// server.cpp -- accepting, tracking and stopping connections on one loop.
#include "okq/server/server.hpp"

#include <algorithm>

#include "okq/net/error.hpp"
#include "okq/net/socket.hpp"

namespace okq::server {
namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;
// Descriptors kept back from --max-connections (a quarter of the limit, at
// most 128): listeners, epoll, signalfd, log file, stdio, and room to turn
// excess clients away with a message.
constexpr std::size_t kMaxReservedFds = 128;
// Clients being turned away at once (each holds a descriptor while its ERR
// line drains); past this they are closed without a word.
constexpr std::size_t kMaxRejecting = 256;

}  // namespace

std::size_t default_max_connections(std::size_t fds) noexcept {
  const std::size_t reserve = std::min(kMaxReservedFds, fds / 4);
  return std::max<std::size_t>(1, fds - reserve);  // never 0: serve one at a time
}

Server::Server(ServerOptions options, Logger& log)
    : options_(std::move(options)),
      log_(log),
      read_buffer_(kReadBufferSize),
      context_{loop_, log_,
               SessionLimits{options_.codec, options_.max_output, options_.idle_timeout,
                             std::chrono::seconds(5)},
               read_buffer_} {}

Server::~Server() = default;

void Server::bind() {
  for (const auto& ep : options_.listen) {
    for (const auto& addr : net::resolve(ep, /*passive=*/true)) {
      // The kernel would say "Address already in use", which sends the reader
      // looking for another server; the command line is what is wrong.
      const bool fixed = addr.family() == AF_UNIX || addr.port() != 0;
      for (const auto& l : listeners_)
        if (fixed && l->address().to_string() == addr.to_string())
          throw net::Error(net::Call::Bind, addr.to_string(),
                           "given twice (-l " + ep.to_string() + ")");
      listeners_.push_back(Listener::open(addr, options_.backlog, options_.unix_mode));
    }
  }
}

void Server::announce() {
  for (const auto& l : listeners_)
    log_.log(Level::Info, "listening on {}", l->address().to_string());
}

std::vector<net::SocketAddress> Server::addresses() const {
  std::vector<net::SocketAddress> out;
  for (const auto& l : listeners_) out.push_back(l->address());
  return out;
}

void Server::run() {
  for (auto& l : listeners_)
    l->start(loop_, log_,
             [this](net::Fd fd, const Listener& from) { accept(std::move(fd), from); });
  loop_.run();
}

void Server::accept(net::Fd fd, const Listener& from) {
  if (stopping_ || (options_.once && accepted_once_)) return;  // fd closes here
  if (from.is_tcp()) net::set_nodelay(fd.get());
  const bool admit = admitted_ < options_.max_connections;
  if (!admit && rejecting_ >= kMaxRejecting) return;  // flood: fd closes here, no words
  const std::uint64_t id = next_id_++;
  std::string peer = from.is_tcp() ? net::SocketAddress::peer_of(fd.get()).to_string()
                                   : from.address().to_string();
  log_.log(Level::Verbose, "conn {} from {} on {}{}", id, peer, from.address().to_string(),
           admit ? "" : ": too many connections");
  auto conn = std::make_unique<Connection>(id, std::move(fd), std::move(peer), context_,
                                           [this](Connection& c) { closed(c); });
  auto& ref = *conn;
  connections_.emplace(id, std::move(conn));
  if (!admit) {
    ++rejecting_;
    ref.reject(kTooManyConnections);
    return;
  }
  ++admitted_;
  ref.start();
  if (options_.once) {
    // Like the seed: one client, then exit once it is done.
    accepted_once_ = true;
    close_listeners();
  }
}

void Server::closed(Connection& conn) {
  // The connection may be mid-call on the stack: destroy it after this batch.
  const std::uint64_t id = conn.id();
  --(conn.rejected() ? rejecting_ : admitted_);
  loop_.defer([this, id] {
    connections_.erase(id);
    finish_if_idle();
  });
}

void Server::stop() {
  if (stopping_) {  // asked twice: the operator does not want to wait
    log_.log(Level::Error, "second stop request: closing {} connections now", connections_.size());
    for (auto& [id, conn] : connections_) conn->close(CloseReason::Forced);
    loop_.stop();
    return;
  }
  stopping_ = true;
  close_listeners();
  log_.log(Level::Info, "shutting down: {} connections to finish", connections_.size());
  for (auto& [id, conn] : connections_) conn->shutdown();
  loop_.run_at(EventLoop::Clock::now() + options_.shutdown_timeout, [this] {
    if (!connections_.empty())
      log_.log(Level::Error, "shutdown timeout: closing {} connections", connections_.size());
    for (auto& [id, conn] : connections_) conn->close(CloseReason::ShutdownTimeout);
    loop_.stop();
  });
  finish_if_idle();
}

void Server::finish_if_idle() {
  if (!connections_.empty()) return;
  if (stopping_ || (options_.once && accepted_once_)) loop_.stop();
}

void Server::close_listeners() noexcept {
  for (auto& l : listeners_) l->close();
}

}  // namespace okq::server
