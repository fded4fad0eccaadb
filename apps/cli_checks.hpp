// cli_checks.hpp -- the command-line checks the okq programs share: whole
// numbers and seconds that say what is wrong with a value ("abc is not a
// number", "nan is not a number of seconds"), and seconds turned into
// milliseconds without turning a small positive value into "no limit".
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <string>

namespace okq::cli {

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

}  // namespace okq::cli
