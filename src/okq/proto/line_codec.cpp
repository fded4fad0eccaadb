// line_codec.cpp -- the incremental line framing state machine.
#include "okq/proto/line_codec.hpp"

#include <cstring>

namespace okq::proto {
namespace {

std::string_view strip_cr(std::string_view message) {
  if (!message.empty() && message.back() == '\r') message.remove_suffix(1);
  return message;
}

}  // namespace

Verdict LineCodec::feed(std::string_view in, std::string& out) {
  if (closed_) return Verdict::Close;
  while (!in.empty()) {
    const void* lf = std::memchr(in.data(), '\n', in.size());
    const std::size_t len = lf ? static_cast<const char*>(lf) - in.data() : in.size();
    const std::string_view segment = in.substr(0, len);
    if (lf && (!partial_ || partial_->empty()) &&
        !std::memchr(segment.data(), '\0', segment.size())) {
      // Fast path: a whole clean message inside this read, answered without a copy.
      const std::string_view message = strip_cr(segment);
      if (message.size() > max_line_) return too_long(out);
      if (answer(message, out) == Verdict::Close) return Verdict::Close;
    } else {
      if (!append(segment)) return too_long(out);
      if (!lf) break;
      const std::string_view message = strip_cr(*partial_);
      if (message.size() > max_line_) return too_long(out);
      const Verdict verdict = answer(message, out);
      partial_->clear();
      if (verdict == Verdict::Close) return Verdict::Close;
    }
    in.remove_prefix(len + 1);
  }
  return Verdict::Continue;
}

Verdict LineCodec::finish(std::string& out) {
  if (closed_) return Verdict::Close;
  // A non-empty unterminated last fragment still counts as a message.
  if (partial_ && !partial_->empty()) {
    const std::string_view message = strip_cr(*partial_);
    if (message.size() > max_line_) return too_long(out);
    answer(message, out);
  }
  closed_ = true;
  return Verdict::Close;
}

bool LineCodec::append(std::string_view segment) {
  if (!partial_) partial_ = std::make_unique<std::string>();
  std::string& partial = *partial_;
  while (!segment.empty()) {
    const void* nul = std::memchr(segment.data(), '\0', segment.size());
    const std::size_t run = nul ? static_cast<const char*>(nul) - segment.data() : segment.size();
    partial.append(segment.data(), run);
    segment.remove_prefix(nul ? run + 1 : run);
  }
  // One byte of slack for a CR that the coming LF would strip; the check runs on
  // every append, so a flood without LF is cut off at max_line + 2 bytes held.
  if (partial.size() <= max_line_) return true;
  return partial.size() == max_line_ + 1 && partial.back() == '\r';
}

Verdict LineCodec::answer(std::string_view message, std::string& out) {
  observe(message);
  if (!message.empty() && message.front() == 'Q') {
    out.append(message);
    out.push_back('\n');
    closed_ = true;
    return Verdict::Close;
  }
  out.append("OK\n");
  return Verdict::Continue;
}

Verdict LineCodec::too_long(std::string& out) {
  out.append(kLineTooLong);
  partial_.reset();
  closed_ = true;
  return Verdict::Close;
}

}  // namespace okq::proto
