// wire.cpp -- okq-client's socket, plain or TLS.
#include "okq/client/wire.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "okq/net/error.hpp"
#include "okq/net/socket.hpp"

namespace okq::client {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

}  // namespace

Wire::Wire(net::Fd sock, std::string name, std::shared_ptr<const tls::Context> tls,
           const std::string& server_name)
    : sock_(std::move(sock)), name_(std::move(name)) {
  if (tls) channel_ = std::make_unique<tls::Channel>(std::move(tls), server_name);
}

void Wire::open(std::optional<Clock::time_point> deadline) {
  if (!channel_) return;
  if (const std::string why = channel_->handshake_over(sock_.get(), deadline); !why.empty())
    throw net::Error(net::Call::Connect, name_, why);
}

bool Wire::wants_write() const noexcept {
  const std::size_t owed = out_.size() + (channel_ ? channel_->owed().size() : 0);
  return owed > 0 || (fin_wanted_ && !fin_sent_);
}

void Wire::send() {
  if (channel_ && !out_.empty() && channel_->established()) {
    while (!out_.empty()) {
      const auto plain = out_.pending();
      channel_->send(plain);
      out_.consume(plain.size());
    }
    if (channel_->failed()) throw net::Error(net::Call::Send, name_, "TLS " + channel_->error());
  }
  if (channel_ && fin_wanted_ && out_.empty()) channel_->close_notify();
  auto& bytes = wire_bytes();
  while (!bytes.empty()) {
    const auto w = bytes.pending();
    const ssize_t n = net::send_some(sock_.get(), w.data(), w.size());
    if (n == -EAGAIN || n == -EWOULDBLOCK) return;
    if (n < 0) throw net::Error(net::Call::Send, name_, static_cast<int>(-n));
    bytes.consume(static_cast<std::size_t>(n));
  }
  if (fin_wanted_ && !fin_sent_ && out_.empty()) {
    // Tell the server no more messages come; it still answers what it owes.
    ::shutdown(sock_.get(), SHUT_WR);
    fin_sent_ = true;
  }
}

bool Wire::receive(std::string& plain) {
  char buf[kChunk];
  const ssize_t n = net::recv_some(sock_.get(), buf, sizeof buf);
  if (n == -EAGAIN || n == -EWOULDBLOCK) return true;
  if (n < 0) throw net::Error(net::Call::Recv, name_, static_cast<int>(-n));
  if (n == 0) return false;
  const std::string_view bytes(buf, static_cast<std::size_t>(n));
  if (!channel_) {
    plain.append(bytes);
    return true;
  }
  const auto state = channel_->receive(bytes, plain);
  if (state == tls::Channel::State::Failed)
    throw net::Error(net::Call::Recv, name_, "TLS " + channel_->error());
  if (!channel_->owed().empty()) send();  // a key update's answer, say
  return state != tls::Channel::State::PeerClosed;
}

}  // namespace okq::client
