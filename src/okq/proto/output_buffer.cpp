// output_buffer.cpp -- two buffers that trade places, and giving back burst memory.
#include "okq/proto/output_buffer.hpp"

#include <algorithm>

namespace okq::proto {
namespace {

// Capacity kept for the next burst; past this, memory is given back once
// everything is written, rather than held by an idle connection.
constexpr std::size_t kKeep = 64 * 1024;

void release_if_large(std::string& s) noexcept {
  if (s.capacity() > kKeep) std::string().swap(s);
}

}  // namespace

std::string_view OutputBuffer::pending() noexcept {
  if (written_ == inflight_.size() && !back_.empty()) {
    // The window is written: what was appended meanwhile becomes the next
    // one. The two buffers trade places, so steady traffic allocates nothing.
    inflight_.clear();
    written_ = 0;
    inflight_.swap(back_);
  }
  return std::string_view(inflight_).substr(written_);
}

void OutputBuffer::shrink() noexcept {
  if (!empty()) return;
  inflight_.clear();
  written_ = 0;
  std::string().swap(inflight_);
  std::string().swap(back_);
}

void OutputBuffer::consume(std::size_t n) noexcept {
  pending();  // the window the caller saw (or would have)
  written_ += std::min(n, inflight_.size() - written_);
  if (written_ != inflight_.size()) return;
  // A window is done. A peer that reads steadily but slowly never lets the
  // whole buffer drain, but each window is bounded by what was owed when it
  // was frozen, and appending pauses past --max-output: both stay bounded.
  inflight_.clear();
  written_ = 0;
  if (back_.empty()) {
    release_if_large(inflight_);
    release_if_large(back_);
  }
}

}  // namespace okq::proto
