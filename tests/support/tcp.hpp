// tcp.hpp -- RawClient: a plain loopback TCP connection for integration tests,
// sending and reading exact bytes with deadlines. No okq code inside, so it
// checks the server from the outside.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "okq/net/fd.hpp"
#include "process.hpp"

namespace okq::test {

using namespace std::chrono_literals;

class RawClient {
 public:
  // Connects to 127.0.0.1:port (or [::1] with v6). Throws on failure. A
  // `rcvbuf` > 0 is set before connecting, so the window is small from the start.
  explicit RawClient(std::uint16_t port, bool v6 = false, int rcvbuf = 0);
  // Connects to ip:port ("127.0.0.2", "::1").
  RawClient(const std::string& ip, std::uint16_t port, int rcvbuf = 0);
  explicit RawClient(const std::string& unix_path);
  // The server side of a connection a RawListener accepted.
  explicit RawClient(net::Fd connected) : fd_(std::move(connected)) {}

  void send(std::string_view bytes);
  void shutdown_write();
  // Closes normally (FIN), as a client does after the server's EOF.
  void close() { fd_.reset(); }
  // Closes with SO_LINGER 0, so the peer gets RST.
  void reset();

  // Reads until `n` bytes arrived, EOF, or the deadline; returns what arrived.
  std::string read_exact(std::size_t n, std::chrono::milliseconds timeout = 10s);
  // Reads until EOF or the deadline; eof() tells which.
  std::string read_to_eof(std::chrono::milliseconds timeout = 10s);
  bool eof() const noexcept { return eof_; }
  // Did the connection end in a reset (RST) rather than a clean FIN?
  bool was_reset() const noexcept { return reset_; }
  // Without blocking: has the peer closed or reset (with no data left unread)?
  bool peer_closed() const;
  // Sends without blocking; returns bytes taken, 0 if the socket buffer is full,
  // -1 once the peer has closed or reset.
  long send_nonblocking(std::string_view bytes);
  // Sends `pattern` over and over, each send continuing where the last one
  // stopped (so the stream is the pattern repeated), until the peer has taken
  // nothing for `stall` or `limit` bytes went out. Returns the bytes sent;
  // throws if the peer closes.
  std::size_t send_until_stalled(std::string_view pattern, std::chrono::milliseconds stall,
                                 std::size_t limit = std::size_t{64} << 20);

  // Bytes sent but not yet acknowledged by the peer's kernel (SIOCOUTQ).
  int unacked() const;
  // Waits until every byte sent is acknowledged; false on timeout.
  bool wait_acked(std::chrono::milliseconds timeout = 10s) const;

  int fd() const noexcept { return fd_.get(); }

 private:
  std::string read_until(std::size_t n, std::chrono::milliseconds timeout);

  net::Fd fd_;
  bool eof_ = false;
  bool reset_ = false;
};

// A loopback listener of the test's own. Unless accept() is called,
// connections complete in its backlog and nothing is ever answered.
class RawListener {
 public:
  RawListener();
  std::uint16_t port() const noexcept { return port_; }
  // The next connection, as a fake server's end; throws on timeout.
  RawClient accept(std::chrono::milliseconds timeout = 10s);

 private:
  net::Fd fd_;
  std::uint16_t port_ = 0;
};

// A loopback port with nothing listening on it (bound, then released).
std::uint16_t unused_port();

// GET `target` from an HTTP server on 127.0.0.1:port; the whole response
// (status line, headers and body) as it arrived, "" if none did.
std::string http_get(std::uint16_t port, const std::string& target,
                     std::chrono::milliseconds timeout = 10s);
// The body of an HTTP response (after the blank line).
std::string http_body(const std::string& response);

// okq-server's --metrics: the port it logged ("metrics on http://127.0.0.1:
// PORT/metrics"; 0 if it never did), one scrape's exposition text (with a
// leading LF, so every sample starts a line), the value of one sample
// (`name` with its labels as printed; -1 if absent), and the sum of every
// sample of a family whatever its labels.
std::uint16_t metrics_port(Process& server);
std::string scrape(std::uint16_t port);
long long metric_value(const std::string& text, const std::string& name);
long long metric_sum(const std::string& text, const std::string& family);

}  // namespace okq::test
