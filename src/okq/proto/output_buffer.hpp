// output_buffer.hpp -- OutputBuffer: the bytes owed to a peer, in order, in
// two windows that trade places (the one being written stays put while
// replies are appended to the other). It holds them only while something is
// owed: once all is written the windows go back to the thread's spares, for
// the next buffer that owes something, so an idle connection keeps one null
// pointer and steady traffic allocates nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace okq::proto {

class OutputBuffer {
 public:
  OutputBuffer() = default;
  OutputBuffer(OutputBuffer&&) noexcept = default;
  OutputBuffer& operator=(OutputBuffer&&) noexcept = default;
  ~OutputBuffer() = default;

  // Where replies are appended (a Codec's `out`).
  std::string& back() { return windows().back; }
  void append(std::string_view bytes) { back().append(bytes); }

  // The next bytes to write, oldest first. They stay at the same address,
  // unchanged, until consume() has taken all of them; what is appended
  // meanwhile comes after them, in the next window.
  std::string_view pending() noexcept;
  // `n` bytes of pending() were written.
  void consume(std::size_t n) noexcept;

  std::size_t size() const noexcept {
    return w_ ? w_->inflight.size() - w_->written + w_->back.size() : 0;
  }
  bool empty() const noexcept { return size() == 0; }
  // Nothing owed: the windows go back to the spares (back() was asked for
  // and nothing was appended), and a burst's memory with them.
  void shrink() noexcept;
  // Memory held, for tests and limits.
  std::size_t capacity() const noexcept {
    return w_ ? w_->inflight.capacity() + w_->back.capacity() : 0;
  }

 private:
  struct Windows {
    std::string inflight;     // frozen: being written
    std::size_t written = 0;  // of inflight
    std::string back;         // appended since inflight was frozen
  };
  Windows& windows();
  // The windows of the buffers on this thread that owe nothing now.
  static std::vector<std::unique_ptr<Windows>>& spares() noexcept;

  std::unique_ptr<Windows> w_;  // null while nothing is owed
};

}  // namespace okq::proto
