// upgrade.hpp -- replacing a running okq-server with the binary now at its
// path, without refusing a connection (nginx's SIGUSR2). The old process
// starts the new one with its listening sockets, passed the way a service
// manager passes them (LISTEN_PID, LISTEN_FDS), and one end of a pipe
// (OKQ_UPGRADE_FD); the new one serves those sockets, takes over the pid
// file and writes READY to the pipe; the old one then stops accepting and
// finishes its connections. A new process that ends before READY, or does
// not say it within the ready timeout (it is killed then), leaves the old one
// serving. Upgrade owns the pipe and the new process until READY; it owns
// neither the listeners nor the pid file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "okq/event/event_loop.hpp"
#include "okq/log/log.hpp"
#include "okq/net/fd.hpp"
#include "okq/server/activation.hpp"
#include "okq/server/server.hpp"
#include "okq/service/daemon.hpp"

namespace okq::server {

// The program as it was started: the path it was started by (argv[0] made
// absolute against the cwd and PATH of the start, as nginx does, so that an
// upgrade through a symlink runs what the link names now) and its arguments.
struct Program {
  std::string path;
  std::vector<std::string> argv;
};
Program this_program(int argc, char** argv);
// argv0 as a path to execute: absolute as is; with a '/' against `cwd`;
// else the first executable of that name in `path` (PATH). "" when none.
std::string program_path(const std::string& argv0, const std::string& cwd, const std::string& path);

class Upgrade final : public EventHandler {
 public:
  // ready: the new process serves. Else `why` says what went wrong.
  using OnDone = std::function<void(bool ready, const std::string& why)>;

  // Starts `program` again with `listeners` passed; `done` runs on `loop`
  // once the new process is ready or has failed (it has `ready_timeout` to
  // say READY, or is killed). Throws std::system_error.
  Upgrade(EventLoop& loop, const Program& program, const std::vector<PassedSocket>& listeners,
          std::chrono::milliseconds ready_timeout, OnDone done);
  // A new process that has not said READY is killed and reaped.
  ~Upgrade();
  Upgrade(const Upgrade&) = delete;
  Upgrade& operator=(const Upgrade&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // What the new process said it is ("okq-server 0.1.0"), once READY.
  const std::string& version() const noexcept { return version_; }
  // Ends a new process that has not said READY (the old one is stopping):
  // `done` follows with `why`.
  void abandon(const std::string& why);
  void on_ready(Ready ready) override;

 private:
  void heard(std::string_view line);
  void kill_child(std::string why);
  void finish(bool ready, const std::string& why);
  void reap();

  EventLoop& loop_;
  OnDone done_;
  net::Fd pipe_;  // read end: READY, or EOF when the new process ends first
  pid_t pid_ = -1;
  std::string said_;
  std::string version_;
  std::string killed_for_;  // why the new process was killed, if it was
  std::string exec_error_;  // why its binary could not be started, if so
  EventLoop::TimerId ready_timer_ = 0, reap_timer_ = 0;
  bool finished_ = false;
  bool reaped_ = false;
};

// The old process's side, for SIGUSR2: starts an upgrade unless one is under
// way; once the new process serves, gives it the pid file and retires the
// server; if it fails, takes the pid file back and keeps serving. It owns the
// upgrade in progress, not the server or the pid file.
class Handover {
 public:
  Handover(Server& server, std::optional<PidFile>& pid, Logger& log, Program program,
           std::chrono::milliseconds ready_timeout);
  // SIGUSR2. Ignored, with a log line, while an upgrade is under way, once
  // this process has handed over, or once it is stopping.
  void start();
  // The server is stopping: a new process that has not said READY is ended
  // (it would otherwise hold the listeners with nobody accepting).
  void stop();
  // For the upgrades started from now on (a reload's --upgrade-timeout).
  void set_ready_timeout(std::chrono::milliseconds timeout) noexcept { ready_timeout_ = timeout; }

 private:
  void failed(const std::string& why);

  Server& server_;
  std::optional<PidFile>& pid_;
  Logger& log_;
  Program program_;
  std::chrono::milliseconds ready_timeout_;
  std::optional<Upgrade> upgrade_;
  pid_t handed_to_ = 0;  // the process that serves now, once READY
  bool stopping_ = false;
};

// In the new process: the upgrade it is part of, from OKQ_UPGRADE_FD and
// OKQ_UPGRADE_FROM (both removed from the environment); nullopt when it
// was started some other way.
struct UpgradeRole {
  net::Fd pipe;             // write end
  pid_t from = 0;           // the process being replaced
  std::vector<bool> owned;  // per passed socket: its unix socket file is ours now
};
std::optional<UpgradeRole> upgrade_role_from_environment();

// The new process serves: tells the old one so, once.
void announce_ready(UpgradeRole& role) noexcept;

}  // namespace okq::server
