// worker.hpp -- Worker: one thread running one EventLoop with the connections
// it was handed and their timers. Nothing a worker owns is touched from
// another thread: the process-wide Server talks to it only through the
// calls below, which queue work on its loop. It does not own the Server or
// the listeners; connections it ends are reported back through `on_closed`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "okq/driver/connection.hpp"
#include "okq/event/event_loop.hpp"
#include "okq/log/log.hpp"
#include "okq/net/fd.hpp"
#include "okq/server/listener.hpp"

namespace okq::server {

class Worker {
 public:
  // What the owner hears, on the worker's thread: a connection has ended
  // (turned away, or still opening: awaiting its PROXY header or TLS
  // handshake), or a connection is open (neither awaited any more).
  struct Events {
    std::function<void(std::size_t worker, std::uint64_t id, bool rejected, bool opening)> closed;
    std::function<void(std::uint64_t id)> opened;
  };

  // `upstream` (may be null; must outlive the worker): relay every client
  // there. `tls` (may be null; must outlive it): what TLS clients get.
  Worker(std::size_t index, const ConnectionLimits& limits, Logger& log, std::string_view backend,
         Events events, const UpstreamTarget* upstream = nullptr,
         const TlsContextSlot* tls = nullptr);
  ~Worker();  // stops and joins the thread if it runs
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();  // the thread, running the loop
  void join();   // after quit()

  // Any thread. Serve `fd` (or, unless `admit`, answer `reject_line` and
  // close), after its PROXY header and over TLS as `entrance` says.
  void serve(net::Fd fd, std::uint64_t id, std::string peer, bool admit,
             std::string_view reject_line, Entrance entrance = {});
  void stop();  // every connection: answer what has arrived, then close
  // Any thread: closes connection `id` if it still awaits its PROXY header
  // or TLS handshake.
  void drop_if_opening(std::uint64_t id);
  // Any thread: the limits connections made from now on are served with;
  // open ones read max_output, idle_timeout and linger_timeout from them as
  // they go, and keep their codec (--max-line) and their opening timeouts.
  void set_limits(const ConnectionLimits& limits);
  void close_all(CloseReason why);  // every connection, at once
  void quit() { loop_.stop(); }     // the loop ends (its connections are closed first)
  // Any thread: runs `fn` on this worker's loop, in its turn.
  void run_in_loop(std::function<void()> fn) { loop_.queue_in_loop(std::move(fn)); }

  std::size_t index() const noexcept { return index_; }
  const char* backend() const noexcept { return loop_.backend(); }
  // Why --io auto serves with epoll here ("" if it does not).
  const std::string& fallback() const noexcept { return loop_.fallback(); }
  UringPoller* uring() noexcept { return loop_.uring(); }
  // Any thread: what this worker's connections have done.
  const WorkerCounters& counters() const noexcept { return counters_; }

 private:
  void serve_in_loop(net::Fd fd, std::uint64_t id, std::string peer, bool admit,
                     const std::string& reject_line, Entrance entrance);
  void closed_in_loop(Connection& conn);

  std::size_t index_;
  Logger& log_;
  Events events_;
  EventLoop loop_;
  std::vector<char> read_buffer_;
  WorkerCounters counters_;
  ConnectionContext context_;
  ConnectionList connections_;
  // Those still awaiting a PROXY header or TLS handshake, for drop_if_opening.
  std::unordered_map<std::uint64_t, Connection*> opening_;
  std::thread thread_;
};

}  // namespace okq::server
