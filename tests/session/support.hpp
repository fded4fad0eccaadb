// support.hpp -- what the session layer's tests share: a clock, limits,
// and a driver's complete writes.
#pragma once

#include <chrono>
#include <string>

#include "okq/session/session.hpp"

namespace okq::server::test {

using namespace std::chrono_literals;
using Time = Session::Time;

inline const Time t0 = Time{} + 1000s;

inline SessionLimits limits(std::size_t max_output = 1 << 20,
                            std::chrono::milliseconds idle = 300s) {
  SessionLimits l;
  l.max_output = max_output;
  l.idle_timeout = idle;
  l.linger_timeout = 5s;
  return l;
}

// `line` LF, n times.
inline std::string repeat_line(const std::string& line, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += line + "\n";
  return out;
}

// Takes everything owed, as a driver would with complete writes.
inline std::string drain(Stream& s, Time now) {
  std::string out;
  for (int i = 0; i < 100 && s.owed_bytes() > 0 && !s.closed(); ++i) {
    const auto window = s.owed();
    out.append(window);
    s.on_sent(window.size(), now);
  }
  return out;
}

}  // namespace okq::server::test
