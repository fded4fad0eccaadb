// report.cpp -- text and JSON renderings of a Report.
#include "okq/bench/report.hpp"

#include <fmt/format.h>

namespace okq::bench {
namespace {

double us(std::uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

}  // namespace

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

std::string to_text(const Report& r) {
  const auto& h = r.latency;
  std::string mode = r.rate > 0 ? fmt::format("open loop at {:.0f} req/s", r.rate) : "closed loop";
  return fmt::format(
      "target       {} ({} protocol)\n"
      "load         {} connections ({} idle), {} threads, pipeline {}, {}\n"
      "requests     {} sent, {} answered in {:.2f} s\n"
      "throughput   {:.0f} req/s\n"
      "latency us   p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  mean {:.1f}\n"
      "errors       {} ({} bad replies, {} broken connections)\n"
      "reconnects   {}\n"
      "{}"
      "lost         {}\n",
      r.target, r.protocol, r.connections, r.idle_connections, r.threads, r.pipeline, mode, r.sent,
      r.answered, r.seconds, r.throughput(), us(h.percentile(50)), us(h.percentile(90)),
      us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()), h.mean() / 1000.0, r.errors(),
      r.bad_replies, r.broken_connections, r.reconnects,
      r.idle_connections == 0 ? std::string()
                              : fmt::format("idle         {} held, {} closed by the server\n",
                                            r.idle_connections - r.idle_closed, r.idle_closed),
      r.lost());
}

std::string to_json(const Report& r) {
  const auto& h = r.latency;
  return fmt::format(
      "{{\"target\":\"{}\",\"protocol\":\"{}\",\"connections\":{},\"idle_connections\":{},"
      "\"idle_closed\":{},\"threads\":{},\"pipeline\":{},\"rate\":{},\"seconds\":{:.3f},\"sent\":{}"
      ","
      "\"answered\":{},\"throughput\":{:.1f},\"latency_us\":{{\"p50\":{:.1f},\"p90\":{:.1f},"
      "\"p99\":{:.1f},\"p99_9\":{:.1f},\"max\":{:.1f},\"mean\":{:.1f}}},\"errors\":{},"
      "\"bad_replies\":{},\"broken_connections\":{},\"reconnects\":{},\"lost\":{}}}\n",
      json_escape(r.target), json_escape(r.protocol), r.connections, r.idle_connections,
      r.idle_closed, r.threads, r.pipeline, r.rate, r.seconds, r.sent, r.answered, r.throughput(),
      us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)),
      us(h.max()), h.mean() / 1000.0, r.errors(), r.bad_replies, r.broken_connections, r.reconnects,
      r.lost());
}

}  // namespace okq::bench
