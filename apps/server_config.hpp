// server_config.hpp -- okq-server's configuration once it is running (a
// reload on SIGHUP) or instead of running (--check-config).
#pragma once

#include "okq/log/log.hpp"
#include "okq/server/server.hpp"
#include "okq/service/upgrade.hpp"
#include "server_options.hpp"

namespace okq::server_cli {

// SIGHUP with --config: the command line and the file read again. What can
// change live is applied (Server::reconfigure, the log level,
// --upgrade-timeout) and logged by name; what cannot is logged as needing an
// upgrade and left as it was; a file that does not parse changes nothing and
// says why in one line. `current.given` becomes what now applies: the
// next reload is compared with it.
void reload(Options& current, server::Server& server, server::Logger& log,
            server::Handover& handover);

// --check-config: what `o` would serve on standard output, the TLS files
// loaded and --user / --group looked up; 0, or kExitUsage with the reason on
// standard error.
int check_config(const Options& o);

}  // namespace okq::server_cli
