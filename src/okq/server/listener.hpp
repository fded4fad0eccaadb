// listener.hpp -- Listener: one listening socket registered with a loop. It
// accepts every pending connection and hands each to a callback. It owns its
// socket (and removes its unix socket file when closed); it does not own the
// connections it accepts.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "okq/net/address.hpp"
#include "okq/net/fd.hpp"
#include "okq/server/event_loop.hpp"
#include "okq/server/log.hpp"

namespace okq::server {

class Listener final : public EventHandler {
 public:
  using OnAccept = std::function<void(net::Fd client, const Listener& from)>;

  // Resolves `ep` and listens on every address it names. Throws net::Error.
  static std::vector<std::unique_ptr<Listener>> open(const net::Endpoint& ep, int backlog);

  Listener(net::Fd fd, net::SocketAddress bound);
  ~Listener();

  void start(EventLoop& loop, Logger& log, OnAccept on_accept);
  void close() noexcept;  // stops accepting; pending, unaccepted connections are refused

  const net::SocketAddress& address() const noexcept { return address_; }
  bool is_tcp() const noexcept { return address_.family() != AF_UNIX; }

  void on_events(std::uint32_t events) override;

 private:
  void pause_accepting(int err);

  net::Fd fd_;
  net::SocketAddress address_;  // as bound: port 0 replaced by the real port
  EventLoop* loop_ = nullptr;
  Logger* log_ = nullptr;
  OnAccept on_accept_;
  bool paused_ = false;
  bool reported_ = false;  // this burst of accept failures is already in the log
};

}  // namespace okq::server
