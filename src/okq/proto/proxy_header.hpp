// proxy_header.hpp -- ProxyHeaderParser: the PROXY protocol header (HAProxy's
// proxy-protocol.txt, versions 1 and 2) a load balancer sends before a
// client's first byte, read incrementally and never past its end: wanted()
// says how many bytes may be read next without taking any of the client's
// own, so a reader that reads exactly that much leaves the stream after the
// header untouched (classic framing counts on it). Pure bytes in, verdict
// out: no sockets. Lengths in the header are counted down, never trusted for
// allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace okq::proto {

struct ProxyHeader {
  int version = 0;     // 1 or 2
  bool local = false;  // v2 LOCAL (a health check) or v1 UNKNOWN: keep the real addresses
  // The original client and the address it connected to, as text
  // ("192.0.2.1:51234", "[2001:db8::1]:443", "unix:/path"); empty when local.
  std::string source;
  std::string destination;
};

class ProxyHeaderParser {
 public:
  enum class Status { NeedMore, Done, Invalid };

  // The most bytes the next read may take: never past the header's end,
  // never 0 while the status is NeedMore.
  std::size_t wanted() const noexcept;
  // Takes at most wanted() bytes (more is a caller's error, reported as
  // Invalid). Returns the status after them.
  Status feed(std::string_view bytes);
  Status status() const noexcept { return status_; }
  const ProxyHeader& header() const noexcept { return header_; }
  // Why the header is invalid, for the log.
  const std::string& error() const noexcept { return error_; }
  // Bytes taken so far: the header's length once Done.
  std::size_t consumed() const noexcept { return consumed_; }

  static constexpr std::size_t kMaxV1 = 107;  // the spec's bound, CRLF included

 private:
  Status fail(std::string why);
  Status after_v1_byte();
  Status parse_v1();
  Status after_v2_fixed();
  Status parse_v2_addresses();

  Status status_ = Status::NeedMore;
  int version_ = 0;          // 0 until the first bytes tell
  std::string seen_;         // v1: the line so far; v2: the 16-byte fixed part and the addresses
  std::size_t v2_left_ = 0;  // v2: bytes of the variable part still to come
  std::size_t v2_keep_ = 0;  // v2: how many of them are the address block we read
  std::size_t consumed_ = 0;
  ProxyHeader header_;
  std::string error_;
};

}  // namespace okq::proto
