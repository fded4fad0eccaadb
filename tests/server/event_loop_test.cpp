// Tests of EventLoop: timers, deferred work, readiness dispatch.
#include "okq/server/event_loop.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace okq::server {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, TimersFireInDeadlineOrderNotInsertionOrder) {
  EventLoop loop;
  std::vector<int> fired;
  const auto t0 = EventLoop::Clock::now();
  loop.run_at(t0 + 30ms, [&] { fired.push_back(3); });
  loop.run_at(t0 + 10ms, [&] { fired.push_back(1); });
  loop.run_at(t0 + 20ms, [&] { fired.push_back(2); });
  loop.run_at(t0 + 40ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  EXPECT_GE(EventLoop::Clock::now() - t0, 40ms) << "a timer fired early";
}

TEST(EventLoop, CancelledTimerNeverFires) {
  EventLoop loop;
  bool fired = false;
  const auto t0 = EventLoop::Clock::now();
  const auto id = loop.run_at(t0 + 5ms, [&] { fired = true; });
  loop.cancel(id);
  loop.run_at(t0 + 20ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(fired);
}

TEST(EventLoop, TimerMayScheduleAnother) {
  EventLoop loop;
  int count = 0;
  std::function<void()> tick = [&] {
    if (++count == 5) return loop.stop();
    loop.run_at(loop.now() + 1ms, tick);
  };
  loop.run_at(EventLoop::Clock::now(), tick);
  loop.run();
  EXPECT_EQ(count, 5);
}

TEST(EventLoop, DeferredWorkRunsAfterTheHandlerReturns) {
  EventLoop loop;
  std::vector<std::string> order;
  loop.run_at(EventLoop::Clock::now(), [&] {
    loop.defer([&] {
      order.push_back("deferred");
      loop.stop();
    });
    order.push_back("timer");
  });
  loop.run();
  EXPECT_EQ(order, (std::vector<std::string>{"timer", "deferred"}));
}

struct Recorder final : EventHandler {
  std::vector<std::uint32_t> events;
  std::function<void()> then;
  void on_events(std::uint32_t e) override {
    events.push_back(e);
    if (then) then();
  }
};

TEST(EventLoop, DispatchesReadinessToTheHandler) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  Recorder r;
  r.then = [&] { loop.stop(); };
  loop.add(fds[0], EPOLLIN, &r);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.run();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_TRUE(r.events[0] & EPOLLIN);
  // Interest can change: writable is reported once asked for.
  r.events.clear();
  loop.modify(fds[0], EPOLLOUT, &r);
  loop.run();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_TRUE(r.events[0] & EPOLLOUT);
  loop.remove(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace okq::server
