// epoll_driver.hpp -- EpollDriver: the readiness driver of a Link's stream.
// Told a socket is readable or writable, it reads what the stream wants,
// writes what it owes, and keeps the loop's interest in step. It owns its
// socket; it lives inside its connection (OnEpoll, driver/drivers.hpp).
#pragma once

#include "okq/driver/link.hpp"
#include "okq/event/poller.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {

class EpollDriver {
 public:
  explicit EpollDriver(net::Fd fd);

  // Each call is given the Link that holds the driver (it keeps no pointer
  // back: OnEpoll passes itself), and the loop reports to that Link.
  void stop(Link& link);
  // Whatever the stream wants, short of reading: readiness says when to.
  void resume(Link& link) { on_ready(link, Ready{}); }
  void finish(Link& link) noexcept;
  void on_ready(Link& link, Ready ready);

 private:
  void read_input(Link& link, int max_reads);
  void flush(Link& link);
  void step(Link& link);  // after any event: FIN, close, interest and timer as the stream wants
  void update_interest(Link& link);

  net::Fd fd_;
  bool registered_ = false;
  bool hung_up_ = false;  // the kernel reported a hang-up or an error
  Interest interest_;
};

}  // namespace okq::server
