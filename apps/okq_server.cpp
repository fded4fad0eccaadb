// okq_server.cpp -- okq-server's command line: parse flags, bind, background,
// serve. Everything else lives in src/okq/server.
#include <CLI/CLI.hpp>

#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <system_error>

#include "okq/net/error.hpp"
#include "okq/server/daemon.hpp"
#include "okq/server/server.hpp"

namespace {

using namespace okq;

// Exit codes: the seed server's, plus sysexits for the rest.
constexpr int kExitSocket = 1;
constexpr int kExitBind = 2;
constexpr int kExitListen = 3;
constexpr int kExitUsage = 64;       // EX_USAGE
constexpr int kExitSoftware = 70;    // EX_SOFTWARE: failed after start-up
constexpr int kExitCantCreate = 73;  // EX_CANTCREAT: pid or log file

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

CLI::Validator address_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          net::parse_endpoint(text, "0.0.0.0");
          return {};
        } catch (const net::Error& e) {
          return e.what();
        }
      },
      "ADDR");
}

}  // namespace

int main(int argc, char** argv) {
  server::ServerOptions options;
  std::vector<std::string> listen{"0.0.0.0:4242"};
  bool foreground = false, verbose = false, trace = false;
  std::string pidfile, logfile;
  double shutdown_timeout = 5.0;
  double idle_timeout = 300.0;
  // Before the defaults are computed: many clients need many descriptors.
  options.max_connections = server::default_max_connections(net::raise_fd_limit());

  CLI::App app{"okq-server: answers OK to every line; echoes a line starting with Q, then closes.",
               "okq-server"};
  app.set_version_flag("--version", "okq-server 0.1.0");
  app.add_option("-l,--listen", listen,
                 "Address to listen on, repeatable: HOST:PORT, [V6]:PORT, :PORT, PORT, unix:PATH")
      ->check(address_validator())
      ->capture_default_str();
  app.add_flag("-f,--foreground", foreground, "Stay in the foreground (default: background)");
  app.add_flag("--once", options.once, "Serve one connection, then exit");
  app.add_option("--pidfile", pidfile, "Write the pid to PATH; removed on exit");
  app.add_option("--backlog", options.backlog, "Pending-connection queue length")
      ->check(CLI::Range(1, INT_MAX))
      ->capture_default_str();
  app.add_option("--max-line", options.codec.max_line, "Longest message in bytes")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_flag("--classic", options.codec.classic, "The seed's fixed-size framing, byte-exact");
  app.add_option("--classic-size", options.codec.classic_size, "Bytes per classic message")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65536}))
      ->capture_default_str();
  app.add_option("--shutdown-timeout", shutdown_timeout,
                 "Seconds to finish owed replies after SIGTERM/SIGINT")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--max-connections", options.max_connections,
                 "Clients served at once; more get 'ERR too many connections' (default: from "
                 "the descriptor limit)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option(
         "--idle-timeout", idle_timeout,
         "Seconds a client may go without completing a message or taking a reply (0: never)")
      ->check(CLI::Range(0.0, 31536000.0))
      ->capture_default_str();
  app.add_option("--max-output", options.max_output,
                 "Reply bytes owed to a client before reading from it pauses")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34))
      ->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "Log every connection");
  app.add_flag("--trace", trace, "Log every message too (implies --verbose)");
  app.add_option("--log-file", logfile, "Log to PATH instead of stderr");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  for (const auto& text : listen) options.listen.push_back(net::parse_endpoint(text, "0.0.0.0"));
  options.shutdown_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(shutdown_timeout * 1000));
  options.idle_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(idle_timeout * 1000));

  server::Logger log("okq-server");
  log.set_level(trace     ? server::Level::Trace
                : verbose ? server::Level::Verbose
                          : server::Level::Info);
  if (!logfile.empty()) {
    try {
      log.open_file(logfile);
    } catch (const std::system_error& e) {
      return fail(log, false, kExitCantCreate, e.what());
    }
  }
  const bool to_file = !logfile.empty();

  server::ignore_sigpipe();
  try {
    server::block_signals({SIGTERM, SIGINT});
    server::Server server(options, log);
    try {
      server.bind();
    } catch (const net::Error& e) {
      return fail(log, to_file, exit_code_for(e.call()), e.what());
    }
    server::Daemon daemon;
    if (!foreground) daemon.detach();
    std::optional<server::PidFile> pid;
    try {
      if (!pidfile.empty()) pid.emplace(pidfile);
    } catch (const std::system_error& e) {
      return fail(log, to_file, kExitCantCreate, e.what());
    }
    server::SignalWatcher signals(server.loop(), {SIGTERM, SIGINT}, [&](int sig) {
      log.log(server::Level::Info, "{}: stopping", strsignal(sig));
      server.stop();
    });
    daemon.ready();
    server.run();
    log.log(server::Level::Info, "stopped");
    return 0;
  } catch (const std::exception& e) {
    return fail(log, to_file, kExitSoftware, e.what());
  }
}
