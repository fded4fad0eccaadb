// okq_bench.cpp -- okq-bench's command line: split the load over threads, print
// a progress line each second, merge and report (also when interrupted). The
// load itself lives in src/okq/bench.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <variant>

#include "cli_checks.hpp"
#include "okq/bench/load_thread.hpp"
#include "okq/bench/report.hpp"
#include "okq/event/poller.hpp"
#include "okq/net/error.hpp"
#include "okq/net/fd.hpp"
#include "okq/version.hpp"

namespace {

using namespace okq;

constexpr int kExitFailedCheck = 1;  // errors or lost replies
constexpr int kExitConnect = 2;
constexpr int kExitAddress = 3;
constexpr int kExitUsage = 64;

struct Options {
  std::string address;
  std::size_t connections = 50, threads = 1, pipeline = 1, idle = 0;
  double duration = 10, rate = 0, stall_timeout = 10;
  std::uint64_t requests = 0, reconnect_interval = 0;
  bench::Protocol protocol = bench::Protocol::Okq;
  std::string message = "PING";
  std::string io = "auto";
  bool json = false, quiet = false, reconnect = false;
  bool tls = false, tls_resume = false;
  tls::Settings tls_settings;
  std::string tls_server_name;
};

// The signal that interrupted the run (0: none). A second one ends it at once.
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int sig) {
  g_interrupted = sig;
  std::signal(sig, SIG_DFL);
}

std::size_t share(std::size_t total, std::size_t parts, std::size_t i) {
  return total / parts + (i < total % parts ? 1 : 0);
}

// --tls and the rest: what okq-client has, and resumption.
void add_tls(CLI::App& app, Options& o) {
  cli::add_tls_client(app, o.tls, o.tls_settings, o.tls_server_name, "Speak TLS (any --protocol)");
  app.add_flag("--tls-resume", o.tls_resume,
               "A connection opened again resumes its last TLS session (with "
               "--reconnect-interval: resumed handshakes, not full ones)")
      ->group("TLS");
}

