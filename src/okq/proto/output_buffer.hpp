// output_buffer.hpp -- OutputBuffer: bytes owed to one peer, appended at the
// back and written from the front. The bytes being written (the in-flight
// part) never move until they are all written, whatever is appended
// meanwhile, so an asynchronous send (io_uring) may point into them. What it
// holds stays within about twice the owed bytes whatever the peer does, and
// memory grown by a burst is given back once it is written. No sockets here.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace okq::proto {

class OutputBuffer {
 public:
  // Where replies are appended (a Codec's `out`).
  std::string& back() noexcept { return back_; }
  void append(std::string_view bytes) { back_.append(bytes); }

  // The next bytes to write, oldest first. They stay at the same address,
  // unchanged, until consume() has taken all of them; what is appended
  // meanwhile comes after them, in the next window.
  std::string_view pending() noexcept;
  // `n` bytes of pending() were written.
  void consume(std::size_t n) noexcept;

  std::size_t size() const noexcept { return inflight_.size() - written_ + back_.size(); }
  bool empty() const noexcept { return size() == 0; }
  // Nothing owed: the memory held is given back, whatever its size (a
  // connection going quiet after a burst it will not repeat).
  void shrink() noexcept;
  // Memory held, for tests and limits.
  std::size_t capacity() const noexcept { return inflight_.capacity() + back_.capacity(); }

 private:
  std::string inflight_;     // frozen: being written
  std::size_t written_ = 0;  // of inflight_
  std::string back_;         // appended since inflight_ was frozen
};

}  // namespace okq::proto
