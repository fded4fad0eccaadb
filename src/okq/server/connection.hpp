// connection.hpp -- Connection: one client socket served by one EventLoop. It
// reads, feeds the codec, coalesces the replies into one write, resumes partial
// writes when the socket is writable, and closes in order (flush, FIN, drain).
// It owns its socket and codec; the Server owns it and destroys it once closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "okq/net/fd.hpp"
#include "okq/proto/codec.hpp"
#include "okq/proto/output_buffer.hpp"
#include "okq/server/event_loop.hpp"
#include "okq/server/log.hpp"

namespace okq::server {

enum class ConnState {
  Reading,    // reading messages and answering them
  Flushing,   // no more input wanted; writing the replies still owed
  Lingering,  // replies written and FIN sent; discarding input until the peer's FIN
  Closed,     // socket closed; waiting to be destroyed
};

const char* to_string(ConnState state) noexcept;

// What every connection of one loop shares.
struct ConnectionContext {
  EventLoop& loop;
  Logger& log;
  proto::CodecOptions codec;
  std::size_t max_output;                  // owed reply bytes past which reading pauses
  std::chrono::milliseconds idle_timeout;  // 0: never
  std::span<char> read_buffer;             // one per loop, reused by every read
};

class Connection final : public EventHandler {
 public:
  using OnClosed = std::function<void(Connection&)>;

  Connection(std::uint64_t id, net::Fd fd, std::string peer, ConnectionContext& ctx,
             OnClosed on_closed);

  void start();  // registers with the loop
  // Instead of start(): answer `line` (e.g. "ERR too many connections\n") and close.
  void reject(std::string_view line);
  // Server stopping: answer every byte that had arrived, flush, then close
  // (at once if nothing is owed or unread).
  void shutdown();
  void close(const char* why) noexcept;  // at once, dropping anything unsent

  void on_events(std::uint32_t events) override;

  std::uint64_t id() const noexcept { return id_; }
  bool rejected() const noexcept { return rejected_; }
  ConnState state() const noexcept { return state_; }

 private:
  void read_input(int max_reads);
  void discard_input();
  void flush();
  void finish_input(const char* why);
  void after_flush();
  void update_interest();
  void arm_idle_timer(EventLoop::Clock::time_point when);
  void on_idle_timer();
  std::size_t owed() const noexcept { return out_.size(); }

  std::uint64_t id_;
  net::Fd fd_;
  std::string peer_;
  ConnectionContext& ctx_;
  OnClosed on_closed_;
  std::unique_ptr<proto::Codec> codec_;
  ConnState state_ = ConnState::Reading;
  proto::OutputBuffer out_;  // replies owed
  bool peer_eof_ = false;
  bool stopping_ = false;        // server stopping: read only stop_budget_ more bytes
  std::size_t stop_budget_ = 0;  // bytes that had arrived when the stop began
  bool rejected_ = false;
  const char* why_ = "";  // why input ended, for the log
  std::uint32_t interest_ = 0;
  EventLoop::TimerId linger_timer_ = 0;
  EventLoop::TimerId idle_timer_ = 0;
  // Last time a message completed or owed bytes were written. Bytes that never
  // make a message do not count: that is the slowloris defence.
  EventLoop::Clock::time_point last_progress_;
};

}  // namespace okq::server
