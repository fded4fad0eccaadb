// server_options.cpp -- okq-server's flags, a function per --help group.
#include "server_options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <climits>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "cli_checks.hpp"
#include "config_file.hpp"
#include "okq/net/error.hpp"
#include "okq/version.hpp"

namespace okq::server_cli {
namespace {

// The relay's default --max-connections at most (the descriptor limit may allow more).
constexpr std::size_t kMaxRelayDefault = 4096;

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

// The options a running server takes from a reload; the rest need an upgrade.
const std::set<std::string>& live_options() {
  static const std::set<std::string> names{"--max-line",
                                           "--max-output",
                                           "--idle-timeout",
                                           "--proxy-timeout",
                                           "--upstream-timeout",
                                           "--tls-handshake-timeout",
                                           "--max-connections",
                                           "--proxy-from",
                                           "--shutdown-timeout",
                                           "--upgrade-timeout",
                                           "--tls-cert",
                                           "--tls-key",
                                           "--tls-ca",
                                           "--tls-verify-client",
                                           "--tls-min-version",
                                           "--verbose",
                                           "--trace"};
  return names;
}

// --config and --check-config, in the Process group.
void add_config(CLI::App& app, Options& o, const std::shared_ptr<ConfigFile>& file) {
  const char* g = "Process";
  app.config_formatter(file);
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_config("--config", "",
                 "Read options from FILE: one key = value a line, every long option a key "
                 "(listen = \"127.0.0.1:4242\", idle-timeout = 30); the command line wins; "
                 "SIGHUP reads it again")
      ->type_name("FILE")
      ->group(g);
  app.add_flag("--check-config", o.check_config,
               "Check the command line, the --config file and the TLS files, print what "
               "would be served, and exit (0, or 64 with the reason); binds nothing")
      ->configurable(false)
      ->group(g);
}

// The command line `args` (argv[0] first) and its --config file into
// Options, or the exit code, with --help's text and mistakes written to
// `out` and `err`.
std::variant<Options, int> parse(const std::vector<std::string>& args, std::ostream& out,
                                 std::ostream& err) {
  Options o;
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
  auto file = std::make_shared<ConfigFile>(app);
  add_config(app, o, file);
  add_logging(app, o, verbose, trace);
  std::vector<const char*> argv(args.size());
  std::transform(args.begin(), args.end(), argv.begin(), [](const auto& a) { return a.c_str(); });
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    const std::string config = app["--config"]->as<std::string>();
    const std::string where = file->locate(e.what(), config, app, args);
    if (where == e.what()) return app.exit(e, out, err) == 0 ? 0 : kExitUsage;
    err << "okq-server: " << where << "\n";
    return kExitUsage;
  }
  o.config = app["--config"]->as<std::string>();
  for (const CLI::Option* op : app.get_options())
    if (op->count() > 0 && op->get_configurable() && op->get_name() != "--config")
      o.given[op->get_name()] = op->results();
  // Each client of a relay holds two descriptors (its own and its
  // upstream's): the default leaves room for both, and is bounded so that
  // relays that loop through each other fill up and answer ERR within moments.
  if (s.upstream && app.count("--max-connections") == 0)
    s.max_connections = std::clamp<std::size_t>(s.max_connections / 2, 1, kMaxRelayDefault);
  if (s.upstream_tls) *s.upstream_tls = o.upstream_tls;
  o.level = trace ? server::Level::Trace : verbose ? server::Level::Verbose : server::Level::Info;
  return o;
}

}  // namespace

std::variant<Options, int> parse_options(int argc, char** argv) {
  auto parsed = parse(std::vector<std::string>(argv, argv + argc), std::cout, std::cerr);
  if (auto* o = std::get_if<Options>(&parsed)) o->program = server::this_program(argc, argv);
  return parsed;
}

std::variant<Options, std::string> parse_again(const server::Program& program) {
  std::ostringstream out, err;
  auto parsed = parse(program.argv, out, err);
  if (auto* o = std::get_if<Options>(&parsed)) {
    o->program = program;
    return std::move(*o);
  }
  std::string why = err.str();
  why = why.substr(0, why.find('\n'));
  if (why.starts_with("okq-server: ")) why.erase(0, 12);
  return why.empty() ? std::string("the command line no longer parses") : why;
}

std::vector<std::string> changed(const Options& before, const Options& after) {
  std::set<std::string> names;
  for (const auto& [name, values] : before.given) names.insert(name);
  for (const auto& [name, values] : after.given) names.insert(name);
  std::vector<std::string> out;
  for (const auto& name : names) {
    const auto a = before.given.find(name), b = after.given.find(name);
    const bool in_a = a != before.given.end(), in_b = b != after.given.end();
    if (in_a != in_b || (in_a && a->second != b->second)) out.push_back(name);
  }
  return out;
}

bool changes_live(const std::string& name) {
  return live_options().count(name) > 0;
}

}  // namespace okq::server_cli
