// responder.hpp -- Responder: what answers a Session's messages. The session
// hands it every byte of the client's it reads, in order, and it appends the
// replies owed to the session's output buffer, in order: at once (Answers,
// the codec's own) or later, as another party gives them (a relay). The
// session keeps the state machine, the limits, the deadlines and the stop;
// the responder only answers, and says when it is waiting or has ended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>

#include "okq/proto/classic_codec.hpp"
#include "okq/proto/codec.hpp"
#include "okq/proto/line_codec.hpp"
#include "okq/proto/output_buffer.hpp"
#include "okq/session/stream.hpp"

namespace okq::server {

class Responder {
 public:
  using Time = Stream::Time;

  explicit Responder(proto::OutputBuffer& out) : out_(out) {}
  virtual ~Responder() = default;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // The client's bytes. Close: no more input is wanted (a Q message).
  virtual proto::Verdict feed(std::string_view in, Time now) = 0;
  // The client's FIN: what is owed for input still held (an unterminated
  // last message is still a message).
  virtual void finish(Time now) = 0;
  // No more of the client's input will come (a Q, its FIN, a stop).
  virtual void input_ended() {}
  // The most of the client's input worth taking at once.
  virtual std::size_t read_limit() const noexcept = 0;
  // The client's messages taken so far.
  virtual std::uint64_t messages() const noexcept = 0;
  virtual void set_observer(proto::MessageObserver* observer) noexcept = 0;

  // Taken more than it could pass on yet: reading pauses.
  virtual bool holds_back() const noexcept { return false; }
  // Replies owed and not yet in the output buffer.
  virtual bool outstanding() const noexcept { return false; }
  // Nothing more will be appended (every reply is in, or never will be).
  virtual bool settled() const noexcept { return true; }
  virtual Time deadline() const noexcept { return Time::max(); }
  virtual void on_timer(Time now) { (void)now; }

  // It can answer no more (its last words are in the buffer) and the
  // session ends for `reason`: as at a Q message, or, for a failure, in
  // place of whatever the input ended for.
  struct End {
    CloseReason reason;
    bool failure;
  };
  virtual std::optional<End> ended() const noexcept { return std::nullopt; }

 protected:
  proto::OutputBuffer& out_;  // the session's: what is appended there is written to the client
};

// Local answers: the codec's replies (OK for each line, the Q echo, ...).
// The codec is held here, inside the session, not behind a pointer.
// The codec's own answers, which the session holds inline and calls
// directly: no vtable, and the output buffer passed in, not held.
class Answers {
 public:
  explicit Answers(const proto::CodecOptions& options) {
    if (options.classic)
      codec_.emplace<proto::ClassicCodec>(options.classic_size);
    else
      codec_.emplace<proto::LineCodec>(options.max_line);
  }

  proto::Verdict feed(std::string_view in, proto::OutputBuffer& out) {
    return codec().feed(in, out.back());
  }
  void finish(proto::OutputBuffer& out) { codec().finish(out.back()); }
  std::size_t read_limit() const noexcept { return codec().read_limit(); }
  std::uint64_t messages() const noexcept { return codec().messages(); }
  void set_observer(proto::MessageObserver* observer) noexcept { codec().set_observer(observer); }

 private:
  const proto::Codec& codec() const noexcept {
    if (const auto* classic = std::get_if<proto::ClassicCodec>(&codec_)) return *classic;
    return *std::get_if<proto::LineCodec>(&codec_);  // never empty once constructed
  }
  proto::Codec& codec() noexcept { return const_cast<proto::Codec&>(std::as_const(*this).codec()); }

  std::variant<std::monostate, proto::LineCodec, proto::ClassicCodec> codec_;
};

}  // namespace okq::server
