// classic_codec.cpp -- the seed's fixed-size framing.
#include "okq/proto/classic_codec.hpp"

namespace okq::proto {

Verdict ClassicCodec::feed(std::string_view in, std::string& out) {
  while (!closed_ && !in.empty()) {
    const std::string_view message = in.substr(0, size_);
    in.remove_prefix(message.size());
    observe(message);
    if (message.front() == 'Q') {
      // The seed sends back its whole zeroed-then-filled buffer: the message, then NULs.
      out.append(message);
      out.append(size_ - message.size(), '\0');
      closed_ = true;
    } else {
      out.append("OK");
    }
  }
  return closed_ ? Verdict::Close : Verdict::Continue;
}

Verdict ClassicCodec::finish(std::string&) {
  closed_ = true;
  return Verdict::Close;
}

}  // namespace okq::proto
