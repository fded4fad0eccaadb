// log.hpp -- Logger: single timestamped lines ("2026-11-24T21:40:00.123Z
// okq-server[812]: ...") on stderr or a file, each written with one write(2) so
// lines from several threads or processes never interleave. No global instance.
#pragma once

#include <fmt/format.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "okq/net/fd.hpp"

namespace okq::server {

enum class Level { Error = 0, Info = 1, Verbose = 2, Trace = 3 };

class Logger {
 public:
  explicit Logger(std::string name) : name_(std::move(name)) {}

  // Appends to `path` instead of stderr. A symbolic link or anything but a
  // regular file at `path` is refused (a link planted in a log directory
  // could aim root's appends at any file). Throws std::runtime_error.
  void open_file(const std::string& path);
  bool has_file() const noexcept { return !path_.empty(); }
  // Before dropping privileges to uid/gid: a file this start created is
  // given to them (they reopen it after rotation and an upgrade opens it
  // anew); one that was there must already be theirs to write, or this
  // throws std::runtime_error saying so.
  void give_to(uid_t uid, gid_t gid, const std::string& user);
  // Opens the file again at its path (after logrotate moved it): true if it
  // was reopened; false if it cannot be, in which case the old one is kept
  // and the reason logged. Only with has_file().
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
  net::Fd file_;         // invalid: stderr
  bool created_ = false;  // open_file() made the file
};

// `bytes` with non-printable bytes escaped (\n, \r, \0, \xNN), for --trace lines.
std::string escape(std::string_view bytes);

}  // namespace okq::server
