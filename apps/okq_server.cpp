// okq_server.cpp -- okq-server's start-up: the options (server_options.cpp)
// into a bound, backgrounded, serving server, each step with its exit code.
// Everything else lives in src/okq/server and src/okq/service.

#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <variant>

#include "cli_checks.hpp"
#include "okq/net/error.hpp"
#include "okq/server/server.hpp"
#include "okq/service/daemon.hpp"
#include "okq/service/manager_reports.hpp"
#include "okq/service/notifier.hpp"
#include "okq/service/privileges.hpp"
#include "okq/service/upgrade.hpp"
#include "okq/version.hpp"
#include "server_config.hpp"
#include "server_options.hpp"

namespace {

using namespace okq;
using server_cli::kExitUsage;
using server_cli::Options;

// Exit codes: the seed server's, plus sysexits for the rest.
constexpr int kExitSocket = 1;
constexpr int kExitBind = 2;
constexpr int kExitListen = 3;
constexpr int kExitNoUser = 67;       // EX_NOUSER: --user / --group unknown
constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: the --io backend is refused
constexpr int kExitOsError = 71;      // EX_OSERR: a worker cannot start
constexpr int kExitCantCreate = 73;   // EX_CANTCREAT: pid or log file
constexpr int kExitNoPerm = 77;       // EX_NOPERM: cannot switch to --user
constexpr int kExitConfig = 78;       // EX_CONFIG: the TLS certificate, key or CA will not load

int exit_code_for(net::Call call) {
  switch (call) {
    case net::Call::Socket:
      return kExitSocket;
    case net::Call::Listen:
      return kExitListen;
    case net::Call::Parse:
      return kExitUsage;
    default:
      return kExitBind;  // resolving and binding the address
  }
}

// Startup failures go to stderr as one plain line, and to the log file if any.
int fail(server::Logger& log, bool to_file, int code, const std::string& what) {
  std::fprintf(stderr, "okq-server: %s\n", what.c_str());
  if (to_file) log.log(server::Level::Error, "{}", what);
  return code;
}

// SIGHUP is `systemctl reload`'s "read the configuration again" (with
// --config), logrotate's "reopen your log" and the certificate rotation's
// "load them again"; with none of them it is logged and ignored. A reopen or
// reload that fails has said why itself.
void on_hangup(Options& current, server::Logger& log, server::Server& server,
               server::Handover& handover) {
  if (!current.config.empty())
    server_cli::reload(current, server, log, handover);  // the TLS files too
  else if (server.serves_tls())
    server.reload_tls();
  if (!log.has_file()) {
    if (!server.serves_tls() && current.config.empty())
      log.log(server::Level::Info, "Hangup: no log file to reopen; ignored");
  } else if (log.reopen()) {
    log.log(server::Level::Info, "Hangup: log file reopened");
  }
}

// One start-up step: whatever it throws is that step's failure, with the
// step's exit code and the reason on stderr (and in the log file). The code
// comes from the step, never from the type of what was thrown.
template <typename Fn>
int step(server::Logger& log, bool to_file, int code, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return fail(log, to_file, code, e.what());
  }
  return 0;
}

// --io asked for by name: refused is an error, not a fallback. 0 or the exit code.
int check_backend(const Options& o, server::Logger& log, bool to_file) {
  if (o.server.io == "auto") return 0;
  return step(log, to_file, kExitUnavailable, [&] {
    try {
      server::make_poller(o.server.io);
    } catch (const std::system_error& e) {
      throw std::runtime_error("--io " + o.server.io + ": " + e.what());
    }
  });
}

// --user / --group, after binding: the pid file and a log file this start
// created go to the user first. 0 or the exit code.
int drop_privileges(const Options& o, std::optional<server::PidFile>& pid, server::Logger& log,
                    bool to_file) {
  if (o.user.empty()) return 0;
  std::optional<server::Identity> who;
  if (const int code =
          step(log, to_file, kExitNoUser, [&] { who = server::lookup_identity(o.user, o.group); }))
    return code;
  if (const int code = step(log, to_file, kExitCantCreate, [&] {
        if (pid) pid->give_to(who->uid, who->gid);
        log.give_to(who->uid, who->gid, o.user);
      }))
    return code;
  return step(log, to_file, kExitNoPerm, [&] { server::switch_to(*who); });
}

// SIGHUP reads the TLS files again as whoever the process is then: said at
// start if that user cannot.
void check_tls_reload(const Options& o, const server::Server& server, server::Logger& log) {
  if (o.user.empty() || !server.serves_tls()) return;
  try {
    tls::Context::server(o.server.tls);
  } catch (const tls::Error& e) {
    log.log(server::Level::Error,
            "as user {} the TLS files cannot be read again ({}): SIGHUP will not reload them "
            "until {} can read them",
            o.user, e.what(), o.user);
  }
}

