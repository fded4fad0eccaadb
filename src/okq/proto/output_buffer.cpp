// output_buffer.cpp -- dropping written bytes and giving back burst memory.
#include "okq/proto/output_buffer.hpp"

#include <algorithm>

namespace okq::proto {
namespace {

// Below this, moving the owed bytes to the front is not worth a memmove, and
// capacity is kept for the next burst rather than freed.
constexpr std::size_t kSmall = 64 * 1024;

}  // namespace

void OutputBuffer::consume(std::size_t n) noexcept {
  written_ += std::min(n, size());
  if (written_ == bytes_.size()) {
    bytes_.clear();
    written_ = 0;
    // A burst grew the buffer: give it back rather than hold it while idle.
    if (bytes_.capacity() > kSmall) std::string().swap(bytes_);
    return;
  }
  // A peer that reads steadily but slowly keeps the buffer from ever emptying.
  // Dropping the written prefix once it is half as large as what is still
  // owed moves at most two owed bytes per byte written (amortised O(1)) and
  // bounds the buffer by one and a half times the owed bytes.
  if (written_ >= kSmall && 2 * written_ >= size()) {
    bytes_.erase(0, written_);  // in place: no allocation
    written_ = 0;
  }
}

}  // namespace okq::proto
