// daemon.hpp -- process plumbing for okq-server: backgrounding like the seed's
// daemon(1, 1) (cwd and stdio kept) but with the parent exiting only once the
// child says it is ready, a pid file, and signals delivered through the loop.
#pragma once

#include <csignal>
#include <functional>
#include <initializer_list>
#include <string>

#include "okq/event/event_loop.hpp"
#include "okq/log/log.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {

// Forks into the background. The parent never returns: it waits for the
// child's ready() and exits 0, or exits with the child's status if it died
// first. The child starts a new session and returns.
class Daemon {
 public:
  void detach();  // throws std::system_error
  // Child: release the waiting parent, then let go of the caller's terminal or
  // pipes (stdin and stdout to /dev/null, stderr too with `release_stderr`),
  // so `out=$(okq-server ...)` returns. Nothing happens in the foreground.
  void ready(bool release_stderr);

 private:
  net::Fd to_parent_;
};

// A pid file as daemons keep them: locked (flock) for as long as this process
// lives, so a second instance is refused while the first runs. It refuses a
// file that is locked, that names another live process, or that holds
// anything but a pid (a mistyped path to some other file is never
// truncated), and removes the file on exit only if it is still the one this
// process wrote and still holds its pid.
class PidFile {
 public:
  // Throws std::runtime_error (std::system_error when a call failed). A
  // file naming `replacing` (the process an upgrade replaces) is taken over
  // even though that process still runs.
  explicit PidFile(std::string path, pid_t replacing = 0);
  ~PidFile();
  // An upgrade: let the new process take the lock (and write its pid) ...
  void unlock() noexcept;
  // ... or, if it failed, take the file back. Throws std::system_error.
  void reclaim();
  // Before dropping privileges: the file is given to the new owner, so that
  // process can still remove it (from a directory it may write, or /tmp).
  void give_to(uid_t uid, gid_t gid) noexcept;
  // Where to say that the file could not be removed at exit (may be null).
  void set_log(Logger* log) noexcept { log_ = log; }
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

 private:
  void write_own_pid();

  std::string path_;
  net::Fd fd_;  // holds the lock
  Logger* log_ = nullptr;
};

// Blocks `signals` so that they wait, pending, for a SignalWatcher. Call it
// before announcing readiness: a SIGTERM that comes early is then a graceful
// stop, not a kill.
void block_signals(std::initializer_list<int> signals);

// Delivers `signals` through a signalfd in `loop` (blocking them first), so
// handlers run as ordinary loop callbacks, free of async-signal rules.
class SignalWatcher final : public EventHandler {
 public:
  SignalWatcher(EventLoop& loop, std::initializer_list<int> signals,
                std::function<void(int)> on_signal);
  ~SignalWatcher();
  void on_ready(Ready ready) override;

 private:
  EventLoop& loop_;
  net::Fd fd_;
  std::function<void(int)> on_signal_;
};

// Ignores SIGPIPE process-wide: a peer that vanished must cost one connection,
// never the process (sends also pass MSG_NOSIGNAL).
void ignore_sigpipe() noexcept;

}  // namespace okq::server
