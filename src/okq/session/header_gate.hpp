// header_gate.hpp -- HeaderGate: the stage in front of a PROXY listener's
// stream. The PROXY protocol header comes first, in plaintext, within a
// deadline; the gate reads it and never a byte past its end, so what follows
// reaches the stream inside as if it had come first (classic framing keeps
// its boundaries behind HAProxy). A malformed header closes the stream with
// no reply (ProxyInvalid), a late one likewise (ProxyTimeout), a FIN before
// it is whole as PeerClosed. Once the header is whole the gate passes
// everything through; its owner may then take it out of the chain.
#pragma once

#include <chrono>

#include "okq/proto/proxy_header.hpp"
#include "okq/session/stream.hpp"

namespace okq::server {

class HeaderGate final : public Stream {
 public:
  HeaderGate(Stream& inner, std::chrono::milliseconds timeout, Time now);

  // Still reading the header.
  bool awaiting() const noexcept { return parser_.status() == Status::NeedMore; }
  // The header's parser: Done (its header()) or Invalid (its error()) once
  // awaiting() is over.
  const proto::ProxyHeaderParser& parser() const noexcept { return parser_; }

  bool wants_input() const noexcept override;
  bool discards_input() const noexcept override { return inner_.discards_input(); }
  std::size_t read_limit(std::size_t buffer) const noexcept override;
  void on_input(std::string_view bytes, Time now) override;
  void on_eof(Time now) override;
  std::string_view owed() noexcept override { return inner_.owed(); }
  std::size_t owed_bytes() const noexcept override { return inner_.owed_bytes(); }
  void on_sent(std::size_t n, Time now) override { inner_.on_sent(n, now); }
  bool wants_fin() const noexcept override { return inner_.wants_fin(); }
  void on_fin_sent(Time now) override { inner_.on_fin_sent(now); }
  void on_stop(std::size_t unread) override;
  void close(CloseReason reason) noexcept override { inner_.close(reason); }
  bool closed() const noexcept override { return inner_.closed(); }
  Time deadline() const noexcept override;
  void on_timer(Time now) override;

 private:
  using Status = proto::ProxyHeaderParser::Status;

  Stream& inner_;
  proto::ProxyHeaderParser parser_;
  Time deadline_;
  bool stopping_ = false;        // a stop began while the header was awaited
  std::size_t stop_budget_ = 0;  // bytes that had arrived when it began, not yet read
};

}  // namespace okq::server
