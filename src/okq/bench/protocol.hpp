// protocol.hpp -- what okq-bench sends and accepts for each server it can load:
// okq ("PING\n" -> "OK\n"), redis ("PING\r\n" -> "+PONG\r\n") and memcache
// ("version\r\n" -> "VERSION x.y.z\r\n"). Replies are LF-terminated lines in
// all three, so one splitter serves them all. No sockets here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace okq::bench {

enum class Protocol { Okq, Redis, Memcache };

std::optional<Protocol> parse_protocol(std::string_view name);
const char* to_string(Protocol p) noexcept;

class Exchange {
 public:
  // `message` is the okq message to send (ignored by the other protocols).
  // Throws std::invalid_argument for an okq message the server would not
  // answer with OK (one starting with Q, or holding LF).
  Exchange(Protocol protocol, std::string message);

  const std::string& request() const noexcept { return request_; }
  // True if `line` (one reply, its LF already removed) is the expected answer.
  bool reply_ok(std::string_view line) const noexcept;

 private:
  Protocol protocol_;
  std::string request_;
};

}  // namespace okq::bench
