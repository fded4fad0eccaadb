// server.hpp -- Server: the process-wide part of okq-server (SPEC sections 3
// and 7). It owns the listeners, admission (--max-connections counted over
// every worker), --once and the stop, on its own loop; it hands each accepted
// connection to the least-loaded Worker, which serves it on its own thread.
// Signals, backgrounding and the command line belong to the caller.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "okq/event/event_loop.hpp"
#include "okq/log/log.hpp"
#include "okq/net/address.hpp"
#include "okq/proto/codec.hpp"
#include "okq/server/activation.hpp"
#include "okq/server/listener.hpp"
#include "okq/server/metrics.hpp"
#include "okq/server/worker.hpp"
#include "okq/session/session.hpp"
#include "okq/tls/context.hpp"

namespace okq::server {

struct ServerOptions {
  // Addresses to bind. Empty: the sockets a service manager passed, or else
  // 0.0.0.0:4242. Given as well as passed sockets: both are served.
  std::vector<net::Endpoint> listen;
  // Addresses to bind whose clients send a PROXY protocol header first (a
  // load balancer's), accepted only from `proxy_from`.
  std::vector<net::Endpoint> proxy_listen;
  std::vector<net::Cidr> proxy_from = net::loopback_cidrs();
  std::chrono::milliseconds proxy_timeout{3000};  // for the whole header
  // Addresses to bind whose clients speak TLS, and those whose clients send
  // a PROXY header first, then speak TLS; `tls` is the server's certificate,
  // key and what client certificates must verify against.
  std::vector<net::Endpoint> tls_listen;
  std::vector<net::Endpoint> proxy_tls_listen;
  tls::Settings tls;
  std::chrono::milliseconds tls_handshake_timeout{10000};
  // Where to serve GET /metrics (Prometheus text format), if anywhere.
  std::optional<net::Endpoint> metrics;
  // Relay every client's messages to this server (and its replies back)
  // instead of answering them; resolved by bind().
  std::optional<net::Endpoint> upstream;
  std::chrono::milliseconds upstream_timeout{5000};
  // --upstream-tls: speak TLS to it (its CA, a client certificate), checking
  // `upstream_server_name` ("": the upstream's host).
  std::optional<tls::Settings> upstream_tls;
  std::string upstream_server_name;
  int backlog = 4096;
  int unix_mode = -1;  // permissions of unix socket files; -1: from the umask
  proto::CodecOptions codec;
  bool once = false;  // serve one connection, then exit
  std::chrono::milliseconds shutdown_timeout{5000};
  std::size_t max_output = 1 << 20;                 // owed bytes before reading pauses
  std::size_t max_connections = 10000;              // served at once; more get an ERR line
  std::chrono::milliseconds idle_timeout{300'000};  // 0: never
  std::size_t threads = 1;                          // workers, each with its own loop
  std::string io = "auto";                          // I/O backend of every loop
  // An upgrade: serve only the sockets passed (the old process's listeners);
  // bind nothing. `owned_files[i]`: the i-th passed socket's unix socket file
  // is this process's to remove (the old one had created it).
  bool inherited_only = false;
  std::vector<bool> owned_files;
};

inline constexpr std::string_view kTooManyConnections = "ERR too many connections\n";

// The --max-connections default for a descriptor limit of `fds` (the soft
// RLIMIT_NOFILE): that, less a reserve for the server's own descriptors and
// for connections being turned away.
std::size_t default_max_connections(std::size_t fds) noexcept;

// The --threads default: the CPUs this process may run on (sched_getaffinity).
std::size_t default_threads() noexcept;

// What each worker's connections are served with, from `options`.
ConnectionLimits connection_limits(const ServerOptions& options);

class Server {
 public:
  Server(ServerOptions options, Logger& log);
  ~Server();

