// daemon.cpp -- forking, pid file and signalfd.
#include "okq/server/daemon.hpp"

#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace okq::server {
namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

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

void Daemon::ready() {
  if (!to_parent_) return;
  const char byte = 'R';
  while (::write(to_parent_.get(), &byte, 1) < 0 && errno == EINTR) {
  }
  to_parent_.reset();
}

PidFile::PidFile(std::string path) : path_(std::move(path)) {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::system_error(errno, std::generic_category(), "cannot write pid file " + path_);
  net::Fd owner(fd);
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw std::system_error(errno, std::generic_category(), "cannot write pid file " + path_);
}

PidFile::~PidFile() {
  ::unlink(path_.c_str());
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
  loop_.add(fd_.get(), EPOLLIN, this);
}

SignalWatcher::~SignalWatcher() {
  loop_.remove(fd_.get());
}

void SignalWatcher::on_events(std::uint32_t) {
  signalfd_siginfo info{};
  while (::read(fd_.get(), &info, sizeof info) == sizeof info)
    on_signal_(static_cast<int>(info.ssi_signo));
}

void ignore_sigpipe() noexcept {
  std::signal(SIGPIPE, SIG_IGN);
}

}  // namespace okq::server
