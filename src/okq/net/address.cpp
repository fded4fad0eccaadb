// address.cpp -- parsing okq's address forms and resolving them.
#include "okq/net/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

#include "okq/net/error.hpp"

namespace okq::net {
namespace {

std::uint16_t parse_port(std::string_view digits, std::string_view whole) {
  unsigned value = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || ec != std::errc() || ptr != end || value > 65535)
    throw Error(Call::Parse, std::string(whole), "port must be a number from 0 to 65535");
  return static_cast<std::uint16_t>(value);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string Endpoint::to_string() const {
  if (kind == Kind::Unix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Endpoint parse_endpoint(std::string_view text, std::string_view default_host) {
  const std::string whole(text);
  Endpoint ep;
  if (text.starts_with("unix:")) {
    ep.kind = Endpoint::Kind::Unix;
    ep.path = std::string(text.substr(5));
    if (ep.path.empty()) throw Error(Call::Parse, whole, "unix: needs a path");
    return ep;
  }
  if (text.empty()) throw Error(Call::Parse, whole, "empty address");
  if (const auto scheme = text.find("://"); scheme != std::string_view::npos)
    throw Error(Call::Parse, whole,
                "not a URL: write HOST:PORT or unix:PATH, without " +
                    std::string(text.substr(0, scheme + 3)));
  if (text.front() == '[') {  // [V6ADDR] or [V6ADDR]:PORT
    const auto close = text.find(']');
    if (close == std::string_view::npos) throw Error(Call::Parse, whole, "missing ']'");
    ep.host = std::string(text.substr(1, close - 1));
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw Error(Call::Parse, whole, "expected ':' after ']'");
      ep.port = parse_port(rest.substr(1), whole);
    }
    if (ep.host.empty()) throw Error(Call::Parse, whole, "empty IPv6 address");
    return ep;
  }
  if (all_digits(text)) {  // PORT
    ep.host = std::string(default_host);
    ep.port = parse_port(text, whole);
    return ep;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || text.find(':') != colon) {
    ep.host = std::string(text);  // HOST, or a bare IPv6 literal such as ::1
  } else {                        // HOST:PORT or :PORT
    ep.host = std::string(text.substr(0, colon));
    ep.port = parse_port(text.substr(colon + 1), whole);
    if (ep.host.empty()) ep.host = std::string(default_host);
  }
  return ep;
}

SocketAddress::SocketAddress(const sockaddr* sa, socklen_t len) {
  len_ = std::min<socklen_t>(len, sizeof(storage_));
  std::memcpy(&storage_, sa, len_);
}

SocketAddress SocketAddress::unix_path(const std::string& path) {
  sockaddr_un un{};
  if (path.size() >= sizeof(un.sun_path))
    throw Error(Call::Parse, "unix:" + path, "path too long for a unix socket");
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
  return SocketAddress(reinterpret_cast<const sockaddr*>(&un),
                       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1));
}

const char* SocketAddress::unix_file() const noexcept {
  if (family() != AF_UNIX) return nullptr;
  const char* path = reinterpret_cast<const sockaddr_un*>(&storage_)->sun_path;
  return path[0] != '\0' ? path : nullptr;
}

std::uint16_t SocketAddress::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string SocketAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&storage_);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (family() == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  if (family() == AF_UNIX) {
    auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
    const auto max =
        len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
    return "unix:" + std::string(un->sun_path, strnlen(un->sun_path, max));
  }
  return "unknown";
}

SocketAddress SocketAddress::local_of(int fd) {
  SocketAddress a;
  if (getsockname(fd, a.get(), a.size_ptr()) != 0) a.len_ = 0;
  return a;
}

SocketAddress SocketAddress::peer_of(int fd) {
  SocketAddress a;
  if (getpeername(fd, a.get(), a.size_ptr()) != 0) a.len_ = 0;
  return a;
}

std::vector<SocketAddress> resolve(const Endpoint& ep, bool passive) {
  if (ep.kind == Endpoint::Kind::Unix) return {SocketAddress::unix_path(ep.path)};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(ep.port);
  const int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) {
    const std::string reason = rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
    throw Error(Call::Resolve, ep.to_string(), reason);
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(list, freeaddrinfo);
  std::vector<SocketAddress> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    SocketAddress a(ai->ai_addr, ai->ai_addrlen);
    const bool dup = std::any_of(out.begin(), out.end(), [&](const SocketAddress& b) {
      return b.size() == a.size() && std::memcmp(b.get(), a.get(), a.size()) == 0;
    });
    if (!dup) out.push_back(a);
  }
  if (out.empty()) throw Error(Call::Resolve, ep.to_string(), "no addresses");
  return out;
}

Cidr Cidr::parse(std::string_view text) {
  const std::string whole(text);
  const auto slash = text.find('/');
  const std::string host(text.substr(0, slash));
  Cidr c;
  if (::inet_pton(AF_INET, host.c_str(), c.bytes_) == 1) {
    c.family_ = AF_INET;
    c.prefix_ = 32;
  } else if (::inet_pton(AF_INET6, host.c_str(), c.bytes_) == 1) {
    c.family_ = AF_INET6;
    c.prefix_ = 128;
  } else {
    throw Error(Call::Parse, whole, "not an IP address or CIDR block (e.g. 10.0.0.0/8)");
  }
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const int max = c.prefix_;
    if (digits.empty() || digits.size() > 3 || !all_digits(digits) ||
        std::stoi(std::string(digits)) > max)
      throw Error(Call::Parse, whole, "prefix length must be 0 to " + std::to_string(max));
    c.prefix_ = std::stoi(std::string(digits));
  }
  // Host bits set ("10.1.2.3/8") are cleared: the block is what was meant.
  const int len = c.family_ == AF_INET ? 4 : 16;
  for (int i = 0; i < len; ++i) {
    const int keep = std::clamp(c.prefix_ - 8 * i, 0, 8);
    c.bytes_[i] &= static_cast<unsigned char>(0xff00 >> keep);
  }
  return c;
}

bool Cidr::contains(const SocketAddress& addr) const noexcept {
  const unsigned char* bytes = nullptr;
  int family = addr.family();
  if (family == AF_INET) {
    bytes = reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in*>(addr.get())->sin_addr);
  } else if (family == AF_INET6) {
    const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(addr.get())->sin6_addr;
    bytes = reinterpret_cast<const unsigned char*>(a6);
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
      family = AF_INET;
      bytes += 12;
    }
  }
  if (!bytes || family != family_) return false;
  for (int i = 0; 8 * i < prefix_; ++i) {
    const int keep = std::min(prefix_ - 8 * i, 8);
    const auto mask = static_cast<unsigned char>(0xff00 >> keep);
    if ((bytes[i] & mask) != bytes_[i]) return false;
  }
  return true;
}

std::string Cidr::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family_, bytes_, text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefix_);
}

std::vector<Cidr> loopback_cidrs() {
  return {Cidr::parse("127.0.0.0/8"), Cidr::parse("::1")};
}

}  // namespace okq::net
