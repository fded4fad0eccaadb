// daemon.cpp -- forking, pid file and signalfd.
#include "okq/service/daemon.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include "okq/net/error.hpp"

namespace okq::server {
namespace {

using net::throw_errno;

sigset_t make_set(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  return set;
}

}  // namespace

void Daemon::detach() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  net::Fd read_end(fds[0]);
  net::Fd write_end(fds[1]);
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) throw_errno("fork");
  if (child == 0) {
    to_parent_ = std::move(write_end);
    if (::setsid() < 0) throw_errno("setsid");
    return;
  }
  write_end.reset();
  char byte = 0;
  ssize_t n;
  do n = ::read(read_end.get(), &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n == 1) ::_exit(0);
  // The child died before it was ready: report what it reported.
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

void Daemon::ready(bool release_stderr) {
  if (!to_parent_) return;
  const char byte = 'R';
  while (::write(to_parent_.get(), &byte, 1) < 0 && errno == EINTR) {
  }
  to_parent_.reset();
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return;  // keep what we have: nothing better to point them at
  ::dup2(null, STDIN_FILENO);
  ::dup2(null, STDOUT_FILENO);
  if (release_stderr) ::dup2(null, STDERR_FILENO);
  if (null > STDERR_FILENO) ::close(null);
}

namespace {

[[noreturn]] void pid_file_error(const std::string& path, const std::string& why) {
  throw std::runtime_error("pid file " + path + " " + why);
}

// The pid a pid file holds: digits and an optional LF, nothing else. 0 for an
// empty file, -1 for a file that is not a pid file.
long read_pid(int fd) {
  char text[32];
  ssize_t n;
  do n = ::pread(fd, text, sizeof text, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  long pid = 0;
  ssize_t i = 0;
  for (; i < n && text[i] >= '0' && text[i] <= '9'; ++i) pid = pid * 10 + (text[i] - '0');
  if (i < n && text[i] == '\n') ++i;
  if (i != n || n == static_cast<ssize_t>(sizeof text) || (n > 0 && pid == 0)) return -1;
  return pid;
}

bool alive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

}  // namespace

PidFile::PidFile(std::string path, pid_t replacing) : path_(std::move(path)) {
  // No O_TRUNC: what is there is looked at before anything is written. No
  // symlinks followed: a link planted at the path could aim the write anywhere.
  fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd_ && errno == ELOOP) pid_file_error(path_, "is a symbolic link: not following it");
  if (!fd_)
    throw std::system_error(errno, std::generic_category(), "cannot open pid file " + path_);
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0 || !S_ISREG(st.st_mode))
    pid_file_error(path_, "is not a regular file");
  // A throw below closes fd_ (a constructed member), releasing any lock.
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    const long holder = read_pid(fd_.get());
    pid_file_error(path_, holder > 0 ? "is held by running process " + std::to_string(holder)
                                     : "is locked by another process");
  }
  const long old = read_pid(fd_.get());
  if (old < 0) pid_file_error(path_, "exists and does not hold a pid: not overwriting it");
  if (old != ::getpid() && old != replacing && alive(old))
    pid_file_error(path_, "names running process " + std::to_string(old));
  write_own_pid();
}

// Written over what is there, then cut to length: a reader never finds the
// file empty, only the old pid or the new one.
void PidFile::write_own_pid() {
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::pwrite(fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
      ::ftruncate(fd_.get(), static_cast<off_t>(text.size())) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot write pid file " + path_);
}

void PidFile::unlock() noexcept {
  ::flock(fd_.get(), LOCK_UN);
}

void PidFile::reclaim() {
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot lock pid file " + path_);
  write_own_pid();
}

void PidFile::give_to(uid_t uid, gid_t gid) noexcept {
  [[maybe_unused]] const int rc = ::fchown(fd_.get(), uid, gid);
}

PidFile::~PidFile() {
  // Still ours? Someone may have removed it and another instance written its own.
  struct stat mine {
  }, there{};
  if (::fstat(fd_.get(), &mine) != 0 || ::lstat(path_.c_str(), &there) != 0) return;
  if (mine.st_dev != there.st_dev || mine.st_ino != there.st_ino) return;
  if (read_pid(fd_.get()) != ::getpid()) return;
  if (::unlink(path_.c_str()) != 0 && log_)  // e.g. --user may not write its directory
    log_->log(Level::Error, "cannot remove pid file {}: {}", path_, std::strerror(errno));
}

void block_signals(std::initializer_list<int> signals) {
  const sigset_t set = make_set(signals);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw_errno("sigprocmask");
}

SignalWatcher::SignalWatcher(EventLoop& loop, std::initializer_list<int> signals,
                             std::function<void(int)> on_signal)
    : loop_(loop), on_signal_(std::move(on_signal)) {
  block_signals(signals);  // pending signals then wait for the signalfd
  const sigset_t set = make_set(signals);
  fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) throw_errno("signalfd");
  if (const int rc = loop_.add(fd_.get(), Interest{.read = true}, this); rc != 0)
    throw std::system_error(-rc, std::generic_category(), "cannot watch the signalfd");
}

SignalWatcher::~SignalWatcher() {
  loop_.remove(fd_.get());
}

void SignalWatcher::on_ready(Ready) {
  signalfd_siginfo info{};
  while (::read(fd_.get(), &info, sizeof info) == sizeof info)
    on_signal_(static_cast<int>(info.ssi_signo));
}

void ignore_sigpipe() noexcept {
  std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace okq::server
