// context.cpp -- making an SSL_CTX from okq's TLS settings.
#include "okq/tls/context.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace okq::tls {
namespace {

// Mozilla's "intermediate" TLS 1.2 suites: ECDHE key exchange, AEAD ciphers.
// TLS 1.3's own suites are all AEAD and forward secret: OpenSSL's defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:prime256v1:secp384r1";
// Resumed sessions are tied to this (OpenSSL refuses to resume without one
// once client certificates are verified).
constexpr unsigned char kSessionIdContext[] = "okq";

[[noreturn]] void fail(const std::string& what) {
  const std::string why = drain_errors();
  throw Error(why.empty() ? what : what + ": " + why);
}

// A file that cannot be opened is reported as the system says it (OpenSSL's
// own words for a missing file are "system lib").
void check_readable(const std::string& path, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f)
    throw Error(std::string("cannot read ") + what + " " + path + ": " + std::strerror(errno));
  std::fclose(f);
}

std::int64_t unix_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

SSL_CTX* new_context(const SSL_METHOD* method, const Settings& s) {
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (!ctx) fail("cannot make a TLS context");
  SSL_CTX_set_min_proto_version(ctx, s.min_version);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle connections give their record buffers back (memcached does too).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    SSL_CTX_free(ctx);
    fail("cannot set the TLS cipher suites");
  }
  return ctx;
}

}  // namespace

std::string drain_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    // "error:0A000086:SSL routines::certificate verify failed": the reason is the last field.
    const std::string text = buf;
    const auto colon = text.rfind(':');
    out += colon == std::string::npos ? text : text.substr(colon + 1);
  }
  return out;
}

std::string kernel_tls_unavailable() {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::string why;
  if (listener < 0 || client < 0 ||
      ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    why = std::string("cannot make a loopback connection to try: ") + std::strerror(errno);
  else if (::setsockopt(client, IPPROTO_TCP, TCP_ULP, "tls", 3) != 0)
    why = std::string("setsockopt TCP_ULP \"tls\": ") + std::strerror(errno);
  if (client >= 0) ::close(client);
  if (listener >= 0) ::close(listener);
  return why;
}

VerifyClient parse_verify_client(const std::string& text) {
  if (text == "none") return VerifyClient::None;
  if (text == "optional") return VerifyClient::Optional;
  if (text == "required") return VerifyClient::Required;
  throw std::invalid_argument("takes none, optional or required, not " + text);
}

int parse_min_version(const std::string& text) {
  if (text == "1.2") return TLS1_2_VERSION;
  if (text == "1.3") return TLS1_3_VERSION;
  throw std::invalid_argument("takes 1.2 or 1.3, not " + text);
}

Context::~Context() {
  SSL_CTX_free(ctx_);
}

void Context::load_identity(const Settings& s) {
  check_readable(s.cert, "the certificate");
  check_readable(s.key, "the key");
  if (SSL_CTX_use_certificate_chain_file(ctx_, s.cert.c_str()) != 1)
    fail("cannot load the certificate " + s.cert);
  if (SSL_CTX_use_PrivateKey_file(ctx_, s.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string why = drain_errors();
    if (why.find("mismatch") != std::string::npos)
      throw Error("the key " + s.key + " does not match the certificate " + s.cert);
    throw Error("cannot load the key " + s.key + ": " + why);
  }
  if (SSL_CTX_check_private_key(ctx_) != 1)
    fail("the key " + s.key + " does not match the certificate " + s.cert);
  if (X509* cert = SSL_CTX_get0_certificate(ctx_)) {
    not_after_ = unix_time(X509_get0_notAfter(cert));
    if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
      if (char* hex = BN_bn2hex(bn)) {
        serial_ = hex;
        OPENSSL_free(hex);
      }
      BN_free(bn);
    }
  }
}

std::shared_ptr<const Context> Context::server(const Settings& s) {
  if (s.cert.empty() || s.key.empty()) throw Error("a TLS listener needs --tls-cert and --tls-key");
  if (s.verify_client != VerifyClient::None && s.ca.empty())
    throw Error("--tls-verify-client optional or required needs --tls-ca");
  std::shared_ptr<Context> c(new Context(new_context(TLS_server_method(), s), true));
  c->load_identity(s);
  SSL_CTX* ctx = c->ctx_;
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  // Resumption is by tickets (stateless: any worker, no memory kept per
  // session); OpenSSL's cache of up to 20,480 sessions would hold each one.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // One ticket a full handshake (OpenSSL's default is two): a client resumes
  // one connection with it, and each ticket costs the server an encryption.
  SSL_CTX_set_num_tickets(ctx, 1);
  if (!s.ca.empty()) {
    check_readable(s.ca, "the CA file");
    if (SSL_CTX_load_verify_locations(ctx, s.ca.c_str(), nullptr) != 1)
      fail("cannot load the CA file " + s.ca);
    // The names a client is told to pick its certificate by.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca.c_str()))
      SSL_CTX_set_client_CA_list(ctx, names);
  }
  switch (s.verify_client) {
    case VerifyClient::None:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      break;
    case VerifyClient::Optional:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      break;
    case VerifyClient::Required:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
  ERR_clear_error();
  return c;
}

std::shared_ptr<const Context> Context::client(const Settings& s) {
  std::shared_ptr<Context> c(new Context(new_context(TLS_client_method(), s), false));
  SSL_CTX* ctx = c->ctx_;
  if (!s.cert.empty()) c->load_identity(s);
  if (!s.ca.empty()) {
    check_readable(s.ca, "the CA file");
    if (SSL_CTX_load_verify_locations(ctx, s.ca.c_str(), nullptr) != 1)
      fail("cannot load the CA file " + s.ca);
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    fail("cannot load the system's trust store");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // Tickets the server sends are kept by the connection's owner if it wants
  // to resume (okq-bench); otherwise they are dropped.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  ERR_clear_error();
  return c;
}

}  // namespace okq::tls
