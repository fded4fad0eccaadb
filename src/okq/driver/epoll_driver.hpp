// epoll_driver.hpp -- EpollDriver: the readiness driver of a Link's stream.
// Told a socket is readable or writable, it reads what the stream wants,
// writes what it owes, and keeps the loop's interest in step. It owns its
// socket; it lives inside its connection (OnEpoll, driver/drivers.hpp).
#pragma once

#include "okq/driver/link.hpp"
#include "okq/event/poller.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {

class EpollDriver final : public EventHandler {
 public:
  EpollDriver(Link& link, net::Fd fd);

  void stop();
  // Whatever the stream wants, short of reading: readiness says when to.
  void resume() { on_ready(Ready{}); }
  void finish() noexcept;
  void on_ready(Ready ready) override;

 private:
  void read_input(int max_reads);
  void flush();
  void step();  // after any event: FIN, close, interest and timer as the stream wants
  void update_interest();

  Link& link_;
  net::Fd fd_;
  bool registered_ = false;
  bool hung_up_ = false;  // the kernel reported a hang-up or an error
  Interest interest_;
};

}  // namespace okq::server
