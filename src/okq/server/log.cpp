// log.cpp -- timestamped log lines.
#include "okq/server/log.hpp"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>

namespace okq::server {

void Logger::open_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::system_error(errno, std::generic_category(), "cannot open log file " + path);
  file_.reset(fd);
  path_ = path;
}

bool Logger::reopen() noexcept {
  if (path_.empty()) return false;
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    log(Level::Error, "cannot reopen log file {}: {}; still writing to the old one", path_,
        std::strerror(err));
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
  const int fd = file_ ? file_.get() : STDERR_FILENO;
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to report it
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
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
