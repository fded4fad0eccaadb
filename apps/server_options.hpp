// server_options.hpp -- okq-server's command line: every flag, in the
// groups --help shows, parsed into the server's options and the process's.
// The start-up that follows is okq_server.cpp's.
#pragma once

#include <chrono>
#include <string>
#include <variant>

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
};

// The command line into Options, or the exit code when there is nothing to
// run (--help, --version: 0; a mistake: kExitUsage, CLI11's reason printed).
std::variant<Options, int> parse_options(int argc, char** argv);

}  // namespace okq::server_cli
