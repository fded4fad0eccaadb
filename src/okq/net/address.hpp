// address.hpp -- okq's address forms: parsing "HOST:PORT", "[V6]:PORT", ":PORT",
// "PORT", "HOST" and "unix:PATH" into an Endpoint, and resolving an Endpoint into
// socket addresses (getaddrinfo for names). Opens no sockets.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace okq::net {

inline constexpr std::uint16_t kDefaultPort = 4242;

// A parsed, not yet resolved, address.
struct Endpoint {
  enum class Kind { Tcp, Unix };
  Kind kind = Kind::Tcp;
  std::string host;  // Tcp: name or literal, without brackets
  std::uint16_t port = kDefaultPort;
  std::string path;  // Unix: filesystem path

  // The address as a user would write it: "127.0.0.1:80", "[::1]:80", "unix:/run/x".
  std::string to_string() const;
};

// Parses `text`. A missing host becomes `default_host`, a missing port kDefaultPort.
// Throws net::Error (Call::Parse) with the reason on malformed input.
Endpoint parse_endpoint(std::string_view text, std::string_view default_host);

// A resolved socket address of any family.
class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(const sockaddr* sa, socklen_t len);
  static SocketAddress unix_path(const std::string& path);  // throws Parse if too long

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }
  socklen_t* size_ptr() noexcept { return &len_; }
  int family() const noexcept { return storage_.ss_family; }
  std::uint16_t port() const noexcept;  // 0 for unix sockets
  // The file a unix socket address names; nullptr for other families and for
  // the abstract namespace, which has no file.
  const char* unix_file() const noexcept;

  // "127.0.0.1:40123", "[::1]:40123" or "unix:/path".
  std::string to_string() const;

  static SocketAddress local_of(int fd);  // getsockname
  static SocketAddress peer_of(int fd);   // getpeername

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = sizeof(sockaddr_storage);
};

// A block of IP addresses, "10.0.0.0/8", "2001:db8::/32", or one address
// ("127.0.0.1" is /32, "::1" /128): who may send a PROXY protocol header.
class Cidr {
 public:
  // Throws net::Error (Call::Parse) with the reason on malformed input.
  static Cidr parse(std::string_view text);
  // Whether `addr` is in the block. An IPv4-mapped IPv6 address
  // (::ffff:192.0.2.1, what a dual-stack listener sees) counts as its IPv4
  // address; unix socket addresses are never in a block.
  bool contains(const SocketAddress& addr) const noexcept;
  std::string to_string() const;

 private:
  int family_ = AF_INET;
  unsigned char bytes_[16] = {};  // network order; 4 used for AF_INET
  int prefix_ = 32;
};

// 127.0.0.0/8 and ::1: the --proxy-from default.
std::vector<Cidr> loopback_cidrs();

// Resolves `ep` into one or more addresses, in getaddrinfo's order. `passive`
// is for addresses to listen on. Throws net::Error (Call::Resolve).
std::vector<SocketAddress> resolve(const Endpoint& ep, bool passive);

}  // namespace okq::net
