// EpollDriver, the readiness driver of a stream: what it does when the loop
// itself fails it.
#include "okq/driver/connection.hpp"
#include "okq/driver/drivers.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace okq::server {
namespace {

// epoll, except that registering a descriptor fails once `full` is set, as
// epoll_ctl does with ENOSPC at fs.epoll.max_user_watches.
class FullPoller final : public Poller {
 public:
  explicit FullPoller(bool& full) : real_(make_epoll_poller()), full_(full) {}
  const char* name() const noexcept override { return "full"; }
  int add(int fd, Interest i, EventHandler* h) noexcept override {
    return full_ ? -ENOSPC : real_->add(fd, i, h);
  }
  int modify(int fd, Interest i, EventHandler* h) noexcept override {
    return real_->modify(fd, i, h);
  }
  void remove(int fd) noexcept override { real_->remove(fd); }
  int wait(std::chrono::nanoseconds timeout, std::vector<Event>& out) noexcept override {
    return real_->wait(timeout, out);
  }
  std::vector<Registration> registrations() const override { return {}; }

 private:
  std::unique_ptr<Poller> real_;
  bool& full_;
};

TEST(EpollDriver, AFailedRegistrationClosesThatConnectionOnly) {
  bool full = false;
  EventLoop loop(std::make_unique<FullPoller>(full));  // its own eventfd registers first
  full = true;
  Logger log("test");
  std::vector<char> buffer(4096);
  WorkerCounters counters;
  ConnectionContext ctx{{loop, buffer}, log, ConnectionLimits{}, counters};
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  int closed = 0;
  ctx.on_closed = [&](Connection&) { ++closed; };
  OnEpoll<Connection> conn(net::Fd{fds[0]}, 1, "peer", ctx);
  conn.start();  // throws nothing: the failure is this connection's alone
  EXPECT_EQ(closed, 1);
  EXPECT_EQ(conn.state(), SessionState::Closed);
  char byte;
  EXPECT_EQ(::read(fds[1], &byte, 1), 0) << "the socket should be closed";
  // The loop still serves: a timer still fires.
  bool fired = false;
  loop.run_at(EventLoop::Clock::now(), [&] {
    fired = true;
    loop.stop();
  });
  loop.run();
  EXPECT_TRUE(fired);
  ::close(fds[1]);
}

}  // namespace
}  // namespace okq::server
