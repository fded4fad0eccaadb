// timer_test.cpp -- TimerHeap against a plain ordered list: random arming,
// moving and disarming of many timers fire exactly the armed ones, each once,
// in deadline order (ties in arming order).
#include "okq/event/timer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace okq::server {
namespace {

using Clock = Timer::Clock;

struct Probe final : Timer {
  Probe() : Timer(&Probe::expired) {}
  static void expired(Timer& timer) {
    auto& probe = static_cast<Probe&>(timer);
    probe.fired->push_back(probe.id);
  }
  int id = 0;
  std::vector<int>* fired = nullptr;
};

TEST(TimerHeap, FiresWhatIsArmedOnceEachInDeadlineOrderThroughRandomMovesAndDisarms) {
  const auto t0 = Clock::now();
  std::mt19937 random(7);
  for (int round = 0; round < 20; ++round) {
    TimerHeap heap;
    std::vector<Probe> probes(500);
    std::vector<int> fired;
    // The model: each probe's deadline and arming order, or none.
    std::vector<std::pair<long, long>> model(probes.size(), {-1, 0});
    long order = 0;
    for (std::size_t i = 0; i < probes.size(); ++i) {
      probes[i].id = static_cast<int>(i);
      probes[i].fired = &fired;
    }
    for (int step = 0; step < 5000; ++step) {
      const std::size_t i = random() % probes.size();
      if (random() % 4 == 0) {
        heap.disarm(probes[i]);
        model[i].first = -1;
      } else {
        const long at = static_cast<long>(random() % 100);  // many equal deadlines
        heap.arm(probes[i], t0 + std::chrono::milliseconds(at));
        model[i] = {at, order++};
      }
      ASSERT_EQ(probes[i].armed(), model[i].first >= 0);
    }
    std::vector<int> want;
    for (std::size_t i = 0; i < model.size(); ++i)
      if (model[i].first >= 0) want.push_back(static_cast<int>(i));
    std::sort(want.begin(), want.end(), [&](int a, int b) { return model[a] < model[b]; });
    EXPECT_EQ(heap.size(), want.size());
    heap.run_due(t0 + std::chrono::milliseconds(49));
    const auto early = static_cast<std::size_t>(
        std::count_if(want.begin(), want.end(), [&](int i) { return model[i].first <= 49; }));
    ASSERT_EQ(fired.size(), early);
    heap.run_due(t0 + std::chrono::milliseconds(100));
    EXPECT_EQ(fired, want);
    EXPECT_TRUE(heap.empty());
    for (const auto& p : probes) EXPECT_FALSE(p.armed());
  }
}

}  // namespace
}  // namespace okq::server