std::variant<Options, int> parse_options(int argc, char** argv) {
  Options o;
  std::string protocol_name = "okq";
  CLI::App app{"okq-bench: load generator for okq, redis and memcached; checks every reply.",
               "okq-bench"};
  app.set_version_flag("--version", std::string("okq-bench ") + kVersion);
  app.add_option("address", o.address, "Server: HOST:PORT, [V6]:PORT, unix:PATH")->required();
  app.add_option("-c,--connections", o.connections, "Active connections")
      ->check(cli::count(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("-t,--threads", o.threads, "Threads")
      ->check(cli::count(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  auto* d = app.add_option("-d,--duration", o.duration, "Seconds to run")
                ->type_name("SECONDS")
                ->check(cli::seconds(0.001, 86400.0))
                ->capture_default_str();
  app.add_option("-n,--requests", o.requests, "Stop after this many requests instead")
      ->check(cli::count(std::uint64_t{1}, UINT64_MAX))
      ->excludes(d);
  app.add_option("--stall-timeout", o.stall_timeout,
                 "End the run when no reply has come for this long with requests in flight")
      ->type_name("SECONDS")
      ->check(cli::seconds(0.001, 86400.0))
      ->capture_default_str();
  app.add_flag("--reconnect", o.reconnect,
               "Open a broken connection again (after 10 ms, doubling to 1 s) instead of "
               "leaving it; its unanswered requests count as lost");
  app.add_option("--reconnect-interval", o.reconnect_interval,
                 "Close each connection cleanly after N requests and open a new one")
      ->check(cli::count(std::uint64_t{1}, UINT64_MAX));
  app.add_option("-P,--pipeline", o.pipeline, "Requests in flight per connection")
      ->check(cli::count(std::size_t{1}, std::size_t{1} << 16))
      ->capture_default_str();
  app.add_option("--protocol", protocol_name, "okq | redis | memcache")
      ->check(CLI::IsMember({"okq", "redis", "memcache", "memcached"}))
      ->capture_default_str();
  app.add_option("--message", o.message, "Message to send (okq protocol)")->capture_default_str();
  app.add_option("--rate", o.rate, "Open loop: total requests/s, latency from when each was due")
      ->type_name("R")
      ->check(cli::real(0.0, 1e9, "requests per second"));
  app.add_option("--idle", o.idle, "Extra connections opened and held idle")
      ->check(cli::count(std::size_t{0}, std::size_t{1} << 20));
  app.add_option("--io", o.io,
                 "How each thread drives its connections: auto (io_uring where the kernel "
                 "allows it, else epoll) | epoll | io_uring")
      ->check(CLI::IsMember({"auto", "epoll", "io_uring"}))
      ->capture_default_str();
  add_tls(app, o);
  app.add_flag("--json", o.json, "Print the result as one JSON object");
  app.add_flag("-q,--quiet", o.quiet, "No progress line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (o.threads > o.connections) o.threads = o.connections;
  o.protocol = *bench::parse_protocol(protocol_name);  // checked by CLI11
  return o;
}

struct Totals {
  std::uint64_t sent = 0, answered = 0, errors = 0;
};

Totals totals(const std::vector<std::unique_ptr<bench::LoadThread>>& threads) {
  Totals t;
  for (auto& w : threads) {
    t.sent += w->counters().sent.load(std::memory_order_relaxed);
    t.answered += w->counters().answered.load(std::memory_order_relaxed);
    t.errors += w->counters().bad_replies.load(std::memory_order_relaxed) +
                w->counters().broken_connections.load(std::memory_order_relaxed);
  }
  return t;
}

// Progress each second until the duration is up, every thread is done, the
// server has stalled for the stall timeout, or a signal came; then asks the
// threads to stop (they drain what is in flight, bounded) and returns.
void watch(const Options& o, const std::vector<std::unique_ptr<bench::LoadThread>>& threads,
           const std::atomic<std::size_t>& done, std::atomic<bool>& stop,
           bench::Clock::time_point start) {
  using namespace std::chrono;
  const auto deadline = start + duration_cast<bench::Clock::duration>(
                                    duration<double>(o.requests ? 1e9 : o.duration));
  const auto stall = cli::to_millis(o.stall_timeout);
  const bool tty = ::isatty(STDERR_FILENO);
  auto next_tick = start + seconds(1);
  auto last_progress = start;
  std::uint64_t last_answered = 0, ticked = 0;
  while (done.load() < threads.size()) {
    const auto now = bench::Clock::now();
    const Totals t = totals(threads);
    if (t.answered != last_answered || t.sent == t.answered) last_progress = now;
    last_answered = t.answered;
    if (now >= deadline || now - last_progress >= stall || g_interrupted || stop) break;
    if (now >= next_tick) {
      if (!o.quiet)
        std::fprintf(stderr, "%s[%4.0fs] %10.0f req/s  answered %llu  errors %llu%s",
                     tty ? "\r" : "", duration<double>(now - start).count(),
                     static_cast<double>(t.answered - ticked),
                     static_cast<unsigned long long>(t.answered),
                     static_cast<unsigned long long>(t.errors), tty ? "" : "\n");
      ticked = t.answered;
      next_tick += seconds(1);
    }
    std::this_thread::sleep_until(std::min({next_tick, deadline, now + milliseconds(20)}));
  }
  if (!o.quiet && tty) std::fprintf(stderr, "\n");
  if (done.load() < threads.size() && !g_interrupted && !stop && bench::Clock::now() < deadline)
    std::fprintf(stderr, "okq-bench: no reply for %g s; stopping\n", o.stall_timeout);
  stop = true;
}

bench::Report report_of(const Options& o,
                        const std::vector<std::unique_ptr<bench::LoadThread>>& threads,
                        bench::Clock::time_point start, bench::Clock::time_point stopped) {
  bench::Report report;
  report.target = o.address;
  report.protocol = bench::to_string(o.protocol);
  report.connections = o.connections;
  report.idle_connections = o.idle;
  report.threads = o.threads;
  report.pipeline = o.pipeline;
  report.rate = o.rate;
  auto end = stopped;
  if (o.requests) {
    end = start;
    for (auto& w : threads) end = std::max(end, w->finished());
  }
  report.seconds = std::chrono::duration<double>(end - start).count();
  for (auto& w : threads) {
    const auto& c = w->counters();
    report.sent += c.sent;
    report.answered += c.answered;
    report.bad_replies += c.bad_replies;
    report.broken_connections += c.broken_connections;
    report.reconnects += c.reconnects;
    report.idle_closed += w->idle_closed();
    report.latency.merge(w->latency());
  }
  return report;
}

// Whether each thread makes an io_uring ring (the kernel may refuse one):
// known here, before any thread starts. 0 or the exit code.
int choose_backend(const Options& o, bool& io_uring) {
  io_uring = o.io != "epoll";
  try {
    if (io_uring) server::make_poller("io_uring");
  } catch (const std::system_error& e) {
    if (o.io == "io_uring") {
      std::fprintf(stderr, "okq-bench: --io io_uring: %s\n", e.what());
      return cli::kExitSoftware;
    }
    io_uring = false;  // auto: epoll does the same work with more system calls
  }
  return 0;
}

// One load thread each, each with its share of the connections, connected.
// 0 or the exit code.
int connect_threads(const Options& o, const bench::Exchange& exchange, bool io_uring,
                    std::vector<std::unique_ptr<bench::LoadThread>>& threads) {
  try {
    const auto endpoint = net::parse_endpoint(o.address, "127.0.0.1");
    const auto target = net::resolve(endpoint, false).front();
    std::shared_ptr<const tls::Context> context;
    if (o.tls) {
      try {
        context = tls::Context::client(o.tls_settings);
      } catch (const tls::Error& e) {
        throw net::Error(net::Call::Connect, o.address, e.what());
      }
    }
    for (std::size_t i = 0; i < o.threads; ++i) {
      bench::LoadPlan plan;
      plan.target = target;
      plan.connections = share(o.connections, o.threads, i);
      plan.idle_connections = share(o.idle, o.threads, i);
      plan.pipeline = o.pipeline;
      plan.max_requests = o.requests ? share(o.requests, o.threads, i) : 0;
      plan.reconnect_interval = o.reconnect_interval;
      plan.reconnect = o.reconnect;
      plan.io_uring = io_uring;
      plan.tls = context;
      plan.server_name = o.tls_server_name.empty() ? endpoint.host : o.tls_server_name;
      plan.tls_resume = o.tls_resume;
      plan.rate =
          o.rate * static_cast<double>(plan.connections) / static_cast<double>(o.connections);
      threads.push_back(std::make_unique<bench::LoadThread>(exchange, plan));
      threads.back()->connect();
    }
  } catch (const net::Error& e) {
    std::fprintf(stderr, "okq-bench: %s\n", e.what());
    const auto call = e.call();
    return call == net::Call::Parse || call == net::Call::Resolve ? kExitAddress : kExitConnect;
  }
  return 0;
}

// Runs every thread on its own thread from `start`, watched until the run is
// over; `stopped` is when it was. The first thread that could not go on, and
// why ("" if none).
std::string run_threads(const Options& o, std::vector<std::unique_ptr<bench::LoadThread>>& threads,
                        std::atomic<bool>& stop, bench::Clock::time_point start,
                        bench::Clock::time_point& stopped) {
  std::vector<std::thread> running;
  running.reserve(threads.size());
  std::atomic<std::size_t> done{0};
  std::mutex failure_mu;
  std::string failure;
  for (auto& w : threads)
    running.emplace_back([&, wp = w.get()] {
      try {
        wp->run(start);
      } catch (const std::exception& e) {
        std::lock_guard lock(failure_mu);
        if (failure.empty()) failure = e.what();
        stop = true;
      }
      done.fetch_add(1);
    });
  watch(o, threads, done, stop, start);
  stopped = bench::Clock::now();
  for (auto& t : threads) t->request_stop();
  for (auto& t : running) t.join();
  return failure;
}

int run(const Options& o) {
  std::unique_ptr<bench::Exchange> made;
  try {
    made = std::make_unique<bench::Exchange>(o.protocol, o.message);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "okq-bench: %s\n", e.what());
    return kExitUsage;
  }
  bool io_uring = false;
  if (const int code = choose_backend(o, io_uring); code != 0) return code;
  net::raise_fd_limit();
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<bench::LoadThread>> threads;
  if (const int code = connect_threads(o, *made, io_uring, threads); code != 0) return code;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto start = bench::Clock::now();
  bench::Clock::time_point stopped;
  if (const auto failure = run_threads(o, threads, stop, start, stopped); !failure.empty()) {
    std::fprintf(stderr, "okq-bench: %s\n", failure.c_str());
    return cli::kExitSoftware;
  }
  const auto report = report_of(o, threads, start, stopped);
  const std::string out = o.json ? bench::to_json(report) : bench::to_text(report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (g_interrupted) return 128 + g_interrupted;
  return report.clean() ? 0 : kExitFailedCheck;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::main_of<Options>("okq-bench", argc, argv, parse_options, run);
}