// The server, its loops made and its listeners bound (or taken over from
// the process an upgrade replaces, `role`). 0 or the exit code.
int bind_server(const Options& o, const std::optional<server::UpgradeRole>& role,
                server::Logger& log, bool to_file, std::unique_ptr<server::Server>& made) {
  server::ServerOptions options = o.server;
  options.inherited_only = role.has_value();
  if (role) options.owned_files = role->owned;
  if (const int code = step(log, to_file, kExitOsError, [&] {
        try {
          made = std::make_unique<server::Server>(options, log);
        } catch (const std::system_error& e) {  // a worker's loop: out of descriptors, say
          throw std::runtime_error(std::string("cannot make the event loops: ") + e.what());
        }
      }))
    return code;
  try {
    made->bind();
  } catch (const net::Error& e) {  // the step is the call that failed
    return fail(log, to_file, exit_code_for(e.call()), e.what());
  } catch (const tls::Error& e) {  // --upstream-tls: its CA or client certificate
    return fail(log, to_file, kExitConfig, e.what());
  }
  if (const int code = step(log, to_file, kExitConfig, [&] { made->load_tls(); })) return code;
  return step(log, to_file, kExitUsage, [&] { made->refuse_relaying_to_itself(); });
}

// Settings that work, but not as the operator may think.
void warn_about_limits(const Options& o, server::Logger& log) {
  if (const auto cpus = server::default_threads(); o.server.threads > cpus)
    log.log(server::Level::Info,
            "--threads {} is more than the {} CPUs this process may use: the extra workers "
            "only take turns on them (and each costs its loop's memory, about 0.4 MB)",
            o.server.threads, cpus);
  if (o.server.upstream && 2 * o.server.max_connections > o.fd_limit)
    log.log(server::Level::Error,
            "--max-connections {} with --upstream needs {} descriptors (two a client), more "
            "than the limit of {}: the last clients will get 'ERR upstream unavailable'",
            o.server.max_connections, 2 * o.server.max_connections, o.fd_limit);
}

// Bind, background, serve; start-up failures become exit codes.
int serve(const Options& o, server::Logger& log) {
  const bool to_file = !o.logfile.empty();
  server::ignore_sigpipe();
  // Before binding: a signal that comes during start-up waits for the loop.
  server::block_signals({SIGTERM, SIGINT, SIGHUP, SIGUSR2});
  // Started by an upgrade: serve the old process's sockets, take its pid file.
  auto role = server::upgrade_role_from_environment();
  if (const int code = check_backend(o, log, to_file); code != 0) return code;
  std::unique_ptr<server::Server> made;
  if (const int code = bind_server(o, role, log, to_file, made); code != 0) return code;
  server::Server& server = *made;
  // Under a service manager (Type=notify) okq is a foreground service.
  const auto notifier = server::Notifier::from_environment();
  server::Daemon daemon;
  if (!o.foreground && !notifier && !role) daemon.detach();
  std::optional<server::PidFile> pid;
  if (const int code = step(log, to_file, kExitCantCreate, [&] {
        if (!o.pidfile.empty()) pid.emplace(o.pidfile, role ? role->from : 0);
        if (pid) pid->set_log(&log);
      }))
    return code;
  if (const int code = drop_privileges(o, pid, log, to_file); code != 0) return code;
  check_tls_reload(o, server, log);
  // Before announcing: a worker that cannot start fails start-up.
  if (const int code = step(log, to_file, kExitOsError, [&] { server.start_workers(); }))
    return code;
  server::Handover handover(server, pid, log, o.program, o.upgrade_timeout);
  Options current = o;  // what the next reload is compared with
  server::SignalWatcher signals(server.loop(), {SIGTERM, SIGINT, SIGHUP, SIGUSR2}, [&](int sig) {
    if (sig == SIGHUP) return on_hangup(current, log, server, handover);
    if (sig == SIGUSR2 && notifier)
      return log.log(server::Level::Error,
                     "SIGUSR2 ignored: under a service manager, restart the service instead");
    if (sig == SIGUSR2) return handover.start();
    log.log(server::Level::Info, "{}: stopping", strsignal(sig));
    if (notifier) notifier->send("STOPPING=1");
    handover.stop();  // a new process not yet READY must not keep the listeners
    server.stop();
  });
  server.announce();  // start-up can no longer fail
  warn_about_limits(o, log);
  daemon.ready(/*release_stderr=*/to_file);
  std::optional<server::ManagerReports> reports;
  if (notifier) reports.emplace(*notifier, server);
  server.run([&] {
    if (reports) reports->start();
    if (role) server::announce_ready(*role);
  });
  log.log(server::Level::Info, "stopped");
  return 0;
}

int run(const Options& o) {
  if (o.check_config) return server_cli::check_config(o);
  server::Logger log("okq-server");
  log.set_level(o.level);
  const bool to_file = !o.logfile.empty();
  if (to_file)
    if (const int code = step(log, false, kExitCantCreate, [&] { log.open_file(o.logfile); }))
      return code;
  try {
    return serve(o, log);
  } catch (const std::exception& e) {  // e.g. no descriptor left for the event loop
    return fail(log, to_file, cli::kExitSoftware, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  return cli::main_of<Options>("okq-server", argc, argv, server_cli::parse_options, run);
}
