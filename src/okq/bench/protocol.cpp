// protocol.cpp -- request bytes and reply checks per protocol.
#include "okq/bench/protocol.hpp"

#include <stdexcept>

namespace okq::bench {

std::optional<Protocol> parse_protocol(std::string_view name) {
  if (name == "okq") return Protocol::Okq;
  if (name == "redis") return Protocol::Redis;
  if (name == "memcache" || name == "memcached") return Protocol::Memcache;
  return std::nullopt;
}

const char* to_string(Protocol p) noexcept {
  switch (p) {
    case Protocol::Okq:
      return "okq";
    case Protocol::Redis:
      return "redis";
    case Protocol::Memcache:
      return "memcache";
  }
  return "?";
}

Exchange::Exchange(Protocol protocol, std::string message) : protocol_(protocol) {
  switch (protocol) {
    case Protocol::Okq:
      if (message.find('\n') != std::string::npos)
        throw std::invalid_argument("--message must not contain a newline");
      if (!message.empty() && message.front() == 'Q')
        throw std::invalid_argument("--message must not start with Q (the server would close)");
      request_ = message + "\n";
      break;
    case Protocol::Redis:
      request_ = "PING\r\n";
      break;
    case Protocol::Memcache:
      request_ = "version\r\n";
      break;
  }
}

bool Exchange::reply_ok(std::string_view line) const noexcept {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  switch (protocol_) {
    case Protocol::Okq:
      return line == "OK";
    case Protocol::Redis:
      return line == "+PONG";
    case Protocol::Memcache:
      return line.starts_with("VERSION ");
  }
  return false;
}

}  // namespace okq::bench
