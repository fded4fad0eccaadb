// okq_bench.cpp -- okq-bench's command line: split the load over threads, print
// a progress line each second, merge and report. The load itself lives in
// src/okq/bench.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>

#include "okq/bench/report.hpp"
#include "okq/bench/worker.hpp"
#include "okq/net/error.hpp"
#include "okq/net/fd.hpp"

namespace {

using namespace okq;

constexpr int kExitFailedCheck = 1;  // errors or lost replies
constexpr int kExitConnect = 2;
constexpr int kExitAddress = 3;
constexpr int kExitUsage = 64;

std::size_t share(std::size_t total, std::size_t parts, std::size_t i) {
  return total / parts + (i < total % parts ? 1 : 0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string address;
  std::size_t connections = 50, threads = 1, pipeline = 1, idle = 0;
  double duration = 10, rate = 0;
  std::uint64_t requests = 0;
  std::string protocol_name = "okq", message = "PING";
  bool json = false, quiet = false;

  CLI::App app{"okq-bench: load generator for okq, redis and memcached; checks every reply.",
               "okq-bench"};
  app.set_version_flag("--version", "okq-bench 0.1.0");
  app.add_option("address", address, "Server: HOST:PORT, [V6]:PORT, unix:PATH")->required();
  app.add_option("-c,--connections", connections, "Active connections")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("-t,--threads", threads, "Threads")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  auto* d = app.add_option("-d,--duration", duration, "Seconds to run")
                ->check(CLI::Range(0.001, 86400.0))
                ->capture_default_str();
  app.add_option("-n,--requests", requests, "Stop after this many requests instead")
      ->check(CLI::Range(std::uint64_t{1}, UINT64_MAX))
      ->excludes(d);
  app.add_option("-P,--pipeline", pipeline, "Requests in flight per connection")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 16))
      ->capture_default_str();
  app.add_option("--protocol", protocol_name, "okq | redis | memcache")
      ->check(CLI::IsMember({"okq", "redis", "memcache", "memcached"}))
      ->capture_default_str();
  app.add_option("--message", message, "Message to send (okq protocol)")->capture_default_str();
  app.add_option("--rate", rate, "Open loop: total requests/s, latency from when each was due")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--idle", idle, "Extra connections opened and held idle")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20));
  app.add_flag("--json", json, "Print the result as one JSON object");
  app.add_flag("-q,--quiet", quiet, "No progress line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (threads > connections) threads = connections;

  const bench::Protocol protocol = *bench::parse_protocol(protocol_name);  // checked by CLI11
  std::unique_ptr<bench::Exchange> exchange;
  try {
    exchange = std::make_unique<bench::Exchange>(protocol, message);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "okq-bench: %s\n", e.what());
    return kExitUsage;
  }

  net::raise_fd_limit();
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<bench::Worker>> workers;
  try {
    const auto endpoint = net::parse_endpoint(address, "127.0.0.1");
    const auto target = net::resolve(endpoint, false).front();
    for (std::size_t i = 0; i < threads; ++i) {
      bench::WorkerPlan plan;
      plan.target = target;
      plan.connections = share(connections, threads, i);
      plan.idle_connections = share(idle, threads, i);
      plan.pipeline = pipeline;
      plan.max_requests = requests ? share(requests, threads, i) : 0;
      plan.rate = rate * static_cast<double>(plan.connections) / static_cast<double>(connections);
      workers.push_back(std::make_unique<bench::Worker>(*exchange, plan, stop));
      workers.back()->connect();
    }
  } catch (const net::Error& e) {
    std::fprintf(stderr, "okq-bench: %s\n", e.what());
    const auto call = e.call();
    return call == net::Call::Parse || call == net::Call::Resolve ? kExitAddress : kExitConnect;
  }

  const auto start = bench::Clock::now();
  std::vector<std::thread> running;
  running.reserve(workers.size());
  std::atomic<std::size_t> done{0};
  for (auto& w : workers)
    running.emplace_back([&, wp = w.get()] {
      wp->run(start);
      done.fetch_add(1);
    });

  // Progress each second until the duration is up or every worker is done.
  const auto deadline = start + std::chrono::duration_cast<bench::Clock::duration>(
                                    std::chrono::duration<double>(requests ? 1e9 : duration));
  const bool tty = ::isatty(STDERR_FILENO);
  auto next_tick = start + std::chrono::seconds(1);
  std::uint64_t last_answered = 0;
  while (done.load() < workers.size()) {
    const auto now = bench::Clock::now();
    if (now >= deadline) {
      stop = true;
      break;
    }
    if (now >= next_tick) {
      std::uint64_t answered = 0, errors = 0;
      for (auto& w : workers) {
        answered += w->counters().answered.load(std::memory_order_relaxed);
        errors += w->counters().bad_replies.load(std::memory_order_relaxed) +
                  w->counters().broken_connections.load(std::memory_order_relaxed);
      }
      if (!quiet)
        std::fprintf(stderr, "%s[%4.0fs] %10.0f req/s  answered %llu  errors %llu%s",
                     tty ? "\r" : "", std::chrono::duration<double>(now - start).count(),
                     static_cast<double>(answered - last_answered),
                     static_cast<unsigned long long>(answered),
                     static_cast<unsigned long long>(errors), tty ? "" : "\n");
      last_answered = answered;
      next_tick += std::chrono::seconds(1);
    }
    std::this_thread::sleep_until(
        std::min({next_tick, deadline, now + std::chrono::milliseconds(20)}));
  }
  const auto stopped = bench::Clock::now();
  for (auto& t : running) t.join();
  if (!quiet && tty) std::fprintf(stderr, "\n");

  bench::Report report;
  report.target = address;
  report.protocol = bench::to_string(protocol);
  report.connections = connections;
  report.idle_connections = idle;
  report.threads = threads;
  report.pipeline = pipeline;
  report.rate = rate;
  auto end = stopped;
  if (requests) {
    end = start;
    for (auto& w : workers) end = std::max(end, w->finished());
  }
  report.seconds = std::chrono::duration<double>(end - start).count();
  for (auto& w : workers) {
    const auto& c = w->counters();
    report.sent += c.sent;
    report.answered += c.answered;
    report.bad_replies += c.bad_replies;
    report.broken_connections += c.broken_connections;
    report.latency.merge(w->latency());
  }
  const std::string out = json ? bench::to_json(report) : bench::to_text(report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return report.clean() ? 0 : kExitFailedCheck;
}
