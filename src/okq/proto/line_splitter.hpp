// line_splitter.hpp -- LineSplitter cuts a byte stream into LF-terminated lines
// (LF removed), holding the unterminated tail between feeds. The client uses it
// for stdin lines and for replies; it does not interpret the lines.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

namespace okq::proto {

class LineSplitter {
 public:
  // Calls on_line(std::string_view) for every line completed by `in`.
  template <class OnLine>
  void feed(std::string_view in, OnLine&& on_line) {
    while (!in.empty()) {
      const void* lf = std::memchr(in.data(), '\n', in.size());
      if (!lf) {
        tail_.append(in);
        return;
      }
      const std::size_t len = static_cast<const char*>(lf) - in.data();
      if (tail_.empty()) {
        on_line(in.substr(0, len));
      } else {
        tail_.append(in.data(), len);
        on_line(std::string_view(tail_));
        tail_.clear();
      }
      in.remove_prefix(len + 1);
    }
  }

  // Bytes after the last LF.
  const std::string& tail() const noexcept { return tail_; }
  void clear_tail() noexcept { tail_.clear(); }

 private:
  std::string tail_;
};

}  // namespace okq::proto
