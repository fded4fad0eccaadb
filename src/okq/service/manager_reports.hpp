// manager_reports.hpp -- ManagerReports: what a service manager hears from a
// running okq-server through a Notifier: readiness once every worker serves,
// the connection count whenever it changes (looked at each second) and, when
// asked for, watchdog pings, sent only while the server's loop and every
// worker's loop answer. It owns neither the Notifier nor the Server and must
// outlive the server's loop run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "okq/server/server.hpp"
#include "okq/service/notifier.hpp"

namespace okq::server {

class ManagerReports {
 public:
  ManagerReports(Notifier& notifier, Server& server) : notifier_(notifier), server_(server) {}
  // On the server's loop, once it serves.
  void start();

 private:
  std::string status() const;
  void arm_status();
  void arm_watchdog();

  Notifier& notifier_;
  Server& server_;
  std::size_t reported_ = 0;
  std::uint64_t round_ = 0;   // the watchdog round each worker is asked to answer
  std::size_t answered_ = 0;  // workers that answered this round
};

}  // namespace okq::server
