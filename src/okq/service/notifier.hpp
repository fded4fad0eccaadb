// notifier.hpp -- Notifier: the service manager's readiness protocol
// (sd_notify(3)) spoken directly: newline-separated assignments such as
// "READY=1" or "STATUS=..." in one datagram to the unix socket named by
// $NOTIFY_SOCKET, and the watchdog interval from $WATCHDOG_USEC. It owns its
// datagram socket; it decides nothing about when to speak.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "okq/net/address.hpp"
#include "okq/net/fd.hpp"

namespace okq::server {

class Notifier {
 public:
  // nullptr unless $NOTIFY_SOCKET names a socket (a path, or "@name" for the
  // abstract namespace): okq is then run by a service manager.
  static std::unique_ptr<Notifier> from_environment();

  // Sends `state` ("READY=1\nSTATUS=serving"); false if it could not.
  bool send(std::string_view state) noexcept;

  // How often to send "WATCHDOG=1": half of $WATCHDOG_USEC when it is set and
  // meant for this process ($WATCHDOG_PID absent or ours); zero otherwise.
  std::chrono::microseconds watchdog_period() const noexcept { return watchdog_; }

 private:
  Notifier(net::Fd fd, net::SocketAddress to, std::chrono::microseconds watchdog);

  net::Fd fd_;
  net::SocketAddress to_;
  std::chrono::microseconds watchdog_;
};

}  // namespace okq::server
