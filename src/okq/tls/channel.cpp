// channel.cpp -- a TLS connection over okq's own buffers.
#include "okq/tls/channel.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

namespace okq::tls {

// The BIO under every channel's SSL: reads come from the ciphertext being
// received, writes go to the ciphertext owed. Nothing is buffered in it.
struct ChannelBio {
  static Channel& of(BIO* b) { return *static_cast<Channel*>(BIO_get_data(b)); }

  static int read(BIO* b, char* buf, int len) {
    BIO_clear_retry_flags(b);
    auto& c = of(b);
    if (c.in_.empty()) {
      BIO_set_retry_read(b);  // WANT_READ: wait for the next receive()
      return -1;
    }
    const std::size_t n = std::min(c.in_.size(), static_cast<std::size_t>(len));
    std::memcpy(buf, c.in_.data(), n);
    c.in_.remove_prefix(n);
    return static_cast<int>(n);
  }

  static int write(BIO* b, const char* buf, int len) {
    BIO_clear_retry_flags(b);
    of(b).out_.append(std::string_view(buf, static_cast<std::size_t>(len)));
    return len;
  }

  static long ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is ever held back
  }

  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }

  static const BIO_METHOD* method() {
    static BIO_METHOD* const m = [] {
      BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "okq channel");
      BIO_meth_set_read(bm, read);
      BIO_meth_set_write(bm, write);
      BIO_meth_set_ctrl(bm, ctrl);
      BIO_meth_set_create(bm, create);
      return bm;
    }();
    return m;
  }
};

namespace {

constexpr int kRecord = 16 * 1024;  // the largest TLS record's plaintext

bool is_ip_address(std::string_view name) {
  const std::string text(name);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

}  // namespace

Channel::Channel(std::shared_ptr<const Context> context, std::string_view server_name,
                 SSL_SESSION* session)
    : context_(std::move(context)), ssl_(SSL_new(context_->get())) {
  if (!ssl_) throw std::bad_alloc();
  BIO* bio = BIO_new(ChannelBio::method());
  if (!bio) {
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns it
  if (context_->is_server()) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (!server_name.empty()) {
    const std::string name(server_name);
    if (is_ip_address(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_, name.c_str());
      SSL_set1_host(ssl_, name.c_str());
    }
  }
  if (session) SSL_set_session(ssl_, session);
  handshake();  // the ClientHello, owed at once
}

Channel::~Channel() {
  SSL_free(ssl_);
}

Channel::State Channel::receive(std::string_view cipher, std::string& plain) {
  if (!first_byte_seen_ && !cipher.empty()) {
    first_byte_seen_ = true;
    spoke_tls_ = static_cast<unsigned char>(cipher.front()) == 0x16;  // a handshake record
  }
  if (state_ == State::Failed || state_ == State::PeerClosed) return state_;
  in_ = cipher;
  if (state_ == State::Handshake) handshake();
  if (state_ == State::Established) read_plain(plain);
  in_ = {};
  return state_;
}

void Channel::handshake() {
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    state_ = State::Established;
    handshake_done_ = true;
    return;
  }
  if (SSL_get_error(ssl_, ret) != SSL_ERROR_WANT_READ) failure(ret, "handshake");
}

void Channel::read_plain(std::string& plain) {
  char buf[kRecord];
  for (;;) {
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      plain.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    switch (SSL_get_error(ssl_, n)) {
      case SSL_ERROR_WANT_READ:
        return;
      case SSL_ERROR_ZERO_RETURN:
        state_ = State::PeerClosed;
        return;
      default:
        return failure(n, "read");
    }
  }
}

void Channel::send(std::string_view plain) {
  while (!plain.empty() && state_ != State::Failed) {
    const int len = static_cast<int>(std::min<std::size_t>(plain.size(), INT_MAX));
    const int n = SSL_write(ssl_, plain.data(), len);
    if (n <= 0) return failure(n, "write");
    plain.remove_prefix(static_cast<std::size_t>(n));
  }
}

int Channel::write_owed(int fd) noexcept {
  for (auto w = out_.pending(); !w.empty(); w = out_.pending()) {
    const ssize_t n = ::send(fd, w.data(), w.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
    out_.consume(static_cast<std::size_t>(n));
  }
  return 0;
}

std::string Channel::handshake_over(int fd,
                                    std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::string plain;  // none: the peer has had nothing to answer yet
  for (;;) {
    if (const int err = write_owed(fd); err != 0) return std::strerror(err);
    if (state_ == State::Failed) return "TLS " + error_;
    if (state_ != State::Handshake && out_.empty()) return "";
    // Reading while the handshake waits on the peer; else the last flight.
    const bool reading = state_ == State::Handshake && out_.empty();
    pollfd p{fd, static_cast<short>(reading ? POLLIN : POLLOUT), 0};
    int ms = -1;
    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    const int rc = ::poll(&p, 1, ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return std::strerror(errno);
    if (rc == 0) return "timed out in the TLS handshake";
    if (!reading) continue;
    char buf[kRecord];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n < 0) return std::strerror(errno);
    if (n == 0)
      return std::string(context_->is_server() ? "the client" : "the server") +
             " closed the connection in the TLS handshake";
    receive(std::string_view(buf, static_cast<std::size_t>(n)), plain);
  }
}

void Channel::close_notify() {
  if (notify_sent_ || state_ == State::Failed || state_ == State::Handshake) return;
  notify_sent_ = true;
  SSL_shutdown(ssl_);
}

void Channel::failure(int ret, const char* during) {
  state_ = State::Failed;
  const int kind = SSL_get_error(ssl_, ret);
  error_ = drain_errors();
  if (const long v = SSL_get_verify_result(ssl_); v != X509_V_OK)
    error_ += std::string(error_.empty() ? "" : " (") + X509_verify_cert_error_string(v) +
              (error_.empty() ? "" : ")");
  if (error_.empty())
    error_ = kind == SSL_ERROR_SYSCALL ? "the peer's bytes ended mid-record" : "TLS error";
  error_ = std::string(during) + ": " + error_;
}

bool Channel::resumed() const noexcept {
  return SSL_session_reused(ssl_) == 1;
}

const char* Channel::version() const noexcept {
  return SSL_get_version(ssl_);
}

const char* Channel::cipher() const noexcept {
  return SSL_get_cipher_name(ssl_);
}

std::string Channel::peer_subject() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert) return "";
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

SSL_SESSION* Channel::session() const noexcept {
  return SSL_get1_session(ssl_);
}

}  // namespace okq::tls
