// cli_checks.hpp -- what the okq programs' command lines share: the shape of
// main, whole numbers and seconds that say what is wrong with a value ("abc
// is not a whole number", "nan is not a number of seconds"), seconds turned
// into milliseconds without turning a small positive value into "no limit",
// and typed options: a duration or an address parsed once, into its value.
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "okq/net/address.hpp"
#include "okq/net/error.hpp"
#include "okq/net/fd.hpp"
#include "okq/tls/context.hpp"

namespace okq::cli {

inline constexpr int kExitSoftware = 70;  // EX_SOFTWARE: an unexpected failure

// Every main: descriptors 0-2 reserved before any socket can take one, the
// command line parsed into options (or an exit code: usage, --help), then
// run. An exception that escapes is one line and exit 70, never an abort.
template <class Options>
int main_of(const char* name, int argc, char** argv,
            std::variant<Options, int> (*parse)(int, char**), int (*run)(const Options&)) {
  net::reserve_standard_fds();
  auto parsed = parse(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  try {
    return run(std::get<Options>(parsed));
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return kExitSoftware;
  }
}

// A whole number from `lo` to `hi`.
template <typename T>
CLI::Validator count(T lo, T hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        T value{};
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (text.empty() || (ec != std::errc() && ec != std::errc::result_out_of_range) ||
            ptr != end)
          return text + " is not a whole number";
        if (ec == std::errc::result_out_of_range || value < lo || value > hi)
          return text + " is out of range: " + std::to_string(lo) + " to " + std::to_string(hi);
        return {};
      },
      "");
}

inline std::string fmt_number(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
}

// A number from `lo` to `hi` in `unit`s, fractions allowed; NaN and
// infinities refused.
inline CLI::Validator real(double lo, double hi, const std::string& unit) {
  return CLI::Validator(
      [lo, hi, unit](std::string& text) -> std::string {
        std::size_t used = 0;
        double value = 0;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
          return text + " is not a number of " + unit;
        }
        if (used != text.size() || !std::isfinite(value))
          return text + " is not a number of " + unit;
        if (value < lo || value > hi)
          return text + " is out of range: " + fmt_number(lo) + " to " + fmt_number(hi) + " " +
                 unit;
        return {};
      },
      "");
}

inline CLI::Validator seconds(double lo, double hi) {
  return real(lo, hi, "seconds");
}

// Seconds as milliseconds, rounded up: any positive value is at least 1 ms,
// so a small timeout never becomes 0, which means "no limit".
inline std::chrono::milliseconds to_millis(double seconds) {
  if (!(seconds > 0)) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000.0)));
}

// An octal permission mode such as 660 or 0600.
inline CLI::Validator octal_mode() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        unsigned value = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, value, 8);
        if (text.empty() || ec != std::errc() || ptr != end || value > 07777)
          return text + " is not an octal mode such as 660";
        return {};
      },
      "");
}

inline int parse_octal(const std::string& text) {
  unsigned value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value, 8);
  return static_cast<int>(value);
}

// --- typed options: each value is parsed once, into its place; what is wrong
// with it is the parser's reason, and the usage error CLI11 reports.

// A duration given in seconds (fractions allowed), from `lo` to `hi`; the
// help shows `into`'s value as the default.
inline CLI::Option* add_duration(CLI::App& app, const std::string& name,
                                 std::chrono::milliseconds& into, double lo, double hi,
                                 const std::string& help) {
  return app
      .add_option_function<double>(
          name, [&into](double seconds) { into = to_millis(seconds); }, help)
      ->type_name("SECONDS")
      ->check(seconds(lo, hi))
      ->default_str(fmt_number(static_cast<double>(into.count()) / 1000.0));
}

// An address (HOST:PORT, [V6]:PORT, :PORT, PORT, HOST, unix:PATH), a host
// left out being `default_host`.
inline net::Endpoint endpoint_of(const std::string& option, const std::string& text,
                                 std::string_view default_host) {
  try {
    return net::parse_endpoint(text, default_host);
  } catch (const net::Error& e) {
    throw CLI::ValidationError(option, e.what());
  }
}

inline CLI::Option* add_endpoint(CLI::App& app, const std::string& name,
                                 std::optional<net::Endpoint>& into, std::string default_host,
                                 const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [&into, name, default_host](const std::string& text) {
            into = endpoint_of(name, text, default_host);
          },
          help)
      ->type_name("ADDR");
}

// Repeatable: every address given, in order.
inline CLI::Option* add_endpoints(CLI::App& app, const std::string& name,
                                  std::vector<net::Endpoint>& into, std::string default_host,
                                  const std::string& help) {
  return app
      .add_option_function<std::vector<std::string>>(
          name,
          [&into, name, default_host](const std::vector<std::string>& texts) {
            for (const auto& text : texts) into.push_back(endpoint_of(name, text, default_host));
          },
          help)
      ->type_name("ADDR");
}

// A client's TLS flags (okq-client, okq-bench), in their own "TLS" group:
// --tls (`speaks` says what of), the CA and name the server's certificate is
// checked against, and a client certificate. Returns the --tls flag.
inline CLI::Option* add_tls_client(CLI::App& app, bool& on, tls::Settings& settings,
                                   std::string& server_name, const std::string& speaks) {
  const char* g = "TLS";
  auto* flag = app.add_flag("--tls", on, speaks + ", checking the server's certificate")->group(g);
  app.add_option("--tls-ca", settings.ca,
                 "CA certificates (PEM) the server's must verify to (default: the system's)")
      ->type_name("FILE")
      ->group(g);
  app.add_option("--tls-server-name", server_name,
                 "The name sent (SNI) and checked in the server's certificate (default: the "
                 "host given)")
      ->type_name("NAME")
      ->group(g);
  app.add_option("--tls-cert", settings.cert, "A client certificate to present, PEM")
      ->type_name("FILE")
      ->group(g);
  app.add_option("--tls-key", settings.key, "Its private key, PEM")->type_name("FILE")->group(g);
  return flag;
}

}  // namespace okq::cli
