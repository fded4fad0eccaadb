// server_options.hpp -- okq-server's command line: every flag, in the
// groups --help shows, parsed into the server's options and the process's.
// The start-up that follows is okq_server.cpp's.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "okq/log/log.hpp"
#include "okq/server/server.hpp"
#include "okq/service/upgrade.hpp"
#include "okq/tls/context.hpp"

namespace okq::server_cli {

inline constexpr int kExitUsage = 64;  // EX_USAGE

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
  std::string config;                                // --config FILE ("": none)
  bool check_config = false;                         // --check-config: check, print, exit
  // Every option the command line or the file gave, as written: name ("--idle-timeout")
  // -> values. What a reload compares.
  std::map<std::string, std::vector<std::string>> given;
};

// The command line into Options, or the exit code when there is nothing to
// run (--help, --version: 0; a mistake: kExitUsage, CLI11's reason printed).
std::variant<Options, int> parse_options(int argc, char** argv);

// What a reload (SIGHUP) reads: the same command line, and the --config file
// as it is now. The reason, one line naming the file and line, if it does
// not parse.
std::variant<Options, std::string> parse_again(const server::Program& program);

// The options whose values differ from `before` to `after` (given or not,
// and what was given), by name.
std::vector<std::string> changed(const Options& before, const Options& after);

// Whether option `name` can change in a running server (Server::reconfigure,
// the log level, --upgrade-timeout); the others need an upgrade.
bool changes_live(const std::string& name);

}  // namespace okq::server_cli
