// classic_codec.hpp -- ClassicCodec, byte-exact with the seed server: each read of
// up to N bytes is one message, answered "OK" (2 bytes, no LF), or for a first
// byte 'Q' echoed zero-padded to N bytes, after which the connection ends.
#pragma once

#include "okq/proto/codec.hpp"

namespace okq::proto {

class ClassicCodec final : public Codec {
 public:
  explicit ClassicCodec(std::size_t size) : size_(size) {}

  std::size_t read_limit() const noexcept override { return size_; }
  // `in` is one read; a longer buffer is taken as consecutive reads of N bytes.
  Verdict feed(std::string_view in, std::string& out) override;
  Verdict finish(std::string& out) override;

 private:
  std::size_t size_;
  bool closed_ = false;
};

}  // namespace okq::proto
