// close_reason.hpp -- CloseReason: why a connection ended, as a value the
// server can log and count (not a string). No behaviour here.
#pragma once

namespace okq::server {

enum class CloseReason {
  ProtocolEnd,      // the codec said so: a Q message, a line too long
  PeerClosed,       // the client half-closed and got every reply
  IdleTimeout,      // no message completed and no reply byte taken for --idle-timeout
  LingerTimeout,    // after our FIN the client kept sending past the linger bound
  ShutdownTimeout,  // the server's stop ran out of --shutdown-timeout
  ServerShutdown,   // the server's stop: everything that had arrived was answered
  Forced,           // a second stop request
  Rejected,         // turned away at --max-connections
  IoError,          // a socket or loop call failed for this connection
};

constexpr const char* to_string(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::ProtocolEnd:
      return "protocol end";
    case CloseReason::PeerClosed:
      return "client closed";
    case CloseReason::IdleTimeout:
      return "idle timeout";
    case CloseReason::LingerTimeout:
      return "linger timeout";
    case CloseReason::ShutdownTimeout:
      return "shutdown timeout";
    case CloseReason::ServerShutdown:
      return "server shutdown";
    case CloseReason::Forced:
      return "forced shutdown";
    case CloseReason::Rejected:
      return "rejected: too many connections";
    case CloseReason::IoError:
      return "i/o error";
  }
  return "?";
}

}  // namespace okq::server
