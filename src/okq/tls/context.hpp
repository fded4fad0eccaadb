// context.hpp -- tls::Context: one OpenSSL SSL_CTX made from okq's TLS
// settings, whole or not at all: a server's (certificate chain, key, the CA
// that client certificates must verify against) or a client's (the CA or
// the system's trust store, an optional client certificate). Mozilla's
// "intermediate" profile: TLS 1.2 and 1.3 only, in 1.2 only forward-secret
// AEAD suites, no renegotiation, no compression, TLS 1.3 tickets on.
//
// A context is immutable once made and shared: each connection's SSL keeps
// the SSL_CTX it was made from alive, so a reload makes a new Context and
// connections already open keep theirs.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace okq::tls {

enum class VerifyClient { None, Optional, Required };

struct Settings {
  std::string cert;  // PEM, leaf first then its chain (server; a client's own, optional)
  std::string key;   // PEM (with cert)
  std::string ca;    // PEM bundle: what the peer's certificate must verify against
  VerifyClient verify_client = VerifyClient::None;  // server only
  int min_version = TLS1_2_VERSION;                 // TLS1_2_VERSION or TLS1_3_VERSION
  bool ktls = false;  // --tls-ktls asked for (what the kernel has is said at start)
};

// A setting or file that cannot make a context: the reason names the file
// and what OpenSSL said.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// OpenSSL's queued errors as one line ("" if none), the queue emptied.
std::string drain_errors();

// Whether the kernel can carry TLS (setsockopt TCP_ULP "tls" on a loopback
// connection): "" if it can, else why not.
std::string kernel_tls_unavailable();

// Parses "none" | "optional" | "required" and "1.2" | "1.3"; throws
// std::invalid_argument naming what it takes.
VerifyClient parse_verify_client(const std::string& text);
int parse_min_version(const std::string& text);

class Context {
 public:
  // Throws Error.
  static std::shared_ptr<const Context> server(const Settings& settings);
  static std::shared_ptr<const Context> client(const Settings& settings);

  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  SSL_CTX* get() const noexcept { return ctx_; }
  bool is_server() const noexcept { return server_; }
  // The certificate's expiry (Unix time) and serial (hex), 0 and "" without one.
  std::int64_t not_after() const noexcept { return not_after_; }
  const std::string& serial() const noexcept { return serial_; }

 private:
  Context(SSL_CTX* ctx, bool server) : ctx_(ctx), server_(server) {}
  void load_identity(const Settings& s);

  SSL_CTX* ctx_;
  bool server_;
  std::int64_t not_after_ = 0;
  std::string serial_;
};

}  // namespace okq::tls
