// log.hpp -- Logger: single timestamped lines ("2026-11-24T21:40:00.123Z
// okq-server[812]: ...") on stderr or a file, each written with one write(2) so
// lines from several threads or processes never interleave. No global instance.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "okq/net/fd.hpp"

namespace okq::server {

enum class Level { Error = 0, Info = 1, Verbose = 2, Trace = 3 };

class Logger {
 public:
  explicit Logger(std::string name) : name_(std::move(name)) {}

  // Appends to `path` instead of stderr. Throws std::system_error.
  void open_file(const std::string& path);
  // Opens the file again at its path (after logrotate moved it): true if it
  // was reopened, false if there is no file or it cannot be opened, in which
  // case the old one is kept and the reason logged.
  bool reopen() noexcept;
  void set_level(Level level) noexcept { level_ = level; }
  bool enabled(Level level) const noexcept { return level <= level_; }

  template <class... Args>
  void log(Level level, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level)) write_line(fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  void write_line(std::string_view text) noexcept;

  std::string name_;
  Level level_ = Level::Info;
  std::string path_;
  net::Fd file_;  // invalid: stderr
};

// `bytes` with non-printable bytes escaped (\n, \r, \0, \xNN), for --trace lines.
std::string escape(std::string_view bytes);

}  // namespace okq::server
