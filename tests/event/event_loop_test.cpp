// Tests of EventLoop: timers, deferred work, readiness dispatch, on every
// backend (the Poller contract: what epoll does, io_uring's polls do too).
#include "okq/event/event_loop.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include <vector>

namespace okq::server {
namespace {

using namespace std::chrono_literals;

// Each test once per backend; io_uring is skipped, with the kernel's reason,
// where it is not allowed.
class EventLoopOn : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (std::string_view(GetParam()) != "io_uring") return;
    try {
      make_poller("io_uring");
    } catch (const std::system_error& e) {
      GTEST_SKIP() << "io_uring is not available here: " << e.what();
    }
  }
};

TEST_P(EventLoopOn, TimersFireInDeadlineOrderNotInsertionOrder) {
  EventLoop loop(GetParam());
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

TEST_P(EventLoopOn, CancelledTimerNeverFires) {
  EventLoop loop(GetParam());
  bool fired = false;
  const auto t0 = EventLoop::Clock::now();
  const auto id = loop.run_at(t0 + 5ms, [&] { fired = true; });
  loop.cancel(id);
  loop.run_at(t0 + 20ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(fired);
}

TEST_P(EventLoopOn, TimerMayScheduleAnother) {
  EventLoop loop(GetParam());
  int count = 0;
  std::function<void()> tick = [&] {
    if (++count == 5) return loop.stop();
    loop.run_at(loop.now() + 1ms, tick);
  };
  loop.run_at(EventLoop::Clock::now(), tick);
  loop.run();
  EXPECT_EQ(count, 5);
}

TEST_P(EventLoopOn, DeferredWorkRunsAfterTheHandlerReturns) {
  EventLoop loop(GetParam());
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
  std::vector<Ready> events;
  std::function<void()> then;
  void on_ready(Ready r) override {
    events.push_back(r);
    if (then) then();
  }
};

TEST_P(EventLoopOn, DispatchesReadinessToTheHandler) {
  EventLoop loop(GetParam());
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  Recorder r;
  r.then = [&] { loop.stop(); };
  ASSERT_EQ(loop.add(fds[0], Interest{.read = true}, &r), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.run();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_TRUE(r.events[0].readable);
  // Interest can change: writable is reported once asked for.
  r.events.clear();
  ASSERT_EQ(loop.modify(fds[0], Interest{.write = true}, &r), 0);
  loop.run();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_TRUE(r.events[0].writable);
  loop.remove(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_P(EventLoopOn, WorkQueuedFromAnotherThreadRunsOnTheLoopThread) {
  EventLoop loop(GetParam());
  std::thread::id ran_on;
  int count = 0;
  std::thread other([&] {
    for (int i = 0; i < 1000; ++i) loop.queue_in_loop([&] { ++count; });
    loop.queue_in_loop([&] {
      ran_on = std::this_thread::get_id();
      loop.stop();
    });
  });
  loop.run();  // blocks in the poller until the eventfd wakes it
  other.join();
  EXPECT_EQ(count, 1000);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST_P(EventLoopOn, StopFromAnotherThreadEndsABlockedRunEvenIfItCameFirst) {
  EventLoop loop(GetParam());
  std::thread early([&] { loop.stop(); });
  early.join();
  loop.run();  // the stop came before run(): it still counts
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    loop.stop();
  });
  loop.run();  // nothing to do, no timers: only the wake-up can end it
  late.join();
  SUCCEED();
}

TEST_P(EventLoopOn, CancelledTimersLeaveNothingBehind) {
  // Each connection arms an idle timer and cancels it when it goes: 100,000
  // comings and goings must not leave 100,000 dead entries until they expire.
  EventLoop loop(GetParam());
  const auto far = EventLoop::Clock::now() + std::chrono::seconds(300);
  for (int i = 0; i < 100000; ++i) loop.cancel(loop.run_at(far, [] {}));
  EXPECT_EQ(loop.pending_timers(), 0u);
  const auto kept = loop.run_at(far, [] {});
  loop.cancel(kept);
  loop.cancel(kept);  // twice is harmless
  EXPECT_EQ(loop.pending_timers(), 0u);
}

// epoll_wait is never restarted after a signal handler, SA_RESTART or not
// (signal(7)): the loop must take EINTR as "nothing ready" and go on. The
// loop blocks in its own thread; a handler without SA_RESTART is interrupted
// into it over and over with pthread_kill, so EINTR is certain, not likely.
TEST_P(EventLoopOn, InterruptedWaitsAreRetriedNotFatal) {
  struct sigaction noop {};
  noop.sa_handler = [](int) {};
  sigemptyset(&noop.sa_mask);
  noop.sa_flags = 0;  // no SA_RESTART
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR1, &noop, &old), 0);

  EventLoop loop(GetParam());
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  Recorder r;
  r.then = [&] { loop.stop(); };
  ASSERT_EQ(loop.add(fds[0], Interest{.read = true}, &r), 0);
  std::atomic<bool> ran{false}, failed{false};
  pthread_t loop_thread{};
  std::thread runner([&] {
    loop_thread = pthread_self();
    ran = true;
    try {
      loop.run();
    } catch (const std::exception&) {
      failed = true;
    }
  });
  for (int i = 0; i < 1000 && !ran; ++i) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < 50; ++i) {  // each one lands in (or next to) epoll_wait
    ::pthread_kill(loop_thread, SIGUSR1);
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_EQ(::write(fds[1], "x", 1), 1);  // the loop must still be there to see it
  runner.join();
  EXPECT_FALSE(failed) << "an interrupted wait ended the loop";
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_TRUE(r.events[0].readable);
  ::sigaction(SIGUSR1, &old, nullptr);
  ::close(fds[0]);
  ::close(fds[1]);
}

// muduo's assertInLoopThread: touching a loop from a thread that does not
// run it is a bug that debug builds stop at once (the ASan suite is Debug).
TEST(EventLoopDeathTest, CallsOffTheLoopThreadAbortInDebugBuilds) {
#ifdef NDEBUG
  GTEST_SKIP() << "loop-thread assertions are compiled out of release builds";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EventLoop loop("epoll");
  EXPECT_DEATH(
      {
        std::thread other([&] { loop.run_at(EventLoop::Clock::now(), [] {}); });
        other.join();
      },
      "called off the loop's thread");
#endif
}

TEST(EventLoop, UnknownBackendIsRefused) {
  EXPECT_THROW(EventLoop("kqueue"), std::invalid_argument);
}

TEST(EventLoop, AutoTakesIoUringWhereTheKernelAllowsItAndSaysWhyNotElsewhere) {
  EventLoop loop("auto");
  std::string why;
  try {
    make_poller("io_uring");
  } catch (const std::system_error& e) {
    why = e.what();
  }
  if (why.empty()) {
    EXPECT_STREQ(loop.backend(), "io_uring");
    EXPECT_EQ(loop.fallback(), "");
  } else {
    EXPECT_STREQ(loop.backend(), "epoll");
    EXPECT_EQ(loop.fallback(), why);
  }
}

// Unread input is reported again on the next pass, and the next, until it is
// read: a handler may stop reading at any point and lose nothing.
TEST_P(EventLoopOn, ReadinessIsLevelTriggered) {
  EventLoop loop(GetParam());
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  Recorder r;
  r.then = [&] {
    if (r.events.size() == 3) loop.stop();
  };
  ASSERT_EQ(loop.add(fds[0], Interest{.read = true}, &r), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.run();  // never reads: three passes, three reports
  ASSERT_EQ(r.events.size(), 3u);
  for (const auto& e : r.events) EXPECT_TRUE(e.readable);
  // Removed: nothing more, even though the byte is still there.
  loop.remove(fds[0]);
  r.events.clear();
  loop.run_at(EventLoop::Clock::now() + 30ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_TRUE(r.events.empty());
  ::close(fds[0]);
  ::close(fds[1]);
}

// A backend that probes fine but cannot start on the loop's thread (what a
// ring does after --user under kernel.io_uring_disabled=1, or with no
// descriptor left): it only remembers what it is asked to watch.
class RefusesToStart final : public Poller {
 public:
  const char* name() const noexcept override { return "io_uring"; }
  int add(int fd, Interest interest, EventHandler* handler) noexcept override {
    watched_.push_back({fd, interest, handler});
    return 0;
  }
  int modify(int, Interest, EventHandler*) noexcept override { return 0; }
  void remove(int) noexcept override {}
  int wait(std::chrono::nanoseconds, std::vector<Event>&) noexcept override { return -EBADF; }
  void attach() override {
    throw std::system_error(EPERM, std::generic_category(), "io_uring_setup");
  }
  std::vector<Registration> registrations() const override { return watched_; }

 private:
  std::vector<Registration> watched_;
};

TEST(EventLoop, AutoGivesWayToEpollWhenTheBackendCannotStartOnItsThread) {
  EventLoop loop(std::make_unique<RefusesToStart>(), /*fall_back_to_epoll=*/true);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  Recorder r;
  r.then = [&] { loop.stop(); };
  ASSERT_EQ(loop.add(fds[0], Interest{.read = true}, &r), 0);  // before the backend starts
  EXPECT_TRUE(loop.attach());
  EXPECT_STREQ(loop.backend(), "epoll");
  EXPECT_EQ(loop.fallback(), "io_uring_setup: Operation not permitted");
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.run();  // what was watched before is watched by epoll now
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_TRUE(r.events[0].readable);
  // So is the loop's own wake-up: another thread can still stop it.
  std::thread other([&] { loop.stop(); });
  loop.run();
  other.join();
  loop.remove(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(EventLoop, ABackendAskedForByNameThatCannotStartIsAnError) {
  EventLoop loop(std::make_unique<RefusesToStart>(), /*fall_back_to_epoll=*/false);
  EXPECT_THROW(loop.attach(), std::system_error);
}

std::string backend_name(const ::testing::TestParamInfo<const char*>& info) {
  return info.param;
}

INSTANTIATE_TEST_SUITE_P(Backends, EventLoopOn, ::testing::Values("epoll", "io_uring"),
                         backend_name);

}  // namespace
}  // namespace okq::server
