// server.hpp -- Server: the listeners and connections of one event loop, with
// the rules of SPEC section 3: serve any number of clients (or one, with
// --once), and on stop() answer what has arrived, flush, close, return.
// Signals, backgrounding and the command line belong to the caller.
#pragma once

#include <chrono>
#include <memory>
#include <unordered_map>
#include <vector>

#include "okq/net/address.hpp"
#include "okq/proto/codec.hpp"
#include "okq/server/connection.hpp"
#include "okq/server/event_loop.hpp"
#include "okq/server/listener.hpp"
#include "okq/server/log.hpp"
#include "okq/server/session.hpp"

namespace okq::server {

struct ServerOptions {
  std::vector<net::Endpoint> listen;
  int backlog = 4096;
  int unix_mode = -1;  // permissions of unix socket files; -1: from the umask
  proto::CodecOptions codec;
  bool once = false;  // serve one connection, then exit
  std::chrono::milliseconds shutdown_timeout{5000};
  std::size_t max_output = 1 << 20;                 // owed bytes before reading pauses
  std::size_t max_connections = 10000;              // served at once; more get an ERR line
  std::chrono::milliseconds idle_timeout{300'000};  // 0: never
};

inline constexpr std::string_view kTooManyConnections = "ERR too many connections\n";

// The --max-connections default for a descriptor limit of `fds` (the soft
// RLIMIT_NOFILE): that, less a reserve for the server's own descriptors and
// for connections being turned away.
std::size_t default_max_connections(std::size_t fds) noexcept;

class Server {
 public:
  Server(ServerOptions options, Logger& log);
  ~Server();

  // Binds every listener. Throws net::Error.
  void bind();
  // Logs "listening on ADDR" for each listener: call it once start-up can no
  // longer fail, from the process that serves.
  void announce();
  // Serves until stop() has finished (or --once's connection ended).
  void run();
  // Graceful stop: no new connections; owed replies are written, bounded by
  // the shutdown timeout. A second call closes everything at once. Call it on
  // the loop's thread (from a handler).
  void stop();

  EventLoop& loop() noexcept { return loop_; }
  std::vector<net::SocketAddress> addresses() const;

 private:
  void accept(net::Fd client, const Listener& from);
  void closed(Connection& conn);
  void close_listeners() noexcept;
  void finish_if_idle();

  ServerOptions options_;
  Logger& log_;
  EventLoop loop_;
  std::vector<char> read_buffer_;
  ConnectionContext context_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::size_t admitted_ = 0;  // connections being served (the rest are being turned away)
  std::size_t rejecting_ = 0;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
  bool accepted_once_ = false;
};

}  // namespace okq::server
