// codec.cpp -- choosing a framing from the options.
#include "okq/proto/codec.hpp"

#include "okq/proto/classic_codec.hpp"
#include "okq/proto/line_codec.hpp"

namespace okq::proto {

std::unique_ptr<Codec> make_codec(const CodecOptions& options) {
  if (options.classic) return std::make_unique<ClassicCodec>(options.classic_size);
  return std::make_unique<LineCodec>(options.max_line);
}

}  // namespace okq::proto
