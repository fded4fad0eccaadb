// report.hpp -- Report: what one okq-bench run measured, printed as text for a
// person or as JSON for scripts. Pure formatting; it measures nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "okq/bench/histogram.hpp"

namespace okq::bench {

struct Report {
  std::string target;
  std::string protocol;
  std::size_t connections = 0;
  std::size_t idle_connections = 0;
  std::size_t idle_closed = 0;  // of those, closed by the server by the end
  std::size_t threads = 0;
  std::size_t pipeline = 0;
  double rate = 0;  // requests/s asked for; 0: closed loop
  double seconds = 0;
  std::uint64_t sent = 0;
  std::uint64_t answered = 0;
  std::uint64_t bad_replies = 0;
  std::uint64_t broken_connections = 0;
  std::uint64_t reconnects = 0;  // connections opened again (--reconnect-interval, --reconnect)
  Histogram latency;             // ns

  std::uint64_t lost() const noexcept { return sent > answered ? sent - answered : 0; }
  std::uint64_t errors() const noexcept { return bad_replies + broken_connections; }
  double throughput() const noexcept {
    return seconds > 0 ? static_cast<double>(answered) / seconds : 0;
  }
  bool clean() const noexcept { return errors() == 0 && lost() == 0; }
};

std::string to_text(const Report& r);
// Strings are escaped (json_escape): a unix path may hold quotes or control bytes.
std::string to_json(const Report& r);
std::string json_escape(std::string_view text);

}  // namespace okq::bench
