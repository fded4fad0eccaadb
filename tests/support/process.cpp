// process.cpp -- spawning and watching a child program.
#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <stdexcept>

extern char** environ;

namespace okq::test {
namespace {

// A child that dies while the test writes to its stdin must fail the test,
// not kill the test binary with SIGPIPE.
[[maybe_unused]] const bool sigpipe_ignored = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();

std::pair<net::Fd, net::Fd> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  return {net::Fd(fds[0]), net::Fd(fds[1])};
}

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string sanitizer_report(const std::string& output) {
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", ": runtime error: ",
                             "WARNING: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer"}) {
    const auto at = output.find(marker);
    if (at == std::string::npos) continue;
    const auto line = output.rfind('\n', at);
    return output.substr(line == std::string::npos ? 0 : line + 1, 2000);
  }
  return "";
}

Process::Process(const std::vector<std::string>& argv) : name_(argv.at(0)) {
  auto [in_r, in_w] = make_pipe();
  auto [out_r, out_w] = make_pipe();
  auto [err_r, err_w] = make_pipe();
  auto [wake_r, wake_w] = make_pipe();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot spawn " + argv[0]);
  stdin_ = std::move(in_w);
  stdout_ = std::move(out_r);
  stderr_ = std::move(err_r);
  wake_read_ = std::move(wake_r);
  wake_write_ = std::move(wake_w);
  reader_ = std::thread([this] { drain(); });
}

Process::~Process() {
  if (!status_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait(5s, false);
  }
  wake_write_.reset();  // EOF on the wake pipe stops the reader
  reader_.join();
  const std::string report = sanitizer_report(err_);
  if (!report.empty()) ADD_FAILURE() << "sanitizer report from " << name_ << ":\n" << report;
}

void Process::drain() {
  // Reads both pipes until both hit EOF or the owner says stop; a daemon
  // grandchild may hold them open long after our child is gone.
  bool out_open = true, err_open = true;
  char buf[4096];
  while (out_open || err_open) {
    pollfd fds[3] = {{out_open ? stdout_.get() : -1, POLLIN, 0},
                     {err_open ? stderr_.get() : -1, POLLIN, 0},
                     {wake_read_.get(), POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) continue;
    if (fds[2].revents) return;
    for (int i = 0; i < 2; ++i) {
      if (!fds[i].revents) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      std::lock_guard lock(mu_);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        pipes_closed_ = !out_open && !err_open;
      } else {
        (i == 0 ? out_ : err_).append(buf, static_cast<std::size_t>(n));
      }
      cv_.notify_all();
    }
  }
}

void Process::write_stdin(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(stdin_.get(), bytes.data(), bytes.size());
    if (n <= 0) throw std::runtime_error("write to child stdin failed");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void Process::close_stdin() {
  stdin_.reset();
}

void Process::signal(int sig) {
  if (!status_) ::kill(pid_, sig);
}

bool Process::wait_for(const std::string& stream, std::string_view needle,
                       std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return stream.find(needle) != std::string::npos; });
}

bool Process::wait_stdout(std::string_view needle, std::chrono::milliseconds timeout) {
  return wait_for(out_, needle, timeout);
}

bool Process::wait_stderr(std::string_view needle, std::chrono::milliseconds timeout) {
  return wait_for(err_, needle, timeout);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout, bool collect_output) {
  if (!status_) status_ = wait_pid(pid_, timeout);
  if (status_ && collect_output) {
    // Output is complete once both pipes reach EOF (at once, unless a
    // backgrounded grandchild still holds them).
    wait_output_closed(5s);
  }
  return status_;
}

bool Process::wait_output_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pipes_closed_; });
}

std::string Process::out() const {
  std::lock_guard lock(mu_);
  return out_;
}

std::string Process::err() const {
  std::lock_guard lock(mu_);
  return err_;
}

void become_subreaper() {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
}

std::optional<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode(status);
    if (r < 0) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace okq::test
