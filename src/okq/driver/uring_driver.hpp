// uring_driver.hpp -- UringDriver: the completion (io_uring) driver of a
// Link's stream. It keeps one receive armed while the stream wants input
// (multishot into the loop's shared buffers; single-shot and bounded when
// the stream reads less than a buffer at a time, as classic framing, a
// PROXY header and a stop do) and one send in flight from the stream's
// frozen output while it owes bytes. A receive that has brought nothing for
// kQuiet is parked: cancelled, and a poll armed in its place until the
// socket is readable (an armed multishot receive costs the kernel ~800 bytes
// a connection, a poll 256, epoll's item 128). It owns its socket, and its connection
// (OnUring, driver/drivers.hpp) lives until every operation it submitted
// has completed: the kernel may still write into what it points at.
#pragma once

#include <cstdint>

#include "okq/driver/link.hpp"
#include "okq/event/poller.hpp"
#include "okq/event/uring_poller.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {

class UringDriver {
 public:
  explicit UringDriver(net::Fd fd);

  // Each call is given the Link that holds the driver (it keeps no pointer
  // back: OnUring passes itself). Its operations are tagged with that Link,
  // whose on_complete() OnUring hands back here; the loop runs on a ring.
  void stop(Link& link);
  void resume(Link& link);
  void finish(Link& link) noexcept;
  void on_complete(Link& link, Completion done);
  // When a quiet receive is parked (Time::max() if none is armed).
  Link::Time park_at() const noexcept {
    return receiving_ && multishot_ && !cancelling_ ? park_at_ : Link::Time::max();
  }

  static constexpr std::chrono::seconds kQuiet{2};

 private:
  enum Op : unsigned { kReceive = 1, kSend = 2, kFin = 3, kPoll = 4 };

  void step(Link& link);
  void arm_receive(Link& link);
  void cancel_receive(Link& link);
  void arm_poll(Link& link);  // in place of a parked receive
  void send(Link& link);
  void send_fin(Link& link);
  void received(Link& link, const Completion& done);
  // A submission slot for `op`, counted in flight, or nullptr (the
  // connection is then closed: the kernel took nothing it could be given).
  io_uring_sqe* submission(Link& link);
  void submitted(Link& link, io_uring_sqe* sqe, Op op) noexcept;
  void close_socket(Link& link) noexcept;

  static UringPoller& ring(Link& link) noexcept { return *link.loop().uring(); }

  net::Fd fd_;
  std::uint16_t in_flight_ = 0;    // operations the kernel holds (a multishot receive is one)
  bool receiving_ : 1 = false;     // a receive is armed
  bool multishot_ : 1 = false;     // ... and keeps going until it is cancelled or ends
  bool cancelling_ : 1 = false;    // ... and a cancel of it is on its way
  bool sending_ : 1 = false;       // a send is in flight
  bool stop_pending_ : 1 = false;  // a stop waits for the receive armed before it to end
  bool parking_ : 1 = false;       // the receive was cancelled to be parked
  bool parked_ : 1 = false;        // a poll waits for input in its place
  bool closing_ : 1 = false;       // finish() began: waiting for in_flight_ to reach 0
  Link::Time park_at_ = Link::Time::max();  // the armed receive's: last input + kQuiet
};

}  // namespace okq::server
