// upgrade.cpp -- starting the new okq-server with the listeners, and the
// READY pipe between the two.
#include "okq/service/upgrade.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "okq/net/error.hpp"

#include "okq/server/environment.hpp"
#include "okq/version.hpp"

namespace okq::server {
namespace {

using net::throw_errno;

constexpr int kFirstFd = 3;      // where socket activation puts the first listener
constexpr int kStagingFd = 100;  // copies made before fork, out of the way of 3, 4, ...
// What the new process says on the pipe, a line each: "READY <name version>"
// once it serves, or "EXEC <errno>" when the binary could not be started.
constexpr std::string_view kReady = "READY ";
constexpr std::string_view kExecFailed = "EXEC ";

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return "was killed by " +
           (name ? "SIG" + std::string(name) : "signal " + std::to_string(WTERMSIG(status)));
  }
  return "ended";
}

// `value` (not negative) in decimal at `out`, NUL-terminated; its length.
// Async-signal-safe: the child writes its pid and an exec errno with it.
int write_decimal(long value, char* out) noexcept {
  char rev[24];
  int digits = 0;
  do rev[digits++] = static_cast<char>('0' + value % 10);
  while ((value /= 10) > 0);
  for (int i = 0; i < digits; ++i) out[i] = rev[digits - 1 - i];
  out[digits] = '\0';
  return digits;
}

// Between fork and exec: "EXEC <errno>\n" with nothing but write(2).
void say_exec_failed(int fd, int err) noexcept {
  char text[32] = "EXEC ";
  int len = 5 + write_decimal(err, text + 5);
  text[len++] = '\n';
  [[maybe_unused]] const ssize_t n = ::write(fd, text, static_cast<std::size_t>(len));
}

// The listeners (and last the pipe's write end) copied out of the way of
// 3, 4, ... before fork, with their names and which files go with them.
struct Staged {
  std::vector<net::Fd> fds;
  std::string names, owned;
};

Staged stage(const std::vector<PassedSocket>& listeners, int pipe_write_end) {
  Staged st;
  for (const auto& [fd, name, owns_file] : listeners) {
    st.names += (st.names.empty() ? "" : ":") + std::string(name);
    st.owned += std::string(st.owned.empty() ? "" : ":") + (owns_file ? "1" : "0");
    st.fds.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, kStagingFd));
    if (!st.fds.back()) throw_errno("fcntl(F_DUPFD_CLOEXEC)");
  }
  st.fds.emplace_back(::fcntl(pipe_write_end, F_DUPFD_CLOEXEC, kStagingFd));
  if (!st.fds.back()) throw_errno("fcntl(F_DUPFD_CLOEXEC)");
  return st;
}

// This process's environment for the new one, the sockets described as
// socket activation describes them; LISTEN_PID last, its value written in
// by the child after fork.
std::vector<std::string> child_environment(const Staged& st) {
  const int n = static_cast<int>(st.fds.size()) - 1;
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view v(*e);
    if (v.starts_with("LISTEN_") || v.starts_with("OKQ_UPGRADE_") ||
        v.starts_with("NOTIFY_SOCKET="))
      continue;
    env.emplace_back(v);
  }
  env.push_back("LISTEN_FDS=" + std::to_string(n));
  env.push_back("LISTEN_FDNAMES=" + st.names);
  env.push_back("OKQ_UPGRADE_FD=" + std::to_string(kFirstFd + n));
  env.push_back("OKQ_UPGRADE_FROM=" + std::to_string(::getpid()));
  // Which unix socket files go with their sockets: a service manager's stay its own.
  env.push_back("OKQ_UPGRADE_OWNED=" + st.owned);
  env.push_back("LISTEN_PID=0000000000");
  return env;
}

std::string current_dir() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof buf) ? std::string(buf) : std::string();
}

}  // namespace

