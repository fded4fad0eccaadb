// okq_soak.cpp -- a loss soak for okq-server: many connections send random
// messages (random bytes, NUL padding, CRLF) in writes of random size, so
// messages are split at random points, while every reply is checked: one "OK"
// per message in order, then the connection's own Q line echoed, then EOF.
// Prints "lost: N" (sent minus answered) and exits 0 only if N and the
// errors are 0.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "okq/net/address.hpp"
#include "okq/net/error.hpp"
#include "okq/net/socket.hpp"
#include "okq/proto/line_splitter.hpp"

namespace {

using namespace okq;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string address;
  std::uint64_t messages = 10'000'000;
  std::size_t connections = 64;
  std::uint64_t seed = 1;
  std::size_t max_message = 200;
  double timeout_s = 900;
};

struct Conn {
  net::Fd fd;
  std::mt19937_64 rng;
  std::uint64_t quota = 0;  // messages to send before the Q line
  std::uint64_t generated = 0;
  std::uint64_t answered = 0;  // OK replies seen
  std::string pending;         // bytes generated, not yet written
  std::string quit;            // this connection's Q line (without LF)
  bool quit_queued = false, quit_echoed = false, eof = false;
  proto::LineSplitter replies;
};

// One random message: any byte but LF, never a leading Q; NULs sprinkled in
// (the server drops them); CRLF or LF at the end.
void generate(Conn& c, std::size_t max_len) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPRSTUVWXYZ0123456789 \t\r\x01\x7f\x80\xff";
  const std::size_t len = c.rng() % (max_len + 1);
  for (std::size_t i = 0; i < len; ++i) {
    if (c.rng() % 16 == 0) c.pending += '\0';
    c.pending += kAlphabet[c.rng() % (sizeof kAlphabet - 1)];
  }
  if (c.rng() % 4 == 0) c.pending += '\r';
  c.pending += '\n';
  ++c.generated;
}

// Keeps a little generated ahead; the Q line goes last.
void refill(Conn& c, std::size_t max_len) {
  while (c.pending.size() < 16 * 1024 && c.generated < c.quota) generate(c, max_len);
  if (c.generated == c.quota && !c.quit_queued) {
    c.pending += c.quit + "\r\n";
    c.quit_queued = true;
  }
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "-n")
      o.messages = std::stoull(next());
    else if (a == "-c")
      o.connections = std::stoul(next());
    else if (a == "--seed")
      o.seed = std::stoull(next());
    else if (a == "--max-message")
      o.max_message = std::stoul(next());
    else if (a == "--timeout")
      o.timeout_s = std::stod(next());
    else if (!a.empty() && a[0] != '-')
      o.address = a;
    else
      return false;
  }
  return !o.address.empty() && o.connections > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    if (!parse(argc, argv, o)) {
      std::fprintf(
          stderr,
          "usage: okq-soak [-n MESSAGES] [-c CONNECTIONS] [--seed N] [--max-message BYTES] "
          "[--timeout S] HOST:PORT\n");
      return 64;
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "okq-soak: bad number\n");
    return 64;
  }
  std::vector<Conn> conns(o.connections);
  std::uint64_t errors = 0;
  try {
    const auto target = net::resolve(net::parse_endpoint(o.address, "127.0.0.1"), false).front();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      c.fd = net::connect_to(target, std::chrono::seconds(10));
      c.rng.seed(o.seed * 1'000'003 + i);
      c.quota = o.messages / o.connections + (i < o.messages % o.connections ? 1 : 0);
      c.quit = "Q soak " + std::to_string(o.seed) + "/" + std::to_string(i);
    }
  } catch (const net::Error& e) {
    std::fprintf(stderr, "okq-soak: %s\n", e.what());
    return 2;
  }

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o.timeout_s));
  std::vector<pollfd> fds(conns.size());
  std::size_t open = conns.size();
  char buf[65536];
  while (open > 0 && Clock::now() < deadline) {
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (!c.eof) refill(c, o.max_message);
      fds[i] = {c.eof ? -1 : c.fd.get(),
                static_cast<short>(POLLIN | (c.pending.empty() ? 0 : POLLOUT)), 0};
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (c.eof) continue;
      if ((fds[i].revents & POLLOUT) && !c.pending.empty()) {
        // A random write size: messages end up split anywhere.
        const std::size_t size = 1 + c.rng() % std::min<std::size_t>(c.pending.size(), 8192);
        const ssize_t n = net::send_some(c.fd.get(), c.pending.data(), size);
        if (n > 0) c.pending.erase(0, static_cast<std::size_t>(n));
      }
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = net::recv_some(c.fd.get(), buf, sizeof buf);
      if (n == -EAGAIN) continue;
      if (n <= 0) {
        if (!c.quit_echoed) ++errors;  // closed before the end
        c.eof = true;
        --open;
        continue;
      }
      c.replies.feed(std::string_view(buf, static_cast<std::size_t>(n)), [&](std::string_view r) {
        if (c.answered < c.quota && r == "OK") {
          ++c.answered;
        } else if (c.answered == c.quota && !c.quit_echoed && r == c.quit) {
          c.quit_echoed = true;
        } else {
          ++errors;
          std::fprintf(stderr, "okq-soak: connection %zu, reply %llu: unexpected \"%.*s\"\n", i,
                       static_cast<unsigned long long>(c.answered), static_cast<int>(r.size()),
                       r.data());
        }
      });
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::uint64_t sent = 0, answered = 0;
  for (const auto& c : conns) {
    sent += c.generated + (c.quit_queued ? 1 : 0);
    answered += c.answered + (c.quit_echoed ? 1 : 0);
  }
  if (open > 0)
    std::fprintf(stderr, "okq-soak: %zu connections unfinished at the deadline\n", open);
  std::printf("soak: %llu messages over %zu connections in %.1f s (%.0f msg/s), %llu answered\n",
              static_cast<unsigned long long>(sent), o.connections, secs,
              static_cast<double>(answered) / secs, static_cast<unsigned long long>(answered));
  std::printf("lost: %llu\nerrors: %llu\n", static_cast<unsigned long long>(sent - answered),
              static_cast<unsigned long long>(errors));
  return sent == answered && errors == 0 && open == 0 ? 0 : 1;
}
