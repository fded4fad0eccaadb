// environment.hpp -- reading the numbers a service manager passes in the
// environment (LISTEN_PID, LISTEN_FDS, WATCHDOG_USEC, WATCHDOG_PID).
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace okq::server {

// The variable `name` as a whole non-negative number; nullopt when it is
// unset or is not one.
inline std::optional<std::uint64_t> env_number(const char* name) {
  const char* text = std::getenv(name);
  if (!text) return std::nullopt;
  std::uint64_t value = 0;
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end || ptr == text) return std::nullopt;
  return value;
}

}  // namespace okq::server
