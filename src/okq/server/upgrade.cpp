// upgrade.cpp -- starting the new okq-server with the listeners, and the
// READY pipe between the two.
#include "okq/server/upgrade.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "okq/server/environment.hpp"

extern char** environ;

namespace okq::server {
namespace {

constexpr int kFirstFd = 3;      // where socket activation puts the first listener
constexpr int kStagingFd = 100;  // copies made before fork, out of the way of 3, 4, ...
constexpr std::string_view kReady = "READY\n";

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by ") + strsignal(WTERMSIG(status));
  return "ended";
}

}  // namespace

Program this_program(int argc, char** argv) {
  Program p;
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  p.path = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : (argc > 0 ? argv[0] : "");
  p.argv.assign(argv, argv + argc);
  return p;
}

Upgrade::Upgrade(EventLoop& loop, const Program& program,
                 const std::vector<PassedSocket>& listeners, OnDone done)
    : loop_(loop), done_(std::move(done)) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe2");
  pipe_.reset(ends[0]);
  net::Fd write_end(ends[1]);
  // Everything the child needs is made here: between fork and exec only
  // async-signal-safe calls (dup2, execve, _exit) are allowed.
  std::vector<net::Fd> staged;
  std::string names;
  for (const auto& [fd, name] : listeners) {
    names += (names.empty() ? "" : ":") + std::string(name);
    staged.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, kStagingFd));
    if (!staged.back()) throw_errno("fcntl(F_DUPFD_CLOEXEC)");
  }
  staged.emplace_back(::fcntl(write_end.get(), F_DUPFD_CLOEXEC, kStagingFd));
  if (!staged.back()) throw_errno("fcntl(F_DUPFD_CLOEXEC)");
  const int n = static_cast<int>(listeners.size());
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view v(*e);
    if (v.starts_with("LISTEN_") || v.starts_with("OKQ_UPGRADE_") ||
        v.starts_with("NOTIFY_SOCKET="))
      continue;
    env.emplace_back(v);
  }
  env.push_back("LISTEN_FDS=" + std::to_string(n));
  env.push_back("LISTEN_FDNAMES=" + names);
  env.push_back("OKQ_UPGRADE_FD=" + std::to_string(kFirstFd + n));
  env.push_back("OKQ_UPGRADE_FROM=" + std::to_string(::getpid()));
  const std::size_t pid_slot = env.size();
  env.push_back("LISTEN_PID=0000000000");  // the child's pid, written in after fork
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = program.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* pid_text = env[pid_slot].data() + std::strlen("LISTEN_PID=");

  pid_ = ::fork();
  if (pid_ < 0) throw_errno("fork");
  if (pid_ == 0) {
    // The child: listeners to 3, 4, ..., the pipe after them, then exec.
    long me = ::getpid();
    char digits[16];
    int len = 0;
    do digits[len++] = static_cast<char>('0' + me % 10);
    while ((me /= 10) > 0);
    for (int i = 0; i < len; ++i) pid_text[i] = digits[len - 1 - i];
    pid_text[len] = '\0';
    for (int i = 0; i <= n; ++i)
      if (::dup2(staged[static_cast<std::size_t>(i)].get(), kFirstFd + i) < 0) ::_exit(127);
    ::execve(program.path.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  if (const int rc = loop_.add(pipe_.get(), Interest{.read = true}, this); rc != 0)
    throw std::system_error(-rc, std::generic_category(), "cannot watch the upgrade pipe");
}

Upgrade::~Upgrade() {
  if (pipe_) loop_.remove(pipe_.get());
}

void Upgrade::on_ready(Ready) {
  char buf[64];
  const ssize_t n = ::read(pipe_.get(), buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) {
    said_.append(buf, static_cast<std::size_t>(n));
    if (said_.find(kReady) != std::string::npos) finish(true, "");
    return;
  }
  // EOF before READY: the new process has ended (or could not even start).
  loop_.remove(pipe_.get());
  pipe_.reset();
  reap();
}

void Upgrade::reap() {
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) return finish(false, "the new process " + exit_text(status));
  if (r < 0) return finish(false, std::string("the new process is gone: ") + std::strerror(errno));
  // It closed the pipe but has not ended yet: look again shortly.
  loop_.run_at(EventLoop::Clock::now() + std::chrono::milliseconds(10), [this] { reap(); });
}

void Upgrade::finish(bool ready, const std::string& why) {
  if (finished_) return;
  finished_ = true;
  if (pipe_) {
    loop_.remove(pipe_.get());
    pipe_.reset();
  }
  done_(ready, why);
}

Handover::Handover(Server& server, std::optional<PidFile>& pid, Logger& log, Program program)
    : server_(server), pid_(pid), log_(log), program_(std::move(program)) {}

void Handover::start() {
  if (upgrade_)
    return log_.log(Level::Info, "SIGUSR2: upgrade to process {} under way", upgrade_->pid());
  log_.log(Level::Info, "SIGUSR2: starting {} to take over", program_.path);
  if (pid_) pid_->unlock();  // the new process writes its pid into it
  try {
    upgrade_.emplace(server_.loop(), program_, server_.listener_fds(),
                     [this](bool ready, const std::string& why) {
                       server_.loop().defer([this] { upgrade_.reset(); });
                       if (!ready) return failed(why);
                       log_.log(Level::Info,
                                "upgrade: process {} serves now; finishing {} connections",
                                upgrade_->pid(), server_.connections());
                       pid_.reset();  // the new process holds the pid file now
                       server_.retire();
                     });
  } catch (const std::system_error& e) {
    failed(e.what());
  }
}

void Handover::failed(const std::string& why) {
  try {
    if (pid_) pid_->reclaim();
  } catch (const std::system_error& e) {
    log_.log(Level::Error, "{}", e.what());
  }
  log_.log(Level::Error, "upgrade failed: {}; still serving", why);
}

std::optional<UpgradeRole> upgrade_role_from_environment() {
  const auto fd = env_number("OKQ_UPGRADE_FD");
  const auto from = env_number("OKQ_UPGRADE_FROM");
  ::unsetenv("OKQ_UPGRADE_FD");
  ::unsetenv("OKQ_UPGRADE_FROM");
  if (!fd || !from || *fd > INT_MAX || ::fcntl(static_cast<int>(*fd), F_GETFD) < 0)
    return std::nullopt;
  ::fcntl(static_cast<int>(*fd), F_SETFD, FD_CLOEXEC);
  return UpgradeRole{net::Fd(static_cast<int>(*fd)), static_cast<pid_t>(*from)};
}

void announce_ready(UpgradeRole& role) noexcept {
  if (!role.pipe) return;
  [[maybe_unused]] const ssize_t n = ::write(role.pipe.get(), kReady.data(), kReady.size());
  role.pipe.reset();
}

}  // namespace okq::server
