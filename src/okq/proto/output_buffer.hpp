// output_buffer.hpp -- OutputBuffer: bytes owed to one peer, appended at the
// back and written from the front. What it holds stays within a small multiple
// of the owed bytes whatever the peer does: written bytes are dropped once they
// are half as many as the owed ones, not only when everything is written, and
// memory grown by a burst is given back once it is written. No sockets here.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace okq::proto {

class OutputBuffer {
 public:
  // Where replies are appended (a Codec's `out`).
  std::string& back() noexcept { return bytes_; }
  void append(std::string_view bytes) { bytes_.append(bytes); }

  // The owed bytes, oldest first.
  std::string_view pending() const noexcept { return std::string_view(bytes_).substr(written_); }
  std::size_t size() const noexcept { return bytes_.size() - written_; }
  bool empty() const noexcept { return size() == 0; }
  // Memory held, for tests and limits.
  std::size_t capacity() const noexcept { return bytes_.capacity(); }

  // `n` bytes of pending() were written.
  void consume(std::size_t n) noexcept;

 private:
  std::string bytes_;
  std::size_t written_ = 0;  // bytes at the front already written
};

}  // namespace okq::proto
