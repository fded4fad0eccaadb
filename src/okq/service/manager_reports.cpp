// manager_reports.cpp -- READY, STATUS and WATCHDOG on the server's loop.
#include "okq/service/manager_reports.hpp"

#include <fmt/format.h>

namespace okq::server {

void ManagerReports::start() {
  notifier_.send("READY=1\n" + status());
  reported_ = server_.connections();
  arm_status();
  answered_ = server_.workers();  // the first ping needs no round
  if (notifier_.watchdog_period().count() > 0) arm_watchdog();
}

std::string ManagerReports::status() const {
  return fmt::format("STATUS={} connections, {} workers", server_.connections(), server_.workers());
}

void ManagerReports::arm_status() {
  server_.loop().run_at(EventLoop::Clock::now() + std::chrono::seconds(1), [this] {
    if (server_.connections() != reported_) {
      reported_ = server_.connections();
      notifier_.send(status());
    }
    arm_status();
  });
}

// The loops themselves answer, so that one that hangs stops the pings: the
// server's loop pings only if every worker's loop answered the last round
// (a worker stuck in a handler never runs what was queued to it).
void ManagerReports::arm_watchdog() {
  server_.loop().run_at(EventLoop::Clock::now() + notifier_.watchdog_period(), [this] {
    if (answered_ == server_.workers()) notifier_.send("WATCHDOG=1");
    const std::uint64_t round = ++round_;
    answered_ = 0;
    server_.each_worker_loop([this, round] {
      if (round == round_) ++answered_;  // a late answer to an older round counts for nothing
    });
    arm_watchdog();
  });
}

}  // namespace okq::server
