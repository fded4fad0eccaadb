// okq_server.cpp -- okq-server's command line: parse flags into options, then
// bind, background, serve. Everything else lives in src/okq/server.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <climits>
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

namespace {

using namespace okq;

// Exit codes: the seed server's, plus sysexits for the rest.
// The relay's default --max-connections at most (the descriptor limit may allow more).
constexpr std::size_t kMaxRelayDefault = 4096;

constexpr int kExitSocket = 1;
constexpr int kExitBind = 2;
constexpr int kExitListen = 3;
constexpr int kExitUsage = 64;        // EX_USAGE
constexpr int kExitNoUser = 67;       // EX_NOUSER: --user / --group unknown
constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: the --io backend is refused
constexpr int kExitOsError = 71;      // EX_OSERR: a worker cannot start
constexpr int kExitCantCreate = 73;   // EX_CANTCREAT: pid or log file
constexpr int kExitNoPerm = 77;       // EX_NOPERM: cannot switch to --user
constexpr int kExitConfig = 78;       // EX_CONFIG: the TLS certificate, key or CA will not load

struct Options {
  server::ServerOptions server;
  bool foreground = false;
  server::Level level = server::Level::Info;
  std::string pidfile, logfile;
  std::string user, group;                           // drop to these after binding
  server::Program program;                           // started again by an upgrade (SIGUSR2)
  std::chrono::milliseconds upgrade_timeout{10000};  // for the new process's READY
  std::size_t fd_limit = 0;                          // RLIMIT_NOFILE, raised
  tls::Settings upstream_tls;                        // --upstream-ca, -cert, -key
};

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

// --proxy-from, repeatable: the blocks given replace the default ones.
CLI::Option* add_cidrs(CLI::App& app, const std::string& name, std::vector<net::Cidr>& into,
                       const std::string& help) {
  return app
      .add_option_function<std::vector<std::string>>(
          name,
          [&into, name](const std::vector<std::string>& texts) {
            into.clear();
            for (const auto& text : texts) {
              try {
                into.push_back(net::Cidr::parse(text));
              } catch (const net::Error& e) {
                throw CLI::ValidationError(name, e.what());
              }
            }
          },
          help)
      ->type_name("CIDR");
}

// Each group of options, as --help shows it.
void add_listeners(CLI::App& app, Options& o) {
  auto& s = o.server;
  const char* g = "Listeners";
  cli::add_endpoints(app, "-l,--listen", s.listen, "0.0.0.0",
                     "Address to listen on, repeatable: HOST:PORT, [V6]:PORT, :PORT, PORT, "
                     "unix:PATH (default: the sockets a service manager passed, else "
                     "0.0.0.0:4242; none when only --proxy-listen or a TLS listener is given)")
      ->group(g);
  app.add_option("--backlog", s.backlog, "Pending-connection queue length")
      ->check(cli::count(1, INT_MAX))
      ->capture_default_str()
      ->group(g);
  app.add_option_function<std::string>(
         "--unix-mode", [&s](const std::string& text) { s.unix_mode = cli::parse_octal(text); },
         "Permissions of unix socket files, octal (default: from the umask)")
      ->type_name("MODE")
      ->check(cli::octal_mode())
      ->group(g);
  cli::add_endpoint(app, "--metrics", s.metrics, "127.0.0.1",
                    "Serve Prometheus metrics on GET /metrics at ADDR (HOST:PORT; a bare PORT "
                    "is on 127.0.0.1)")
      ->group(g);
}

void add_protocol_and_limits(CLI::App& app, Options& o) {
  auto& s = o.server;
  const char* g = "Protocol and limits";
  app.add_option("--max-line", s.codec.max_line, "Longest message in bytes")
      ->check(cli::count(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str()
      ->group(g);
  app.add_flag("--classic", s.codec.classic, "The seed's fixed-size framing, byte-exact")->group(g);
  app.add_option("--classic-size", s.codec.classic_size, "Bytes per classic message")
      ->check(cli::count(std::size_t{1}, std::size_t{65536}))
      ->capture_default_str()
      ->group(g);
  app.add_option("--max-connections", s.max_connections,
                 "Clients served at once; more get 'ERR too many connections' (default: from "
                 "the descriptor limit; with --upstream half of it, 4096 at most)")
      ->check(cli::count(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str()
      ->group(g);
  cli::add_duration(
      app, "--idle-timeout", s.idle_timeout, 0.0, 31536000.0,
      "Seconds a client may go without completing a message or taking a reply (0: never)")
      ->group(g);
  app.add_option("--max-output", s.max_output,
                 "Reply bytes owed to a client before reading from it pauses")
      ->check(cli::count(std::size_t{1}, std::size_t{1} << 34))
      ->capture_default_str()
      ->group(g);
}

void add_proxy_protocol(CLI::App& app, Options& o) {
  auto& s = o.server;
  const char* g = "PROXY protocol (a load balancer in front)";
  cli::add_endpoints(app, "--proxy-listen", s.proxy_listen, "0.0.0.0",
                     "Address to listen on whose clients send a PROXY protocol v1 or v2 header "
                     "first, repeatable")
      ->group(g);
  add_cidrs(app, "--proxy-from", s.proxy_from,
            "Who may connect to a --proxy-listen address: an address or CIDR block, "
            "repeatable (default: 127.0.0.0/8 and ::1)")
      ->group(g);
  cli::add_duration(app, "--proxy-timeout", s.proxy_timeout, 0.001, 3600.0,
                    "Seconds a --proxy-listen client has to send its whole PROXY header")
      ->group(g);
}

void add_tls(CLI::App& app, Options& o) {
  auto& s = o.server;
  const char* g = "TLS";
  cli::add_endpoints(app, "--tls-listen", s.tls_listen, "0.0.0.0",
                     "Address to listen on whose clients speak TLS, repeatable")
      ->group(g)
      ->excludes("--classic");
  cli::add_endpoints(app, "--proxy-tls-listen", s.proxy_tls_listen, "0.0.0.0",
                     "Address to listen on whose clients send a PROXY header, then speak TLS "
                     "(HAProxy's send-proxy-v2 ssl), repeatable")
      ->group(g)
      ->excludes("--classic");
  app.add_option("--tls-cert", s.tls.cert,
                 "The server's certificate, PEM, then its chain (read again on SIGHUP)")
      ->type_name("FILE")
      ->group(g);
  app.add_option("--tls-key", s.tls.key, "The certificate's private key, PEM")
      ->type_name("FILE")
      ->group(g);
  app.add_option("--tls-ca", s.tls.ca, "CA certificates (PEM) client certificates must verify to")
      ->type_name("FILE")
      ->group(g);
  app.add_option_function<std::string>(
         "--tls-verify-client",
         [&s](const std::string& t) { s.tls.verify_client = tls::parse_verify_client(t); },
         "Client certificates: none | optional (checked if given) | required (default: none)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"none", "optional", "required"}))
      ->group(g);
  app.add_option_function<std::string>(
         "--tls-min-version",
         [&s](const std::string& t) { s.tls.min_version = tls::parse_min_version(t); },
         "Oldest TLS version accepted: 1.2 | 1.3 (default: 1.2)")
      ->type_name("VERSION")
      ->check(CLI::IsMember({"1.2", "1.3"}))
      ->group(g);
  cli::add_duration(app, "--tls-handshake-timeout", s.tls_handshake_timeout, 0.001, 3600.0,
                    "Seconds a TLS client has to finish its handshake")
      ->group(g);
  app.add_flag("--tls-ktls", s.tls.ktls,
               "Kernel TLS after the handshake where the kernel has it (else said once, and "
               "TLS stays in okq)")
      ->group(g);
}

void add_relay(CLI::App& app, Options& o) {
  auto& s = o.server;
  const char* g = "Relay (a server that is a client of another server)";
  cli::add_endpoint(app, "--upstream", s.upstream, "127.0.0.1",
                    "Relay every message to the okq server at ADDR and its replies back, "
                    "instead of answering (one upstream connection per client)")
      ->group(g)
      ->excludes("--classic");
  cli::add_duration(app, "--upstream-timeout", s.upstream_timeout, 0.001, 3600.0,
                    "Seconds the upstream may take to connect (its TLS handshake included) or "
                    "to send a reply it owes before the client gets 'ERR upstream unavailable'")
      ->group(g);
  auto* on = app.add_flag_callback(
                    "--upstream-tls", [&s] { s.upstream_tls.emplace(); },
                    "Speak TLS to the upstream, checking its certificate")
                 ->group(g);
  // Filled in after parsing: the flags below may come before --upstream-tls.
  app.add_option("--upstream-ca", o.upstream_tls.ca,
                 "CA certificates (PEM) the upstream's must verify to (default: the system's)")
      ->type_name("FILE")
      ->needs(on)
      ->group(g);
  app.add_option("--upstream-server-name", s.upstream_server_name,
                 "The name sent (SNI) and checked in the upstream's certificate (default: the "
                 "--upstream host)")
      ->type_name("NAME")
      ->needs(on)
      ->group(g);
  app.add_option("--upstream-cert", o.upstream_tls.cert,
                 "A client certificate to present to the upstream, PEM")
      ->type_name("FILE")
      ->needs(on)
      ->group(g);
  app.add_option("--upstream-key", o.upstream_tls.key, "Its private key, PEM")
      ->type_name("FILE")
      ->needs(on)
      ->group(g);
}

void add_process(CLI::App& app, Options& o) {
  auto& s = o.server;
  const char* g = "Process";
  app.add_flag("-f,--foreground", o.foreground, "Stay in the foreground (default: background)")
      ->group(g);
  app.add_flag("--once", s.once, "Serve one connection, then exit")->group(g);
  app.add_option("--pidfile", o.pidfile, "Write the pid to PATH (locked); removed on exit")
      ->type_name("PATH")
      ->group(g);
  app.add_option("--threads", s.threads,
                 "Worker threads, each with its own event loop (default: the CPUs this process "
                 "may use)")
      ->check(cli::count(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str()
      ->group(g);
  app.add_option("--io", s.io,
                 "I/O backend: auto (io_uring where the kernel allows it, else epoll) | epoll | "
                 "io_uring")
      ->check(CLI::IsMember({"auto", "epoll", "io_uring"}))
      ->capture_default_str()
      ->group(g);
  auto* user = app.add_option("--user", o.user, "After binding, run as this user (and its group)")
                   ->type_name("NAME")
                   ->group(g);
  app.add_option("--group", o.group, "With --user: run with this group instead")
      ->type_name("NAME")
      ->needs(user)
      ->group(g);
  cli::add_duration(app, "--shutdown-timeout", s.shutdown_timeout, 0.0, 86400.0,
                    "Seconds to finish owed replies after SIGTERM/SIGINT")
      ->group(g);
  cli::add_duration(app, "--upgrade-timeout", o.upgrade_timeout, 0.001, 3600.0,
                    "Seconds the new process of an upgrade (SIGUSR2) has to say it serves "
                    "before it is killed and this one goes on serving")
      ->group(g);
}

void add_logging(CLI::App& app, Options& o, bool& verbose, bool& trace) {
  const char* g = "Logging";
  app.add_flag("-v,--verbose", verbose, "Log every connection")->group(g);
  app.add_flag("--trace", trace, "Log every message too (implies --verbose)")->group(g);
  app.add_option("--log-file", o.logfile, "Log to PATH instead of stderr; SIGHUP reopens it")
      ->type_name("PATH")
      ->group(g);
}

// The command line into Options, or the exit code when there is nothing to run.
std::variant<Options, int> parse_options(int argc, char** argv) {
  Options o;
  o.program = server::this_program(argc, argv);
  auto& s = o.server;
  // Before the defaults are computed: many clients need many descriptors.
  o.fd_limit = net::raise_fd_limit();
  s.max_connections = server::default_max_connections(o.fd_limit);
  s.threads = server::default_threads();
  bool verbose = false, trace = false;

  CLI::App app{"okq-server: answers OK to every line; echoes a line starting with Q, then closes.",
               "okq-server"};
  app.set_version_flag("--version", std::string("okq-server ") + kVersion);
  add_listeners(app, o);
  add_protocol_and_limits(app, o);
  add_proxy_protocol(app, o);
  add_tls(app, o);
  add_relay(app, o);
  add_process(app, o);
  add_logging(app, o, verbose, trace);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  // Each client of a relay holds two descriptors (its own and its
  // upstream's): the default leaves room for both, and is bounded so that
  // relays that loop through each other fill up and answer ERR within moments.
  if (s.upstream && app.count("--max-connections") == 0)
    s.max_connections = std::clamp<std::size_t>(s.max_connections / 2, 1, kMaxRelayDefault);
  if (s.upstream_tls) *s.upstream_tls = o.upstream_tls;
  o.level = trace ? server::Level::Trace : verbose ? server::Level::Verbose : server::Level::Info;
  return o;
}

// SIGHUP is logrotate's "reopen your log" and the certificate rotation's
// "load them again"; with neither a log file nor TLS it is logged and
// ignored. A reopen or reload that fails has said why itself.
void on_hangup(server::Logger& log, server::Server& server) {
  if (server.serves_tls()) server.reload_tls();
  if (!log.has_file()) {
    if (!server.serves_tls())
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
  server::SignalWatcher signals(server.loop(), {SIGTERM, SIGINT, SIGHUP, SIGUSR2}, [&](int sig) {
    if (sig == SIGHUP) return on_hangup(log, server);
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
  return cli::main_of<Options>("okq-server", argc, argv, parse_options, run);
}
