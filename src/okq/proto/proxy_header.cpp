// proxy_header.cpp -- the PROXY protocol v1 (text) and v2 (binary) header.
#include "okq/proto/proxy_header.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

namespace okq::proto {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t kV2Fixed = 16;  // signature, version and command, family, length
// The shortest headers there are: v1 "PROXY UNKNOWN\r\n" (v2's is 16).
constexpr std::size_t kShortest = 15;

// The shortest complete v1 line that starts with `line`'s protocol.
std::size_t v1_shortest(std::string_view line) {
  if (line.starts_with("PROXY TCP4 ")) return 32;  // "PROXY TCP4 1.1.1.1 1.1.1.1 1 1\r\n"
  if (line.starts_with("PROXY TCP6 ")) return 22;  // "PROXY TCP6 :: :: 1 1\r\n"
  return kShortest;                                // "PROXY UNKNOWN\r\n"
}

bool port_of(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::string endpoint(int family, const void* address, std::uint16_t port) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, address, text, sizeof text);
  return family == AF_INET6 ? "[" + std::string(text) + "]:" + std::to_string(port)
                            : std::string(text) + ":" + std::to_string(port);
}

std::vector<std::string_view> split(std::string_view line, char by) {
  std::vector<std::string_view> parts;
  for (std::size_t at = 0;;) {
    const std::size_t next = line.find(by, at);
    parts.push_back(line.substr(at, next - at));
    if (next == std::string_view::npos) return parts;
    at = next + 1;
  }
}

}  // namespace

std::size_t ProxyHeaderParser::wanted() const noexcept {
  if (status_ != Status::NeedMore) return 0;
  if (seen_.size() < kShortest && version_ != 2) return kShortest - seen_.size();
  if (version_ == 2) return seen_.size() < kV2Fixed ? kV2Fixed - seen_.size() : v2_left_;
  // v1, no CRLF yet: at least the line's end, at least its shortest form.
  const std::size_t to_end = seen_.back() == '\r' ? 1 : 2;
  const std::size_t shortest = v1_shortest(seen_);
  return std::max(to_end, shortest > seen_.size() ? shortest - seen_.size() : 0);
}

