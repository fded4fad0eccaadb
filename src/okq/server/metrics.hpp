// metrics.hpp -- --metrics ADDR: okq-server's counters for Prometheus, in its
// text exposition format 0.0.4, on GET /metrics over HTTP/1.1, on a listener
// of its own served by the server's loop. render_metrics() and
// http_response() are pure (text in, text out); MetricsEndpoint moves the
// bytes, bounded like any client (request size, time, clients at once).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "okq/driver/counters.hpp"
#include "okq/event/event_loop.hpp"
#include "okq/log/log.hpp"
#include "okq/server/listener.hpp"

namespace okq::server {

// Everything /metrics reports, read on the server's loop.
struct MetricsSnapshot {
  std::string version;
  std::string io;                     // the backend serving: epoll or io_uring
  double start_time = 0;              // seconds since the epoch
  std::uint64_t connections = 0;      // being served now
  std::uint64_t rejecting = 0;        // being turned away now (their ERR line draining)
  std::uint64_t max_connections = 0;  // --max-connections
  std::uint64_t accepted = 0;         // ever admitted
  std::uint64_t rejected = 0;         // ever turned away at --max-connections
  std::uint64_t untrusted = 0;        // PROXY listener clients outside --proxy-from
  bool tls = false;                   // a TLS listener serves
  std::int64_t tls_not_after = 0;     // the certificate's expiry, Unix time
  struct Worker {
    std::uint64_t connections = 0;  // handed to it and not yet closed
    const WorkerCounters* counters = nullptr;
  };
  std::vector<Worker> workers;
};

// The Prometheus text format 0.0.4 of `s`.
std::string render_metrics(const MetricsSnapshot& s);

// The whole HTTP/1.1 response to a request whose head (request line and
// headers) is `head`: 200 with `body()` for GET or HEAD /metrics (a query
// string is ignored), 404 for another path, 405 for another method, 400 for
// what is not an HTTP request. Every response closes the connection.
std::string http_response(std::string_view head, const std::function<std::string()>& body);

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

class MetricsEndpoint {
 public:
  using Render = std::function<std::string()>;

  MetricsEndpoint(std::unique_ptr<Listener> listener, Logger& log, Render render);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  void start(EventLoop& loop);
  void close() noexcept;  // stops accepting; scrapes under way are dropped
  Listener& listener() noexcept { return *listener_; }

  static constexpr std::size_t kMaxRequest = 8192;  // request line and headers
  // Scrapes at once; past this the longest-silent one is dropped for a new one.
  static constexpr std::size_t kMaxClients = 64;
  static constexpr std::chrono::seconds kTimeout{5};  // for a whole request and response

 private:
  class Client;
  void accept(net::Fd fd);
  void finished(Client& client);
  bool drop_oldest_silent();

  std::unique_ptr<Listener> listener_;
  Logger& log_;
  Render render_;
  EventLoop* loop_ = nullptr;
  std::unordered_map<Client*, std::unique_ptr<Client>> clients_;
  std::size_t live_ = 0;  // clients_ not yet ended (ended ones wait to be destroyed)
};

}  // namespace okq::server
