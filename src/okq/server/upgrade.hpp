// upgrade.hpp -- replacing a running okq-server with the binary now at its
// path, without refusing a connection (nginx's SIGUSR2). The old process
// starts the new one with its listening sockets, passed the way a service
// manager passes them (LISTEN_PID, LISTEN_FDS), and one end of a pipe
// (OKQ_UPGRADE_FD); the new one serves those sockets, takes over the pid
// file and writes READY to the pipe; the old one then stops accepting and
// finishes its connections. A new process that ends before READY leaves the
// old one serving. Upgrade owns the pipe and knows the new process; it owns
// neither the listeners nor the pid file.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "okq/net/fd.hpp"
#include "okq/server/activation.hpp"
#include "okq/server/daemon.hpp"
#include "okq/server/event_loop.hpp"
#include "okq/server/log.hpp"
#include "okq/server/server.hpp"

namespace okq::server {

// The program as it was started: the path of its binary (read at start-up,
// before anything can replace it) and its arguments.
struct Program {
  std::string path;
  std::vector<std::string> argv;
};
Program this_program(int argc, char** argv);

class Upgrade final : public EventHandler {
 public:
  // ready: the new process serves. Else `why` says what went wrong.
  using OnDone = std::function<void(bool ready, const std::string& why)>;

  // Starts `program` again with `listeners` passed; `done` runs on `loop`
  // once the new process is ready or has failed. Throws std::system_error.
  Upgrade(EventLoop& loop, const Program& program, const std::vector<PassedSocket>& listeners,
          OnDone done);
  ~Upgrade();
  Upgrade(const Upgrade&) = delete;
  Upgrade& operator=(const Upgrade&) = delete;

  pid_t pid() const noexcept { return pid_; }
  void on_ready(Ready ready) override;

 private:
  void finish(bool ready, const std::string& why);
  void reap();

  EventLoop& loop_;
  OnDone done_;
  net::Fd pipe_;  // read end: READY, or EOF when the new process ends first
  pid_t pid_ = -1;
  std::string said_;
  bool finished_ = false;
};

// The old process's side, for SIGUSR2: starts an upgrade unless one is under
// way; once the new process serves, gives it the pid file and retires the
// server; if it fails, takes the pid file back and keeps serving. It owns the
// upgrade in progress, not the server or the pid file.
class Handover {
 public:
  Handover(Server& server, std::optional<PidFile>& pid, Logger& log, Program program);
  void start();

 private:
  void failed(const std::string& why);

  Server& server_;
  std::optional<PidFile>& pid_;
  Logger& log_;
  Program program_;
  std::optional<Upgrade> upgrade_;
};

// In the new process: the upgrade it is part of, from OKQ_UPGRADE_FD and
// OKQ_UPGRADE_FROM (both removed from the environment); nullopt when it
// was started some other way.
struct UpgradeRole {
  net::Fd pipe;    // write end
  pid_t from = 0;  // the process being replaced
};
std::optional<UpgradeRole> upgrade_role_from_environment();

// The new process serves: tells the old one so, once.
void announce_ready(UpgradeRole& role) noexcept;

}  // namespace okq::server
