// tls_client.hpp -- TlsClient: a blocking OpenSSL client over a loopback TCP
// connection for integration tests (SSL over the socket itself; none of
// okq's TLS code inside), with deadlines on every read and write.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "okq/net/fd.hpp"

namespace okq::test {

struct TlsClientOptions {
  std::string ca;         // verify the server against this (required)
  std::string cert, key;  // a client certificate, if any
  int min_version = 0;    // e.g. TLS1_2_VERSION; 0: OpenSSL's default
  int max_version = 0;
  std::string ciphers;             // TLS 1.2 and older suites; "": OpenSSL's default
  std::string preamble;            // sent in plaintext with the ClientHello (a PROXY header)
  SSL_SESSION* session = nullptr;  // resume this one
};

class TlsClient {
 public:
  // Connects to ip:port (IPv4) and does the handshake. ok() says whether it
  // succeeded; error() why not.
  TlsClient(std::uint16_t port, const TlsClientOptions& options,
            std::chrono::milliseconds timeout = std::chrono::seconds(10),
            const std::string& ip = "127.0.0.1");
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool ok() const noexcept { return ok_; }
  const std::string& error() const noexcept { return error_; }
  std::string version() const;
  std::string serial() const;  // the server certificate's, hex
  bool resumed() const;
  SSL_SESSION* session() const;  // a new reference

  void send(std::string_view bytes);
  // Our close_notify, then FIN: we send no more; the server still answers.
  void shutdown_write();
  // Our close_notify alone, the socket left open both ways.
  void close_notify();
  // Plaintext until `n` bytes, the server's end or the deadline.
  std::string read_exact(std::size_t n,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Plaintext until the server's end (close_notify or FIN) or the deadline.
  std::string read_to_eof(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool eof() const noexcept { return eof_; }

 private:
  std::string read_until(std::size_t n, std::chrono::milliseconds timeout);

  net::Fd fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
  bool eof_ = false;
  std::string error_;
};

}  // namespace okq::test
