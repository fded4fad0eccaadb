// output_buffer.cpp -- two windows that trade places, held only while bytes
// are owed, and the thread's spares they come from and go back to.
#include "okq/proto/output_buffer.hpp"

#include <algorithm>

namespace okq::proto {
namespace {

// What a spare keeps for the next buffer; past this, a burst's memory is
// given back once it is written, rather than held for whoever comes next.
constexpr std::size_t kKeep = 16 * 1024;
// Spares kept per thread: the buffers owing something at once in a busy
// loop pass; more than that are freed.
constexpr std::size_t kSpares = 256;

void release_if_large(std::string& s) noexcept {
  if (s.capacity() > kKeep) std::string().swap(s);
}

}  // namespace

std::vector<std::unique_ptr<OutputBuffer::Windows>>& OutputBuffer::spares() noexcept {
  thread_local std::vector<std::unique_ptr<Windows>> free;
  return free;
}

OutputBuffer::Windows& OutputBuffer::windows() {
  if (!w_) {
    auto& free = spares();
    if (free.empty()) {
      w_ = std::make_unique<Windows>();
    } else {
      w_ = std::move(free.back());
      free.pop_back();
    }
  }
  return *w_;
}

std::string_view OutputBuffer::pending() noexcept {
  if (!w_) return {};
  Windows& w = *w_;
  if (w.written == w.inflight.size() && !w.back.empty()) {
    // The window is written: what was appended meanwhile becomes the next
    // one. The two trade places, so steady traffic allocates nothing.
    w.inflight.clear();
    w.written = 0;
    w.inflight.swap(w.back);
  }
  return std::string_view(w.inflight).substr(w.written);
}

void OutputBuffer::shrink() noexcept {
  if (!w_ || !empty()) return;
  w_->inflight.clear();
  w_->written = 0;
  release_if_large(w_->inflight);
  release_if_large(w_->back);
  // The next reply is appended to back: into the larger of the two.
  if (w_->back.capacity() < w_->inflight.capacity()) w_->back.swap(w_->inflight);
  auto& free = spares();
  if (free.size() < kSpares) {
    try {
      free.reserve(kSpares);  // once per thread: the push below cannot throw
      free.push_back(std::move(w_));
    } catch (const std::bad_alloc&) {  // freed instead
    }
  }
  w_.reset();
}

void OutputBuffer::consume(std::size_t n) noexcept {
  if (!w_) return;
  pending();  // the window the caller saw (or would have)
  Windows& w = *w_;
  w.written += std::min(n, w.inflight.size() - w.written);
  if (w.written != w.inflight.size()) return;
  // A window is done. A peer that reads steadily but slowly never lets the
  // whole buffer drain, but each window is bounded by what was owed when it
  // was frozen, and appending pauses past --max-output: both stay bounded.
  w.inflight.clear();
  w.written = 0;
  if (w.back.empty()) shrink();
}

}  // namespace okq::proto
