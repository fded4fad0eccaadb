// manager_reports.cpp -- READY, STATUS and WATCHDOG on the server's loop.
#include "okq/server/manager_reports.hpp"

#include <fmt/format.h>

namespace okq::server {

void ManagerReports::start() {
  notifier_.send("READY=1\n" + status());
  reported_ = server_.connections();
  arm_status();
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

// The loop itself sends the ping, so a loop that hangs stops pinging.
void ManagerReports::arm_watchdog() {
  server_.loop().run_at(EventLoop::Clock::now() + notifier_.watchdog_period(), [this] {
    notifier_.send("WATCHDOG=1");
    arm_watchdog();
  });
}

}  // namespace okq::server