std::string program_path(const std::string& argv0, const std::string& cwd,
                         const std::string& path) {
  if (argv0.empty()) return "";
  if (argv0.front() == '/') return argv0;
  if (argv0.find('/') != std::string::npos) return cwd.empty() ? "" : cwd + "/" + argv0;
  // A bare name was found on PATH by whoever started us: find it the same way.
  std::size_t at = 0;
  while (at <= path.size()) {
    const std::size_t colon = std::min(path.find(':', at), path.size());
    std::string dir = path.substr(at, colon - at);
    at = colon + 1;
    if (dir.empty()) dir = ".";
    std::string candidate = dir;
    candidate.append("/").append(argv0);
    if (candidate.front() != '/') candidate.insert(0, cwd + "/");
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

Program this_program(int argc, char** argv) {
  Program p;
  const char* env_path = std::getenv("PATH");
  p.path = argc > 0 ? program_path(argv[0], current_dir(), env_path ? env_path : "") : "";
  if (p.path.empty()) {  // started without a usable argv[0]: the binary itself
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) p.path.assign(buf, static_cast<std::size_t>(n));
  }
  p.argv.assign(argv, argv + argc);
  return p;
}

Upgrade::Upgrade(EventLoop& loop, const Program& program,
                 const std::vector<PassedSocket>& listeners,
                 std::chrono::milliseconds ready_timeout, OnDone done)
    : loop_(loop), done_(std::move(done)) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe2");
  pipe_.reset(ends[0]);
  net::Fd write_end(ends[1]);
  // Everything the child needs is made here: between fork and exec only
  // async-signal-safe calls (dup2, execve, write, _exit) are allowed.
  const Staged staged = stage(listeners, write_end.get());
  const int n = static_cast<int>(listeners.size());
  std::vector<std::string> env = child_environment(staged);
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = program.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* pid_text = env.back().data() + std::strlen("LISTEN_PID=");

  pid_ = ::fork();
  if (pid_ < 0) throw_errno("fork");
  if (pid_ == 0) {
    // The child: listeners to 3, 4, ..., the pipe after them, then exec.
    write_decimal(::getpid(), pid_text);
    for (int i = 0; i <= n; ++i)
      if (::dup2(staged.fds[static_cast<std::size_t>(i)].get(), kFirstFd + i) < 0) ::_exit(127);
    ::execve(program.path.c_str(), argv.data(), envp.data());
    say_exec_failed(kFirstFd + n, errno);
    ::_exit(127);
  }
  if (const int rc = loop_.add(pipe_.get(), Interest{.read = true}, this); rc != 0) {
    // No destructor runs for a constructor that throws: end the child here,
    // and leave no timer behind that would call back into this object.
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    throw std::system_error(-rc, std::generic_category(), "cannot watch the upgrade pipe");
  }
  const auto seconds = std::chrono::duration<double>(ready_timeout).count();
  ready_timer_ = loop_.run_at(EventLoop::Clock::now() + ready_timeout, [this, seconds] {
    ready_timer_ = 0;
    kill_child(fmt::format("no READY within {:g} s", seconds));
  });
}

