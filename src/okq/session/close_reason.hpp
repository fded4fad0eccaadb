// close_reason.hpp -- CloseReason: why a connection ended, as a value the
// server can log and count (not a string). No behaviour here.
#pragma once

#include <cstdint>

namespace okq::server {

enum class CloseReason : std::uint8_t {
  ProtocolEnd,          // the codec said so: a Q message, a line too long
  PeerClosed,           // the client half-closed and got every reply
  IdleTimeout,          // no message completed and no reply byte taken for --idle-timeout
  LingerTimeout,        // after our FIN the client kept sending past the linger bound
  ShutdownTimeout,      // the server's stop ran out of --shutdown-timeout
  ServerShutdown,       // the server's stop: everything that had arrived was answered
  Forced,               // a second stop request
  Rejected,             // turned away at --max-connections
  IoError,              // a socket or loop call failed for this connection
  ProxyInvalid,         // a PROXY listener's client sent a malformed header
  ProxyTimeout,         // a PROXY listener's client sent no whole header in time
  ProxyUntrusted,       // a PROXY listener's client is not a --proxy-from address
  TlsHandshakeFailed,   // a TLS listener's client failed its handshake (or spoke plaintext)
  TlsTimeout,           // a TLS listener's client did not finish its handshake in time
  TlsError,             // a TLS record that does not decrypt, or another fatal TLS error
  UpstreamUnavailable,  // --upstream refused, reset, closed early or silent: ERR sent
};

inline constexpr int kCloseReasons = static_cast<int>(CloseReason::UpstreamUnavailable) + 1;

// Short names, for metrics labels.
constexpr const char* label(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::ProtocolEnd:
      return "protocol_end";
    case CloseReason::PeerClosed:
      return "client_closed";
    case CloseReason::IdleTimeout:
      return "idle_timeout";
    case CloseReason::LingerTimeout:
      return "linger_timeout";
    case CloseReason::ShutdownTimeout:
      return "shutdown_timeout";
    case CloseReason::ServerShutdown:
      return "server_shutdown";
    case CloseReason::Forced:
      return "forced";
    case CloseReason::Rejected:
      return "rejected";
    case CloseReason::IoError:
      return "io_error";
    case CloseReason::ProxyInvalid:
      return "proxy_invalid";
    case CloseReason::ProxyTimeout:
      return "proxy_timeout";
    case CloseReason::ProxyUntrusted:
      return "proxy_untrusted";
    case CloseReason::TlsHandshakeFailed:
      return "tls_handshake_failed";
    case CloseReason::TlsTimeout:
      return "tls_handshake_timeout";
    case CloseReason::TlsError:
      return "tls_error";
    case CloseReason::UpstreamUnavailable:
      return "upstream_unavailable";
  }
  return "unknown";
}

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
    case CloseReason::ProxyInvalid:
      return "invalid PROXY header";
    case CloseReason::ProxyTimeout:
      return "no PROXY header in time";
    case CloseReason::ProxyUntrusted:
      return "a PROXY listener client from outside --proxy-from";
    case CloseReason::TlsHandshakeFailed:
      return "TLS handshake failed";
    case CloseReason::TlsTimeout:
      return "no TLS handshake in time";
    case CloseReason::TlsError:
      return "TLS error";
    case CloseReason::UpstreamUnavailable:
      return "upstream unavailable";
  }
  return "?";
}

}  // namespace okq::server
