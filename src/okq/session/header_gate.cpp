// header_gate.cpp -- the PROXY header stage.
#include "okq/session/header_gate.hpp"

#include <algorithm>

namespace okq::server {

HeaderGate::HeaderGate(Stream& inner, std::chrono::milliseconds timeout, Time now)
    : inner_(inner), deadline_(now + timeout) {}

bool HeaderGate::wants_input() const noexcept {
  if (!awaiting()) return inner_.wants_input();
  return !inner_.closed() && !(stopping_ && stop_budget_ == 0);
}

std::size_t HeaderGate::read_limit(std::size_t buffer) const noexcept {
  if (!awaiting()) return inner_.read_limit(buffer);
  const std::size_t limit = std::min(buffer, parser_.wanted());
  return stopping_ ? std::min(limit, stop_budget_) : limit;
}

// The header's bytes go to its parser (never more than it wants); what
// follows them, if a read brought any, is the inner stream's.
void HeaderGate::on_input(std::string_view bytes, Time now) {
  if (!awaiting() || inner_.closed()) return inner_.on_input(bytes, now);
  const std::size_t before = bytes.size();
  while (!bytes.empty() && awaiting()) {
    const std::size_t n = std::min(bytes.size(), parser_.wanted());
    parser_.feed(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  if (stopping_) stop_budget_ -= std::min(stop_budget_, before - bytes.size());
  if (parser_.status() == Status::Invalid) return inner_.close(CloseReason::ProxyInvalid);
  if (awaiting()) {
    if (stopping_ && stop_budget_ == 0) inner_.close(CloseReason::ServerShutdown);
    return;
  }
  deadline_ = Time::max();
  // The stop reaches the inner stream with what is left of its budget: the
  // bytes after the header, in this read and still in the kernel.
  if (stopping_) inner_.on_stop(stop_budget_);
  if (!bytes.empty()) inner_.on_input(bytes, now);
}

void HeaderGate::on_eof(Time now) {
  if (!awaiting()) return inner_.on_eof(now);
  inner_.close(CloseReason::PeerClosed);  // never a client message
}

void HeaderGate::on_stop(std::size_t unread) {
  if (!awaiting()) return inner_.on_stop(unread);
  // Nothing of the client's has been read yet: only what had arrived is.
  stopping_ = true;
  stop_budget_ = unread;
  if (unread == 0) inner_.close(CloseReason::ServerShutdown);
}

Stream::Time HeaderGate::deadline() const noexcept {
  return awaiting() ? std::min(deadline_, inner_.deadline()) : inner_.deadline();
}

void HeaderGate::on_timer(Time now) {
  if (awaiting() && now >= deadline_) return inner_.close(CloseReason::ProxyTimeout);
  inner_.on_timer(now);
}

}  // namespace okq::server
