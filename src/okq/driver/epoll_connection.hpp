// epoll_connection.hpp -- EpollConnection: the readiness driver of a Session.
// Told a socket is readable or writable, it reads what the session wants,
// writes what it owes, and keeps the loop's interest in step. It owns its
// socket.
#pragma once

#include "okq/driver/connection.hpp"
#include "okq/event/poller.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {

class EpollConnection final : public Connection, public EventHandler {
 public:
  EpollConnection(std::uint64_t id, net::Fd fd, std::string peer, ConnectionContext& ctx,
                  OnClosed on_closed);

  void stop() override;
  void on_ready(Ready ready) override;

 private:
  // Whatever the session wants, short of reading: readiness says when to.
  void resume() override { on_ready(Ready{}); }
  void finish() noexcept override;
  void read_input(int max_reads);
  void flush();
  void step();  // after any event: FIN, close, interest and timer as the session wants
  void update_interest();

  net::Fd fd_;
  bool registered_ = false;
  Interest interest_;
};

}  // namespace okq::server
