// line_codec.hpp -- LineCodec, okq's default framing (docs/protocol.md): a message
// is the bytes before LF, a CR before the LF and every NUL dropped; replies "OK\n",
// or the message itself for one starting with 'Q', which ends the connection.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "okq/proto/codec.hpp"

namespace okq::proto {

inline constexpr std::string_view kLineTooLong = "ERR line too long\n";
// The most of a line-framed stream worth taking in one read: lines are cut
// out of it wherever they fall.
inline constexpr std::size_t kLineReadLimit = 64 * 1024;

class LineCodec final : public Codec {
 public:
  explicit LineCodec(std::size_t max_line)
      : max_line_(static_cast<std::uint32_t>(
            std::min<std::size_t>(max_line, std::numeric_limits<std::uint32_t>::max()))) {}

  std::size_t read_limit() const noexcept override { return kLineReadLimit; }
  Verdict feed(std::string_view in, std::string& out) override;
  Verdict finish(std::string& out) override;

 private:
  // Adds `segment` (no LF in it) to the partial line; false once it is too long.
  bool append(std::string_view segment);
  Verdict answer(std::string_view message, std::string& out);
  Verdict too_long(std::string& out);

  std::uint32_t max_line_;  // 32 bits are plenty, and pack with closed_
  bool closed_ = false;
  // The current message so far, NULs already dropped: made the first time a
  // message spans two reads, then reused. Null on a connection whose
  // messages each came whole, as most do.
  std::unique_ptr<std::string> partial_;
};

}  // namespace okq::proto
