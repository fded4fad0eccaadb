// load_thread_uring.cpp -- the io_uring driver of an okq-bench thread: one ring,
// one multishot receive per connection into shared buffers, one send in
// flight, every operation tagged with its connection and that connection's
// generation.
#include <algorithm>
#include <chrono>
#include <system_error>
#include <utility>

#include "okq/bench/load_thread.hpp"

namespace okq::bench {
namespace {

// user_data: index << 34 | generation << 2 | operation.
constexpr unsigned kIgnored = 0, kReceive = 1, kSend = 2;
constexpr unsigned kRingEntries = 4096;
constexpr unsigned kRingBuffers = 1024;
constexpr std::size_t kRingBufferSize = 4096;

std::uint64_t uring_tag(std::size_t index, std::uint32_t generation, unsigned op) {
  return std::uint64_t{index} << 34 | std::uint64_t{generation} << 2 | op;
}

}  // namespace

// Made by the thread that runs the load: a ring belongs to its maker.
void LoadThread::start_uring() {
  ring_.emplace(kRingEntries, kRingEntries * 4);
  if (const int rc = ring_->provide_buffers(kRingBuffers, kRingBufferSize); rc != 0)
    throw std::system_error(-rc, std::generic_category(), "io_uring receive buffers");
}

// Its operations keep the socket open until they end: cancel them (their
// completions, of an older generation now, are dropped) before it closes.
void LoadThread::cancel_operations(Conn& c) {
  for (const auto& [op, busy] : {std::pair{kReceive, c.receiving}, std::pair{kSend, c.sending}}) {
    if (!busy) continue;
    io_uring_sqe* s = ring_->sqe();
    if (!s) continue;  // it ends when the peer closes
    io_uring_prep_cancel64(s, uring_tag(index_of(c), c.generation, op), 0);
    io_uring_sqe_set_data64(s, kIgnored);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  }
  ++c.generation;
  c.receiving = c.sending = false;
}

// One submit-and-wait per pass hands the kernel every send prepared in the
// last one and brings back every reply; the open loop's next due time is the
// wait's timeout.
void LoadThread::run_uring() {
  for (;;) {
    if (!stopping_ && stop_.load(std::memory_order_relaxed)) {
      stopping_ = true;
      drain_deadline_ = Clock::now() + plan_.drain_timeout;
    }
    if (run_over()) break;
    std::chrono::nanoseconds wait = std::chrono::milliseconds(50);
    if (plan_.rate > 0 && may_send())
      wait = std::clamp<std::chrono::nanoseconds>(due_time(next_seq_) - Clock::now(),
                                                  std::chrono::nanoseconds(0), wait);
    if (const int rc = ring_->submit_and_wait(wait); rc != 0)
      throw std::system_error(-rc, std::generic_category(), "io_uring_enter");
    const auto now = Clock::now();
    if (plan_.rate > 0) schedule(now);
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring_->get(), head, cqe) {
      ++seen;
      completed(*cqe, now);
    }
    io_uring_cq_advance(ring_->get(), seen);
    retry_broken(now);
    refill_touched(now);
  }
}

void LoadThread::arm_receive(Conn& c) {
  if (c.broken || c.receiving || !c.fd) return;
  io_uring_sqe* s = ring_->sqe();
  if (!s) return broken(c);
  io_uring_prep_recv_multishot(s, c.fd.get(), nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = net::Uring::kBufferGroup;
  io_uring_sqe_set_data64(s, uring_tag(index_of(c), c.generation, kReceive));
  c.receiving = true;
}

// One send in flight: OutputBuffer keeps its bytes still until it completes.
void LoadThread::send_uring(Conn& c) {
  if (c.broken || c.sending || c.out.empty()) return;
  const auto bytes = c.out.pending();
  io_uring_sqe* s = ring_->sqe();
  if (!s) return broken(c);
  io_uring_prep_send(s, c.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, uring_tag(index_of(c), c.generation, kSend));
  c.sending = true;
}

void LoadThread::completed(const io_uring_cqe& cqe, Clock::time_point now) {
  const std::uint64_t tag = cqe.user_data;
  const auto op = static_cast<unsigned>(tag & 3);
  if (op == kIgnored) return;
  const std::size_t index = tag >> 34;
  Conn& c = conns_[index];
  const bool current = static_cast<std::uint32_t>(tag >> 2) == c.generation && !c.broken;
  if (op == kReceive) {
    if (current) {
      if (!(cqe.flags & IORING_CQE_F_MORE)) c.receiving = false;  // re-armed by the refill
      if (cqe.res > 0)
        take_replies(c, ring_->received(cqe.res, cqe.flags), now);
      else if (cqe.res != -ENOBUFS)
        broken(c);  // the server closed, or the connection failed
    }
    ring_->recycle(cqe.flags);
  } else if (current) {
    c.sending = false;
    if (cqe.res < 0)
      broken(c);
    else
      c.out.consume(static_cast<std::size_t>(cqe.res));
  }
  if (current) touch(index);
}

}  // namespace okq::bench
