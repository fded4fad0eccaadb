// log.hpp -- Logger: single timestamped lines ("2026-11-24T21:40:00.123Z
// okq-server[812]: ...") on stderr or a file, each written with one write(2) so
// lines from several threads or processes never interleave. No global instance.
#pragma once

#include <fmt/format.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
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
  // Any thread (a reload changes the level while workers log).
  void set_level(Level level) noexcept { level_.store(level, std::memory_order_relaxed); }
  bool enabled(Level level) const noexcept {
    return level <= level_.load(std::memory_order_relaxed);
  }

  template <class... Args>
  void log(Level level, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level)) write_line(fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  void write_line(std::string_view text) noexcept;

  std::string name_;
  std::atomic<Level> level_{Level::Info};
  std::string path_;
  net::Fd file_;          // invalid: stderr
  bool created_ = false;  // open_file() made the file
};

// At most one log line per interval for an event a peer can cause at will
// (an invalid PROXY header, an untrusted source): the events held back in
// between are counted into the next line. One thread's (not shared).
class LogBurst {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogBurst(std::chrono::milliseconds interval = std::chrono::seconds(1))
      : interval_(interval) {}
  // True when this event gets a line; `held` is then how many did not since.
  bool admit(Clock::time_point now, std::uint64_t& held) noexcept {
    if (next_ != Clock::time_point{} && now < next_) {
      ++held_;
      return false;
    }
    held = held_;
    held_ = 0;
    next_ = now + interval_;
    return true;
  }

 private:
  std::chrono::milliseconds interval_;
  Clock::time_point next_{};
  std::uint64_t held_ = 0;
};

// " (and N more like it)" when N events were held back, else "".
std::string held_back(std::uint64_t held);

// `bytes` with non-printable bytes escaped (\n, \r, \0, \xNN), for --trace lines.
std::string escape(std::string_view bytes);

}  // namespace okq::server
