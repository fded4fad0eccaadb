// tls_client.cpp -- a blocking OpenSSL test client.
#include "tls_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include <stdexcept>

namespace okq::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out;
}

void set_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

TlsClient::TlsClient(std::uint16_t port, const TlsClientOptions& o,
                     std::chrono::milliseconds timeout, const std::string& ip) {
  fd_ = net::Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("TlsClient: cannot connect");
  set_timeout(fd_.get(), timeout);
  // MSG_MORE: the preamble leaves with the ClientHello, in one segment, so
  // the server reads both at once (it must not read past the header).
  if (!o.preamble.empty() &&
      ::send(fd_.get(), o.preamble.data(), o.preamble.size(), MSG_NOSIGNAL | MSG_MORE) !=
          static_cast<ssize_t>(o.preamble.size()))
    throw std::runtime_error("TlsClient: cannot send the preamble");
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx_, o.ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  if (o.min_version) SSL_CTX_set_min_proto_version(ctx_, o.min_version);
  if (o.max_version) SSL_CTX_set_max_proto_version(ctx_, o.max_version);
  if (!o.ciphers.empty()) SSL_CTX_set_cipher_list(ctx_, o.ciphers.c_str());
  if (!o.cert.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx_, o.cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, o.key.c_str(), SSL_FILETYPE_PEM);
  }
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_.get());
  SSL_set1_host(ssl_, "localhost");
  SSL_set_tlsext_host_name(ssl_, "localhost");
  if (o.session) SSL_set_session(ssl_, o.session);
  if (SSL_connect(ssl_) == 1) {
    ok_ = true;
    return;
  }
  error_ = errors();
  if (error_.empty()) error_ = "handshake ended (connection closed)";
}

TlsClient::~TlsClient() {
  // Closed properly (OpenSSL forgets a session that ends without close_notify).
  if (ok_) SSL_shutdown(ssl_);
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

std::string TlsClient::version() const {
  return SSL_get_version(ssl_);
}

std::string TlsClient::serial() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

bool TlsClient::resumed() const {
  return SSL_session_reused(ssl_) == 1;
}

SSL_SESSION* TlsClient::session() const {
  return SSL_get1_session(ssl_);
}

void TlsClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    if (n <= 0) throw std::runtime_error("TlsClient: write failed: " + errors());
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void TlsClient::close_notify() {
  SSL_shutdown(ssl_);
}

void TlsClient::shutdown_write() {
  SSL_shutdown(ssl_);
  ::shutdown(fd_.get(), SHUT_WR);
}

std::string TlsClient::read_until(std::size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  while (out.size() < n && !eof_ && Clock::now() < deadline) {
    if (SSL_pending(ssl_) == 0) {
      pollfd p{fd_.get(), POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) continue;
    }
    char buf[16384];
    const int got = SSL_read(ssl_, buf, sizeof buf);
    if (got > 0) {
      out.append(buf, static_cast<std::size_t>(got));
      continue;
    }
    const int err = SSL_get_error(ssl_, got);
    if (err == SSL_ERROR_WANT_READ) continue;
    eof_ = true;  // close_notify, FIN, or an error: the server's end either way
    ERR_clear_error();
  }
  return out;
}

std::string TlsClient::read_exact(std::size_t n, std::chrono::milliseconds timeout) {
  return read_until(n, timeout);
}

std::string TlsClient::read_to_eof(std::chrono::milliseconds timeout) {
  return read_until(std::string::npos, timeout);
}

}  // namespace okq::test