Upgrade::~Upgrade() {
  if (ready_timer_) loop_.cancel(ready_timer_);
  if (reap_timer_) loop_.cancel(reap_timer_);
  if (pipe_) loop_.remove(pipe_.get());
  if (!finished_ && !reaped_) {
    // Never leave behind a process that holds the listeners and serves nobody.
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Upgrade::on_ready(Ready) {
  char buf[128];
  const ssize_t n = ::read(pipe_.get(), buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) {
    said_.append(buf, static_cast<std::size_t>(n));
    for (auto lf = said_.find('\n'); lf != std::string::npos && !finished_; lf = said_.find('\n')) {
      const std::string line = said_.substr(0, lf);
      said_.erase(0, lf + 1);
      heard(line);
    }
    if (said_.size() > 1024) said_.clear();  // not a line of ours: ignore it
    return;
  }
  // EOF before READY: the new process has ended (or could not even start).
  loop_.remove(pipe_.get());
  pipe_.reset();
  reap();
}

void Upgrade::heard(std::string_view line) {
  if (line.starts_with(kReady)) {
    version_ = std::string(line.substr(kReady.size()));
    return finish(true, "");
  }
  if (line.starts_with(kExecFailed)) {
    const int err = std::atoi(std::string(line.substr(kExecFailed.size())).c_str());
    exec_error_ = "cannot execute it: " + std::string(std::strerror(err));
  }
}

void Upgrade::kill_child(std::string why) {
  if (finished_) return;
  killed_for_ = std::move(why);
  ::kill(pid_, SIGKILL);
  if (pipe_) {
    loop_.remove(pipe_.get());
    pipe_.reset();
  }
  reap();
}

void Upgrade::abandon(const std::string& why) {
  if (finished_) return;
  // The stop may end the loop before a reaping timer would run: wait here
  // (after SIGKILL, a moment).
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  finish(false, why + " (process " + std::to_string(pid_) + " killed)");
}

void Upgrade::reap() {
  if (reap_timer_) loop_.cancel(reap_timer_);  // called early (the timeout): one look at a time
  reap_timer_ = 0;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) {  // it closed the pipe but has not ended yet: look again shortly
    reap_timer_ = loop_.run_at(EventLoop::Clock::now() + std::chrono::milliseconds(10), [this] {
      reap_timer_ = 0;
      reap();
    });
    return;
  }
  reaped_ = true;
  if (!exec_error_.empty()) return finish(false, exec_error_);
  if (!killed_for_.empty())
    return finish(false, killed_for_ + " (process " + std::to_string(pid_) + " killed)");
  if (r < 0) return finish(false, std::string("the new process is gone: ") + std::strerror(errno));
  finish(false, "the new process " + exit_text(status));
}

void Upgrade::finish(bool ready, const std::string& why) {
  if (finished_) return;
  finished_ = true;
  if (ready_timer_) loop_.cancel(ready_timer_);
  ready_timer_ = 0;
  if (pipe_) {
    loop_.remove(pipe_.get());
    pipe_.reset();
  }
  done_(ready, why);
}

Handover::Handover(Server& server, std::optional<PidFile>& pid, Logger& log, Program program,
                   std::chrono::milliseconds ready_timeout)
    : server_(server),
      pid_(pid),
      log_(log),
      program_(std::move(program)),
      ready_timeout_(ready_timeout) {}

void Handover::start() {
  // nginx: "the changing binary is already in progress". A second new
  // process would get no sockets worth serving and fight over the pid file.
  if (stopping_ || server_.stopping()) return log_.log(Level::Info, "SIGUSR2 ignored: stopping");
  if (handed_to_ != 0 || server_.retiring())
    return log_.log(Level::Info, "SIGUSR2 ignored: already handed over to process {}", handed_to_);
  if (upgrade_)
    return log_.log(Level::Info, "SIGUSR2 ignored: upgrade to process {} under way",
                    upgrade_->pid());
  log_.log(Level::Info, "SIGUSR2: starting {} to take over", program_.path);
  if (pid_) pid_->unlock();  // the new process writes its pid into it
  try {
    upgrade_.emplace(server_.loop(), program_, server_.listener_fds(), ready_timeout_,
                     [this](bool ready, const std::string& why) {
                       server_.loop().defer([this] { upgrade_.reset(); });
                       if (!ready) return failed(why);
                       handed_to_ = upgrade_->pid();
                       log_.log(Level::Info,
                                "upgrade: process {} ({}) serves now; finishing {} connections",
                                handed_to_, upgrade_->version(), server_.connections());
                       pid_.reset();  // the new process holds the pid file now
                       server_.retire();
                     });
  } catch (const std::system_error& e) {
    failed(e.what());
  }
}

void Handover::stop() {
  stopping_ = true;
  if (upgrade_) upgrade_->abandon("this process is stopping");
}

void Handover::failed(const std::string& why) {
  try {
    if (pid_) pid_->reclaim();
  } catch (const std::system_error& e) {
    log_.log(Level::Error, "{}", e.what());
  }
  log_.log(Level::Error, "upgrade failed: {}{}", why, stopping_ ? "" : "; still serving");
}

std::optional<UpgradeRole> upgrade_role_from_environment() {
  const auto fd = env_number("OKQ_UPGRADE_FD");
  const auto from = env_number("OKQ_UPGRADE_FROM");
  const char* owned_env = std::getenv("OKQ_UPGRADE_OWNED");
  const std::string owned_text = owned_env ? owned_env : "";
  ::unsetenv("OKQ_UPGRADE_FD");
  ::unsetenv("OKQ_UPGRADE_FROM");
  ::unsetenv("OKQ_UPGRADE_OWNED");
  if (!fd || !from || *fd > INT_MAX || ::fcntl(static_cast<int>(*fd), F_GETFD) < 0)
    return std::nullopt;
  ::fcntl(static_cast<int>(*fd), F_SETFD, FD_CLOEXEC);
  UpgradeRole role{net::Fd(static_cast<int>(*fd)), static_cast<pid_t>(*from), {}};
  for (std::size_t at = 0; at < owned_text.size(); at += 2)
    role.owned.push_back(owned_text[at] == '1');
  return role;
}

void announce_ready(UpgradeRole& role) noexcept {
  if (!role.pipe) return;
  const std::string line = std::string(kReady) + "okq-server " + kVersion + "\n";
  [[maybe_unused]] const ssize_t n = ::write(role.pipe.get(), line.data(), line.size());
  role.pipe.reset();
}

}  // namespace okq::server
