// server.cpp -- listeners, admission, hand-off to workers, and stopping.
#include "okq/server/server.hpp"

#include <sched.h>

#include <algorithm>
#include <stdexcept>

#include "okq/event/uring_poller.hpp"
#include "okq/net/error.hpp"
#include "okq/net/socket.hpp"
#include "okq/server/activation.hpp"
#include "okq/version.hpp"

namespace okq::server {
namespace {

// Descriptors kept back from --max-connections (a quarter of the limit, at
// most 128): listeners, loops, eventfds, signalfd, log file, stdio, and room
// to turn excess clients away with a message.
constexpr std::size_t kMaxReservedFds = 128;
// Clients being turned away at once (each holds a descriptor while its ERR
// line drains); past this they are closed without a word.
constexpr std::size_t kMaxRejecting = 256;
// After our FIN, how long a peer may keep sending before the socket is closed.
constexpr std::chrono::seconds kLingerTimeout{5};

double seconds_since_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::size_t default_max_connections(std::size_t fds) noexcept {
  const std::size_t reserve = std::min(kMaxReservedFds, fds / 4);
  return std::max<std::size_t>(1, fds - reserve);  // never 0: serve one at a time
}

std::size_t default_threads() noexcept {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return static_cast<std::size_t>(std::max(1, CPU_COUNT(&set)));
}

ConnectionLimits connection_limits(const ServerOptions& o) {
  return {{o.codec, o.max_output, o.idle_timeout, kLingerTimeout},
          o.proxy_timeout,
          o.upstream_timeout,
          o.tls_handshake_timeout};
}

Server::Server(ServerOptions options, Logger& log)
    : options_(std::move(options)),
      log_(log),
      // The listeners' loop is always epoll. A ring holds every file it polls
      // until its teardown, which the kernel runs after the process is gone:
      // a server killed with SIGKILL would go on completing handshakes on its
      // listeners for a while, then reset them. Accepting costs one system
      // call per connection either way.
      loop_("epoll"),
      limits_(connection_limits(options_)),
      start_time_(seconds_since_epoch()) {
  const std::size_t n = std::max<std::size_t>(1, options_.threads);
  for (std::size_t i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<Worker>(
        i, limits_, log_, options_.io,
        // On the worker's thread: the books are kept on the server's.
        Worker::Events{
            [this](std::size_t worker, std::uint64_t id, bool rejected, bool opening) {
              loop_.queue_in_loop([this, worker, id, rejected, opening] {
                if (opening) opening_.erase(id);
                if (evicted_.erase(id) == 0) closed(worker, rejected);  // else booked already
              });
            },
            [this](std::uint64_t id) { loop_.queue_in_loop([this, id] { opening_.erase(id); }); }},
        options_.upstream ? &upstream_ : nullptr, &tls_));
  load_.assign(n, 0);
}

Server::~Server() = default;  // each Worker stops and joins its own thread

void Server::bind() {
  resolve_upstream();
  // A passed socket named "proxy", "tls", "proxy-tls" or "metrics" (an
  // upgrade names them; a socket unit may, with FileDescriptorName=) is
  // that, and so is one at a --proxy-listen, --tls-listen,
  // --proxy-tls-listen or --metrics address.
  const auto addresses_of = [](const std::vector<net::Endpoint>& endpoints) {
    std::vector<std::string> out;
    for (const auto& ep : endpoints)
      for (const auto& addr : net::resolve(ep, /*passive=*/true)) out.push_back(addr.to_string());
    return out;
  };
  const auto proxy_addresses = addresses_of(options_.proxy_listen);
  const auto tls_addresses = addresses_of(options_.tls_listen);
  const auto proxy_tls_addresses = addresses_of(options_.proxy_tls_listen);
  const auto among = [](const std::vector<std::string>& list, const std::string& text) {
    return std::find(list.begin(), list.end(), text) != list.end();
  };
  std::optional<net::SocketAddress> metrics_address;
  if (options_.metrics) metrics_address = net::resolve(*options_.metrics, true).front();
  auto serve_metrics = [this](std::unique_ptr<Listener> listener) {
    metrics_ = std::make_unique<MetricsEndpoint>(std::move(listener), log_,
                                                 [this] { return render_metrics(metrics()); });
  };
  auto passed_sockets = inherited_sockets();
  for (std::size_t i = 0; i < passed_sockets.size(); ++i) {
    auto& passed = passed_sockets[i];
    const bool owned = i < options_.owned_files.size() && options_.owned_files[i];
    auto listener = Listener::from_inherited(std::move(passed.fd), owned);
    const auto text = listener->address().to_string();
    if (!metrics_ && (passed.name == kMetricsSocketName ||
                      (metrics_address && text == metrics_address->to_string()))) {
      serve_metrics(std::move(listener));
      continue;
    }
    Entrance entrance = entrance_named(passed.name);
    if (among(proxy_addresses, text)) entrance = {.proxy = true, .tls = false};
    if (among(tls_addresses, text)) entrance = {.proxy = false, .tls = true};
    if (among(proxy_tls_addresses, text)) entrance = {.proxy = true, .tls = true};
    listener->set_entrance(entrance);
    listeners_.push_back(std::move(listener));
    ++inherited_count_;
  }
  if (metrics_address && !metrics_)
    serve_metrics(Listener::open(*metrics_address, options_.backlog, options_.unix_mode));
  if (options_.inherited_only) return;  // nothing else to bind
  if (options_.listen.empty() && options_.proxy_listen.empty() && options_.tls_listen.empty() &&
      options_.proxy_tls_listen.empty() && listeners_.empty())
    options_.listen.push_back(net::parse_endpoint("0.0.0.0:4242", "0.0.0.0"));
  bind_addresses(options_.listen, {});
  bind_addresses(options_.proxy_listen, {.proxy = true, .tls = false});
  bind_addresses(options_.tls_listen, {.proxy = false, .tls = true});
  bind_addresses(options_.proxy_tls_listen, {.proxy = true, .tls = true});
}

// --upstream's address, and its TLS context: read once, before any worker
// runs (a name that does not resolve is a start-up error, not a failure per client).
void Server::resolve_upstream() {
  if (!options_.upstream) return;
  upstream_.address = net::resolve(*options_.upstream, false).front();
  if (!options_.upstream_tls) return;
  upstream_.tls = tls::Context::client(*options_.upstream_tls);
  upstream_.server_name = options_.upstream_server_name.empty() ? options_.upstream->host
                                                                : options_.upstream_server_name;
}

// Each relayed message would come back as a new client, which relays it
// again: thousands of connections from one message. (A loop through other
// relays is bounded by --max-connections and ends in ERR lines.)
void Server::refuse_relaying_to_itself() const {
  if (!options_.upstream) return;
  for (const auto& l : listeners_)
    if (net::reaches(upstream_.address, l->address()))
      throw std::invalid_argument("--upstream " + upstream_.address.to_string() +
                                  " is this server's own listener " + l->address().to_string() +
                                  ": the relay would loop");
}

void Server::bind_addresses(const std::vector<net::Endpoint>& endpoints, Entrance entrance) {
  const std::string flag =
      std::string(entrance.proxy ? (entrance.tls ? "--proxy-tls-listen " : "--proxy-listen ")
                                 : (entrance.tls ? "--tls-listen " : "-l "));
  for (const auto& ep : endpoints) {
    for (const auto& addr : net::resolve(ep, /*passive=*/true)) {
      // The kernel would say "Address already in use", which sends the reader
      // looking for another server; the command line is what is wrong. A
      // PROXY or TLS listener a service manager passed is already served.
      const bool fixed = addr.family() == AF_UNIX || addr.port() != 0;
      bool served = false;
      for (std::size_t i = 0; i < listeners_.size(); ++i) {
        if (!fixed || listeners_[i]->address().to_string() != addr.to_string()) continue;
        const Entrance passed = listeners_[i]->entrance();
        if ((entrance.proxy || entrance.tls) && i < inherited_count_ &&
            passed.proxy == entrance.proxy && passed.tls == entrance.tls)
          served = true;
        else
          throw net::Error(net::Call::Bind, addr.to_string(),
                           "given twice (" + flag + ep.to_string() + ")");
      }
      if (served) continue;
      if (fixed && metrics_ && metrics_->listener().address().to_string() == addr.to_string())
        throw net::Error(net::Call::Bind, addr.to_string(),
                         "given twice (" + flag + ep.to_string() + " and --metrics)");
      listeners_.push_back(Listener::open(addr, options_.backlog, options_.unix_mode));
      listeners_.back()->set_entrance(entrance);
    }
  }
}

void Server::announce() {
  for (std::size_t i = 0; i < listeners_.size(); ++i)
    log_.log(Level::Info, "listening on {}{}{}", listeners_[i]->address().to_string(),
             listeners_[i]->proxy()
                 ? (listeners_[i]->tls() ? " (PROXY protocol, then TLS)" : " (PROXY protocol)")
             : listeners_[i]->tls() ? " (TLS)"
                                    : "",
             i >= inherited_count_     ? ""
             : options_.inherited_only ? " (taken over from the process upgraded)"
                                       : " (passed by the service manager)");
  if (metrics_)
    log_.log(Level::Info, "metrics on http://{}/metrics",
             metrics_->listener().address().to_string());
  if (options_.upstream)
    log_.log(Level::Info, "relaying to {}{}", upstream_.address.to_string(),
             upstream_.tls ? " over TLS" : "");
  Worker& first = *workers_.front();
  if (!first.fallback().empty())
    log_.log(Level::Info, "io_uring unavailable ({}): using epoll", first.fallback());
  const UringPoller* ring = first.uring();
  log_.log(Level::Verbose, "{} workers, {} backend{}{}{}", workers_.size(), first.backend(),
           ring ? ", " : "", ring ? ring->mode() : "",
           ring && ring->bundles() ? ", recv bundles" : "");
}

void Server::start_workers() {
  if (workers_started_) return;
  workers_started_ = true;
  for (auto& w : workers_) w->start();
}

void Server::run(std::function<void()> on_serving) {
  start_workers();
  loop_.attach();
  for (auto& l : listeners_)
    l->start(loop_, log_,
             [this](net::Fd fd, const Listener& from) { accept(std::move(fd), from); });
  if (metrics_) metrics_->start(loop_);
  if (on_serving) loop_.defer(std::move(on_serving));  // first thing the loop does
  loop_.run();
  for (auto& w : workers_) w->quit();
  for (auto& w : workers_) w->join();
}

// The least-loaded worker, counting connections handed over and not yet
// closed. A shared listener with EPOLLEXCLUSIVE would wake the last waiter
// first and pile connections on one thread; handing them over keeps the
// spread even whatever the kernel does.
Worker& Server::least_loaded() noexcept {
  const auto it = std::min_element(load_.begin(), load_.end());
  return *workers_[static_cast<std::size_t>(it - load_.begin())];
}

void Server::accept(net::Fd fd, const Listener& from) {
  if (stopping_ || retiring_ || (options_.once && accepted_once_)) return;  // fd closes here
  if (from.is_tcp()) net::set_nodelay(fd.get());
  const auto peer_address = from.is_tcp() ? net::SocketAddress::peer_of(fd.get()) : from.address();
  std::string peer = peer_address.to_string();
  // A unix socket's clients are whoever its file's permissions let in.
  if (from.proxy() && from.is_tcp() && !trusted_proxy(peer_address)) {
    ++untrusted_;
    std::uint64_t held = 0;
    if (untrusted_log_.admit(EventLoop::Clock::now(), held))
      log_.log(Level::Info, "connection from {} on {}: {}; closed unread{}", peer,
               from.address().to_string(), to_string(CloseReason::ProxyUntrusted), held_back(held));
    return;  // fd closes here: no reply, nothing read
  }
  const bool admit = admitted_ < options_.max_connections;
  if (!admit) report_full();
  if (!admit && rejecting_ >= kMaxRejecting) {  // flood: fd closes here, no words
    ++rejected_;
    return;
  }
  const Entrance entrance = from.entrance();
  const bool opens = entrance.proxy || entrance.tls;
  if (admit && opens) make_room_to_open();
  const std::uint64_t id = next_id_++;
  Worker& worker = least_loaded();
  log_.log(Level::Verbose, "conn {} from {} on {} (worker {}){}", id, peer,
           from.address().to_string(), worker.index(), admit ? "" : ": too many connections");
  ++load_[worker.index()];
  ++(admit ? admitted_ : rejecting_);
  ++(admit ? accepted_ : rejected_);
  if (admit && opens) opening_.emplace(id, worker.index());
  worker.serve(std::move(fd), id, std::move(peer), admit, kTooManyConnections, entrance);
  if (admit && options_.once) {
    // Like the seed: one client, then exit once it is done.
    accepted_once_ = true;
    close_listeners();
  }
}

// One line per time the limit is reached, not one per client turned away.
// A relay that fills up at once is most likely relaying to itself through
// other relays: every message there comes back as another client.
void Server::report_full() {
  if (full_reported_) return;
  full_reported_ = true;
  log_.log(
      Level::Info, "{} connections (--max-connections): turning new clients away{}", admitted_,
      options_.upstream ? " (if this comes at once, is the upstream relaying back here?)" : "");
}

// Slow or silent clients that have not finished their PROXY header or TLS
// handshake hold a quarter of the slots at most, so that they cannot lock
// real clients out: past that, the one that has waited longest is closed (a
// real balancer sends its header at once, a real client its handshake; the
// newcomer may well be one).
void Server::make_room_to_open() {
  const std::size_t budget = std::max<std::size_t>(1, options_.max_connections / 4);
  if (opening_.size() < budget) return;
  const auto oldest = opening_.begin();  // ids grow in accept order
  workers_[oldest->second]->drop_if_opening(oldest->first);
  // Its slot is free now, not when the worker's word comes back: a burst of
  // silent clients must not turn the newcomer away meanwhile. (Should its
  // header end in that instant, it is served unbooked: one over the limit.)
  --load_[oldest->second];
  --admitted_;
  evicted_.insert(oldest->first);
  std::uint64_t held = 0;
  if (opening_budget_log_.admit(EventLoop::Clock::now(), held))
    log_.log(Level::Info,
             "conn {}: closed, {} connections owe their PROXY header or TLS handshake (a quarter "
             "of --max-connections): the longest waiting makes room{}",
             oldest->first, opening_.size(), held_back(held));
  opening_.erase(oldest);
}

bool Server::trusted_proxy(const net::SocketAddress& peer) const noexcept {
  return std::any_of(options_.proxy_from.begin(), options_.proxy_from.end(),
                     [&](const net::Cidr& block) { return block.contains(peer); });
}

void Server::closed(std::size_t worker, bool rejected) {
  --load_[worker];
  --(rejected ? rejecting_ : admitted_);
  // Room again (a tenth of the limit, so a busy server at the limit logs
  // once, not at every close).
  if (admitted_ + std::max<std::size_t>(1, options_.max_connections / 10) <=
      options_.max_connections)
    full_reported_ = false;
  finish_if_idle();
}

void Server::stop() {
  const std::size_t open = connections();
  if (stopping_) {  // asked twice: the operator does not want to wait
    log_.log(Level::Error, "second stop request: closing {} connections now", open);
    for (auto& w : workers_) w->close_all(CloseReason::Forced);
    return;
  }
  stopping_ = true;
  close_listeners();
  log_.log(Level::Info, "shutting down: {} connections to finish", open);
  for (auto& w : workers_) w->stop();
  loop_.run_at(EventLoop::Clock::now() + options_.shutdown_timeout, [this] {
    if (connections() > 0)
      log_.log(Level::Error, "shutdown timeout: closing {} connections", connections());
    for (auto& w : workers_) w->close_all(CloseReason::ShutdownTimeout);
  });
  finish_if_idle();
}

void Server::retire() {
  if (stopping_ || retiring_) return;
  retiring_ = true;
  for (auto& l : listeners_) l->disown();
  close_listeners();
  if (metrics_) {  // the new process answers scrapes now
    metrics_->listener().disown();
    metrics_->close();
  }
  loop_.run_at(EventLoop::Clock::now() + options_.shutdown_timeout, [this] {
    if (connections() > 0)
      log_.log(Level::Info, "handed over: {} connections still open; stopping them", connections());
    stop();
  });
  finish_if_idle();
}

std::vector<PassedSocket> Server::listener_fds() const {
  std::vector<PassedSocket> fds;
  for (const auto& l : listeners_)
    if (l->fd() >= 0) fds.push_back({l->fd(), socket_name(l->entrance()), l->owns_file()});
  if (metrics_ && metrics_->listener().fd() >= 0)
    fds.push_back(
        {metrics_->listener().fd(), kMetricsSocketName, metrics_->listener().owns_file()});
  return fds;
}

void Server::each_worker_loop(const std::function<void()>& fn) {
  for (auto& w : workers_) w->run_in_loop([this, fn] { loop_.queue_in_loop(fn); });
}

MetricsSnapshot Server::metrics() const {
  MetricsSnapshot s;
  s.version = kVersion;
  s.io = workers_.front()->backend();
  s.start_time = start_time_;
  s.connections = admitted_;
  s.rejecting = rejecting_;
  s.max_connections = options_.max_connections;
  s.accepted = accepted_;
  s.rejected = rejected_;
  s.untrusted = untrusted_;
  if (const auto tls = tls_.load()) {
    s.tls = true;
    s.tls_not_after = tls->not_after();
  }
  for (std::size_t i = 0; i < workers_.size(); ++i)
    s.workers.push_back({load_[i], &workers_[i]->counters()});
  return s;
}

void Server::finish_if_idle() {
  if (connections() != 0) return;
  if (stopping_ || retiring_ || (options_.once && accepted_once_)) loop_.stop();
}

void Server::close_listeners() noexcept {
  for (auto& l : listeners_) l->close();
}

}  // namespace okq::server