ProxyHeaderParser::Status ProxyHeaderParser::fail(std::string why) {
  status_ = Status::Invalid;
  error_ = std::move(why);
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::feed(std::string_view bytes) {
  if (status_ != Status::NeedMore) return status_;
  if (bytes.size() > wanted()) return fail("read past the end of the header");
  consumed_ += bytes.size();
  if (version_ == 0 && !bytes.empty()) {
    if (bytes[0] == 'P')
      version_ = 1;
    else if (bytes[0] == '\r')
      version_ = 2;
    else
      return fail("not a PROXY protocol header");
  }
  if (version_ == 1) {
    for (const char c : bytes) {
      seen_.push_back(c);
      if (after_v1_byte() != Status::NeedMore) return status_;
    }
    return status_;
  }
  while (!bytes.empty()) {
    if (seen_.size() < kV2Fixed) {
      const std::size_t n = std::min(bytes.size(), kV2Fixed - seen_.size());
      seen_.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      const std::size_t sig = std::min(seen_.size(), kV2Signature.size());
      if (seen_.compare(0, sig, kV2Signature.substr(0, sig)) != 0)
        return fail("not a PROXY protocol header");
      if (seen_.size() == kV2Fixed && after_v2_fixed() != Status::NeedMore) return status_;
      continue;
    }
    // The address block is kept; TLVs after it are skipped, only counted.
    const std::size_t kept = seen_.size() - kV2Fixed;
    const std::size_t keep = std::min(bytes.size(), v2_keep_ > kept ? v2_keep_ - kept : 0);
    seen_.append(bytes.substr(0, keep));
    v2_left_ -= bytes.size();
    bytes = {};
    if (v2_left_ == 0) return parse_v2_addresses();
  }
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::after_v1_byte() {
  const std::size_t n = seen_.size();
  const char c = seen_.back();
  if (n <= kV1Prefix.size() && c != kV1Prefix[n - 1]) return fail("not a PROXY protocol header");
  if (n >= 2 && seen_[n - 2] == '\r') {
    if (c != '\n') return fail("v1: CR not followed by LF");
    return parse_v1();
  }
  if (c == '\n') return fail("v1: LF without CR");
  if (c != '\r' && (c < 0x20 || c > 0x7e)) return fail("v1: a byte that is not printable");
  if (n >= kMaxV1) return fail("v1: longer than 107 bytes");
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v1() {
  const std::string_view line = std::string_view(seen_).substr(0, seen_.size() - 2);
  const auto fields = split(line, ' ');
  header_.version = 1;
  if (fields.size() >= 2 && fields[1] == "UNKNOWN") {  // what follows is to be ignored
    header_.local = true;
    status_ = Status::Done;
    return status_;
  }
  if (fields.size() != 6) return fail("v1: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT");
  const int family = fields[1] == "TCP4" ? AF_INET : fields[1] == "TCP6" ? AF_INET6 : 0;
  if (family == 0) return fail("v1: unknown protocol " + std::string(fields[1]));
  std::array<unsigned char, 16> src{}, dst{};
  std::uint16_t sport = 0, dport = 0;
  if (::inet_pton(family, std::string(fields[2]).c_str(), src.data()) != 1 ||
      ::inet_pton(family, std::string(fields[3]).c_str(), dst.data()) != 1)
    return fail("v1: bad address");
  if (!port_of(fields[4], sport) || !port_of(fields[5], dport)) return fail("v1: bad port");
  header_.source = endpoint(family, src.data(), sport);
  header_.destination = endpoint(family, dst.data(), dport);
  status_ = Status::Done;
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::after_v2_fixed() {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(seen_[i]); };
  if ((byte(12) >> 4) != 2) return fail("v2: version " + std::to_string(byte(12) >> 4));
  const unsigned command = byte(12) & 0x0f;
  if (command > 1) return fail("v2: unknown command " + std::to_string(command));
  const unsigned family = byte(13) >> 4, transport = byte(13) & 0x0f;
  if (family > 3 || transport > 2) return fail("v2: unknown address family or transport");
  if (transport == 2) return fail("v2: a datagram transport on a stream");
  v2_left_ = static_cast<std::size_t>(byte(14)) << 8 | byte(15);
  header_.version = 2;
  header_.local = command == 0 || family == 0;  // LOCAL, or PROXY with UNSPEC: real addresses
  static constexpr std::size_t kBlock[] = {0, 12, 36, 216};  // UNSPEC, INET, INET6, UNIX
  v2_keep_ = header_.local ? 0 : kBlock[family];
  if (v2_left_ < v2_keep_) return fail("v2: length shorter than its addresses");
  if (v2_left_ == 0) return parse_v2_addresses();
  return status_;
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v2_addresses() {
  status_ = Status::Done;
  if (header_.local) return status_;
  const char* block = seen_.data() + kV2Fixed;
  const auto port = [&](std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(block[at]) << 8 |
                                      static_cast<unsigned char>(block[at + 1]));
  };
  switch (static_cast<unsigned char>(seen_[13]) >> 4) {
    case 1:
      header_.source = endpoint(AF_INET, block, port(8));
      header_.destination = endpoint(AF_INET, block + 4, port(10));
      break;
    case 2:
      header_.source = endpoint(AF_INET6, block, port(32));
      header_.destination = endpoint(AF_INET6, block + 16, port(34));
      break;
    case 3:
      header_.source = "unix:" + std::string(block, ::strnlen(block, 108));
      header_.destination = "unix:" + std::string(block + 108, ::strnlen(block + 108, 108));
      break;
  }
  return status_;
}

}  // namespace okq::proto
