// activation.hpp -- socket activation (sd_listen_fds(3)'s protocol): the
// listening sockets a service manager passes as descriptors 3, 4, ... with
// LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES. Checking and taking them over;
// it binds nothing and never removes a socket file (the manager made it).
#pragma once

#include <string>
#include <vector>

#include "okq/net/fd.hpp"

namespace okq::server {

struct InheritedSocket {
  net::Fd fd;
  std::string name;  // from LISTEN_FDNAMES, or "" when not given
};

// The names okq-server gives (and a socket unit may give, with
// FileDescriptorName=) to what a listening socket is for.
inline constexpr const char* kProxySocketName = "proxy";         // a --proxy-listen listener
inline constexpr const char* kTlsSocketName = "tls";             // a --tls-listen listener
inline constexpr const char* kProxyTlsSocketName = "proxy-tls";  // a --proxy-tls-listen listener
inline constexpr const char* kMetricsSocketName = "metrics";     // the --metrics listener
inline constexpr const char* kPlainSocketName = "okq";           // any other

// A listening socket to pass on (an upgrade), with its name, and whether
// its unix socket file goes with it (this process created the file; one a
// service manager made stays the manager's).
struct PassedSocket {
  int fd;
  const char* name;
  bool owns_file = false;
};

// The sockets passed to this process, each checked to be a listening stream
// socket and made non-blocking and close-on-exec; empty when none were
// passed (LISTEN_PID absent or another process's). The variables are
// removed from the environment so that no child takes them for its own.
// Throws net::Error (Call::Bind) naming a descriptor that is not a listening
// stream socket.
std::vector<InheritedSocket> inherited_sockets();

}  // namespace okq::server
