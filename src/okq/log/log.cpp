// log.cpp -- timestamped log lines.
#include "okq/log/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <system_error>

namespace okq::server {

namespace {

// The log file at `path`, appended to, never through a symbolic link: the
// descriptor, or -1 with `why` set.
int open_log(const std::string& path, bool& created, std::string& why) {
  struct stat before {};
  const bool existed = ::lstat(path.c_str(), &before) == 0;
  // O_NONBLOCK: a FIFO planted at the path must not hang start-up (it is
  // refused below); a regular file ignores the flag.
  constexpr int kFlags =
      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
  const int fd = ::open(path.c_str(), kFlags, 0644);
  if (fd < 0) {
    why = errno == ELOOP ? "it is a symbolic link (not followed)" : std::strerror(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    why = "not a regular file";
    return -1;
  }
  created = !existed;
  return fd;
}

}  // namespace

void Logger::open_file(const std::string& path) {
  std::string why;
  const int fd = open_log(path, created_, why);
  if (fd < 0) throw std::runtime_error("cannot open log file " + path + ": " + why);
  file_.reset(fd);
  path_ = path;
}

void Logger::give_to(uid_t uid, gid_t gid, const std::string& user) {
  if (!file_ || uid == 0) return;
  struct stat st {};
  if (::fstat(file_.get(), &st) != 0) return;
  if (created_ || (st.st_uid == uid && st.st_gid == gid)) {
    if (::fchown(file_.get(), uid, gid) != 0)
      throw std::system_error(errno, std::generic_category(),
                              "cannot give log file " + path_ + " to user " + user);
    return;
  }
  // Supplementary groups are dropped with the privileges: owner, group, other.
  const bool writable = st.st_uid == uid   ? (st.st_mode & S_IWUSR)
                        : st.st_gid == gid ? (st.st_mode & S_IWGRP)
                                           : (st.st_mode & S_IWOTH);
  if (!writable)
    throw std::runtime_error("log file " + path_ + " is not writable by user " + user +
                             " (it reopens the file on SIGHUP and an upgrade opens it "
                             "anew): chown it to " +
                             user + ", or let okq-server create it");
}

bool Logger::reopen() noexcept {
  if (path_.empty()) return false;
  bool created = false;
  std::string why;
  const int fd = open_log(path_, created, why);
  if (fd < 0) {
    log(Level::Error, "cannot reopen log file {}: {}; still writing to the old one", path_, why);
    return false;
  }
  // dup3 swaps the file behind the same descriptor number in one step, so
  // other threads writing a line at this moment never see a closed or
  // reused descriptor.
  const int rc = ::dup3(fd, file_.get(), O_CLOEXEC);
  ::close(fd);
  return rc >= 0;
}

void Logger::write_line(std::string_view text) noexcept {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm utc{};
  gmtime_r(&tv.tv_sec, &utc);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string line =
      fmt::format("{}.{:03d}Z {}[{}]: {}\n", stamp, tv.tv_usec / 1000, name_, ::getpid(), text);
  // A line that cannot be written has nowhere left to be reported.
  [[maybe_unused]] const int err = net::write_all(file_ ? file_.get() : STDERR_FILENO, line);
}

std::string held_back(std::uint64_t held) {
  return held == 0 ? std::string()
                   : fmt::format(" (and {} more like it since the last line)", held);
}

std::string escape(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\0':
        out += "\\0";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (u < 0x20 || u >= 0x7f)
          out += fmt::format("\\x{:02x}", u);
        else
          out += c;
    }
  }
  return out;
}

}  // namespace okq::server
