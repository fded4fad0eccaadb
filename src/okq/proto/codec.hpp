// codec.hpp -- Codec, what the server asks of a framing: bytes in, replies
// appended to an output buffer, and a verdict saying when to close. Pure bytes:
// no sockets, no clocks, so it can be unit-tested and fuzzed alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace okq::proto {

enum class Verdict {
  Continue,  // keep reading
  Close,     // stop reading, ignore whatever else arrives, close once `out` is flushed
};

// Sees each complete message as it is answered (the server's --trace).
// Told of each message taken (--trace). One per connection, or none.
class MessageObserver {
 public:
  virtual void message(std::string_view message) = 0;

 protected:
  ~MessageObserver() = default;
};

class Codec {
 public:
  virtual ~Codec() = default;

  // Largest read worth handing to feed(); a classic message is exactly one read.
  virtual std::size_t read_limit() const noexcept = 0;

  // Consumes `in`, appending every reply it owes to `out`. After Close is
  // returned once, further calls return Close and append nothing.
  virtual Verdict feed(std::string_view in, std::string& out) = 0;

  // The peer half-closed: appends what is owed for input still held, then Close.
  virtual Verdict finish(std::string& out) = 0;

  std::uint64_t messages() const noexcept { return messages_; }
  void set_observer(MessageObserver* observer) noexcept { observer_ = observer; }

 protected:
  void observe(std::string_view message) {
    ++messages_;
    if (observer_) observer_->message(message);
  }

 private:
  std::uint64_t messages_ = 0;
  MessageObserver* observer_ = nullptr;
};

struct CodecOptions {
  bool classic = false;
  std::size_t max_line = 4096;    // line framing: longest message accepted
  std::size_t classic_size = 20;  // classic framing: bytes per message and per Q echo
};

std::unique_ptr<Codec> make_codec(const CodecOptions& options);

}  // namespace okq::proto