  // Takes over the sockets a service manager passed, then binds the
  // --listen addresses (or the default, when neither). Throws net::Error.
  void bind();
  // After bind(): an --upstream that is one of this server's own listeners
  // would relay every message back to itself. Throws std::invalid_argument.
  void refuse_relaying_to_itself() const;
  // After bind(), when a listener speaks TLS: the certificate, key and CA
  // loaded into the context new handshakes use. Throws tls::Error.
  void load_tls();
  // Loads them again (SIGHUP): swapped in whole if they load, else the
  // context before stays and the reason is logged. Connections already open
  // keep theirs. False if nothing was (re)loaded. Any thread.
  bool reload_tls();
  bool serves_tls() const noexcept { return tls_.load() != nullptr; }
  // A reload (SIGHUP) of the settings a running server can change: from
  // `next`, --max-line, --max-output, --idle-timeout, --proxy-timeout,
  // --upstream-timeout, --tls-handshake-timeout (each worker's connections
  // made from now on; open ones as Worker::set_limits says),
  // --max-connections, --proxy-from, --shutdown-timeout, and the TLS files and
  // their settings (loaded as reload_tls() does). Everything else in `next`
  // is ignored: what needs new sockets, threads or loops needs an upgrade.
  // The server's loop.
  void reconfigure(const ServerOptions& next);
  // Logs "listening on ADDR" for each listener: call it once start-up can no
  // longer fail, from the process that serves.
  void announce();
  // Starts every worker's thread and loop (after any fork and privilege
  // drop: a ring belongs to the process and user that made it). Throws
  // std::runtime_error naming the worker that cannot start, so start-up
  // fails before anything is announced.
  void start_workers();
  // Serves until stop() has finished (or --once's connection ended),
  // starting the workers first if start_workers() was not called.
  // `on_serving` runs on the server's loop once every worker runs
  // (readiness for a service manager).
  void run(std::function<void()> on_serving = {});
  // Graceful stop: no new connections; every worker answers what has
  // arrived and writes what it owes, bounded by the shutdown timeout. A
  // second call closes everything at once. Call it on the server's loop
  // (from a handler, e.g. a SignalWatcher's).
  void stop();
  // Another process serves the listeners now (an upgrade): stop accepting,
  // keep serving the connections this one has until their clients close
  // them, and past the shutdown timeout stop as stop() does. Server's loop.
  void retire();
  // The listening descriptors, to pass to the process that takes over
  // (the metrics listener's too), named for what each is for.
  std::vector<PassedSocket> listener_fds() const;
  // Runs `fn` on the server's loop once each worker's loop has run a turn
  // (a worker stuck in a handler never does): once per worker. Server's loop.
  void each_worker_loop(const std::function<void()>& fn);
  // What GET /metrics reports now (the server's loop only).
  MetricsSnapshot metrics() const;

  // The process-wide loop: listeners, signals, admission.
  EventLoop& loop() noexcept { return loop_; }
  // stop() or retire() has begun: nothing new is accepted here any more.
  bool stopping() const noexcept { return stopping_; }
  bool retiring() const noexcept { return retiring_; }
  // Connections being served or turned away (the server's loop only).
  std::size_t connections() const noexcept { return admitted_ + rejecting_; }
  std::size_t workers() const noexcept { return workers_.size(); }

 private:
  void accept(net::Fd client, const Listener& from);
  void resolve_upstream();
  void bind_addresses(const std::vector<net::Endpoint>& endpoints, Entrance entrance);
  void log_certificate(const char* what, const tls::Context& context);
  bool trusted_proxy(const net::SocketAddress& peer) const noexcept;
  void report_full();
  void make_room_to_open();
  Worker& least_loaded() noexcept;
  void closed(std::size_t worker, bool rejected);
  void close_listeners() noexcept;
  void finish_if_idle();

  ServerOptions options_;
  Logger& log_;
  EventLoop loop_;
  ConnectionLimits limits_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::size_t> load_;  // connections handed to each worker and not yet closed
  std::size_t admitted_ = 0;       // connections being served (the rest are being turned away)
  std::size_t rejecting_ = 0;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
  bool retiring_ = false;
  bool accepted_once_ = false;
  bool workers_started_ = false;
  bool full_reported_ = false;       // "turning new clients away" is in the log
  std::size_t inherited_count_ = 0;  // the first listeners_, passed by a service manager
  std::uint64_t untrusted_ = 0;      // PROXY listener clients from outside --proxy-from
  LogBurst untrusted_log_;           // ... logged a line a second at most
  // Admitted clients still opening (their PROXY header or TLS handshake not
  // over): id -> worker.
  std::map<std::uint64_t, std::size_t> opening_;
  std::set<std::uint64_t> evicted_;  // dropped to make room, already off the books
  LogBurst opening_budget_log_;
  TlsContextSlot tls_;          // what new TLS handshakes use (null: no TLS listener)
  std::uint64_t accepted_ = 0;  // ever admitted
  std::uint64_t rejected_ = 0;  // ever turned away at --max-connections
  double start_time_ = 0;       // seconds since the epoch
  std::unique_ptr<MetricsEndpoint> metrics_;
  UpstreamTarget upstream_;  // --upstream, resolved (read by workers once they run)
};

}  // namespace okq::server
